// Robustness evaluation of a classifier against the closed form for a linear model: with two
// classes and logits W x + b, a sample survives an attack of budget eps iff its distance to the
// hyperplane (w0 - w1) x + (b0 - b1) = 0 exceeds eps, the distance being |f(x)| / ||w0 - w1||_2
// for L2 attacks and |f(x)| / ||w0 - w1||_1 for Linf attacks (the dual norm). Distances are kept
// at least 5% away from every budget, so that PGD's 20 steps (which converge to the ball's
// point along the normal only geometrically) decide every sample the same way as the formula.
#include <gtest/gtest.h>

#include "TestModels.h"
#include "ima/classification/ClassifierEvaluation.h"
#include "ima/Error.h"

namespace ClassifierEvaluationGTest {  // this file's names apart from the others' in a unity build

namespace {

using imatest::LinearNetwork;

// f(x) = 3 x0 + 4 x1 (class 0 where f > 0): ||w||_2 = 5, ||w||_1 = 7.
LinearNetwork linearModel() { return LinearNetwork(torch::tensor({{3.0f, 4.0f}, {0.0f, 0.0f}}), torch::zeros({2})); }

// Points with the given values of f (each moved along the boundary by an arbitrary offset) and
// labels; f < 0 with label 0 is a clean mistake.
ima::ClassificationSet setWithScores(const std::vector<float>& scores, const std::vector<int64_t>& labels) {
  ima::ClassificationSet s;
  s.height = 1;
  s.width = 2;
  s.classes = 2;
  for (size_t i = 0; i < scores.size(); ++i) {
    const float along = 0.3f * static_cast<float>(i) - 1;  // along the boundary: (4, -3) / 5
    s.images.push_back(3 * scores[i] / 25 + 4 * along / 5);
    s.images.push_back(4 * scores[i] / 25 - 3 * along / 5);
  }
  s.labels = labels;
  return s;
}

// L2 distances 0.3 0.7 1.3 1.8 (class 0), 0.4 0.9 1.6 (class 1); Linf distances f / 7:
// 0.214 0.5 0.929 1.286, 0.286 0.643 1.143; the last sample is a clean mistake.
const std::vector<float> kScores{1.5f, 3.5f, 6.5f, 9.0f, -2.0f, -4.5f, -8.0f, -2.5f};
const std::vector<int64_t> kLabels{0, 0, 0, 0, 1, 1, 1, 0};

TEST(ClassifierEvaluation, LinearModelSurvivesExactlyWhereTheDistanceExceedsTheBudget) {
  LinearNetwork net = linearModel();
  const ima::ClassificationSet set = setWithScores(kScores, kLabels);
  struct Case {
    std::string norm;
    std::vector<double> budgets;
    std::vector<int64_t> correct;  // out of 8, clean mistake included
  };
  const std::vector<Case> cases{{"l2", {0, 0.5, 1, 1.5, 2}, {7, 5, 3, 2, 0}},
                                {"linf", {0, 0.25, 0.6, 1.0, 1.2}, {7, 6, 4, 2, 1}}};
  for (const Case& c : cases) {
    ima::ClassifierEvaluationOptions o;
    o.attacks = {"fgsm", "ifgsm", "pgd"};
    o.norm = ima::parseNorm(c.norm);
    o.budgets = c.budgets;
    o.batchSize = 3;  // batches of different sizes, one incomplete
    const ima::RobustnessReport r = ima::evaluateClassifierRobustness(net, set, o);
    EXPECT_EQ(r.task, "classification");
    EXPECT_EQ(r.attacked, "image");
    ASSERT_EQ(r.attacks.size(), 3u);
    for (const ima::AttackResult& a : r.attacks) {
      ASSERT_EQ(a.budgets.size(), c.budgets.size());
      std::vector<double> accuracy;
      for (size_t b = 0; b < c.budgets.size(); ++b) {
        EXPECT_DOUBLE_EQ(a.budgets[b].eps, c.budgets[b]);
        EXPECT_EQ(a.budgets[b].samples, 8);
        EXPECT_EQ(a.budgets[b].correct, c.correct[b]) << c.norm << " " << a.name << " eps " << c.budgets[b];
        accuracy.push_back(c.correct[b] / 8.0);
      }
      EXPECT_NEAR(r.auc(a), ima::robustnessAUC(c.budgets, accuracy), 1e-12);
    }
  }
}

TEST(ClassifierEvaluation, ClampingKeepsTheAttackInsideThePixelRange) {
  // One pixel, class 0 iff x < 1.2; x = 0.9 is 0.3 from the boundary but only 0.1 from the
  // range's end, so a clamped attack of budget 0.5 cannot reach the boundary.
  LinearNetwork net(torch::tensor({{-1.0f}, {0.0f}}), torch::tensor({1.2f, 0.0f}));
  ima::ClassificationSet set;
  set.height = set.width = 1;
  set.classes = 2;
  set.images = {0.9f};
  set.labels = {0};
  ima::ClassifierEvaluationOptions o;
  o.attacks = {"pgd"};
  o.norm = ima::Norm::Linf;
  o.budgets = {0.5};  // 0 is added
  EXPECT_EQ(ima::evaluateClassifierRobustness(net, set, o).attacks[0].budgets[1].correct, 0);
  o.clamp = true;
  EXPECT_EQ(ima::evaluateClassifierRobustness(net, set, o).attacks[0].budgets[1].correct, 1);
}

TEST(ClassifierEvaluation, BadOptionsAreErrors) {
  LinearNetwork net = linearModel();
  const ima::ClassificationSet set = setWithScores(kScores, kLabels);
  ima::ClassifierEvaluationOptions o;
  o.attacks = {"cw"};
  EXPECT_THROW(ima::evaluateClassifierRobustness(net, set, o), ima::Error);
  o = {};
  o.attacks = {"pgd", "pgd"};
  EXPECT_THROW(ima::evaluateClassifierRobustness(net, set, o), ima::Error);
  o = {};
  o.budgets = {-1};
  EXPECT_THROW(ima::evaluateClassifierRobustness(net, set, o), ima::Error);
  EXPECT_THROW(ima::evaluateClassifierRobustness(net, ima::ClassificationSet{}, {}), ima::Error);
}

}  // namespace

}  // namespace ClassifierEvaluationGTest
