// The classification trainer on tiny synthetic sets: a linearly separable set is learnt
// exactly, the minibatch order is fixed by the seed, and IMA margins follow the end-of-epoch
// rule (far from the boundary: +delta per epoch; near it: the distance to it).
#include <gtest/gtest.h>

#include "TestModels.h"
#include "ima/classification/ClassificationTraining.h"
#include "ima/classification/ClassifierEvaluation.h"
#include "ima/Error.h"
#include "ima/TrainingMethod.h"

namespace ClassificationTrainingGTest {  // this file's names apart from the others' in a unity build

namespace {

using imatest::LinearNetwork;

// Images of 1 x 1 x d pixels: the pixels are the point's coordinates.
ima::ClassificationSet pointSet(const std::vector<std::vector<float>>& points, const std::vector<int64_t>& labels) {
  ima::ClassificationSet s;
  s.height = 1;
  s.width = static_cast<int64_t>(points.front().size());
  s.classes = 2;
  for (const auto& p : points) s.images.insert(s.images.end(), p.begin(), p.end());
  s.labels = labels;
  return s;
}

// Class 0 left of x0 = -0.5, class 1 right of x0 = 0.5, spread in x1.
ima::ClassificationSet separableSet(int n) {
  torch::manual_seed(5);
  const torch::Tensor u = torch::rand({n, 2});
  std::vector<std::vector<float>> points;
  std::vector<int64_t> labels;
  for (int i = 0; i < n; ++i) {
    const int64_t label = i % 2;
    const float x0 = (label == 0 ? -1.0f : 1.0f) * (0.5f + u[i][0].item<float>());
    points.push_back({x0, 4 * u[i][1].item<float>() - 2});
    labels.push_back(label);
  }
  return pointSet(points, labels);
}

LinearNetwork zeroLinear() { return LinearNetwork(torch::zeros({2, 2}), torch::zeros({2})); }

double cleanAccuracy(ima::Network& net, const ima::ClassificationSet& set) {
  ima::ClassifierEvaluationOptions o;
  o.attacks = {"fgsm"};
  o.budgets = {0};
  const ima::RobustnessReport r = ima::evaluateClassifierRobustness(net, set, o);
  return r.attacks[0].budgets[0].accuracy();
}

TEST(ClassificationTrainer, LearnsALinearlySeparableSetExactly) {
  const ima::ClassificationSet set = separableSet(64);
  for (const std::string method : {"standard", "ima"}) {
    LinearNetwork net = zeroLinear();
    ima::ClassificationTrainingOptions o;
    o.method = ima::trainingMethodNamed(method);
    o.epochs = 20;
    o.batchSize = 8;
    o.learningRate = 0.05;
    o.adversarial.norm = ima::Norm::L2;
    o.adversarial.epsMax = 0.4;  // below the gap between the classes: the set stays separable
    o.adversarial.delta = 0.05;
    o.adversarial.pgdSteps = 5;
    ima::ClassificationTrainer trainer(net, set, o);
    const auto reports = trainer.run();
    ASSERT_EQ(reports.size(), 20u) << method;
    EXPECT_EQ(trainer.completedEpochs(), 20);
    EXPECT_LT(reports.back().loss, reports.front().loss) << method;
    EXPECT_EQ(reports.back().margins.has_value(), method == "ima");
    EXPECT_DOUBLE_EQ(cleanAccuracy(net, set), 1.0) << method;
  }
}

TEST(ClassificationTrainer, TheSeedFixesTheRunAndTheCallbackCanStopIt) {
  const ima::ClassificationSet set = separableSet(20);
  ima::ClassificationTrainingOptions o;
  o.epochs = 3;
  o.batchSize = 3;
  o.optimizer = "sgd";
  o.learningRate = 0.1;
  auto train = [&](uint64_t seed) {
    LinearNetwork net = zeroLinear();
    o.seed = seed;
    ima::ClassificationTrainer(net, set, o).run();
    return net.weight();
  };
  EXPECT_TRUE(torch::equal(train(1), train(1)));
  // Different minibatch compositions give different SGD paths.
  EXPECT_FALSE(torch::allclose(train(1), train(2)));
  LinearNetwork net = zeroLinear();
  ima::ClassificationTrainer trainer(net, set, o);
  EXPECT_THROW(trainer.run([](const ima::ClassificationEpochReport& r) { return r.epoch < 2; }), ima::Cancelled);
  EXPECT_EQ(trainer.completedEpochs(), 2);
}

TEST(ClassificationTrainer, ImaMarginsGrowByDeltaFarFromTheBoundaryAndStopAtIt) {
  // One pixel, logits (x, 0): the boundary is x = 0. Samples 0 and 1 lie 5 away from it, sample
  // 2 at 0.03 (in one dimension the boundary point the attack finds is the nearest one).
  const ima::ClassificationSet set = pointSet({{5}, {-5}, {0.03f}}, {0, 1, 0});
  LinearNetwork net(torch::tensor({{1.0f}, {0.0f}}), torch::zeros({2}));
  ima::ClassificationTrainingOptions o;
  o.method = ima::TrainingMethodKind::Ima;
  o.epochs = 3;
  o.batchSize = 2;
  o.optimizer = "sgd";
  o.momentum = 0;
  o.learningRate = 1e-9;  // the boundary stays where it is
  o.adversarial.norm = ima::Norm::L2;
  o.adversarial.delta = 0.1;
  o.adversarial.epsMax = 1.0;
  o.adversarial.pgdSteps = 10;
  o.adversarial.bisectionSteps = 20;
  ima::ClassificationTrainer trainer(net, set, o);
  const auto reports = trainer.run();
  const ima::MarginState& m = trainer.method().margins();
  EXPECT_NEAR(m.eps(0), 0.4, 1e-12);  // delta, then + delta in each of 3 epochs
  EXPECT_NEAR(m.eps(1), 0.4, 1e-12);
  EXPECT_NEAR(m.eps(2), 0.03, 1e-5);  // the distance to the boundary x0 = 0
  ASSERT_TRUE(reports[0].margins.has_value());
  EXPECT_NEAR(reports[0].margins->fractionExpanded, 2.0 / 3, 1e-12);
  EXPECT_NEAR(reports[0].margins->fractionToBoundary, 1.0 / 3, 1e-12);
  EXPECT_NEAR(reports[2].margins->maximum, 0.4, 1e-12);
}

TEST(ClassificationTrainer, BadOptionsAreErrors) {
  LinearNetwork net = zeroLinear();
  const ima::ClassificationSet set = separableSet(4);
  ima::ClassificationTrainingOptions o;
  o.optimizer = "rmsprop";
  EXPECT_THROW(ima::ClassificationTrainer(net, set, o), ima::Error);
  EXPECT_THROW(ima::trainingMethodNamed("mart"), ima::Error);  // an unknown method is refused where its name enters
  o = {};
  o.batchSize = 0;
  EXPECT_THROW(ima::ClassificationTrainer(net, set, o), ima::Error);
  EXPECT_THROW(ima::ClassificationTrainer(net, ima::ClassificationSet{}, {}), ima::Error);
}

}  // namespace

}  // namespace ClassificationTrainingGTest
