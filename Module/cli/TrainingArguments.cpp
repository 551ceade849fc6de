#include "TrainingArguments.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "ima/Communicator.h"
#include "ima/Error.h"
#include "ima/TrainSegmentation.h"
#include "ima/TrainingSettings.h"

#include "Commands.h"
#include "ima/io/ImageFiles.h"
#include "Progress.h"

namespace fs = std::filesystem;

namespace ima::cli {

void addTrainingLoopOptions(ArgumentParser& p, const std::string& method) {
  p.option("epochs", "N", "epochs", "20")
      .option("iterations", "N", "iterations (minibatches) per epoch", "50")
      .option("method", "NAME",
              "standard, pgd (adversarial training at a fixed --eps), trades (TRADES at a fixed --eps) or ima "
              "(increasing margins)",
              method)
      .choices("method", {"standard", "pgd", "trades", "ima"})
      .option("eps", "E", "pgd, trades: the fixed budget, normalised intensity units", "0.5")
      .option("eps-max", "E", "ima: largest margin, normalised intensity units", "1.0")
      .option("delta", "E", "ima: initial margin and growth per epoch (default: eps-max / 20)")
      .option("beta", "F", "ima: weight of the adversarial loss, (1-beta) for the clean loss", "0.5")
      .option("trades-beta", "F", "trades: weight of the KL term (clean loss + beta * KL)", "6")
      .option("pgd-steps", "K", "pgd, trades, ima: PGD iterations per minibatch (default: 2 for ima, 20 for pgd and trades)")
      .option("alpha", "F", "pgd, trades, ima: PGD step = alpha * eps / K", "4")
      .option("bisection-steps", "B", "ima: bisection steps onto the decision boundary", "10")
      .option("bisection", "WHERE", "ima: which bisection end becomes the adversarial sample", "midpoint")
      .choices("bisection", {"midpoint", "inside", "outside"})
      .option("bisection-tolerance", "F",
              "ima: stop a sample's bisection at a bracket of F * its margin (0 = always B steps)", "0.05")
      .option("warm-start", "on|off",
              "ima: start each sample's attack from its previous visit's adversarial point, so that few PGD steps suffice", "on")
      .choices("warm-start", {"on", "off"})
      .option("attack-norm", "NORM", "pgd, trades, ima: norm of the noise budget", "l2")
      .option("attack-clamp", "LOW,HIGH",
              "pgd, trades, ima: keep the training attacks' points in [LOW, HIGH] (normalised units; "
              "default: no clamp, as for z-scored input)")
      .choices("attack-norm", {"l2", "linf"})
      .option("criterion", "NAME", "ima: when is a sample correct (per-pixel predictions aggregated)", "max-dice")
      .choices("criterion", {"max-dice", "mean-dice", "pixel-accuracy"})
      .option("tau", "F", "ima: threshold of the criterion", "0.6")
      .option("adversarial-samples", "WHICH",
              "ima: samples in the adversarial loss: all, or those whose attack crossed the boundary "
              "(auto: all for segmentation)",
              "auto")
      .choices("adversarial-samples", {"auto", "all", "crossed"})
      .flag("reset-misclassified", "ima: reset the margin of a misclassified sample to delta (default: unchanged)")
      .option("batch", "N", "patches per minibatch (default: 8 in 2D, 2 in 3D)")
      .option("patch", "X,Y[,Z]",
              "patch size in voxels, multiples of 2^(stages-1) (default: the model's, else the whole slice in 2D, "
              "64^3 capped by the image size in 3D)")
      .option("optimizer", "NAME", "optimiser", "sgd")
      .choices("optimizer", {"sgd", "adam"})
      .option("lr", "F", "learning rate (default: 0.01 for sgd, 0.001 for adam)");
  addRuntimeOptions(p)
      .option("seed", "K", "random seed (initialisation, split, sampling)", "1")
      .option("dist-timeout", "SECONDS",
              "under torchrun (RANK, WORLD_SIZE, ... set): how long a process waits for the others before it "
              "fails (a process died or hangs; see docs/distributed.md)",
              "300")
      .flag("force", "overwrite an existing MODEL")
      .flag("quiet", "no progress or epoch lines")
      .flag("json", "print one JSON line per epoch on stdout (and one for the result)");
}

namespace {

// The settings' keys as the options above spell them.
std::string optionName(const std::string& key) {
  if (key == "iterations_per_epoch") return "--iterations";
  if (key == "learning_rate") return "--lr";
  if (key == "patch_size") return "--patch";
  if (key == "batch_size") return "--batch";
  return "--" + kebabCase(key);
}

}  // namespace

TrainingOptions trainingLoopOptions(const ArgumentParser& args, const std::string& out) {
  TrainingSettings s;
  s.method = args.get("method");
  s.epochs = args.getInt("epochs");
  s.iterationsPerEpoch = args.getInt("iterations");
  s.optimizer = args.get("optimizer");
  if (args.given("lr")) s.learningRate = args.getDouble("lr");
  s.eps = args.getDouble("eps");
  s.epsMax = args.getDouble("eps-max");
  if (args.given("delta")) s.delta = args.getDouble("delta");
  s.beta = args.getDouble("beta");
  s.tradesBeta = args.getDouble("trades-beta");
  if (args.given("pgd-steps")) s.pgdSteps = args.getInt("pgd-steps");
  s.alpha = args.getDouble("alpha");
  s.bisectionSteps = args.getInt("bisection-steps");
  s.bisection = args.get("bisection");
  s.bisectionTolerance = args.getDouble("bisection-tolerance");
  s.warmStart = args.get("warm-start") == "on";
  s.attackNorm = args.get("attack-norm");
  s.criterion = args.get("criterion");
  s.tau = args.getDouble("tau");
  s.adversarialSamples = args.get("adversarial-samples");
  s.resetMisclassified = args.flagSet("reset-misclassified");
  if (args.given("attack-clamp")) {
    const std::vector<double> range = args.getDoubleList("attack-clamp");
    if (range.size() != 2)
      throw UsageError("--attack-clamp " + args.get("attack-clamp") + ": needs LOW,HIGH with LOW < HIGH");
    s.attackClamp = {range[0], range[1]};
  }
  TrainingOptions options;
  try {
    options = trainingOptionsOf(s, optionName);
  } catch (const InvalidTrainingSetting& e) {
    throw UsageError(e.what());
  }
  const int64_t seed = args.getInt("seed");
  if (seed < 0) throw UsageError("--seed must not be negative");
  options.seed = static_cast<uint64_t>(seed);
  options.runtime.device = checkedDevice(args);
  options.runtime.threads = args.getIntInRange("threads", 0, 1024);
  options.runtime.precision = args.get("precision");
  options.checkpointPath = out + ".ckpt";
  options.logPath = out + ".log.jsonl";
  return options;
}

SegmentationTrainingRequest trainingRequest(const ArgumentParser& args, const TrainingOptions& options) {
  SegmentationTrainingRequest request;
  request.options = options;
  if (args.given("patch")) request.patchSize = args.getIntList("patch");
  if (args.given("batch")) request.batchSize = args.getIntInRange("batch", 1, 4096);
  request.settingName = optionName;
  return request;
}

void joinDistributedTraining(const ArgumentParser& args, const std::string& device, TrainingOptions& options) {
  const double timeout = args.getDouble("dist-timeout");
  if (!(timeout > 0) || timeout > 86400) throw UsageError("--dist-timeout must be in (0, 86400] seconds");
  const auto environment = distributedEnvironment();
  if (!environment || environment->worldSize == 1) return;
  // One GPU per process: the process's LOCAL_RANK picks it (NCCL); CPU processes use Gloo.
  if (device.rfind("cuda", 0) == 0) options.runtime.device = "cuda:" + std::to_string(environment->localRank);
  options.communicator = Communicator::connect(*environment, device.rfind("cuda", 0) == 0 ? options.runtime.device : "cpu",
                                               std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
}

bool writesOutputs(const TrainingOptions& options) { return !options.communicator || options.communicator->rank() == 0; }

void checkModelOutput(const std::string& out, bool force, const std::string& resume) {
  io::checkFileOutputPath(out, force, "output");
  std::error_code ec;
  if (!resume.empty() && !fs::exists(resume, ec)) throw Error("checkpoint '" + resume + "' does not exist");
}

void checkTrainingOutputsAreNotInputs(const std::string& out, const TrainingOptions& options,
                                      const std::string& resume, const InputFiles& inputs) {
  inputs.checkNotAnInput(out, "output model");
  inputs.checkNotAnInput(options.logPath, "training log");
  if (resume.empty() || !sameFile(resume, options.checkpointPath))
    inputs.checkNotAnInput(options.checkpointPath, "checkpoint");
}

Model trainWithEpochLines(SegmentationTrainingRequest request, bool quiet, bool json,
                          const std::function<void(const SegmentationTrainingStart&)>& onStart) {
  const TrainingOptions& options = request.options;
  if (!writesOutputs(options)) quiet = true, json = false;  // rank 0 speaks
  int epochsAtStart = 0, epochs = 0;
  std::vector<LabelInfo> labels;
  Progress progress("train", quiet || json);
  request.onStart = [&](const SegmentationTrainingStart& start) {
    epochsAtStart = epochs = start.completedEpochs;
    labels = start.model.metadata().labels;
    if (onStart) onStart(start);
  };
  request.onEpoch = [&](const EpochReport& r) {
    epochs = r.epoch;
    if (json) {
      progress.println(std::cout, r.toJson());
    } else if (!quiet) {
      char line[256];
      std::snprintf(line, sizeof line, "epoch %*d/%d  loss %.4f  lr %.5f", static_cast<int>(std::to_string(options.epochs).size()),
                    r.epoch, options.epochs, r.loss, r.learningRate);
      std::string text = line;
      if (r.meanValidationDice >= 0) {
        std::snprintf(line, sizeof line, "  val dice %.4f", r.meanValidationDice);
        text += line;
        std::string perLabel;
        for (size_t k = 0; k < r.validationDice.size(); ++k) {
          const std::string name = k < labels.size() ? labels[k].name : "label " + std::to_string(k + 1);
          std::snprintf(line, sizeof line, "%s %.4f", name.c_str(), r.validationDice[k]);
          perLabel += (k ? ", " : "") + std::string(line);
        }
        if (r.validationDice.size() > 1) text += " (" + perLabel + ")";
      }
      if (const auto& m = r.margins) {
        std::snprintf(line, sizeof line, "  margins mean %.3f (q10 %.3f, q90 %.3f; %.0f%% grown, %.0f%% to boundary)",
                      m->mean, m->q10, m->q90, 100 * m->fractionExpanded, 100 * m->fractionToBoundary);
        text += line;
      }
      std::snprintf(line, sizeof line, "  %.1f s", r.seconds);
      progress.println(std::cout, text + line);
    }
    return true;
  };
  request.progress = progress.callback();
  Model trained = [&] {
    try {
      return trainSegmentation(request);
    } catch (const InvalidTrainingSetting& e) {
      throw UsageError(e.what());
    } catch (const Cancelled&) {
      progress.finish();
      // Only a checkpoint that exists is offered: this run's after an epoch it finished, else the one
      // it resumed from.
      const std::string checkpoint = epochs > epochsAtStart ? options.checkpointPath : request.resumeFrom;
      std::error_code ec;
      if (epochs > 0 && !checkpoint.empty() && fs::exists(checkpoint, ec))
        std::cerr << "ima: training stopped after epoch " << epochs << "; continue with --resume " << checkpoint << "\n";
      else
        std::cerr << "ima: training stopped before its first epoch finished; no checkpoint was written\n";
      throw;
    }
  }();
  progress.finish();
  return trained;
}

void saveTrainedModel(Model& trained, const std::string& out, const TrainingOptions& options, int completedEpochs,
                      const nlohmann::json& settings, bool quiet, bool json) {
  if (!writesOutputs(options)) return;  // rank 0 writes the model
  // The trainer records its own options; add what only the command line knows.
  nlohmann::json merged = nlohmann::json::parse(trained.metadata().trainingSettingsJson, nullptr, false);
  if (!merged.is_object()) merged = nlohmann::json::object();
  for (const auto& [key, value] : settings.items()) merged[key] = value;
  trained.metadata().trainingSettingsJson = merged.dump();
  trained.save(out);
  if (json) {
    std::cout << nlohmann::json{{"model", out}, {"checkpoint", options.checkpointPath}, {"log", options.logPath},
                                {"epochs", completedEpochs}}
                     .dump()
              << "\n";
  } else if (!quiet) {
    std::cout << "wrote " << out << " (log " << options.logPath << ", checkpoint " << options.checkpointPath << ")\n";
  }
}

}  // namespace ima::cli
