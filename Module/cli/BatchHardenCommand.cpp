// `ima batch harden`: fine-tunes a pretrained model with IMA (the paper's "apply IMA to a
// pretrained model") on a DICOM archive whose labels are DICOM SEG objects: every image series that
// a SEG references is a training case, its SEG read as the label map on the series' grid. Series
// without a SEG are listed (by UID) and skipped. The training loop is `ima train --init`'s
// (TrainingArguments.h).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "ima/Communicator.h"
#include "ima/DicomSeg.h"
#include "ima/DicomSeries.h"
#include "ima/Error.h"
#include "ima/Model.h"
#include "ima/SegmentationTrainingRequest.h"

#include "Commands.h"
#include "ima/io/ImageFiles.h"
#include "Shard.h"
#include "TrainingArguments.h"

namespace fs = std::filesystem;

namespace ima::cli {

ArgumentParser batchHardenParser() {
  ArgumentParser p("batch harden",
                   "Fine-tune a pretrained model with IMA on a DICOM archive labelled with DICOM SEG objects.\n"
                   "Every image series under ROOT that a SEG under ROOT references becomes a training case\n"
                   "(the SEG read as its label map); series without a SEG are listed by UID and skipped.\n"
                   "Training as in 'ima train --init PRETRAINED' (same options, default --method ima);\n"
                   "writes MODEL, MODEL.ckpt and MODEL.log.jsonl.");
  p.option("model", "PRETRAINED", "the model to start from (.imamodel)", "", true)
      .option("input", "ROOT", "DICOM archive: image series and the SEG objects that label them", "", true)
      .option("out", "MODEL", "hardened model to write (e.g. hardened.imamodel)", "", true)
      .option("resume", "CKPT", "continue an interrupted run from its checkpoint (same options but --epochs; others are refused)")
      .option("shard", "K/N|auto",
              "read and train on only shard K of N of the labelled series (1 <= K <= N, by a hash of the series "
              "UID, as in batch segment); auto: from the scheduler (docs/batch.md). Under torchrun every process "
              "reads its own shard, RANK of WORLD_SIZE, and they train one model together (docs/distributed.md)");
  addTrainingLoopOptions(p, "ima");
  addDicomOptions(p, false);
  p.epilog("example:\n  ima batch harden --model pretrained.imamodel --input /archive --out hardened.imamodel \\\n"
           "                   --eps-max 1 --epochs 10");
  return p;
}

namespace {

struct LabelledSeries {
  const dicom::SeriesInfo* series;
  std::string segFile;
};

// Pairs every SEG with the series it references; what cannot be paired is reported on stderr (by
// UID and SEG file name, never by patient).
std::vector<LabelledSeries> pairWithSegmentations(const std::vector<dicom::SeriesInfo>& series,
                                                  const std::vector<dicom::SegInfo>& segs, bool quiet) {
  // The scan and the pairing are the same on every process: only the first reports them.
  std::map<std::string, std::vector<const dicom::SeriesInfo*>> byUid;
  for (const auto& s : series) byUid[s.seriesInstanceUid].push_back(&s);
  std::map<std::string, std::string> segOf;  // series UID -> SEG file
  for (const auto& seg : segs) {
    const auto it = byUid.find(seg.referencedSeriesUid);
    if (it == byUid.end()) {
      std::cerr << "ima: batch harden: SEG '" << seg.file << "' references series " << seg.referencedSeriesUid
                << ", which is not under the input; ignored\n";
    } else if (it->second.size() > 1) {
      std::cerr << "ima: batch harden: SEG '" << seg.file << "' references series " << seg.referencedSeriesUid
                << ", which mixes orientations or sizes (split into parts); ignored\n";
    } else if (segOf.count(seg.referencedSeriesUid)) {
      std::cerr << "ima: batch harden: series " << seg.referencedSeriesUid << " has several SEGs; using '"
                << segOf[seg.referencedSeriesUid] << "', ignoring '" << seg.file << "'\n";
    } else {
      segOf[seg.referencedSeriesUid] = seg.file;
    }
  }
  std::vector<LabelledSeries> pairs;
  std::vector<std::string> unlabelled;
  for (const auto& s : series) {
    const auto it = segOf.find(s.seriesInstanceUid);
    if (it != segOf.end()) pairs.push_back({&s, it->second});
    else unlabelled.push_back(s.id);
  }
  if (!unlabelled.empty() && !quiet) {
    std::cerr << "ima: batch harden: " << unlabelled.size() << " series without a SEG (skipped):\n";
    for (const auto& id : unlabelled) std::cerr << "  " << id << "\n";
  }
  return pairs;
}

// The share of the labelled series this process reads: --shard K/N|auto, or under torchrun its
// RANK of WORLD_SIZE, whatever scheduler started torchrun (an explicit K/N must then agree): the
// ranks train one model on the union of their shards.
Shard readingShard(const ArgumentParser& args) {
  const auto environment = distributedEnvironment();
  if (!environment || environment->worldSize == 1) return args.given("shard") ? parseShard(args.get("shard")) : Shard{};
  const Shard rank{static_cast<uint64_t>(environment->rank), static_cast<uint64_t>(environment->worldSize)};
  if (args.given("shard") && args.get("shard") != "auto") {
    const Shard shard = parseShard(args.get("shard"));
    if (shard.index != rank.index || shard.count != rank.count)
      throw UsageError("--shard " + args.get("shard") + " but this process is RANK=" + std::to_string(rank.index) +
                       " of WORLD_SIZE=" + std::to_string(rank.count) +
                       ": under torchrun each process reads shard RANK+1 of WORLD_SIZE (omit --shard or give auto)");
  }
  return rank;
}

// Under torchrun: the ids of the series every process read, in rank order; each needs at least one
// (all processes fail alike otherwise). One process: its own.
std::vector<std::string> seriesReadByAllProcesses(const std::vector<LabelledCase>& cases, const TrainingOptions& options,
                                                  size_t labelled, const Shard& shard) {
  std::vector<std::string> ids;
  for (const auto& c : cases) ids.push_back(c.id);
  if (!options.communicator) return ids;
  const auto perRank = options.communicator->allGather(nlohmann::json(ids).dump());
  std::vector<std::string> all;
  for (size_t r = 0; r < perRank.size(); ++r) {
    const auto read = nlohmann::json::parse(perRank[r]).get<std::vector<std::string>>();
    if (read.empty())
      throw Error("distributed batch harden: rank " + std::to_string(r) + " of " + std::to_string(shard.count) +
                  " read none of the archive's " + std::to_string(labelled) +
                  " labelled series (none of its shard, or none readable); use fewer processes (WORLD_SIZE)");
    all.insert(all.end(), read.begin(), read.end());
  }
  return all;
}

// The image series under `root`, less those with a damaged file (they would train on a partial
// volume), which are reported by UID when this process `speaks`.
std::vector<dicom::SeriesInfo> undamagedSeries(const std::string& root, bool speaks) {
  std::vector<dicom::ScanFailure> failures;
  std::vector<dicom::SeriesInfo> series = dicom::scanDirectory(root, &failures);
  std::set<std::string> damaged;
  for (const auto& f : failures) {
    if (speaks) std::cerr << "ima: batch harden: damaged file: " << f.reason << "\n";
    if (!f.seriesInstanceUid.empty()) damaged.insert(f.seriesInstanceUid);
  }
  if (speaks)
    for (const auto& uid : damaged) std::cerr << "ima: batch harden: series " << uid << " skipped (damaged file)\n";
  series.erase(std::remove_if(series.begin(), series.end(),
                              [&](const dicom::SeriesInfo& s) { return damaged.count(s.seriesInstanceUid) > 0; }),
               series.end());
  return series;
}

// The cases of the labelled series in `shard`; a pair that cannot be read is named and skipped.
struct ShardCases {
  std::vector<LabelledCase> cases;
  size_t inShard = 0;  // labelled series in the shard, read or not
};

ShardCases readShard(const std::vector<LabelledSeries>& pairs, const Shard& shard, bool allowUneven) {
  dicom::ReadOptions readOptions;
  readOptions.allowUneven = allowUneven;
  ShardCases read;
  for (const auto& pair : pairs) {
    if (!shard.contains(pair.series->id)) continue;  // another shard's (another process's) series
    ++read.inShard;
    try {
      LabelledCase c{pair.series->id, dicom::readSeries(*pair.series, readOptions),
                     dicom::readSegmentation(pair.segFile, *pair.series)};
      checkFinite(c.image, "series " + pair.series->id);
      read.cases.push_back(std::move(c));
    } catch (const Error& e) {
      std::cerr << "ima: batch harden: series " << pair.series->id << " skipped: " << e.what() << "\n";
    }
  }
  return read;
}

void checkSomeSeriesRead(const std::vector<std::string>& trainingSeries, const ShardCases& read, size_t labelled,
                         const std::string& root, const Shard& shard) {
  if (!trainingSeries.empty()) return;
  const std::string shardName = std::to_string(shard.index + 1) + "/" + std::to_string(shard.count);
  if (read.inShard == 0)
    throw Error("none of the " + std::to_string(labelled) + " labelled series under '" + root + "' is in shard " +
                shardName + " (--shard)");
  throw Error("none of the " + std::to_string(read.inShard) + " labelled series under '" + root + "'" +
              (shard.count > 1 ? " in shard " + shardName : "") + " could be read (see the messages above)");
}

}  // namespace

int runBatchHarden(const ArgumentParser& args) {
  const bool quiet = args.flagSet("quiet"), json = args.flagSet("json"), force = args.flagSet("force");
  const std::string modelPath = args.get("model"), root = args.get("input"), out = args.get("out");
  const std::string resumePath = args.get("resume");
  TrainingOptions options = trainingLoopOptions(args, out);
  checkModelOutput(out, force, resumePath);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error("input archive '" + root + "' is not a directory");
  checkTrainingOutputsAreNotInputs(out, options, resumePath, InputFiles().add({modelPath, resumePath, root}));
  const Shard shard = readingShard(args);
  const std::string device = applyRuntime(options.runtime);
  joinDistributedTraining(args, device, options);
  const bool speaks = writesOutputs(options);  // rank 0 prints; every rank reports its own reading's failures
  const Model pretrained = Model::load(modelPath);
  dicom::silenceDcmtkLogging();

  // ---- Data: series paired with their SEGs.
  const std::vector<dicom::SeriesInfo> series = undamagedSeries(root, speaks);
  std::vector<dicom::ScanFailure> segFailures;  // the damaged files again: reported above
  const std::vector<dicom::SegInfo> segs = dicom::scanSegmentations(root, &segFailures);
  const std::vector<LabelledSeries> pairs = pairWithSegmentations(series, segs, quiet || json || !speaks);
  if (pairs.empty())
    throw Error("no image series under '" + root + "' is labelled by a DICOM SEG under it (" +
                std::to_string(series.size()) + " image series, " + std::to_string(segs.size()) +
                " SEG objects found); batch harden needs SEG labels that reference their series");
  const ShardCases read = readShard(pairs, shard, dicomInput(args, false).allowUneven);
  const std::vector<LabelledCase>& cases = read.cases;
  // The series every process read (under torchrun each reads its own shard), in rank order.
  const std::vector<std::string> trainingSeries = seriesReadByAllProcesses(cases, options, pairs.size(), shard);
  checkSomeSeriesRead(trainingSeries, read, pairs.size(), root, shard);

  // ---- Model and training: `ima train --init` on these cases.
  SegmentationTrainingRequest request = trainingRequest(args, options);
  request.options.casesShardedAcrossProcesses = true;  // under torchrun each process holds its shard's series
  request.training = &cases;
  request.startFrom = pretrained;
  request.startedFrom = modelPath;
  request.resumeFrom = resumePath;
  request.host = "ima batch harden";
  nlohmann::json provenance = {{"archive", root}, {"training_series", trainingSeries}};
  if (shard.count > 1 && !options.communicator)
    provenance["shard"] = std::to_string(shard.index + 1) + "/" + std::to_string(shard.count);
  request.provenanceJson = provenance.dump();
  const auto announce = [&](const SegmentationTrainingStart&) {
    if (quiet || json || !speaks) return;
    std::cout << "hardening " << modelPath << " with " << ima::trainingMethodName(options.method) << " on " << trainingSeries.size()
              << " labelled series";
    if (options.communicator)
      std::cout << " read by " << options.communicator->worldSize() << " processes (" << cases.size() << " by rank 0)";
    else if (shard.count > 1)
      std::cout << " of shard " << shard.index + 1 << "/" << shard.count;
    std::cout << ", device " << device << "\n" << std::flush;
  };
  Model trained = trainWithEpochLines(std::move(request), quiet, json, announce);
  const nlohmann::json settings = {{"device", device}, {"threads", options.runtime.threads}, {"init", modelPath},
                                   {"archive", root}};
  saveTrainedModel(trained, out, options, options.epochs, settings, quiet, json);
  return 0;
}

}  // namespace ima::cli
