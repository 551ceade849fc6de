// The per-minibatch losses of the training methods against closed forms on a linear classifier:
// in one input dimension the TRADES attack (Linf, one step longer than the ball) ends on one of
// the two ends of the ball, so the loss is one of two hand-computed values; IMA's classification
// default keeps only samples whose attack crossed the boundary.
#include <gtest/gtest.h>

#include <cmath>

#include "TestModels.h"
#include "ima/Attacks.h"
#include "ima/Error.h"
#include "ima/TrainingMethod.h"
#include "ima/UNet.h"

namespace TrainingMethodGTest {  // this file's names apart from the others' in a unity build

namespace {

using imatest::LinearNetwork;

// Two classes, one input: logits (2x, 0.5 - x).
LinearNetwork oneDimensional() {
  return LinearNetwork(torch::tensor({{2.0}, {-1.0}}, torch::kDouble), torch::tensor({0.0, 0.5}, torch::kDouble));
}

struct Probabilities {
  double p0, p1;
};
Probabilities softmaxAt(double x) {
  const double z0 = 2 * x, z1 = 0.5 - x;
  const double e0 = std::exp(z0), e1 = std::exp(z1);
  return {e0 / (e0 + e1), e1 / (e0 + e1)};
}
double kl(const Probabilities& p, const Probabilities& q) {
  return p.p0 * std::log(p.p0 / q.p0) + p.p1 * std::log(p.p1 / q.p1);
}

TEST(AttackLossKL, MatchesTheHandComputedDivergence) {
  // reference (0, 0): p = (1/2, 1/2); logits (ln 3, 0): q = (3/4, 1/4).
  // KL(p || q) = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3).
  const auto logits = torch::tensor({{std::log(3.0), 0.0}}, torch::kDouble);
  const auto reference = torch::zeros({1, 2}, torch::kDouble);
  const auto target = torch::zeros({1}, torch::kLong);
  EXPECT_NEAR(ima::attackLoss(logits, target, ima::AttackLoss::KL, reference).item<double>(), 0.5 * std::log(4.0 / 3.0), 1e-12);
  // Segmentation logits: averaged over pixels (one pixel with that divergence, one with 0).
  const auto seg = torch::stack({logits, reference}, 2);  // [1, 2, 2]
  const auto segReference = torch::zeros({1, 2, 2}, torch::kDouble);
  EXPECT_NEAR(ima::attackLoss(seg, torch::zeros({1, 2}, torch::kLong), ima::AttackLoss::KL, segReference).item<double>(),
              0.25 * std::log(4.0 / 3.0), 1e-12);
  EXPECT_THROW(ima::attackLoss(logits, target, ima::AttackLoss::KL, torch::zeros({1, 3}, torch::kDouble)), ima::Error);
  ima::AttackOptions noReference;
  noReference.loss = ima::AttackLoss::KL;
  LinearNetwork net = oneDimensional();
  EXPECT_THROW(ima::attack(net, torch::ones({1, 1}, torch::kDouble), target, 0.1, noReference), ima::Error);
}

TEST(TrainingMethod, StandardIsTheCleanCrossEntropy) {
  LinearNetwork net = oneDimensional();
  const auto x = torch::tensor({{0.3}, {-0.4}}, torch::kDouble);
  const auto y = torch::tensor({0, 1}, torch::kLong);
  ima::TrainingMethod standard(ima::TrainingMethodKind::Standard, {});
  const double expected = -(std::log(softmaxAt(0.3).p0) + std::log(softmaxAt(-0.4).p1)) / 2;
  EXPECT_NEAR(standard.loss(net, x, y, {0, 1}, 1).item<double>(), expected, 1e-12);
}

TEST(TrainingMethod, TradesLossIsCleanLossPlusBetaTimesKLAtAnEndOfTheBall) {
  LinearNetwork net = oneDimensional();
  const double x0 = 0.3, eps = 0.2;
  const auto x = torch::tensor({{x0}}, torch::kDouble);
  const auto y = torch::tensor({0}, torch::kLong);
  ima::AdversarialOptions a;
  a.eps = eps;
  a.norm = ima::Norm::Linf;
  a.pgdSteps = 1;  // one step of alpha * eps = 4 eps from the random start, projected: an end of the ball
  a.tradesBeta = 6.0;
  const Probabilities p = softmaxAt(x0);
  const double clean = -std::log(p.p0);
  const double up = clean + 6.0 * kl(p, softmaxAt(x0 + eps)), down = clean + 6.0 * kl(p, softmaxAt(x0 - eps));
  int upSeen = 0, downSeen = 0;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    ima::TrainingMethod trades(ima::TrainingMethodKind::Trades, a);
    const double loss = trades.loss(net, x, y, {0}, seed).item<double>();
    // In one dimension the KL grows in both directions away from x, so the step goes on the way
    // the random start went.
    const bool isUp = std::abs(loss - up) < 1e-9, isDown = std::abs(loss - down) < 1e-9;
    EXPECT_TRUE(isUp || isDown) << "seed " << seed << ": " << loss << " vs " << up << " / " << down;
    upSeen += isUp;
    downSeen += isDown;
  }
  EXPECT_GT(upSeen, 0);
  EXPECT_GT(downSeen, 0);
  a.tradesBeta = 0;
  ima::TrainingMethod cleanOnly(ima::TrainingMethodKind::Trades, a);
  EXPECT_NEAR(cleanOnly.loss(net, x, y, {0}, 3).item<double>(), clean, 1e-12);
  EXPECT_TRUE(net.isTraining());  // the attack's eval mode is restored
}

TEST(TrainingMethod, ImaOnClassificationUsesOnlySamplesWhoseAttackCrossed) {
  LinearNetwork net = oneDimensional();
  // The boundary 2x = 0.5 - x is at x = 1/6. Sample 0 (x = 1/6 + 0.05, class 0) is within its
  // margin 0.1 of it; sample 1 (x = 2, class 0) is far from it.
  const double near = 1.0 / 6 + 0.05;
  const auto x = torch::tensor({{near}, {2.0}}, torch::kDouble);
  const auto y = torch::tensor({0, 0}, torch::kLong);
  ima::AdversarialOptions a;
  a.delta = 0.1;
  a.epsMax = 1.0;
  a.beta = 0.5;
  a.pgdSteps = 10;
  a.bisectionSteps = 20;
  ima::TrainingMethod ima(ima::TrainingMethodKind::Ima, a);
  ima.setSampleCount(2);
  const double loss = ima.loss(net, x, y, {0, 1}, 7).item<double>();
  // Clean: mean CE of both. Adversarial: only sample 0, moved onto the boundary where both
  // classes have probability 1/2 (up to the bisection's bracket).
  const double clean = -(std::log(softmaxAt(near).p0) + std::log(softmaxAt(2.0).p0)) / 2;
  EXPECT_NEAR(loss, 0.5 * clean + 0.5 * std::log(2.0), 1e-4);
  const auto stats = ima.endEpoch();
  EXPECT_NEAR(ima.margins().eps(0), 0.05, 1e-4);  // set to the boundary distance
  EXPECT_DOUBLE_EQ(ima.margins().eps(1), 0.2);     // grown by delta
  ASSERT_TRUE(stats.has_value());
  EXPECT_DOUBLE_EQ(stats->fractionToBoundary, 0.5);
  EXPECT_DOUBLE_EQ(stats->fractionExpanded, 0.5);
}

TEST(TrainingMethod, ClampKeepsTheTrainingAttackInsideThePixelRange) {
  // PGD-AT, one step of 4 eps from the random start: the attack ends at the ball's lower end
  // x - eps = -0.2 (lower x raises class 0's loss), or at the range's end 0.2 when clamped.
  LinearNetwork net = oneDimensional();
  const auto x = torch::tensor({{0.3}}, torch::kDouble);
  const auto y = torch::tensor({0}, torch::kLong);
  ima::AdversarialOptions a;
  a.eps = 0.5;
  a.norm = ima::Norm::Linf;
  a.pgdSteps = 1;
  EXPECT_NEAR(ima::TrainingMethod(ima::TrainingMethodKind::Pgd, a).loss(net, x, y, {0}, 3).item<double>(), -std::log(softmaxAt(-0.2).p0), 1e-12);
  a.clamp = true;
  a.clampLow = 0.2;
  EXPECT_NEAR(ima::TrainingMethod(ima::TrainingMethodKind::Pgd, a).loss(net, x, y, {0}, 3).item<double>(), -std::log(softmaxAt(0.2).p0), 1e-12);
}

// Counts forward passes and the forward outputs a gradient reached (backward passes).
class CountingNetwork : public LinearNetwork {
public:
  CountingNetwork() : LinearNetwork(oneDimensional()) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    ++forwards;
    torch::Tensor out = LinearNetwork::forward(x);
    if (out.requires_grad()) out.register_hook([this](const torch::Tensor&) { ++backwards; });
    return out;
  }
  int forwards = 0, backwards = 0;
};

TEST(TrainingMethod, EachMethodRunsTheMinimumNumberOfPasses) {
  // Sample 0 lies within its margin of the boundary (the bisection runs), sample 1 far from it.
  const auto x = torch::tensor({{1.0 / 6 + 0.05}, {2.0}}, torch::kDouble);
  const auto y = torch::tensor({0, 0}, torch::kLong);
  ima::AdversarialOptions a;
  a.eps = a.delta = 0.1;
  a.pgdSteps = 10;
  a.bisectionSteps = 20;
  struct Expected {
    std::string method;
    int forwards, inputBackwards, weightBackwardOutputs;
  };
  // IMA: 1 clean + (K + 1) PGD iterates + B bisection + 1 adversarial forwards, K input gradients,
  // one weight backward through the clean and the adversarial output. PGD-AT: K + 1 forwards.
  for (const Expected& e : {Expected{"standard", 1, 0, 1}, Expected{"pgd", 11, 10, 1}, Expected{"ima", 33, 10, 2}}) {
    CountingNetwork net;
    ima::TrainingMethod method(ima::trainingMethodNamed(e.method), a);
    method.setSampleCount(2);
    const torch::Tensor loss = method.loss(net, x, y, {0, 1}, 1);
    EXPECT_EQ(net.forwards, e.forwards) << e.method;
    EXPECT_EQ(net.backwards, e.inputBackwards) << e.method;
    loss.backward();
    EXPECT_EQ(net.backwards - e.inputBackwards, e.weightBackwardOutputs) << e.method;
  }
}

// A U-Net's calls, counted, with the mode-independence the test declares for it.
class DeclaredModeIndependence : public ima::Network {
public:
  DeclaredModeIndependence(ima::UNetNetwork& inner, bool independent) : inner_(inner), independent_(independent) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    ++forwards;
    return inner_.forward(x);
  }
  std::vector<torch::Tensor> parameters() override { return inner_.parameters(); }
  void setTraining(bool t) override { inner_.setTraining(t); }
  bool isTraining() const override { return inner_.isTraining(); }
  void to(const torch::Device& d) override { inner_.to(d); }
  torch::Device device() const override { return inner_.device(); }
  void saveWeights(std::ostream& out) override { inner_.saveWeights(out); }
  void loadWeights(std::istream& in) override { inner_.loadWeights(in); }
  bool modeIndependent() const override { return independent_; }
  int forwards = 0;

private:
  ima::UNetNetwork& inner_;
  bool independent_;
};

TEST(TrainingMethod, ImaOnAModeIndependentNetworkReusesTheLastForwardWithTheSameLossAndGradients) {
  // Two identical instance-norm U-Nets in training mode, one declared mode-independent. No
  // sample of this random batch is correct, so every sample is attacked to the last iterate and
  // no bisection runs: the reused forward is the whole adversarial forward.
  ima::UNetNetwork first(imatest::tinyUNetMetadata(2).network, 7), second(imatest::tinyUNetMetadata(2).network, 7);
  DeclaredModeIndependence plain(first, false), reused(second, true);
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({4, 1, 16, 16});
  const torch::Tensor y = torch::randint(0, 3, {4, 16, 16}, torch::kLong);
  ima::AdversarialOptions a;
  a.pgdSteps = 3;
  a.bisectionSteps = 4;
  a.delta = 1.0;
  ima::TrainingMethod plainMethod(ima::TrainingMethodKind::Ima, a), reusedMethod(ima::TrainingMethodKind::Ima, a);
  plainMethod.setSampleCount(4);
  reusedMethod.setSampleCount(4);
  const torch::Tensor plainLoss = plainMethod.loss(plain, x, y, {0, 1, 2, 3}, 9);
  const torch::Tensor reusedLoss = reusedMethod.loss(reused, x, y, {0, 1, 2, 3}, 9);
  EXPECT_EQ(reused.forwards, plain.forwards - 1);  // 1 clean + K PGD + 1 reused, against + 1 adversarial
  EXPECT_NEAR(reusedLoss.item<double>(), plainLoss.item<double>(), 1e-5);
  plainLoss.backward();
  reusedLoss.backward();
  const auto p = plain.parameters(), q = reused.parameters();
  ASSERT_EQ(p.size(), q.size());
  for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(torch::allclose(q[i].grad(), p[i].grad(), 1e-4, 1e-6)) << i;
  EXPECT_EQ(reusedMethod.stateJson(), plainMethod.stateJson());
}

TEST(TrainingMethod, CheckpointStateRestoresMarginsAndChecksTheSampleCount) {
  ima::AdversarialOptions a;
  a.delta = 0.1;
  ima::TrainingMethod first(ima::TrainingMethodKind::Ima, a);
  first.setSampleCount(3);
  first.restoreState("");  // nothing to restore: margins stay
  EXPECT_EQ(first.margins().size(), 3);
  ima::TrainingMethod second(ima::TrainingMethodKind::Ima, a);
  second.restoreState(first.stateJson());
  EXPECT_THROW(second.setSampleCount(4), ima::Error);
  ima::TrainingMethod third(ima::TrainingMethodKind::Ima, a);
  third.restoreState(first.stateJson());
  third.setSampleCount(3);
  EXPECT_EQ(third.stateJson(), first.stateJson());
  EXPECT_EQ(ima::TrainingMethod(ima::TrainingMethodKind::Trades, a).stateJson(), "");
}

TEST(TrainingMethod, BadOptionsAreErrors) {
  ima::AdversarialOptions a;
  EXPECT_THROW(ima::trainingMethodNamed("mart"), ima::Error);
  a.tradesBeta = -1;
  EXPECT_THROW(ima::TrainingMethod(ima::TrainingMethodKind::Trades, a), ima::Error);
  a = {};
  a.eps = 0;
  EXPECT_THROW(ima::TrainingMethod(ima::TrainingMethodKind::Trades, a), ima::Error);
  EXPECT_THROW(ima::parseAdversarialSamples("some"), ima::Error);
}

// The names of the training choices are parsed once, where a setting enters; each round-trips and
// anything else is an error naming the value.
TEST(TrainingMethod, NamesParseToKindsAndBack) {
  for (const char* name : {"standard", "pgd", "trades", "ima"}) {
    EXPECT_STREQ(ima::trainingMethodName(ima::trainingMethodNamed(name)), name);
    EXPECT_EQ(ima::TrainingMethod(ima::trainingMethodNamed(name), {}).name(), name);
  }
  EXPECT_EQ(ima::TrainingMethod(ima::TrainingMethodKind::Ima, {}).kind(), ima::TrainingMethodKind::Ima);
  try {
    ima::trainingMethodNamed("IMA");
    FAIL() << "a name in capitals was accepted";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown training method 'IMA' (expected standard, pgd, trades or ima)"),
              std::string::npos)
        << e.what();
  }
  for (const char* name : {"max-dice", "mean-dice", "pixel-accuracy"})
    EXPECT_STREQ(ima::criterionName(ima::parseCriterion(name)), name);
  for (const char* name : {"midpoint", "inside", "outside"})
    EXPECT_STREQ(ima::bisectionReturnName(ima::parseBisectionReturn(name)), name);
  for (const char* name : {"auto", "all", "crossed"})
    EXPECT_STREQ(ima::adversarialSamplesName(ima::parseAdversarialSamples(name)), name);
  EXPECT_EQ(ima::parseAdversarialSamples("crossed"), ima::AdversarialSamples::Crossed);
  try {
    ima::parseBisectionReturn("middle");
    FAIL() << "an unknown bisection result was accepted";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown bisection result 'middle' (expected midpoint, inside or outside)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace

}  // namespace TrainingMethodGTest
