// IMA's margin bookkeeping, correctness criteria and bisection against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>

#include "ima/Bisection.h"
#include "ima/Correctness.h"
#include "ima/Error.h"
#include "ima/MarginState.h"

namespace MarginsGTest {  // this file's names apart from the others' in a unity build

namespace {

ima::MarginOptions options(double delta = 0.1, double epsMax = 1.0, bool reset = false) {
  ima::MarginOptions o;
  o.delta = delta;
  o.epsMax = epsMax;
  o.resetMisclassified = reset;
  return o;
}

TEST(MarginState, StartsAtDeltaAndFollowsTheEndOfEpochRule) {
  ima::MarginState m(5, options());
  for (int64_t i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(m.eps(i), 0.1);
  m.recordVisit(0, true, false, 0);      // correct, attack failed -> 0.1 + 0.1
  m.recordVisit(1, true, true, 0.04);    // correct, adversarial at 0.04 and 0.08 -> mean 0.06
  m.recordVisit(1, true, true, 0.08);
  m.recordVisit(2, false, false, 0);     // misclassified -> unchanged
  m.recordVisit(3, true, false, 0);      // first visit not flipped, second flipped -> boundary
  m.recordVisit(3, true, true, 0.05);
  // sample 4 not visited -> unchanged
  const auto s = m.endEpoch();
  EXPECT_DOUBLE_EQ(m.eps(0), 0.2);
  EXPECT_DOUBLE_EQ(m.eps(1), 0.06);
  EXPECT_DOUBLE_EQ(m.eps(2), 0.1);
  EXPECT_DOUBLE_EQ(m.eps(3), 0.05);
  EXPECT_DOUBLE_EQ(m.eps(4), 0.1);
  EXPECT_DOUBLE_EQ(s.fractionExpanded, 0.2);
  EXPECT_DOUBLE_EQ(s.fractionToBoundary, 0.4);
  EXPECT_DOUBLE_EQ(s.fractionUnchanged, 0.4);
  EXPECT_EQ(s.visited, 4);
  EXPECT_DOUBLE_EQ(s.mean, (0.2 + 0.06 + 0.1 + 0.05 + 0.1) / 5);
  EXPECT_DOUBLE_EQ(s.median, 0.1);
  EXPECT_DOUBLE_EQ(s.minimum, 0.05);
  EXPECT_DOUBLE_EQ(s.maximum, 0.2);
  // Flags were cleared: an epoch without visits changes nothing.
  m.endEpoch();
  EXPECT_DOUBLE_EQ(m.eps(0), 0.2);
}

TEST(MarginState, ClampsToEpsMaxAndCanResetMisclassified) {
  ima::MarginState m(2, options(0.3, 0.5, true));
  m.recordVisit(0, true, false, 0);
  m.recordVisit(1, true, false, 0);
  m.endEpoch();
  m.recordVisit(0, true, false, 0);  // 0.9 -> clamped to 0.5
  m.recordVisit(1, false, false, 0); // reset to delta
  m.endEpoch();
  EXPECT_DOUBLE_EQ(m.eps(0), 0.5);
  EXPECT_DOUBLE_EQ(m.eps(1), 0.3);
}

TEST(MarginState, SerialisationIsExactIncludingPendingVisits) {
  ima::MarginState m(3, options(0.1 / 3, 2.0));
  m.recordVisit(0, true, false, 0);
  m.recordVisit(1, true, true, 1.0 / 7);
  m.endEpoch();
  m.recordVisit(2, true, true, 0.123456789012345);
  ima::MarginState r = ima::MarginState::fromJson(m.toJson());
  EXPECT_EQ(r.margins(), m.margins());
  m.endEpoch();
  r.endEpoch();
  EXPECT_EQ(r.margins(), m.margins());
  EXPECT_DOUBLE_EQ(r.eps(2), 0.123456789012345);
}

TEST(MarginState, InvalidOptionsAndIdsAreErrors) {
  EXPECT_THROW(ima::MarginState(0, options()), ima::Error);
  EXPECT_THROW(ima::MarginState(3, options(0.0)), ima::Error);
  EXPECT_THROW(ima::MarginState(3, options(0.5, 0.1)), ima::Error);
  ima::MarginState m(3, options());
  EXPECT_THROW(m.recordVisit(3, true, false, 0), ima::Error);
  EXPECT_THROW(ima::MarginState::fromJson("{}"), ima::Error);
}

// Logits that predict exactly the given labels: one-hot times 10.
torch::Tensor logitsFor(const torch::Tensor& labels, int64_t classes) {
  return torch::one_hot(labels, classes).movedim(-1, 1).to(torch::kFloat) * 10;
}

TEST(Correctness, HardDiceAndCriteriaMatchAHandComputedCase) {
  // Two 1x8 "images", 3 classes.
  const auto target = torch::tensor({0, 1, 1, 1, 1, 2, 2, 0, /**/ 0, 0, 0, 0, 0, 0, 0, 0}, torch::kLong).reshape({2, 1, 8});
  const auto predicted = torch::tensor({0, 1, 1, 0, 0, 0, 2, 2, /**/ 0, 0, 0, 0, 0, 0, 0, 0}, torch::kLong).reshape({2, 1, 8});
  // Sample 0: class 1 TP 2, pred 2, true 4 -> 4/6; class 2 TP 1, pred 2, true 2 -> 2/4.
  const auto dice = ima::hardDice(predicted, target, 3);
  EXPECT_NEAR(dice[0][0].item<float>(), 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(dice[0][1].item<float>(), 0.5, 1e-6);
  EXPECT_TRUE(std::isnan(dice[1][0].item<float>()));  // empty vs empty: no evidence
  const auto logits = logitsFor(predicted, 3);
  // max-dice 0.667, mean-dice 0.583, pixel accuracy 4/8 (positions 0, 1, 2, 6); sample 1 is
  // empty-vs-empty.
  EXPECT_TRUE(ima::isCorrect(logits, target, ima::Criterion::MaxDice, 0.6)[0].item<bool>());
  EXPECT_FALSE(ima::isCorrect(logits, target, ima::Criterion::MaxDice, 0.7)[0].item<bool>());
  EXPECT_FALSE(ima::isCorrect(logits, target, ima::Criterion::MeanDice, 0.6)[0].item<bool>());
  EXPECT_TRUE(ima::isCorrect(logits, target, ima::Criterion::MeanDice, 0.58)[0].item<bool>());
  EXPECT_TRUE(ima::isCorrect(logits, target, ima::Criterion::PixelAccuracy, 0.5)[0].item<bool>());
  EXPECT_FALSE(ima::isCorrect(logits, target, ima::Criterion::PixelAccuracy, 0.51)[0].item<bool>());
  for (auto c : {ima::Criterion::MaxDice, ima::Criterion::MeanDice, ima::Criterion::PixelAccuracy})
    EXPECT_TRUE(ima::isCorrect(logits, target, c, 0.99)[1].item<bool>()) << ima::criterionName(c);
}

TEST(Correctness, ForegroundPredictedOnAnEmptyLabelIsWrong) {
  const auto target = torch::zeros({1, 2, 2}, torch::kLong);
  const auto predicted = torch::tensor({0, 1, 0, 0}, torch::kLong).reshape({1, 2, 2});
  EXPECT_FALSE(ima::isCorrect(logitsFor(predicted, 2), target)[0].item<bool>());
}

TEST(Correctness, ClassificationIsArgmax) {
  const auto logits = torch::tensor({{2.f, 1.f}, {0.f, 3.f}, {5.f, 4.f}});
  const auto target = torch::tensor({0, 0, 0}, torch::kLong);
  const auto c = ima::isCorrect(logits, target);
  EXPECT_TRUE(c[0].item<bool>());
  EXPECT_FALSE(c[1].item<bool>());
  EXPECT_TRUE(c[2].item<bool>());
  EXPECT_THROW(ima::parseCriterion("iou"), ima::Error);
}

// A linear classifier in 2D, class = [w.x + b > 0]: the boundary is known analytically, so the
// bisection result can be compared with the exact intersection of the segment and the line.
TEST(Bisection, LandsOnTheAnalyticBoundaryOfALinearModel) {
  const auto w = torch::tensor({0.6f, -0.8f});
  const float b = 0.25f;
  auto correct = [&](const torch::Tensor& x) {  // every sample's true class is 1
    return (x.matmul(w) + b) > 0;
  };
  const auto inside = torch::tensor({{1.f, 0.f}, {0.f, -1.f}, {2.f, 1.f}});
  const auto outside = torch::tensor({{-1.f, 0.5f}, {0.f, 3.f}, {-3.f, 1.f}});
  ASSERT_TRUE(correct(inside).all().item<bool>());
  ASSERT_FALSE(correct(outside).any().item<bool>());
  const int steps = 10;
  const auto mid = ima::bisectToBoundary(correct, inside, outside, steps);
  for (int64_t i = 0; i < 3; ++i) {
    // Exact crossing: x(t) = a + t (o - a), w.x(t) + b = 0.
    const auto a = inside[i], o = outside[i];
    const float t = -(a.dot(w).item<float>() + b) / (o - a).dot(w).item<float>();
    const auto exact = a + t * (o - a);
    const float length = (o - a).norm().item<float>();
    EXPECT_LE((mid[i] - exact).norm().item<float>(), length / (1 << steps) + 1e-6) << "sample " << i;
  }
  // inside/outside results stay on their sides.
  EXPECT_TRUE(correct(ima::bisectToBoundary(correct, inside, outside, steps, ima::BisectionReturn::Inside)).all().item<bool>());
  EXPECT_FALSE(correct(ima::bisectToBoundary(correct, inside, outside, steps, ima::BisectionReturn::Outside)).any().item<bool>());
}

// With a tolerance each sample stops after ceil(log2(bracket / tolerance)) halvings (at most
// `steps`), computed here by hand from the segments' lengths; the result is then within half its
// tolerance of the exact crossing, and only the samples still halving are evaluated. A tolerance
// of 0 gives the plain bisection's points exactly.
TEST(Bisection, StopsEachSampleAtItsToleranceAndEvaluatesOnlyThoseStillHalving) {
  const auto w = torch::tensor({0.6f, -0.8f});
  const float b = 0.25f;
  int64_t evaluatedRows = 0;
  auto correctRows = [&](const torch::Tensor& x, const torch::Tensor& rows) {
    EXPECT_EQ(rows.size(0), x.size(0));
    evaluatedRows += x.size(0);
    return (x.matmul(w) + b) > 0;
  };
  const auto inside = torch::tensor({{1.f, 0.f}, {0.f, -1.f}, {2.f, 1.f}});
  const auto outside = torch::tensor({{-1.f, 0.5f}, {0.f, 3.f}, {-3.f, 1.f}});
  // Lengths: sqrt(4.25) = 2.06, 4, 5. Tolerances 0.3, 1e-3, 2: halvings 3, 12 -> capped at 10, 2.
  const auto tolerance = torch::tensor({0.3, 1e-3, 2.0}, torch::kDouble);
  const int steps = 10;
  const auto mid = ima::bisectToBoundary(correctRows, inside, outside, steps, ima::BisectionReturn::Midpoint,
                                         tolerance, ima::Norm::L2);
  EXPECT_EQ(evaluatedRows, 3 + 10 + 2);
  const float limits[3] = {0.3f / 2, 4.f / (1 << steps) / 2, 1.25f / 2};  // half the final bracket
  for (int64_t i = 0; i < 3; ++i) {
    const auto a = inside[i], o = outside[i];
    const float t = -(a.dot(w).item<float>() + b) / (o - a).dot(w).item<float>();
    const auto exact = a + t * (o - a);
    EXPECT_LE((mid[i] - exact).norm().item<float>(), limits[i] + 1e-6) << "sample " << i;
  }
  auto correct = [&](const torch::Tensor& x) { return (x.matmul(w) + b) > 0; };
  const auto plain = ima::bisectToBoundary(correct, inside, outside, steps, ima::BisectionReturn::Inside);
  const auto zero = ima::bisectToBoundary(correctRows, inside, outside, steps, ima::BisectionReturn::Inside,
                                          torch::zeros({3}, torch::kDouble), ima::Norm::L2);
  EXPECT_TRUE(torch::equal(plain, zero));
  EXPECT_THROW(ima::bisectToBoundary(correctRows, inside, outside, steps, ima::BisectionReturn::Inside,
                                     torch::zeros({2}), ima::Norm::L2),
               ima::Error);
}

}  // namespace

}  // namespace MarginsGTest
