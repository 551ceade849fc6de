// IMAHarden: the Slicer CLI module that fine-tunes a trained model on one image and its label map
// (IMAHarden.xml), like `ima train --init MODEL --method ima`, and writes the hardened model.
#include <chrono>

#include <nlohmann/json.hpp>

#include "ima/Error.h"
#include "ima/Model.h"
#include "ima/TrainSegmentation.h"
#include "ima/TrainingSettings.h"

#include "ArgumentParser.h"  // UsageError
#include "ima/io/CasePairs.h"
#include "ima/io/ImageFiles.h"
#include "ModelInput.h"
#include "ModuleMain.h"

#include "IMAHardenXml.h"  // kModuleXml, generated from IMAHarden.xml

namespace {

using namespace ima;
using namespace ima::slicer;

// A setting's key as the module's flags spell it (IMAHarden.xml).
std::string flagName(const std::string& key) {
  if (key == "iterations_per_epoch") return "--iterations";
  if (key == "batch_size") return "--batch";
  return "--" + camelCase(key);
}

void hardenModel(const ModuleArguments& args, FilterProgress& progress, ReturnParameters& returns) {
  const std::string modelPath = args.path("model", true), image = args.path("inputVolume", true),
                    label = args.path("inputLabel", true), out = args.path("outputModel", true);
  TrainingSettings s;
  s.method = args.string("method");
  s.epochs = args.integer("epochs");
  s.iterationsPerEpoch = args.integer("iterations");
  s.optimizer = args.string("optimizer");
  s.learningRate = args.number("learningRate");
  s.seed = static_cast<uint64_t>(args.integer("seed"));
  s.eps = args.number("eps");
  s.epsMax = args.number("epsMax");
  if (args.number("delta") > 0) s.delta = args.number("delta");
  s.attackNorm = args.string("attackNorm");
  if (args.integer("pgdSteps") > 0) s.pgdSteps = args.integer("pgdSteps");
  s.bisectionSteps = args.integer("bisectionSteps");
  s.bisectionTolerance = args.number("bisectionTolerance");
  s.warmStart = args.string("warmStart") == "on";
  s.beta = args.number("beta");
  // Empty (Slicer's default): no clamp.
  if (const std::vector<double> range = args.numbers("attackClamp"); !range.empty()) {
    if (range.size() != 2)
      throw cli::UsageError("--attackClamp " + args.string("attackClamp") + ": needs two values LOW,HIGH");
    s.attackClamp = {range[0], range[1]};
  }
  TrainingOptions options;
  try {
    options = trainingOptionsOf(s, flagName);
  } catch (const InvalidTrainingSetting& e) {
    throw cli::UsageError(e.what());
  }
  options.runtime.device = args.string("device");
  options.runtime.threads = static_cast<int>(args.integer("threads"));
  // No checkpoint or log files: the module's only output is the model, which may replace a file
  // (Slicer's temporary files) but never an input.
  io::checkOutputFiles(InputFiles().add({modelPath, image, label}), {{out, "output model"}}, true);
  applyRuntime(options.runtime);

  progress.stage(0.05);
  SegmentationTrainingRequest request;
  request.startFrom = loadModelInput(args);
  const io::CasePair pair{io::caseIdOf(image), image, label};
  const std::vector<LabelledCase> training{io::loadCase(pair)};
  progress.report(1);

  progress.stage(0.98);
  request.training = &training;
  request.options = options;
  request.startedFrom = modelPath;
  request.batchSize = static_cast<int>(args.integer("batchSize"));
  request.settingName = flagName;
  request.host = "IMAHarden, Slicer CLI module";
  request.provenanceJson = nlohmann::json{{"images", image}, {"labels", label}}.dump();
  double finalLoss = 0, meanMargin = 0;
  request.onEpoch = [&](const EpochReport& r) {
    finalLoss = r.loss;
    if (r.margins) meanMargin = r.margins->mean;
    return true;
  };
  request.progress = progress.callback();
  const auto start = std::chrono::steady_clock::now();
  const Model trained = [&] {
    try {
      return trainSegmentation(request);
    } catch (const InvalidTrainingSetting& e) {
      throw cli::UsageError(e.what());
    }
  }();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  progress.stage(1.0);
  returns.set("finalLoss", finalLoss);
  returns.set("meanMargin", options.method == ima::TrainingMethodKind::Ima ? meanMargin : 0.0);
  returns.set("trainingSeconds", seconds);
  trained.save(out);
}

}  // namespace

int main(int argc, char** argv) { return runModule("IMAHarden", kModuleXml, argc, argv, hardenModel); }
