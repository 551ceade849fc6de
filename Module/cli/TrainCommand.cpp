// `ima train`: training of a U-Net on folders of image/label pairs, standard or adversarial.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ima/Error.h"
#include "ima/Model.h"
#include "ima/NewModel.h"
#include "ima/SegmentationTrainingRequest.h"

#include "ima/io/CasePairs.h"
#include "ima/io/ImageFiles.h"

#include "Commands.h"
#include "Progress.h"
#include "TrainingArguments.h"

namespace fs = std::filesystem;

namespace ima::cli {

ArgumentParser trainParser() {
  ArgumentParser p("train",
                   "Train a U-Net segmentation model (nnU-Net-style: Dice+CE loss, random patches with\n"
                   "foreground oversampling, flips). Images and labels are paired by file name: the same\n"
                   "name in --images and --labels; a subdirectory of --images (or a .dcm file) is a DICOM\n"
                   "series, paired with the label file named after it (case_001/ with case_001.nii.gz).\n"
                   "Writes MODEL, MODEL.ckpt (after every epoch, for --resume) and MODEL.log.jsonl (one\n"
                   "JSON line per epoch).");
  p.option("images", "DIR", "training images (files, or DICOM series directories)", "", true)
      .option("labels", "DIR", "label images (uint8-compatible: 0 background, 1..K structures)", "", true)
      .option("out", "MODEL", "model file to write (e.g. model.imamodel)", "", true)
      .option("dims", "D", "network dimensions (2 trains on slices; default: the image dimensions)")
      .choices("dims", {"2", "3"})
      .option("features", "N", "features of the first stage (doubled per stage, capped)", "32")
      .option("stages", "N", "resolution levels of the U-Net", "4")
      .option("norm", "KIND", "normalisation layers", "instance")
      .choices("norm", {"instance", "batch", "none"})
      .option("val-fraction", "F", "share of the cases held out for validation", "0.2")
      .option("val-images", "DIR", "validation images (instead of --val-fraction)")
      .option("val-labels", "DIR", "validation labels (with --val-images)")
      .option("normalization", "KIND", "intensity normalisation stored in the model", "zscore")
      .choices("normalization", {"zscore", "ct"})
      .option("ct-window", "LO,HI", "CT window in HU for --normalization ct", "-1000,1000")
      .option("labels-names", "NAMES", "label names, comma separated, for labels 1..K (default: label 1, ...)")
      .option("resume", "CKPT", "continue an interrupted run from its checkpoint (same options but --epochs, --init included; others are refused)")
      .option("init", "MODEL", "start from a trained model instead of a fresh network")
      .epilog("example:\n  ima phantoms --out data --count 12 --size 64 --dims 2\n"
              "  ima train --images data/images --labels data/labels --out model.imamodel \\\n"
              "            --epochs 10 --labels-names organ,lesion");
  addTrainingLoopOptions(p, "standard");
  addDicomOptions(p, false);
  return p;
}

namespace {

std::string joinSize(const std::vector<int64_t>& size) {
  std::string s;
  for (size_t i = 0; i < size.size(); ++i) s += (i ? "x" : "") + std::to_string(size[i]);
  return s;
}

// Where validation cases come from: --val-images/--val-labels, or a seeded share of the training
// cases (--val-fraction).
struct ValidationSource {
  bool separate = false;
  double fraction = 0;
};

ValidationSource validationSource(const ArgumentParser& args) {
  ValidationSource v;
  v.separate = args.given("val-images") || args.given("val-labels");
  if (v.separate && !(args.given("val-images") && args.given("val-labels")))
    throw UsageError("--val-images and --val-labels go together");
  if (v.separate && args.given("val-fraction"))
    throw UsageError("use either --val-fraction or --val-images/--val-labels, not both");
  v.fraction = v.separate ? 0.0 : args.getDouble("val-fraction");
  if (v.fraction < 0 || v.fraction >= 1) throw UsageError("--val-fraction must be in [0, 1)");
  return v;
}

// --init takes the network from a model: the options that describe a new one do not apply. With
// --resume (an interrupted fine-tuning, resumed with its options as batch harden's --model is) the
// model gives the network and metadata and the checkpoint the weights reached.
void checkModelSource(const ArgumentParser& args) {
  if (args.get("init").empty()) return;
  for (const char* name : {"dims", "features", "stages", "norm", "normalization", "ct-window", "labels-names"})
    if (args.given(name)) throw UsageError(std::string("--") + name + " cannot be combined with --init (the model defines it)");
}

// The settings of a new network (the core builds and checks its metadata).
NewModelSettings newModelSettings(const ArgumentParser& args) {
  NewModelSettings newModel;
  if (args.given("dims")) newModel.dims = std::stoi(args.get("dims"));
  newModel.baseFeatures = args.getIntInRange("features", 1, 1024);
  newModel.stages = args.getIntInRange("stages", 1, 8);
  newModel.norm = args.get("norm");
  Normalization& normalization = newModel.normalization;
  normalization.kind = args.get("normalization") == "ct" || (args.given("ct-window") && !args.given("normalization"))
                           ? Normalization::Kind::CTWindow
                           : Normalization::Kind::ZScore;
  if (args.given("ct-window") && normalization.kind != Normalization::Kind::CTWindow)
    throw UsageError("--ct-window applies to --normalization ct only");
  const auto window = args.getDoubleList("ct-window");
  if (window.size() != 2 || !(window[0] < window[1])) throw UsageError("--ct-window needs two values LO,HI with LO < HI");
  normalization.windowLow = static_cast<float>(window[0]);
  normalization.windowHigh = static_cast<float>(window[1]);
  if (args.given("labels-names")) {
    newModel.labelNames = args.getStringList("labels-names");
    if (newModel.labelNames.size() > 255) throw UsageError("--labels-names: at most 255 labels");
  }
  return newModel;
}

// Moves a seeded share of `training` to `validation`: Fisher-Yates with a fully specified engine,
// so the split is the same on every platform; both stay sorted by case id.
void splitValidation(std::vector<io::CasePair>& training, std::vector<io::CasePair>& validation, double fraction,
                     uint64_t seed) {
  if (fraction <= 0 || training.size() < 2) return;
  const size_t n = training.size();
  size_t k = static_cast<size_t>(std::lround(fraction * static_cast<double>(n)));
  k = std::min(std::max<size_t>(k, 1), n - 1);
  std::mt19937_64 rng(seed);
  for (size_t i = n - 1; i > 0; --i) std::swap(training[i], training[rng() % (i + 1)]);
  validation.assign(training.begin(), training.begin() + static_cast<std::ptrdiff_t>(k));
  training.erase(training.begin(), training.begin() + static_cast<std::ptrdiff_t>(k));
  auto byId = [](const io::CasePair& a, const io::CasePair& b) { return a.id < b.id; };
  std::sort(training.begin(), training.end(), byId);
  std::sort(validation.begin(), validation.end(), byId);
}

// What the model file records about its making beyond what the core records (cases, the model
// it started from, the checkpoint it resumed): where the data came from.
std::string provenanceJson(const ArgumentParser& args, const ValidationSource& v) {
  nlohmann::json provenance = {{"images", args.get("images")}, {"labels", args.get("labels")}};
  if (v.separate) {
    provenance["validation_images"] = args.get("val-images");
    provenance["validation_labels"] = args.get("val-labels");
  }
  return provenance.dump();
}

void printTrainingStart(const SegmentationTrainingStart& start, size_t trainingCases, size_t validationCases,
                        const std::string& device) {
  const NetworkSpec& net = start.model.metadata().network;
  const TrainingOptions& options = start.options;
  std::cout << "training a " << net.dims << "D U-Net (" << net.stages << " stages, " << net.baseFeatures
            << " features, " << net.classes << " classes) on " << trainingCases << " case(s), validating on "
            << validationCases << "; patch " << joinSize(options.patchSize) << ", batch " << options.batchSize
            << ", " << options.optimizer << " lr " << options.learningRate << ", method " << ima::trainingMethodName(options.method) << ", device " << device << "\n";
  if (start.completedEpochs > 0) std::cout << "resuming after epoch " << start.completedEpochs << "\n";
  std::cout.flush();
}

}  // namespace

int runTrain(const ArgumentParser& args) {
  const bool quiet = args.flagSet("quiet"), json = args.flagSet("json"), force = args.flagSet("force");
  const std::string out = args.get("out");
  const std::string initPath = args.get("init"), resumePath = args.get("resume");

  // ---- Options (usage errors before any file is touched).
  TrainingOptions options = trainingLoopOptions(args, out);
  const ValidationSource validationFrom = validationSource(args);
  checkModelSource(args);
  const NewModelSettings newModel = newModelSettings(args);

  // ---- Outputs and runtime (cheap failures first).
  checkModelOutput(out, force, resumePath);
  const std::string device = applyRuntime(options.runtime);
  joinDistributedTraining(args, device, options);
  const bool talk = !quiet && !json && writesOutputs(options);  // under torchrun rank 0 speaks
  std::optional<Model> initModel;
  if (!initPath.empty()) initModel = Model::load(initPath);

  // ---- Data.
  std::vector<io::CasePair> trainPairs = io::pairCases(args.get("images"), args.get("labels")), valPairs;
  if (validationFrom.separate) valPairs = io::pairCases(args.get("val-images"), args.get("val-labels"));
  {
    InputFiles inputs;
    inputs.add({initPath, resumePath});
    for (const auto* pairs : {&trainPairs, &valPairs})
      for (const io::CasePair& p : *pairs) inputs.add({p.image, p.label});
    checkTrainingOutputsAreNotInputs(out, options, resumePath, inputs);
  }
  splitValidation(trainPairs, valPairs, validationFrom.fraction, options.seed);
  const std::vector<LabelledCase> training = loadCases(trainPairs, "loading", !talk, dicomInput(args, false));
  const std::vector<LabelledCase> validation = loadCases(valPairs, "loading validation", !talk, dicomInput(args, false));

  // ---- Model and training: a new U-Net for the training cases or the --init model, resolved,
  // checked and trained by the core.
  SegmentationTrainingRequest request = trainingRequest(args, options);
  request.training = &training;
  request.validation = &validation;
  if (initModel) {
    request.startFrom = std::move(*initModel);
    request.startedFrom = initPath;
  } else {
    request.newModel = newModel;
  }
  initModel.reset();
  request.resumeFrom = resumePath;
  request.host = "ima train";
  request.provenanceJson = provenanceJson(args, validationFrom);
  Model trained = trainWithEpochLines(std::move(request), quiet, json, [&](const SegmentationTrainingStart& start) {
    if (talk) printTrainingStart(start, training.size(), validation.size(), device);
  });
  nlohmann::json settings = {
      {"validation", validationFrom.separate
                         ? nlohmann::json{{"images", args.get("val-images")}, {"labels", args.get("val-labels")}}
                         : nlohmann::json{{"fraction", validationFrom.fraction}}},
      {"device", device},
      {"threads", options.runtime.threads}};
  if (!initPath.empty()) settings["init"] = initPath;
  saveTrainedModel(trained, out, options, options.epochs, settings, quiet, json);
  return 0;
}

}  // namespace ima::cli
