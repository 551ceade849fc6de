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

#include "ima/DicomSeg.h"
#include "ima/DicomSeries.h"
#include "ima/Error.h"
#include "ima/Model.h"
#include "ima/Training.h"

#include "Commands.h"
#include "ImageIO.h"
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
      .option("resume", "CKPT", "continue an interrupted run from its checkpoint (same options)");
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
  const std::string device = applyRuntime(options.runtime);
  joinDistributedTraining(args, device, options);
  const Model pretrained = Model::load(modelPath);
  dicom::silenceDcmtkLogging();

  // ---- Data: series paired with their SEGs; a pair that cannot be read is named and skipped.
  std::vector<dicom::ScanFailure> failures, segFailures;
  std::vector<dicom::SeriesInfo> series = dicom::scanDirectory(root, &failures);
  // The SEG scan meets the same damaged files as the series scan: reported once, below.
  const std::vector<dicom::SegInfo> segs = dicom::scanSegmentations(root, &segFailures);
  // A series with a damaged file would train on a partial volume: skipped (by UID).
  std::set<std::string> damaged;
  for (const auto& f : failures) {
    std::cerr << "ima: batch harden: damaged file: " << f.reason << "\n";
    if (!f.seriesInstanceUid.empty()) damaged.insert(f.seriesInstanceUid);
  }
  for (const auto& uid : damaged) std::cerr << "ima: batch harden: series " << uid << " skipped (damaged file)\n";
  series.erase(std::remove_if(series.begin(), series.end(),
                              [&](const dicom::SeriesInfo& s) { return damaged.count(s.seriesInstanceUid) > 0; }),
               series.end());
  const std::vector<LabelledSeries> pairs = pairWithSegmentations(series, segs, quiet || json);
  if (pairs.empty())
    throw Error("no image series under '" + root + "' is labelled by a DICOM SEG under it (" +
                std::to_string(series.size()) + " image series, " + std::to_string(segs.size()) +
                " SEG objects found); batch harden needs SEG labels that reference their series");
  dicom::ReadOptions readOptions;
  readOptions.allowUneven = dicomInput(args, false).allowUneven;
  std::vector<TrainingCase> cases;
  for (const auto& pair : pairs) {
    try {
      TrainingCase c{pair.series->id, dicom::readSeries(*pair.series, readOptions),
                     dicom::readSegmentation(pair.segFile, *pair.series)};
      checkFinite(c.image, "series " + pair.series->id);
      cases.push_back(std::move(c));
    } catch (const Error& e) {
      std::cerr << "ima: batch harden: series " << pair.series->id << " skipped: " << e.what() << "\n";
    }
  }
  if (cases.empty()) throw Error("none of the " + std::to_string(pairs.size()) + " labelled series under '" + root +
                                 "' could be read (see the messages above)");

  // ---- Model and training: `ima train --init` on these cases.
  ModelMetadata metadata = pretrained.metadata();
  choosePatchAndBatch(args, metadata.network, metadata.patchSize, cases, options);
  metadata.patchSize = options.patchSize;
  nlohmann::json provenance = {{"created", utcNow()},
                               {"software", versionString()},
                               {"archive", root},
                               {"training_series", nlohmann::json::array()},
                               {"initialized_from", modelPath}};
  for (const auto& c : cases) provenance["training_series"].push_back(c.id);
  if (!resumePath.empty()) provenance["resumed_from"] = resumePath;
  metadata.provenanceJson = provenance.dump();
  Trainer trainer(Model(metadata, pretrained.network()), options);
  if (!resumePath.empty()) trainer.resumeFrom(resumePath);
  if (!quiet && !json)
    std::cout << "hardening " << modelPath << " with " << options.method << " on " << cases.size()
              << " labelled series, device " << device << "\n"
              << std::flush;

  Model trained = trainWithEpochLines(trainer, cases, {}, options, metadata.labels, quiet, json, resumePath);
  const nlohmann::json settings = {{"device", device}, {"threads", options.runtime.threads}, {"init", modelPath},
                                   {"archive", root}};
  saveTrainedModel(trained, out, options, trainer.completedEpochs(), settings, quiet, json);
  return 0;
}

}  // namespace ima::cli
