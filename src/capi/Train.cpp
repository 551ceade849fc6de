// ima_train_files / ima_train_buffers: standard or adversarial training of a new U-Net, or of a
// copy of a loaded model, written to a model file.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "ima/Error.h"
#include "ima/InputFiles.h"
#include "ima/NewModel.h"
#include "ima/Network.h"
#include "ima/TrainSegmentation.h"
#include "ima/TrainingSettings.h"

#include "Arguments.h"
#include "ModelHandle.h"

namespace ima::capi {
namespace {

// The options' training settings, checked by the core (messages name the field: "options.eps_max").
TrainingOptions trainingOptionsFrom(const ima_train_options& o) {
  TrainingSettings s;
  s.method = o.method ? o.method : "standard";
  s.epochs = o.epochs;
  s.iterationsPerEpoch = o.iterations_per_epoch;
  s.optimizer = o.optimizer ? o.optimizer : "sgd";
  if (o.learning_rate != 0) s.learningRate = o.learning_rate;
  s.seed = o.seed;
  s.eps = o.eps;
  s.epsMax = o.eps_max;
  if (o.delta != 0) s.delta = o.delta;
  s.beta = o.beta;
  s.tradesBeta = o.trades_beta;
  if (o.pgd_steps != 0) s.pgdSteps = o.pgd_steps;
  s.alpha = o.alpha;
  s.bisectionSteps = o.bisection_steps;
  s.attackNorm = o.attack_norm ? o.attack_norm : "l2";
  if (o.attack_clamp) s.attackClamp = {o.attack_clamp_range[0], o.attack_clamp_range[1]};
  s.warmStart = o.warm_start != 0;
  s.bisectionTolerance = o.bisection_tolerance;
  TrainingOptions t;
  try {
    t = ima::trainingOptionsOf(s, [](const std::string& key) {
      return "options." + key + (key == "attack_clamp" ? "_range" : "");
    });
  } catch (const InvalidTrainingSetting& e) {
    throw InvalidArgument(e.what());
  }
  t.runtime = runtimeOf(o.device, o.threads);
  return t;
}

// The settings of a new U-Net for the cases (named, coloured and checked by the core as on every
// route).
NewModelSettings newModelSettings(const ima_train_options& o) {
  NewModelSettings settings;
  if (o.dims != 0) settings.dims = o.dims;
  settings.baseFeatures = o.features;
  settings.stages = o.stages;
  if (o.classes != 0) settings.classes = o.classes;
  const std::string kind = choiceOf(o.normalization, "zscore", "options.normalization", {"zscore", "ct"});
  settings.normalization.kind = Normalization::parseKind(kind);
  if (kind == "ct") {
    if (!(std::isfinite(o.ct_window[0]) && std::isfinite(o.ct_window[1]) && o.ct_window[0] < o.ct_window[1]))
      throw InvalidArgument("options.ct_window must be two finite values LO < HI");
    settings.normalization.windowLow = static_cast<float>(o.ct_window[0]);
    settings.normalization.windowHigh = static_cast<float>(o.ct_window[1]);
  }
  return settings;
}

void train(const std::vector<LabelledCase>& cases, const ima_train_options& o, const std::string& output) {
  SegmentationTrainingRequest request;
  request.training = &cases;
  request.options = trainingOptionsFrom(o);
  if (o.checkpoint_path) request.options.checkpointPath = requiredString(o.checkpoint_path, "options.checkpoint_path");
  if (o.init_model) {
    const auto use = useOf(*o.init_model);
    request.startFrom = o.init_model->model.clone();  // training must not change the handle
    request.startedFrom = o.init_model->path;
  } else {
    request.newModel = newModelSettings(o);
  }
  // The sizes given, up to the last non-zero one; none = the core's default.
  const auto* end = std::find_if(std::make_reverse_iterator(o.patch_size + 3), std::make_reverse_iterator(o.patch_size),
                                 [](int64_t s) { return s != 0; }).base();
  request.patchSize.assign(o.patch_size, end);
  request.batchSize = o.batch_size;
  request.host = "C API";
  request.settingName = [](const std::string& key) { return "options." + key; };
  request.progress = progressOf(o.progress, o.progress_user, "train");
  Model trained = [&] {
    try {
      return trainSegmentation(request);
    } catch (const InvalidTrainingSetting& e) {
      throw InvalidArgument(e.what());
    }
  }();
  trained.save(output);
}

// Cheap checks of the output before any work.
std::string outputPathOf(const char* path) {
  const std::string output = requiredString(path, "output_path");
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(output).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
    throw ima::Error("output '" + output + "': directory '" + parent.string() + "' does not exist");
  if (std::filesystem::is_directory(output, ec)) throw ima::Error("output '" + output + "' is a directory");
  return output;
}

// Neither the model nor the checkpoint may replace an input (`paths`, the init model's file), whatever
// the spelling, nor each other.
void checkOutputsAreNotInputs(const std::string& output, const ima_train_options& o,
                              const std::vector<std::string>& paths) {
  InputFiles inputs;
  inputs.add(paths);
  if (o.init_model) inputs.add(o.init_model->path);
  try {
    inputs.checkNotAnInput(output, "output_path");
    if (o.checkpoint_path) inputs.checkNotAnInput(o.checkpoint_path, "options.checkpoint_path");
  } catch (const ima::Error& e) {
    throw InvalidArgument(e.what());
  }
  if (o.checkpoint_path && sameFile(o.checkpoint_path, output))
    throw InvalidArgument("options.checkpoint_path '" + std::string(o.checkpoint_path) + "' is output_path '" + output +
                          "'; the checkpoint needs its own file");
}

// The non-null entries of a C array of paths (null ones are reported when the cases are read).
std::vector<std::string> pathsOf(const char* const* paths, size_t count) {
  std::vector<std::string> result;
  for (size_t i = 0; paths && i < count; ++i)
    if (paths[i]) result.emplace_back(paths[i]);
  return result;
}

}  // namespace
}  // namespace ima::capi

using namespace ima::capi;

extern "C" {

void ima_train_options_init(ima_train_options* options) {
  if (!options) return;
  *options = ima_train_options{};
  options->struct_size = sizeof(ima_train_options);
  // The defaults of every route: the core's TrainingSettings and NewModelSettings.
  const ima::TrainingSettings training;
  const ima::NewModelSettings model;
  options->method = "standard";
  options->epochs = static_cast<int>(training.epochs);
  options->iterations_per_epoch = static_cast<int>(training.iterationsPerEpoch);
  options->optimizer = "sgd";
  options->seed = training.seed;
  options->eps = training.eps;
  options->eps_max = training.epsMax;
  options->beta = training.beta;
  options->trades_beta = training.tradesBeta;
  options->pgd_steps = 0;  // the method's: 2 for ima, 20 for pgd and trades
  options->alpha = training.alpha;
  options->bisection_steps = static_cast<int>(training.bisectionSteps);
  options->attack_norm = "l2";
  options->features = model.baseFeatures;
  options->stages = model.stages;
  options->normalization = "zscore";
  options->ct_window[0] = -1000;
  options->ct_window[1] = 1000;
  options->device = "auto";
  options->attack_clamp_range[0] = 0;
  options->attack_clamp_range[1] = 1;
  options->warm_start = training.warmStart ? 1 : 0;
  options->bisection_tolerance = training.bisectionTolerance;
}

// The ima_train_options_init of older interfaces, for programs linked against them: their struct
// is shorter, so only that much is written and struct_size says so. Programs linked now bind to
// the current ima_train_options_init (libima.map, IMA_1.4). The assembler directive, not GCC's
// symver attribute, which clang 14 ignores (the sanitizer build's imaCAPI.C found the IMA_1 symbol
// missing).
namespace {
void initialisePrefix(ima_train_options* options, size_t size) {
  if (!options) return;
  ima_train_options defaults;
  ima_train_options_init(&defaults);
  defaults.struct_size = size;
  std::memcpy(static_cast<void*>(options), &defaults, size);
}
}  // namespace

// IMA_1: the struct ended at progress_user.
__asm__(".symver imaTrainOptionsInitV1, ima_train_options_init@IMA_1");
__attribute__((visibility("default"))) void imaTrainOptionsInitV1(ima_train_options* options) {
  constexpr size_t sizeV1 = offsetof(ima_train_options, attack_clamp);
  static_assert(sizeV1 == offsetof(ima_train_options, progress_user) + sizeof(void*),
                "the first ima_train_options ended at progress_user");
  initialisePrefix(options, sizeV1);
}

// IMA_1.1: the struct ended at attack_clamp_range.
__asm__(".symver imaTrainOptionsInitV11, ima_train_options_init@IMA_1.1");
__attribute__((visibility("default"))) void imaTrainOptionsInitV11(ima_train_options* options) {
  initialisePrefix(options, offsetof(ima_train_options, attack_clamp_range) + 2 * sizeof(double));
}

ima_status ima_train_files(const char* const* image_paths, const char* const* label_paths, size_t count,
                           const ima_train_options* options, const char* output_path) {
  return callGuarded("ima_train_files", [&] {
    const auto o = optionsOf(options, ima_train_options_init, "options");
    trainingOptionsFrom(o);  // option mistakes before any file is read
    const std::string output = outputPathOf(output_path);
    std::vector<std::string> inputs = pathsOf(image_paths, count);
    for (std::string& label : pathsOf(label_paths, count)) inputs.push_back(std::move(label));
    checkOutputsAreNotInputs(output, o, inputs);
    train(casesFromFiles(image_paths, label_paths, count, progressOf(o.progress, o.progress_user, "loading")), o,
          output);
  });
}

ima_status ima_train_buffers(const ima_case* cases, size_t count, const ima_train_options* options,
                             const char* output_path) {
  return callGuarded("ima_train_buffers", [&] {
    const auto o = optionsOf(options, ima_train_options_init, "options");
    trainingOptionsFrom(o);
    const std::string output = outputPathOf(output_path);
    checkOutputsAreNotInputs(output, o, {});
    train(casesFromBuffers(cases, count), o, output);
  });
}

}  // extern "C"
