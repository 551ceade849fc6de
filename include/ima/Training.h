// Supervised training of a segmentation network (standard method; adversarial methods build on
// the same loop). nnU-Net defaults: Dice+CE loss, SGD with Nesterov momentum 0.99, lr 0.01 with
// poly decay (exponent 0.9), random patches with 1/3 foreground oversampling, random flips.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ima/AdversarialOptions.h"
#include "ima/LabelledCase.h"
#include "ima/MarginState.h"
#include "ima/Model.h"
#include "ima/Runtime.h"
#include "ima/Volume.h"

namespace ima {

class Communicator;
class WarmStarts;

struct TrainingOptions {
  // Standard, PGD (fixed-eps adversarial training), TRADES or IMA (see TrainingMethod.h)
  TrainingMethodKind method = TrainingMethodKind::Standard;
  AdversarialOptions adversarial;
  int epochs = 20;
  int iterationsPerEpoch = 50;
  int batchSize = 8;
  std::vector<int64_t> patchSize;  // ITK order; empty = the model's patch size
  std::string optimizer = "sgd";   // "sgd" (Nesterov) | "adam"; both with poly decay
  double learningRate = 0.01;      // nnU-Net: 0.01 for SGD; use ~1e-3 for Adam
  double momentum = 0.99;
  double weightDecay = 3e-5;
  double polyExponent = 0.9;
  double foregroundFraction = 0.33;  // share of patches centred on a foreground voxel
  bool flips = true;
  uint64_t seed = 1;
  int validateEvery = 1;           // epochs between validation passes (0 = never)
  std::string checkpointPath;      // written atomically after every epoch when set
  std::string logPath;             // JSON lines, one per epoch, when set
  RuntimeOptions runtime;
  // Data-parallel training (docs/distributed.md): null or a world of 1 = one process. Otherwise
  // batchSize is the global batch split across ranks, gradients and IMA's bookkeeping are combined
  // across ranks every step / epoch, and only rank 0 writes the log and the checkpoint.
  std::shared_ptr<Communicator> communicator;
  // With a communicator: each process holds only its own share of the training cases, disjoint
  // from the others' (batch harden reads its shard of the archive). A process then draws its slots
  // of every global batch from its own cases, with a stream of its own (from seed, rank and epoch),
  // and validates on all of its validation cases; IMA's sample ids number the cases of rank 0,
  // then rank 1, ... Otherwise every process holds all cases and draws from the shared stream.
  bool casesShardedAcrossProcesses = false;
};

struct EpochReport {
  int epoch = 0;  // 1-based
  double loss = 0;
  double learningRate = 0;
  std::vector<double> validationDice;  // per foreground label (empty when not validated)
  double meanValidationDice = -1;      // -1 when not validated
  double seconds = 0;
  std::optional<MarginStatistics> margins;  // "ima": margins after the epoch's update
  int worldSize = 1;                 // processes that trained the epoch (logged when > 1)
  std::string backend;               // their c10d backend ("gloo", "nccl")
  std::string toJson() const;
};

// Return false to stop after the current epoch (the trainer then throws ima::Cancelled; the
// checkpoint of the last finished epoch stays valid).
using EpochCallback = std::function<bool(const EpochReport&)>;

// How a host spells a setting's key in messages, e.g. "eps_max" -> "--eps-max". The keys are
// method, epochs, iterations_per_epoch, optimizer, learning_rate, seed, eps, eps_max, delta, beta,
// trades_beta, pgd_steps, alpha, bisection_steps, bisection, attack_norm, criterion, tau,
// adversarial_samples, reset_misclassified, attack_clamp, bisection_tolerance, warm_start; and
// batch_size, patch_size for the training loop.
using SettingName = std::function<std::string(const std::string& key)>;

class SegmentationTrainer {
public:
  // `model` is trained in place (start from Model::create or a pretrained model for --init).
  SegmentationTrainer(Model model, TrainingOptions options);
  ~SegmentationTrainer();
  SegmentationTrainer(const SegmentationTrainer&) = delete;
  SegmentationTrainer& operator=(const SegmentationTrainer&) = delete;

  // Continue from a checkpoint written by a trainer with the same model and options:
  // restores weights, optimiser, epoch counter and random state, so the run continues exactly.
  // Options that differ from the checkpoint's (but the epochs) are an Error naming each setting
  // as `name` spells it, raised before the weights are loaded.
  void resumeFrom(const std::string& checkpointPath, const SettingName& name = {});

  // Trains until options.epochs epochs are done. Validation cases may be empty. Progress is
  // reported per iteration in [0, 1] over the whole run and can cancel between iterations.
  Model run(const std::vector<LabelledCase>& training, const std::vector<LabelledCase>& validation,
            const EpochCallback& onEpoch = {}, const ProgressCallback& progress = {});

  int completedEpochs() const;
  const Model& model() const;
  std::string marginsJson() const;  // IMA: the margin table (MarginState::toJson); "" otherwise
  const WarmStarts& warmStarts() const;  // IMA: this process's warm starts; empty otherwise

private:
  struct State;
  std::unique_ptr<State> state_;
};

// Validates a training set against a model: shapes, channel counts, label values, NaN/Inf.
// Throws ima::Error naming the case.
void checkTrainingCases(const std::vector<LabelledCase>& cases, const ModelMetadata& metadata);

}  // namespace ima
