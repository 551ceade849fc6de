// `ima batch segment`: every image series of a DICOM archive segmented with one model, one output
// per series named after its Series Instance UID, a manifest row per series (Manifest.h). Built for
// unattended runs over large archives: a bad series or damaged file is a failed row, never the end
// of the batch; a rerun skips what is done; --shard K/N splits the archive between machines.
// Series are named by UID only (never patient name or ID) in every line printed and written.
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <unistd.h>

#include "ima/DicomSeries.h"
#include "ima/Error.h"
#include "ima/InputFiles.h"
#include "ima/Model.h"
#include "ima/Sha256.h"
#include "ima/SlidingWindowInferer.h"

#include "Commands.h"
#include "ima/io/ImageFiles.h"
#include "InferenceArguments.h"
#include "Manifest.h"
#include "Progress.h"
#include "SegOutput.h"
#include "Shard.h"

namespace fs = std::filesystem;

namespace ima::cli {

ArgumentParser batchSegmentParser() {
  ArgumentParser p("batch segment",
                   "Segment every DICOM image series under ROOT with one model. Each series gives one output\n"
                   "in OUTROOT named after its Series Instance UID (UID.nii.gz, or UID.dcm for --format seg)\n"
                   "and one row in OUTROOT/manifest.csv: series UID, output, status (ok, failed, skipped),\n"
                   "the reason of a failure, and the SHA-256 of the model file. A series that fails (bad\n"
                   "geometry, damaged file, ...) is recorded and the batch goes on; the exit status is 1 when\n"
                   "any series failed. A rerun (e.g. after a kill) skips the series the manifest records as\n"
                   "done by the same model file; another model redoes them. Series are named by UID only,\n"
                   "never by patient name or ID.");
  p.option("model", "MODEL", "model file (.imamodel)", "", true)
      .option("input", "ROOT", "DICOM archive: a directory tree, scanned recursively for image series", "", true)
      .option("output", "OUTROOT", "directory for the outputs and the manifest (created if missing)", "", true)
      .option("format", "FORMAT", "output per series: nifti (UID.nii.gz label map) or seg (UID.dcm DICOM SEG)",
              "nifti")
      .choices("format", {"nifti", "seg"})
      .option("shard", "K/N|auto",
              "process only shard K of N (1 <= K <= N), chosen by a hash of the series UID, so N machines cover "
              "an archive without overlap; the manifest is then OUTROOT/manifest-shard-K-of-N.csv. auto: K and N "
              "from a Slurm array, a Kubernetes Indexed Job (JOB_COMPLETION_INDEX with IMA_SHARD_COUNT) or "
              "torchrun (RANK, WORLD_SIZE); see docs/batch.md")
      .flag("quiet", "no progress; only failures (stderr) and the summary line");
  addInferenceOptions(p);
  addDicomOptions(p, false);
  p.epilog("example:\n  ima batch segment --model model.imamodel --input /archive --output /results --threads 4\n"
           "  # job array task 3 of 8:\n"
           "  ima batch segment --model model.imamodel --input /archive --output /results --shard 3/8\n"
           "  # in a Slurm array job (sbatch --array=1-8):\n"
           "  ima batch segment --model model.imamodel --input /archive --output /results --shard auto");
  return p;
}

namespace {

// File name of a series' output: its id (UID or UID.partK); characters a UID cannot hold are
// replaced, so a malformed UID cannot escape OUTROOT.
std::string outputName(const std::string& id, const std::string& format) {
  std::string name;
  for (char c : id) name += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  if (name.empty() || name[0] == '.') name = "_" + name;
  return name + (format == "seg" ? ".dcm" : ".nii.gz");
}

// One unit of work: a series to segment, or a file that could not even be scanned.
struct WorkItem {
  std::string series;                    // id; "" for a damaged file whose UID is unknown
  std::string output;                    // "" when nothing can be written
  const dicom::SeriesInfo* info = nullptr;
  std::string failure;                   // set: fails without reading (damaged files of the series)
  std::string shardKey;
};

// Temporary files of a run that was killed: ImageIO's atomic writes use hidden .ima-write-*
// directories next to the output, the SEG writer OUT.dcm.tmpPID_N files, and the manifest's
// compaction (writeFileAtomically) MANIFEST.csv.tmpPID_N.
void removeStaleTemporaries(const fs::path& outRoot) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(outRoot, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".ima-write-", 0) == 0 || name.find(".dcm.tmp") != std::string::npos ||
        name.find(".csv.tmp") != std::string::npos) fs::remove_all(entry.path(), ec);
  }
}

// The output root, created if need be, and the manifest's path in it (one per shard).
std::string prepareOutputRoot(const std::string& root, const std::string& outRoot, const Shard& shard) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error("input archive '" + root + "' is not a directory");
  if (fs::exists(outRoot, ec) && !fs::is_directory(outRoot, ec))
    throw Error("output '" + outRoot + "' exists and is not a directory");
  fs::create_directories(outRoot, ec);
  if (ec) throw Error("cannot create output directory '" + outRoot + "': " + ec.message());
  return (fs::path(outRoot) / (shard.count == 1 ? std::string("manifest.csv")
                                                : "manifest-shard-" + std::to_string(shard.index + 1) + "-of-" +
                                                      std::to_string(shard.count) + ".csv"))
      .string();
}

// The work of this shard: every series and every damaged file of the scan, in a fixed order.
// Items point into `series`.
std::vector<WorkItem> workOfShard(const std::vector<dicom::SeriesInfo>& series,
                                  const std::vector<dicom::ScanFailure>& failures, const std::string& root,
                                  const std::string& outRoot, const std::string& format, const Shard& shard) {
  std::error_code ec;
  std::map<std::string, std::string> damagedByUid;  // UID -> reasons
  std::vector<WorkItem> work;
  for (const auto& f : failures) {
    if (!f.seriesInstanceUid.empty()) {
      std::string& reasons = damagedByUid[f.seriesInstanceUid];
      reasons += (reasons.empty() ? "" : "; ") + f.reason;
    } else {
      work.push_back({"", "", nullptr, f.reason, fs::relative(f.file, root, ec).string()});
    }
  }
  std::set<std::string> listed;  // UIDs with at least one readable file
  for (const auto& s : series) {
    WorkItem item{s.id, (fs::path(outRoot) / outputName(s.id, format)).string(), &s, "", s.id};
    const auto damaged = damagedByUid.find(s.seriesInstanceUid);  // every part of a split series fails
    if (damaged != damagedByUid.end()) item.failure = "damaged file(s) in the series: " + damaged->second;
    listed.insert(s.seriesInstanceUid);
    work.push_back(item);
  }
  for (const auto& [uid, reasons] : damagedByUid)
    if (!listed.count(uid))  // every file of the series was damaged
      work.push_back({uid, "", nullptr, "damaged file(s) in the series: " + reasons, uid});
  std::vector<WorkItem> mine;
  for (auto& item : work)
    if (shard.contains(item.shardKey)) mine.push_back(std::move(item));
  return mine;
}

// What every series of a run is segmented with, and where the rows go.
struct SegmentationRun {
  const Model& model;
  std::string modelSha256;  // rows record the model by content
  std::string modelName;    // as ima segment names it
  const InferenceOptions& options;
  io::DicomInput dicom;
  std::string format;
  bool quiet = false;
  Manifest& manifest;
};

// Done: recorded as done by this model with this output name (OUTROOT may be spelled differently
// this time), and the output is there (outputs are checked complete before they are renamed into
// place, so one that exists is complete).
bool alreadyDone(const ManifestRow* previous, const WorkItem& item, const std::string& modelSha256) {
  std::error_code ec;
  return previous && (previous->status == "ok" || previous->status == "skipped") && previous->model == modelSha256 &&
         fs::path(previous->output).filename() == fs::path(item.output).filename() && fs::exists(item.output, ec);
}

// Reads, segments and writes one series (atomically: a kill leaves no partial output).
void segmentSeries(const WorkItem& item, const std::string& name, const SegmentationRun& run) {
  dicom::ReadOptions readOptions;
  readOptions.allowUneven = run.dicom.allowUneven;
  readOptions.warn = [&](const std::string& w) { std::cerr << "ima: batch: " << name << ": " << w << "\n"; };
  const Volume volume = dicom::readSeries(*item.info, readOptions);
  checkFinite(volume, "series " + item.series);
  if (const std::string warning = constantImageWarning(volume, "series " + item.series); !warning.empty())
    std::cerr << warning << "\n";
  Segmentation result;
  {
    // A bar on a terminal; in a log file, per-patch lines of every series would drown the rows.
    Progress progress(name, run.quiet || !::isatty(2));
    result = segment(run.model, volume, run.options, progress.callback());
    progress.finish();
  }
  result.labels.geometry = volume.geometry;
  stopIfInterrupted();
  if (run.format == "seg")
    writeSegOutput(result.labels, item.output, *item.info, run.model.metadata(), run.modelName, true,
                   [&](const std::string& w) { std::cerr << "ima: batch: " << name << ": warning: " << w << "\n"; });
  else
    io::writeLabelMap(result.labels, item.output, true);
}

enum class Outcome { Ok, Skipped, Failed };

// One work item, recorded in the manifest and reported; a failure of the series is its row, not
// the run's end (Ctrl-C is: the rows so far are in the manifest, a rerun resumes).
Outcome processItem(const WorkItem& item, const std::string& counter, const SegmentationRun& run) {
  const std::string name = item.series.empty() ? std::string("(unknown series)") : item.series;
  auto fail = [&](const std::string& reason) {
    run.manifest.append({item.series, "", "failed", reason, run.modelSha256});
    std::cerr << "ima: batch: " << name << " failed: " << reason << "\n";
    return Outcome::Failed;
  };
  if (alreadyDone(item.series.empty() ? nullptr : run.manifest.latest(item.series), item, run.modelSha256)) {
    run.manifest.append({item.series, item.output, "skipped", "already done", run.modelSha256});
    if (!run.quiet) std::cout << counter << name << " skipped (already done): " << item.output << "\n";
    return Outcome::Skipped;
  }
  if (!item.failure.empty()) return fail(item.failure);
  try {
    segmentSeries(item, name, run);
  } catch (const Cancelled&) {
    throw;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  run.manifest.append({item.series, item.output, "ok", "", run.modelSha256});
  if (!run.quiet) std::cout << counter << name << " ok: " << item.output << "\n";
  return Outcome::Ok;
}

}  // namespace

int runBatchSegment(const ArgumentParser& args) {
  const std::string modelPath = args.get("model"), root = args.get("input"), outRoot = args.get("output");
  const Shard shard = args.given("shard") ? parseShard(args.get("shard")) : Shard{};
  const InferenceOptions options = inferenceOptions(args);
  const std::string manifestPath = prepareOutputRoot(root, outRoot, shard);
  InputFiles inputs;
  inputs.add({modelPath, root});
  inputs.checkNotAnInput(manifestPath, "manifest");
  Manifest manifest(manifestPath);
  applyRuntime(options.runtime);
  const Model model = Model::load(modelPath);
  // A rerun with another model (or a retrained file of the same name) redoes every series.
  const SegmentationRun run{model,   sha256OfFile(modelPath, "model file"), fs::path(modelPath).filename().string(),
                            options, dicomInput(args, false), args.get("format"), args.flagSet("quiet"), manifest};
  dicom::silenceDcmtkLogging();  // our messages carry DCMTK's reasons, per series

  std::vector<dicom::ScanFailure> failures;
  const std::vector<dicom::SeriesInfo> series = dicom::scanDirectory(root, &failures);
  const std::vector<WorkItem> mine = workOfShard(series, failures, root, outRoot, run.format, shard);
  for (const WorkItem& item : mine) inputs.checkNotAnInput(item.output, "output");

  // Resume: drop a torn last row and stale temporaries (only unsharded: shards share OUTROOT).
  manifest.compact();
  if (shard.count == 1) removeStaleTemporaries(outRoot);

  int counts[3] = {0, 0, 0};  // by Outcome
  const size_t total = mine.size();
  for (size_t i = 0; i < total; ++i)
    ++counts[static_cast<int>(
        processItem(mine[i], "[" + std::to_string(i + 1) + "/" + std::to_string(total) + "] ", run))];
  manifest.compact();
  std::cout << "batch segment: " << counts[0] << " ok, " << counts[1] << " skipped, " << counts[2] << " failed of "
            << total << " series"
            << (shard.count > 1 ? " in shard " + std::to_string(shard.index + 1) + "/" + std::to_string(shard.count)
                                : std::string())
            << "; manifest " << manifestPath << "\n";
  return counts[2] > 0 ? 1 : 0;
}

}  // namespace ima::cli
