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
#include "internal/ChecksummedFile.h"
#include "internal/Device.h"
#include "ima/Files.h"
#include "internal/Patches.h"
#include "internal/Precision.h"
#include "internal/Random.h"

namespace ima {
namespace {

constexpr int64_t kMaxForegroundSamples = 20000;  // per class and case: enough to pick centres
constexpr double kGradientClip = 12.0;            // nnU-Net's gradient-norm clip

// A training case prepared once: its normalisation and a sample of foreground positions per class.
struct PreparedCase {
  const LabelledCase* source = nullptr;
  std::vector<ChannelTransform> transforms;
  std::vector<std::vector<int64_t>> foreground;  // [class-1] -> flat voxel indices
};

PreparedCase prepare(const LabelledCase& c, const ModelMetadata& m) {
  PreparedCase p;
  p.source = &c;
  p.transforms = normalizationFor(m.normalization, c.image);
  p.foreground.resize(static_cast<size_t>(m.network.classes - 1));
  std::vector<int64_t> counts(static_cast<size_t>(m.network.classes), 0);
  for (uint8_t l : c.labels.data) ++counts[l];
  for (int k = 1; k < m.network.classes; ++k) {
    // Keep every n-th voxel so the sample stays bounded and deterministic.
    const int64_t step = std::max<int64_t>(1, counts[static_cast<size_t>(k)] / kMaxForegroundSamples);
    int64_t seen = 0;
    for (size_t i = 0; i < c.labels.data.size(); ++i)
      if (c.labels.data[i] == k && seen++ % step == 0) p.foreground[static_cast<size_t>(k - 1)].push_back(static_cast<int64_t>(i));
  }
  return p;
}

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
                        {"flips", o.flips}, {"seed", o.seed}, {"method", o.method},
                        {"adversarial",
                         {{"eps", o.adversarial.eps}, {"eps_max", o.adversarial.epsMax},
                          {"delta", o.adversarial.delta}, {"beta", o.adversarial.beta},
                          {"trades_beta", o.adversarial.tradesBeta},
                          {"pgd_steps", o.adversarial.pgdSteps}, {"alpha", o.adversarial.alpha},
                          {"bisection_steps", o.adversarial.bisectionSteps}, {"bisection", o.adversarial.bisection},
                          {"bisection_tolerance", o.adversarial.bisectionTolerance},
                          {"norm", normName(o.adversarial.norm)}, {"criterion", o.adversarial.criterion},
                          {"tau", o.adversarial.tau}, {"adversarial_samples", o.adversarial.adversarialSamples},
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

// The processes of a data-parallel run (docs/distributed.md); a world of one without a communicator.
struct World {
  Communicator* communicator = nullptr;
  int rank = 0, size = 1;
  explicit World(const std::shared_ptr<Communicator>& c)
      : communicator(c && c->worldSize() > 1 ? c.get() : nullptr), rank(communicator ? c->rank() : 0),
        size(communicator ? c->worldSize() : 1) {}
  bool writes() const { return rank == 0; }
};

// Every rank starts from rank 0's weights and buffers (also after --init or --resume).
void broadcastWeights(const World& world, Network& net) {
  if (!world.communicator) return;
  std::ostringstream out;
  if (world.rank == 0) net.saveWeights(out);  // the weights file's bytes: parameters and buffers
  const std::string bytes = out.str();
  torch::Tensor size = torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong);
  world.communicator->broadcast({size});
  torch::Tensor buffer = torch::zeros({size.item<int64_t>()}, torch::kUInt8);
  if (world.rank == 0) std::copy(bytes.begin(), bytes.end(), buffer.data_ptr<uint8_t>());
  world.communicator->broadcast({buffer});
  if (world.rank == 0) return;
  std::istringstream in(std::string(reinterpret_cast<const char*>(buffer.data_ptr<uint8_t>()), static_cast<size_t>(buffer.numel())));
  const torch::Device device = net.device();
  net.loadWeights(in);
  net.to(device);
}

// Gradients of each rank's mean loss weighted by its share of the global batch and summed: the
// gradient of the global batch's mean loss (for a loss that is a mean over samples).
void averageGradients(const World& world, Network& net, double share) {
  if (!world.communicator) return;
  std::vector<torch::Tensor> gradients;
  for (auto& p : net.parameters()) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    p.mutable_grad().mul_(share);
    gradients.push_back(p.grad());
  }
  world.communicator->allReduce(gradients);
}

// IMA: the epoch's visits of all ranks combined, so every rank applies the same update.
void combineMarginVisits(const World& world, MarginState& margins) {
  if (!world.communicator || margins.size() == 0) return;
  const auto asTensor = [](const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); };
  const auto asVector = [](const torch::Tensor& t) { return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel()); };
  torch::Tensor clocks = asTensor(margins.visitClocks());
  world.communicator->allReduce({clocks}, Communicator::Reduction::Max);
  const std::vector<double> latest = asVector(clocks);
  torch::Tensor sums = asTensor(margins.visitSums(latest));
  world.communicator->allReduce({sums});
  margins.setVisits(latest, asVector(sums));
}

// Sharded cases: the first sample id of this rank (the lower ranks' samples come first) and the
// number of samples of all ranks. Every rank needs at least one case; all fail alike otherwise.
std::pair<int64_t, int64_t> shardedSampleIds(const World& world, size_t caseCount, int64_t sampleCount) {
  torch::Tensor counts = torch::zeros({2, world.size}, torch::kLong);
  counts[0][world.rank] = static_cast<int64_t>(caseCount);
  counts[1][world.rank] = sampleCount;
  world.communicator->allReduce({counts});
  for (int r = 0; r < world.size; ++r)
    if (counts[0][r].item<int64_t>() == 0)
      throw Error("distributed training: rank " + std::to_string(r) + " of " + std::to_string(world.size) +
                  " has no training case in its share of the data; use fewer processes (WORLD_SIZE)");
  return {counts[1].narrow(0, 0, world.rank).sum().item<int64_t>(), counts[1].sum().item<int64_t>()};
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

struct Trainer::State {
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

Trainer::Trainer(Model model, TrainingOptions options) : state_(std::make_unique<State>(std::move(model), std::move(options))) {
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
  s.model.metadata().trainingMethod = o.method;
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

Trainer::~Trainer() = default;
int Trainer::completedEpochs() const { return state_->epoch; }
const Model& Trainer::model() const { return state_->model; }
std::string Trainer::marginsJson() const { return state_->method.stateJson(); }

void Trainer::resumeFrom(const std::string& path) {
  State& s = *state_;
  torch::serialize::InputArchive archive;
  try {
    std::istringstream content(checkedContent(readFileBytes(path, "checkpoint"), path, "checkpoint"));
    archive.load_from(content, s.device);
  } catch (const c10::Error& e) {
    throw Error("checkpoint '" + path + "' cannot be read: " + e.what_without_backtrace());
  }
  try {
    c10::IValue metadata, epoch, rng;
    if (!archive.try_read("metadata", metadata) || !archive.try_read("epoch", epoch) || !archive.try_read("rng", rng))
      throw Error("checkpoint '" + path + "' lacks metadata, epoch or random state");
    const ModelMetadata stored = ModelMetadata::fromJson(metadata.toStringRef(), "checkpoint '" + path + "'");
    const NetworkSpec& a = stored.network;
    const NetworkSpec& b = s.model.metadata().network;
    if (a.kind != b.kind || a.dims != b.dims || a.inChannels != b.inChannels || a.classes != b.classes ||
        a.baseFeatures != b.baseFeatures || a.stages != b.stages || a.norm != b.norm)
      throw Error("checkpoint '" + path + "' holds a different network than the one being trained");
    torch::Tensor weights;
    archive.read("weights", weights);
    const std::string bytes(static_cast<const char*>(weights.data_ptr()), static_cast<size_t>(weights.numel()));
    std::istringstream in(bytes);
    s.model.network()->loadWeights(in);
    s.model.network()->to(s.device);
    torch::serialize::InputArchive optimizerArchive;
    archive.read("optimizer", optimizerArchive);
    s.optimizer->load(optimizerArchive);
    s.epoch = static_cast<int>(epoch.toInt());
    std::istringstream rngIn(rng.toStringRef());
    rngIn >> s.random.engine();
    c10::IValue margins;
    if (archive.try_read("margins", margins)) s.method.restoreState(margins.toStringRef());
    if (!s.options.logPath.empty() && World(s.options.communicator).writes()) truncateLog(s.options.logPath, s.epoch);
  } catch (const c10::Error& e) {
    throw Error("checkpoint '" + path + "' is incomplete or does not match: " + e.what_without_backtrace());
  }
}

Model Trainer::run(const std::vector<LabelledCase>& training, const std::vector<LabelledCase>& validation,
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
  for (const LabelledCase& c : training) cases.push_back(prepare(c, meta));
  const torch::ScalarType precision = resolvePrecision(o.runtime.precision, s.device);
  if (precision == torch::kHalf) throw Error("fp16 training needs loss scaling, which is not implemented; use bf16");
  MixedPrecisionNetwork net(*s.model.network(), precision);
  const NetworkSpec& spec = meta.network;
  const Box patch = patchExtent(meta.patchSize);
  const int64_t patchVoxels = patch[0] * patch[1] * patch[2];
  const int C = spec.inChannels;
  const int foregroundPerBatch = static_cast<int>(std::lround(o.foregroundFraction * o.batchSize));

  // IMA's samples have stable ids: a slice (2D network) or a cell of a patch-sized grid (3D).
  std::vector<int64_t> firstId(cases.size() + 1, 0);
  auto cellsOf = [&](const PreparedCase& pc) {
    const Box e = volumeExtent(pc.source->image.shape);
    if (spec.dims == 2) return e[0];
    int64_t cells = 1;
    for (int a = 0; a < 3; ++a) cells *= (e[a] + patch[a] - 1) / patch[a];
    return cells;
  };
  for (size_t i = 0; i < cases.size(); ++i) firstId[i + 1] = firstId[i] + cellsOf(cases[i]);
  // Sharded cases: this rank's ids follow those of the lower ranks' cases.
  const auto [idOffset, sampleCount] = sharded ? shardedSampleIds(world, cases.size(), firstId.back())
                                               : std::pair<int64_t, int64_t>{0, firstId.back()};
  s.method.setSampleCount(sampleCount);
  // Data parallel: every rank draws the whole global batch from the shared stream and keeps its
  // slots, so N processes see the patches one process would (sharded cases: its own slots only).
  const auto [firstSlot, endSlot] = batchSlots(o.batchSize, world.rank, world.size);
  if (world.communicator) s.method.setBatchPartition({world.communicator, o.batchSize, firstSlot});
  const int localBatch = endSlot - firstSlot;
  const double share = static_cast<double>(localBatch) / o.batchSize;
  broadcastWeights(world, net);

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
      torch::Tensor images = torch::empty({localBatch, C, patch[0], patch[1], patch[2]});
      torch::Tensor labels = torch::empty({localBatch, patch[0], patch[1], patch[2]}, torch::kLong);
      std::vector<int64_t> ids(static_cast<size_t>(localBatch));
      for (int b = 0; b < o.batchSize; ++b) {
        const bool mine = b >= firstSlot && b < endSlot;
        if (sharded && !mine) continue;  // drawn by its rank from that rank's cases
        Random& random = sharded ? ownStream : s.random;
        const size_t caseIndex = static_cast<size_t>(random.integer(static_cast<int64_t>(cases.size())));
        const PreparedCase& pc = cases[caseIndex];
        const Box extent = volumeExtent(pc.source->image.shape);
        Box start{};
        std::vector<size_t> present;
        for (size_t k = 0; k < pc.foreground.size(); ++k)
          if (!pc.foreground[k].empty()) present.push_back(k);
        // nnU-Net style: the last share of each batch is centred on foreground.
        if (b >= o.batchSize - foregroundPerBatch && !present.empty()) {
          const auto& voxels = pc.foreground[present[static_cast<size_t>(random.integer(static_cast<int64_t>(present.size())))]];
          const int64_t v = voxels[static_cast<size_t>(random.integer(static_cast<int64_t>(voxels.size())))];
          const Box at{v / (extent[1] * extent[2]), (v / extent[2]) % extent[1], v % extent[2]};
          for (int a = 0; a < 3; ++a) {
            // Centre on the voxel, jittered, then kept inside the image where the image is larger.
            const int64_t jitter = patch[a] > 1 ? random.integer(patch[a] / 2 + 1) - patch[a] / 4 : 0;
            start[a] = at[a] - patch[a] / 2 + jitter;
            if (extent[a] >= patch[a]) start[a] = std::min(std::max<int64_t>(start[a], 0), extent[a] - patch[a]);
          }
        } else {
          for (int a = 0; a < 3; ++a)
            start[a] = extent[a] >= patch[a] ? random.integer(extent[a] - patch[a] + 1) : -random.integer(patch[a] - extent[a] + 1);
        }
        // The sample id: the slice, or the grid cell holding the patch centre.
        int64_t cell = 0;
        for (int a = 0; a < (spec.dims == 2 ? 1 : 3); ++a) {
          const int64_t cellsAlong = spec.dims == 2 ? extent[0] : (extent[a] + patch[a] - 1) / patch[a];
          const int64_t centre = std::min(std::max<int64_t>(start[a] + patch[a] / 2, 0), extent[a] - 1);
          cell = cell * cellsAlong + (spec.dims == 2 ? centre : centre / patch[a]);
        }
        if (!mine) continue;  // another rank's slot
        const int slot = b - firstSlot;
        ids[static_cast<size_t>(slot)] = idOffset + firstId[caseIndex] + cell;
        extractPatch(pc.source->image, pc.transforms, start, patch, images[slot].data_ptr<float>());
        extractLabels(pc.source->labels, start, patch, labels[slot].data_ptr<int64_t>());
      }
      if (o.flips) {
        const int first = spec.dims == 3 ? 0 : 1;
        for (int a = first; a < 3; ++a)
          if (s.random.coin()) {
            images = images.flip({a + 2});
            labels = labels.flip({a + 1});
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
      const torch::Tensor loss = s.method.loss(net, x, y, ids, attackSeed);
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
    if (world.communicator) {
      torch::Tensor total = torch::tensor({lossSum}, torch::kDouble);
      world.communicator->allReduce({total});
      lossSum = total.item<double>();
      report.worldSize = world.size;
      report.backend = world.communicator->backend();
    }
    report.loss = lossSum / o.iterationsPerEpoch;
    report.learningRate = lr;
    combineMarginVisits(world, s.method.margins());
    report.margins = s.method.endEpoch();
    if (!validation.empty() && o.validateEvery > 0 && (s.epoch % o.validateEvery == 0 || s.epoch == o.epochs)) {
      // Voxel Dice per class with TP/FP/FN summed over the validation set (docs/architecture.md §6).
      std::vector<OverlapCounts> total(static_cast<size_t>(spec.classes - 1));
      InferenceOptions inference;
      inference.batchSize = o.batchSize;
      inference.runtime = o.runtime;
      // Each rank segments every world.size-th case (sharded: all of its own).
      const size_t firstCase = sharded ? 0 : static_cast<size_t>(world.rank), step = sharded ? 1 : static_cast<size_t>(world.size);
      for (size_t v = firstCase; v < validation.size(); v += step) {
        const LabelledCase& c = validation[v];
        const auto counts = overlapCounts(segment(s.model, c.image, inference).labels, c.labels, spec.classes);
        for (size_t k = 0; k < counts.size(); ++k) {
          total[k].tp += counts[k].tp;
          total[k].fp += counts[k].fp;
          total[k].fn += counts[k].fn;
        }
      }
      if (world.communicator) {
        torch::Tensor counts = torch::empty({static_cast<int64_t>(total.size()), 3}, torch::kLong);
        for (size_t k = 0; k < total.size(); ++k)
          for (int j = 0; j < 3; ++j)
            counts[static_cast<int64_t>(k)][j] = j == 0 ? total[k].tp : j == 1 ? total[k].fp : total[k].fn;
        world.communicator->allReduce({counts});
        for (size_t k = 0; k < total.size(); ++k) {
          total[k].tp = counts[static_cast<int64_t>(k)][0].item<int64_t>();
          total[k].fp = counts[static_cast<int64_t>(k)][1].item<int64_t>();
          total[k].fn = counts[static_cast<int64_t>(k)][2].item<int64_t>();
        }
      }
      double sum = 0;
      for (const OverlapCounts& t : total) {
        report.validationDice.push_back(t.dice());
        sum += t.dice();
      }
      report.meanValidationDice = sum / static_cast<double>(total.size());
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    if (!o.logPath.empty() && world.writes()) {
      std::ofstream log(o.logPath, s.epoch == 1 ? std::ios::trunc : std::ios::app);  // a new run starts a new log
      if (!log) throw Error("cannot write the training log '" + o.logPath + "'");
      log << report.toJson() << "\n";
      log.flush();
      if (!log) throw Error("cannot write the training log '" + o.logPath + "' (disk full?)");
    }
    if (!o.checkpointPath.empty() && world.writes()) {
      torch::serialize::OutputArchive archive;
      archive.write("metadata", c10::IValue(meta.toJson(-1)));
      std::ostringstream weights;
      net.saveWeights(weights);
      const std::string bytes = weights.str();
      archive.write("weights", torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<int64_t>(bytes.size())}, torch::kUInt8).clone());
      torch::serialize::OutputArchive optimizerArchive;
      s.optimizer->save(optimizerArchive);
      archive.write("optimizer", optimizerArchive);
      archive.write("epoch", c10::IValue(static_cast<int64_t>(s.epoch)));
      archive.write("rng", c10::IValue(rngState(s.random)));
      const std::string methodState = s.method.stateJson();
      if (!methodState.empty()) archive.write("margins", c10::IValue(methodState));
      std::ostringstream out;
      archive.save_to(out);
      writeFileAtomically(o.checkpointPath, withChecksumTrailer(out.str()));
    }
    if (onEpoch && !onEpoch(report)) throw Cancelled();
  }
  net.setTraining(false);
  return s.model;
}

}  // namespace ima
