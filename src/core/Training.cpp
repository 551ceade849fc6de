#include "ima/Training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ima/Communicator.h"
#include "ima/Error.h"
#include "ima/Metrics.h"
#include "ima/Network.h"
#include "ima/SlidingWindowInferer.h"
#include "ima/TrainingMethod.h"
#include "ima/Files.h"
#include "internal/DataParallel.h"
#include "internal/Device.h"
#include "internal/PatchSampler.h"
#include "internal/Precision.h"
#include "internal/Random.h"
#include "internal/TrainingCheckpoint.h"

namespace ima {
namespace {

constexpr double kGradientClip = 12.0;            // nnU-Net's gradient-norm clip

std::string rngState(const Random& r) {
  std::ostringstream s;
  s << const_cast<Random&>(r).engine();
  return s.str();
}

std::string trainingOptionsJson(const TrainingOptions& o) {
  return nlohmann::json{{"epochs", o.epochs}, {"iterations_per_epoch", o.iterationsPerEpoch},
                        {"batch_size", o.batchSize}, {"patch_size", o.patchSize},
                        {"optimizer", o.optimizer}, {"learning_rate", o.learningRate},
                        {"momentum", o.momentum}, {"weight_decay", o.weightDecay},
                        {"poly_exponent", o.polyExponent}, {"foreground_fraction", o.foregroundFraction},
                        {"flips", o.flips}, {"seed", o.seed}, {"method", trainingMethodName(o.method)},
                        {"adversarial",
                         {{"eps", o.adversarial.eps}, {"eps_max", o.adversarial.epsMax},
                          {"delta", o.adversarial.delta}, {"beta", o.adversarial.beta},
                          {"trades_beta", o.adversarial.tradesBeta},
                          {"pgd_steps", o.adversarial.pgdSteps}, {"alpha", o.adversarial.alpha},
                          {"bisection_steps", o.adversarial.bisectionSteps}, {"bisection", bisectionReturnName(o.adversarial.bisection)},
                          {"bisection_tolerance", o.adversarial.bisectionTolerance},
                          {"warm_start", o.adversarial.warmStart},
                          {"norm", normName(o.adversarial.norm)}, {"criterion", criterionName(o.adversarial.criterion)},
                          {"tau", o.adversarial.tau}, {"adversarial_samples", adversarialSamplesName(o.adversarial.adversarialSamples)},
                          {"reset_misclassified", o.adversarial.resetMisclassified},
                          {"clamp", o.adversarial.clamp ? nlohmann::json::array({o.adversarial.clampLow,
                                                                                 o.adversarial.clampHigh})
                                                        : nlohmann::json()}}}}
      .dump();
}

// Keeps the log lines of epochs <= `epochs`, so a resumed run continues the log without
// duplicates from an epoch that was logged but not checkpointed before a kill.
void truncateLog(const std::string& path, int epochs) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("epoch", 0) <= epochs) kept += line + "\n";
  }
  writeFileAtomically(path, kept);
}

// Voxel Dice per class with TP/FP/FN summed over the validation set (docs/architecture.md §6).
// Each rank segments every world.size-th case (sharded cases: all of its own).
std::vector<double> validationDice(const Model& model, const std::vector<LabelledCase>& validation,
                                   const TrainingOptions& o, const World& world, bool sharded) {
  const int classes = model.metadata().network.classes;
  InferenceOptions inference;
  inference.batchSize = o.batchSize;
  inference.runtime = o.runtime;
  torch::Tensor counts = torch::zeros({classes - 1, 3}, torch::kLong);  // [class-1] -> tp, fp, fn
  const size_t firstCase = sharded ? 0 : static_cast<size_t>(world.rank), step = sharded ? 1 : static_cast<size_t>(world.size);
  for (size_t v = firstCase; v < validation.size(); v += step) {
    const LabelledCase& c = validation[v];
    const auto overlap = overlapCounts(segment(model, c.image, inference).labels, c.labels, classes);
    for (size_t k = 0; k < overlap.size(); ++k) {
      const auto row = static_cast<int64_t>(k);
      counts[row][0] += overlap[k].tp;
      counts[row][1] += overlap[k].fp;
      counts[row][2] += overlap[k].fn;
    }
  }
  sumOverRanks(world, counts);
  std::vector<double> dice;
  for (int64_t k = 0; k < classes - 1; ++k) {
    OverlapCounts total;
    total.tp = counts[k][0].item<int64_t>();
    total.fp = counts[k][1].item<int64_t>();
    total.fn = counts[k][2].item<int64_t>();
    dice.push_back(total.dice());
  }
  return dice;
}

void appendLogLine(const std::string& path, const EpochReport& report) {
  std::ofstream log(path, report.epoch == 1 ? std::ios::trunc : std::ios::app);  // a new run starts a new log
  if (!log) throw Error("cannot write the training log '" + path + "'");
  log << report.toJson() << "\n";
  log.flush();
  if (!log) throw Error("cannot write the training log '" + path + "' (disk full?)");
}

}  // namespace

std::string EpochReport::toJson() const {
  nlohmann::json j{{"epoch", epoch}, {"loss", loss}, {"learning_rate", learningRate}, {"seconds", seconds}};
  if (worldSize > 1) {
    j["world_size"] = worldSize;
    j["backend"] = backend;
  }
  if (margins) j["margins"] = nlohmann::json::parse(margins->toJson());
  if (meanValidationDice >= 0) {
    j["validation_dice"] = validationDice;
    j["mean_validation_dice"] = meanValidationDice;
  }
  return j.dump();
}

void checkTrainingCases(const std::vector<LabelledCase>& cases, const ModelMetadata& m) {
  for (const LabelledCase& c : cases) {
    const std::string name = "training case '" + c.id + "'";
    if (c.image.channels != m.network.inChannels)
      throw Error(name + " has " + std::to_string(c.image.channels) + " channel(s) but the model expects " +
                  std::to_string(m.network.inChannels));
    if (!(c.image.shape == c.labels.shape))
      throw Error(name + ": image " + c.image.shape.str() + " and label map " + c.labels.shape.str() + " differ in size");
    if (m.network.dims == 3 && c.image.shape.dims() != 3) throw Error(name + " is 2D but the model is 3D");
    if (c.labels.data.size() != static_cast<size_t>(c.labels.shape.voxels()) ||
        c.image.data.size() != static_cast<size_t>(c.image.channels * c.image.shape.voxels()))
      throw Error(name + ": buffer sizes do not match the image shape");
    for (uint8_t l : c.labels.data)
      if (l >= m.network.classes)
        throw Error(name + " contains label " + std::to_string(l) + " but the model has " +
                    std::to_string(m.network.classes) + " classes (0.." + std::to_string(m.network.classes - 1) + ")");
    checkFinite(c.image, name);
  }
}

struct SegmentationTrainer::State {
  Model model;
  TrainingOptions options;
  torch::Device device{torch::kCPU};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  Random random;
  int epoch = 0;  // completed epochs
  TrainingMethod method;

  State(Model m, TrainingOptions o)
      : model(std::move(m)), options(std::move(o)), random(options.seed), method(options.method, options.adversarial) {}
};

SegmentationTrainer::SegmentationTrainer(Model model, TrainingOptions options) : state_(std::make_unique<State>(std::move(model), std::move(options))) {
  State& s = *state_;
  const TrainingOptions& o = s.options;
  if (o.epochs < 1 || o.iterationsPerEpoch < 1 || o.batchSize < 1)
    throw Error("epochs, iterations per epoch and batch size must be >= 1");
  if (o.learningRate <= 0) throw Error("learning rate must be > 0");
  if (o.foregroundFraction < 0 || o.foregroundFraction > 1) throw Error("foreground fraction must be in [0, 1]");
  if (!o.patchSize.empty()) {
    if (static_cast<int>(o.patchSize.size()) != s.model.metadata().network.dims)
      throw Error("patch size must have " + std::to_string(s.model.metadata().network.dims) + " entries");
    const Box patch = patchExtent(o.patchSize);
    const NetworkSpec& spec = s.model.metadata().network;
    const int64_t multiple = spec.kind == "unet" ? (int64_t{1} << (spec.stages - 1)) : 1;
    for (int a = spec.dims == 3 ? 0 : 1; a < 3; ++a)
      if (patch[a] % multiple != 0)
        throw Error("patch size " + std::to_string(patch[a]) + " is not a multiple of " + std::to_string(multiple) +
                    " as this U-Net's " + std::to_string(spec.stages) + " stages require");
    s.model.metadata().patchSize = o.patchSize;
  }
  s.device = resolveDevice(applyRuntime(o.runtime));
  s.model.network()->to(s.device);
  const auto parameters = s.model.network()->parameters();
  if (o.optimizer == "sgd")
    s.optimizer = std::make_unique<torch::optim::SGD>(
        parameters, torch::optim::SGDOptions(o.learningRate).momentum(o.momentum).nesterov(o.momentum > 0).weight_decay(o.weightDecay));
  else if (o.optimizer == "adam")
    s.optimizer = std::make_unique<torch::optim::Adam>(
        parameters, torch::optim::AdamOptions(o.learningRate).weight_decay(o.weightDecay));
  else
    throw Error("unknown optimizer '" + o.optimizer + "' (expected sgd or adam)");
  s.model.metadata().trainingMethod = trainingMethodName(o.method);
  s.model.metadata().trainingSettingsJson = trainingOptionsJson(o);
  const World world(o.communicator);
  if (world.size > 1) {
    if (o.batchSize < world.size)
      throw Error("the batch (" + std::to_string(o.batchSize) + ") is the global batch and needs at least one sample for each of the " +
                  std::to_string(world.size) + " processes (WORLD_SIZE)");
    auto settings = nlohmann::json::parse(s.model.metadata().trainingSettingsJson);
    settings["world_size"] = world.size;
    settings["backend"] = o.communicator->backend();
    s.model.metadata().trainingSettingsJson = settings.dump();
  }
}

SegmentationTrainer::~SegmentationTrainer() = default;
int SegmentationTrainer::completedEpochs() const { return state_->epoch; }
const Model& SegmentationTrainer::model() const { return state_->model; }
std::string SegmentationTrainer::marginsJson() const { return state_->method.stateJson(); }
const WarmStarts& SegmentationTrainer::warmStarts() const { return state_->method.warmStarts(); }

void SegmentationTrainer::resumeFrom(const std::string& path, const SettingName& name) {
  State& s = *state_;
  const CheckpointState state =
      readCheckpoint(path, s.model.metadata().network, *s.model.network(), *s.optimizer, s.device,
                     [&](const ModelMetadata& stored) {
                       checkResumeSettings(path, stored.trainingSettingsJson, s.model.metadata().trainingSettingsJson, name);
                     });
  s.epoch = state.epoch;
  std::istringstream random(state.random);
  random >> s.random.engine();
  if (!state.methodState.empty()) s.method.restoreState(state.methodState);
  s.method.restoreWarmStarts(WarmStarts::fromTensors(state.warmStarts, "checkpoint '" + path + "'"));
  if (!s.options.logPath.empty() && World(s.options.communicator).writes()) truncateLog(s.options.logPath, s.epoch);
}

Model SegmentationTrainer::run(const std::vector<LabelledCase>& training, const std::vector<LabelledCase>& validation,
                   const EpochCallback& onEpoch, const ProgressCallback& progress) {
  State& s = *state_;
  const TrainingOptions& o = s.options;
  ModelMetadata& meta = s.model.metadata();
  const World world(o.communicator);
  const bool sharded = world.communicator && o.casesShardedAcrossProcesses;
  if (training.empty() && !sharded) throw Error("the training set is empty");
  checkTrainingCases(training, meta);
  checkTrainingCases(validation, meta);
  applyRuntime(o.runtime);

  std::vector<PreparedCase> cases;
  for (const LabelledCase& c : training) cases.push_back(prepareCase(c, meta));
  const torch::ScalarType precision = resolvePrecision(o.runtime.precision, s.device);
  if (precision == torch::kHalf) throw Error("fp16 training needs loss scaling, which is not implemented; use bf16");
  MixedPrecisionNetwork net(*s.model.network(), precision);
  const NetworkSpec& spec = meta.network;
  const Box patch = patchExtent(meta.patchSize);
  const PatchSampler sampler(cases, spec, patch, o.batchSize,
                             static_cast<int>(std::lround(o.foregroundFraction * o.batchSize)));
  // Sharded cases: this rank's ids follow those of the lower ranks' cases.
  const auto [idOffset, sampleCount] = sharded ? shardedSampleIds(world, cases.size(), sampler.sampleCount())
                                               : std::pair<int64_t, int64_t>{0, sampler.sampleCount()};
  s.method.setSampleCount(sampleCount);
  // Data parallel: a rank keeps only the warm starts it owns (after a resume the checkpoint's table
  // holds every rank's): with sharded cases its own samples, which no other rank draws; with
  // shared cases one sample in N (warmStartOwner).
  if (sharded) {
    const int64_t first = idOffset, end = idOffset + sampler.sampleCount();
    s.method.warmStarts().keepOnly([&](int64_t id) { return id >= first && id < end; });
  } else if (world.communicator) {
    s.method.warmStarts().keepOnly([&](int64_t id) { return warmStartOwner(id, world.size) == world.rank; });
  }
  // Data parallel: every rank draws the whole global batch from the shared stream and keeps its
  // slots, so N processes see the patches one process would (sharded cases: its own slots only).
  const auto [firstSlot, endSlot] = batchSlots(o.batchSize, world.rank, world.size);
  if (world.communicator) s.method.setBatchPartition({world.communicator, o.batchSize, firstSlot, sharded});
  const int localBatch = endSlot - firstSlot;
  const double share = static_cast<double>(localBatch) / o.batchSize;
  broadcastWeights(world, net);
  // The gather is collective, so every rank follows rank 0's choice (the one that writes).
  const bool gathersWarmStarts = world.communicator && rankZerosChoice(world, !o.checkpointPath.empty());

  for (; s.epoch < o.epochs;) {
    const auto started = std::chrono::steady_clock::now();
    const double lr = o.learningRate * std::pow(1.0 - static_cast<double>(s.epoch) / o.epochs, o.polyExponent);
    for (auto& group : s.optimizer->param_groups()) group.options().set_lr(lr);  // poly decay, both optimisers
    net.setTraining(true);
    double lossSum = 0;
    // Sharded cases: this rank's own stream, seeded per epoch so that a resumed run continues it.
    Random ownStream(streamSeed(o.seed, static_cast<uint64_t>(s.epoch) * static_cast<uint64_t>(world.size) +
                                            static_cast<uint64_t>(world.rank)));
    for (int it = 0; it < o.iterationsPerEpoch; ++it) {
      torch::Tensor images = torch::empty({localBatch, spec.inChannels, patch[0], patch[1], patch[2]});
      torch::Tensor labels = torch::empty({localBatch, patch[0], patch[1], patch[2]}, torch::kLong);
      std::vector<int64_t> ids(static_cast<size_t>(localBatch));
      std::vector<PatchPlacement> placements(static_cast<size_t>(localBatch));
      for (int b = 0; b < o.batchSize; ++b) {
        const bool mine = b >= firstSlot && b < endSlot;
        if (sharded && !mine) continue;  // drawn by its rank from that rank's cases
        const PatchSampler::Draw draw = sampler.draw(sharded ? ownStream : s.random, b);
        if (!mine) continue;  // another rank's slot
        const int slot = b - firstSlot;
        ids[static_cast<size_t>(slot)] = idOffset + draw.id;
        placements[static_cast<size_t>(slot)].start = draw.start;
        sampler.extract(draw, images[slot].data_ptr<float>(), labels[slot].data_ptr<int64_t>());
      }
      if (o.flips) {
        const int first = spec.dims == 3 ? 0 : 1;
        for (int a = first; a < 3; ++a)
          if (s.random.coin()) {
            images = images.flip({a + 2});
            labels = labels.flip({a + 1});
            for (PatchPlacement& p : placements) p.flipped[static_cast<size_t>(a)] = true;
          }
      }
      torch::Tensor x = images.to(s.device), y = labels.to(s.device);
      if (spec.dims == 2) {
        x = x.squeeze(2);
        y = y.squeeze(1);
      }
      s.optimizer->zero_grad();
      // Attack noise: one seed per step from the shared stream; every rank draws the global batch's
      // numbers and keeps its slots (BatchPartition).
      const uint64_t attackSeed = s.random.engine()();
      s.method.margins().setVisitClock((static_cast<int64_t>(s.epoch) * o.iterationsPerEpoch + it) * o.batchSize + firstSlot);
      const torch::Tensor loss = s.method.loss(net, x, y, ids, attackSeed, placements);
      loss.backward();
      averageGradients(world, net, share);
      torch::nn::utils::clip_grad_norm_(net.parameters(), kGradientClip);
      s.optimizer->step();
      lossSum += loss.item<double>() * share;
      reportProgress(progress, (static_cast<double>(s.epoch) * o.iterationsPerEpoch + it + 1) /
                                   (static_cast<double>(o.epochs) * o.iterationsPerEpoch));
    }
    ++s.epoch;

    EpochReport report;
    report.epoch = s.epoch;
    torch::Tensor totalLoss = torch::tensor({lossSum}, torch::kDouble);
    sumOverRanks(world, totalLoss);
    if (world.communicator) {
      report.worldSize = world.size;
      report.backend = world.communicator->backend();
    }
    report.loss = totalLoss.item<double>() / o.iterationsPerEpoch;
    report.learningRate = lr;
    combineMarginVisits(world, s.method.margins());
    report.margins = s.method.endEpoch();
    if (!validation.empty() && o.validateEvery > 0 && (s.epoch % o.validateEvery == 0 || s.epoch == o.epochs)) {
      report.validationDice = validationDice(s.model, validation, o, world, sharded);
      double sum = 0;
      for (double d : report.validationDice) sum += d;
      report.meanValidationDice = sum / static_cast<double>(report.validationDice.size());
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    if (!o.logPath.empty() && world.writes()) appendLogLine(o.logPath, report);
    // Data parallel: every rank holds the warm starts it owns; rank 0 writes them all.
    std::vector<std::pair<std::string, torch::Tensor>> gathered;
    if (gathersWarmStarts) gathered = gatherWarmStarts(world, s.method.warmStarts());
    if (!o.checkpointPath.empty() && world.writes())
      writeCheckpoint(o.checkpointPath, meta, net, *s.optimizer,
                      {s.epoch, rngState(s.random), s.method.stateJson(),
                       world.communicator ? std::move(gathered) : s.method.warmStarts().tensors()});
    if (onEpoch && !onEpoch(report)) throw Cancelled();
  }
  net.setTraining(false);
  return s.model;
}

}  // namespace ima
