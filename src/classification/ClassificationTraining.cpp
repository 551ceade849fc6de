#include "ima/classification/ClassificationTraining.h"

#include <chrono>
#include <numeric>

#include "ima/Error.h"
#include "ima/TrainingMethod.h"
#include "internal/ClassificationTensors.h"
#include "internal/Random.h"

namespace ima {

struct ClassificationTrainer::State {
  State(Network& n, ClassificationTrainingOptions o) : net(n), options(std::move(o)), method(options.method, options.adversarial) {}
  Network& net;
  ClassificationTrainingOptions options;
  TrainingMethod method;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  torch::Tensor images, labels;
  int epoch = 0;
};

ClassificationTrainer::ClassificationTrainer(Network& net, const ClassificationSet& training,
                                             ClassificationTrainingOptions options)
    : state_(std::make_unique<State>(net, std::move(options))) {
  State& s = *state_;
  const ClassificationTrainingOptions& o = s.options;
  if (training.size() == 0) throw Error("the classification training set is empty");
  if (o.epochs < 0 || o.batchSize < 1) throw Error("epochs must be >= 0 and the batch size >= 1");
  if (!(o.learningRate > 0)) throw Error("the learning rate must be > 0");
  if (o.optimizer == "sgd")
    s.optimizer = std::make_unique<torch::optim::SGD>(
        net.parameters(),
        torch::optim::SGDOptions(o.learningRate).momentum(o.momentum).nesterov(o.momentum > 0).weight_decay(o.weightDecay));
  else if (o.optimizer == "adam")
    s.optimizer = std::make_unique<torch::optim::Adam>(net.parameters(),
                                                       torch::optim::AdamOptions(o.learningRate).weight_decay(o.weightDecay));
  else
    throw Error("unknown optimizer '" + o.optimizer + "' (expected sgd or adam)");
  s.images = imageTensor(training).to(net.device());
  s.labels = labelTensor(training).to(net.device());
  s.method.setSampleCount(training.size());
}

ClassificationTrainer::~ClassificationTrainer() = default;

ClassificationEpochReport ClassificationTrainer::trainEpoch() {
  State& s = *state_;
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = s.images.size(0), batch = s.options.batchSize;
  // Fisher-Yates from raw bits: the same order on every platform for a seed and epoch.
  Random random(s.options.seed * 1000003 + static_cast<uint64_t>(s.epoch));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(random.integer(i + 1))]);

  s.net.setTraining(true);
  double lossSum = 0;
  int64_t batches = 0;
  for (int64_t first = 0; first < n; first += batch) {
    const std::vector<int64_t> ids(order.begin() + first, order.begin() + std::min(first + batch, n));
    const torch::Tensor index = torch::tensor(ids, torch::kInt64).to(s.images.device());
    const uint64_t attackSeed = s.options.seed * 1000003 + static_cast<uint64_t>(s.epoch) * 100003 + static_cast<uint64_t>(batches);
    s.optimizer->zero_grad();
    const torch::Tensor loss =
        s.method.loss(s.net, s.images.index_select(0, index), s.labels.index_select(0, index), ids, attackSeed);
    loss.backward();
    s.optimizer->step();
    lossSum += loss.item<double>();
    ++batches;
  }
  ClassificationEpochReport report;
  report.epoch = ++s.epoch;
  report.loss = lossSum / static_cast<double>(batches);
  report.margins = s.method.endEpoch();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::vector<ClassificationEpochReport> ClassificationTrainer::run(const ClassificationEpochCallback& onEpoch) {
  std::vector<ClassificationEpochReport> reports;
  while (state_->epoch < state_->options.epochs) {
    reports.push_back(trainEpoch());
    if (onEpoch && !onEpoch(reports.back())) throw Cancelled();
  }
  return reports;
}

int ClassificationTrainer::completedEpochs() const { return state_->epoch; }

const TrainingMethod& ClassificationTrainer::method() const { return state_->method; }

}  // namespace ima
