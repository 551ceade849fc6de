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

}  // namespace

int runBatchSegment(const ArgumentParser& args) {
  const std::string modelPath = args.get("model"), root = args.get("input"), outRoot = args.get("output");
  const std::string format = args.get("format");
  const bool quiet = args.flagSet("quiet");
  const Shard shard = args.given("shard") ? parseShard(args.get("shard")) : Shard{};
  const InferenceOptions options = inferenceOptions(args);
  const io::DicomInput dicomOptions = dicomInput(args, false);

  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error("input archive '" + root + "' is not a directory");
  if (fs::exists(outRoot, ec) && !fs::is_directory(outRoot, ec))
    throw Error("output '" + outRoot + "' exists and is not a directory");
  fs::create_directories(outRoot, ec);
  if (ec) throw Error("cannot create output directory '" + outRoot + "': " + ec.message());
  const std::string manifestPath =
      (fs::path(outRoot) / (shard.count == 1 ? std::string("manifest.csv")
                                             : "manifest-shard-" + std::to_string(shard.index + 1) + "-of-" +
                                                   std::to_string(shard.count) + ".csv"))
          .string();
  InputFiles inputs;
  inputs.add({modelPath, root});
  inputs.checkNotAnInput(manifestPath, "manifest");
  Manifest manifest(manifestPath);
  applyRuntime(options.runtime);
  const Model model = Model::load(modelPath);
  // Rows record the model by content: a rerun with another model (or a retrained file of the same
  // name) redoes every series.
  const std::string modelSha256 = sha256OfFile(modelPath, "model file");
  const std::string modelName = fs::path(modelPath).filename().string();  // as ima segment names it
  dicom::silenceDcmtkLogging();  // our messages carry DCMTK's reasons, per series

  // ---- The work: every series, and every damaged file, of this shard, in a fixed order.
  std::vector<dicom::ScanFailure> failures;
  const std::vector<dicom::SeriesInfo> series = dicom::scanDirectory(root, &failures);
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
  for (const WorkItem& item : mine) inputs.checkNotAnInput(item.output, "output");

  // Resume: drop a torn last row and stale temporaries (only unsharded: shards share OUTROOT).
  manifest.compact();
  if (shard.count == 1) removeStaleTemporaries(outRoot);

  int ok = 0, skipped = 0, failed = 0;
  const size_t total = mine.size();
  for (size_t i = 0; i < total; ++i) {
    const WorkItem& item = mine[i];
    const std::string counter = "[" + std::to_string(i + 1) + "/" + std::to_string(total) + "] ";
    const std::string name = item.series.empty() ? std::string("(unknown series)") : item.series;
    auto fail = [&](const std::string& reason) {
      manifest.append({item.series, "", "failed", reason, modelSha256});
      std::cerr << "ima: batch: " << name << " failed: " << reason << "\n";
      ++failed;
    };
    const ManifestRow* previous = item.series.empty() ? nullptr : manifest.latest(item.series);
    // Done: recorded as done by this model with this output name (OUTROOT may be spelled
    // differently this time), and the output is there (outputs are checked complete before they are
    // renamed into place, so one that exists is complete).
    if (previous && (previous->status == "ok" || previous->status == "skipped") && previous->model == modelSha256 &&
        fs::path(previous->output).filename() == fs::path(item.output).filename() && fs::exists(item.output, ec)) {
      manifest.append({item.series, item.output, "skipped", "already done", modelSha256});
      if (!quiet) std::cout << counter << name << " skipped (already done): " << item.output << "\n";
      ++skipped;
      continue;
    }
    if (!item.failure.empty()) {
      fail(item.failure);
      continue;
    }
    try {
      dicom::ReadOptions readOptions;
      readOptions.allowUneven = dicomOptions.allowUneven;
      readOptions.warn = [&](const std::string& w) { std::cerr << "ima: batch: " << name << ": " << w << "\n"; };
      const Volume volume = dicom::readSeries(*item.info, readOptions);
      checkFinite(volume, "series " + item.series);
      if (const std::string warning = constantImageWarning(volume, "series " + item.series); !warning.empty())
        std::cerr << warning << "\n";
      Segmentation result;
      {
        // A bar on a terminal; in a log file, per-patch lines of every series would drown the rows.
        Progress progress(name, quiet || !::isatty(2));
        result = segment(model, volume, options, progress.callback());
        progress.finish();
      }
      result.labels.geometry = volume.geometry;
      // Both writers are atomic (temporary name, then rename): a kill leaves no partial output.
      stopIfInterrupted();
      if (format == "seg")
        writeSegOutput(result.labels, item.output, *item.info, model.metadata(), modelName, true,
                       [&](const std::string& w) { std::cerr << "ima: batch: " << name << ": warning: " << w << "\n"; });
      else
        io::writeLabelMap(result.labels, item.output, true);
      manifest.append({item.series, item.output, "ok", "", modelSha256});
      if (!quiet) std::cout << counter << name << " ok: " << item.output << "\n";
      ++ok;
    } catch (const Cancelled&) {
      throw;  // Ctrl-C: the rows so far are in the manifest; a rerun resumes
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  manifest.compact();
  std::cout << "batch segment: " << ok << " ok, " << skipped << " skipped, " << failed << " failed of " << total
            << " series" << (shard.count > 1 ? " in shard " + std::to_string(shard.index + 1) + "/" +
                                                   std::to_string(shard.count)
                                             : std::string())
            << "; manifest " << manifestPath << "\n";
  return failed > 0 ? 1 : 0;
}

}  // namespace ima::cli
