// Training of an image classifier (logits [N, K]) on a ClassificationSet, with any training
// method of TrainingMethod.h. A "sample" in IMA's sense (docs/architecture.md §5) is one image: its id is
// its index in the training set, so every image keeps its own margin across epochs. Images are
// the set's values as they are (e.g. [0, 1] pixels); budgets and margins are in the same units.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ima/AdversarialOptions.h"
#include "ima/classification/IdxReader.h"
#include "ima/MarginState.h"
#include "ima/Network.h"

namespace ima {

class TrainingMethod;

struct ClassificationTrainingOptions {
  TrainingMethodKind method = TrainingMethodKind::Standard;  // TrainingMethod.h
  AdversarialOptions adversarial;   // set clamp to keep the training attacks inside the pixel range
  int epochs = 10;
  int batchSize = 64;               // the last minibatch of an epoch may be smaller
  std::string optimizer = "adam";   // "adam" | "sgd" (with momentum; Nesterov when momentum > 0)
  double learningRate = 1e-3;
  double momentum = 0.9;            // sgd only
  double weightDecay = 0;
  uint64_t seed = 1;                // minibatch order and attack random numbers
};

struct ClassificationEpochReport {
  int epoch = 0;       // 1-based
  double loss = 0;     // mean over the epoch's minibatches of the method's loss
  double seconds = 0;
  std::optional<MarginStatistics> margins;  // "ima" only: the margins after the epoch's update
};

// Return false to stop after the current epoch: run() then throws ima::Cancelled, as the
// SegmentationTrainer does (one cancellation contract; completedEpochs() says how far it got).
using ClassificationEpochCallback = std::function<bool(const ClassificationEpochReport&)>;

class ClassificationTrainer {
public:
  // net is trained in place and must outlive the trainer; the training images are copied.
  // Throws ima::Error for an empty set, an unknown method or optimiser, or bad options.
  ClassificationTrainer(Network& net, const ClassificationSet& training, ClassificationTrainingOptions options);
  ~ClassificationTrainer();
  ClassificationTrainer(const ClassificationTrainer&) = delete;
  ClassificationTrainer& operator=(const ClassificationTrainer&) = delete;

  // One pass over the training set in a fresh shuffled order (deterministic in the seed and the
  // epoch number), then IMA's margin update.
  ClassificationEpochReport trainEpoch();
  // Epochs until options.epochs are done; ima::Cancelled when the callback returns false.
  std::vector<ClassificationEpochReport> run(const ClassificationEpochCallback& onEpoch = {});

  int completedEpochs() const;
  const TrainingMethod& method() const;

private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ima
