// IMAHarden: the Slicer CLI module that fine-tunes a trained model on one image and its label map
// (IMAHarden.xml), like `ima train --init MODEL --method ima`, and writes the hardened model.
#include <chrono>

#include <nlohmann/json.hpp>

#include "ima/Error.h"
#include "ima/Model.h"
#include "ima/Training.h"

#include "ArgumentParser.h"  // UsageError
#include "Cases.h"
#include "ImageIO.h"
#include "ModuleMain.h"

#include "IMAHardenXml.h"  // kModuleXml, generated from IMAHarden.xml

namespace {

using namespace ima;
using namespace ima::slicer;

void hardenModel(const ModuleArguments& args, FilterProgress& progress, ReturnParameters& returns) {
  const std::string modelPath = args.path("model", true), image = args.path("inputVolume", true),
                    label = args.path("inputLabel", true), out = args.path("outputModel", true);
  TrainingOptions options;
  options.method = args.string("method");
  options.epochs = static_cast<int>(args.integer("epochs"));
  options.iterationsPerEpoch = static_cast<int>(args.integer("iterations"));
  options.optimizer = args.string("optimizer");
  options.learningRate = args.number("learningRate");
  options.seed = static_cast<uint64_t>(args.integer("seed"));
  options.runtime.device = args.string("device");
  options.runtime.threads = static_cast<int>(args.integer("threads"));
  AdversarialOptions& adv = options.adversarial;
  adv.eps = args.number("eps");
  adv.epsMax = args.number("epsMax");
  adv.delta = args.number("delta") > 0 ? args.number("delta") : adv.epsMax / 20;
  if (adv.delta > adv.epsMax) throw cli::UsageError("--delta must not exceed --epsMax");
  adv.norm = args.string("attackNorm");
  adv.pgdSteps = static_cast<int>(args.integer("pgdSteps"));
  adv.bisectionSteps = static_cast<int>(args.integer("bisectionSteps"));
  adv.beta = args.number("beta");
  // No checkpoint or log files: the module's only output is the model.
  applyRuntime(options.runtime);

  progress.stage(0.05);
  Model init = Model::load(modelPath);
  const cli::CasePair pair{cli::caseIdOf(image), image, label};
  const std::vector<TrainingCase> training{cli::loadCase(pair)};
  const int dims = init.metadata().network.dims;
  const int64_t batch = args.integer("batchSize");
  options.batchSize = batch > 0 ? static_cast<int>(batch) : (dims == 3 ? 2 : 8);
  checkTrainingCases(training, init.metadata());
  progress.report(1);

  progress.stage(0.98);
  ModelMetadata metadata = init.metadata();
  Trainer trainer(std::move(init), options);
  double finalLoss = 0, meanMargin = 0;
  const auto start = std::chrono::steady_clock::now();
  Model trained = trainer.run(training, {},
                              [&](const EpochReport& r) {
                                finalLoss = r.loss;
                                if (!r.marginStatisticsJson.empty())
                                  meanMargin = nlohmann::json::parse(r.marginStatisticsJson).value("mean", 0.0);
                                return true;
                              },
                              progress.callback());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  progress.stage(1.0);
  // Provenance: where the weights came from and what they were fine-tuned on.
  nlohmann::json provenance = nlohmann::json::parse(metadata.provenanceJson, nullptr, false);
  if (!provenance.is_object()) provenance = nlohmann::json::object();
  provenance["initialized_from"] = modelPath;
  provenance["images"] = image;
  provenance["labels"] = label;
  provenance["training_cases"] = {pair.id};
  provenance["software"] = "IMAHarden (Slicer CLI module)";
  trained.metadata().provenanceJson = provenance.dump();
  returns.set("finalLoss", finalLoss);
  returns.set("meanMargin", options.method == "ima" ? meanMargin : 0.0);
  returns.set("trainingSeconds", seconds);
  trained.save(out);
}

}  // namespace

int main(int argc, char** argv) { return runModule("IMAHarden", kModuleXml, argc, argv, hardenModel); }
