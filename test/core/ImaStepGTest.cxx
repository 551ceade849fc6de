// IMA's adversarial step on a linear classifier, where the boundary distance is analytic: for two
// classes the L2 PGD direction is exactly perpendicular to the boundary w.x + b = 0, so the
// boundary point found must lie at distance |margin| / ||w_true - w_other|| from the sample.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "TestModels.h"
#include "ima/Attacks.h"
#include "ima/ImaStep.h"
#include "ima/MarginState.h"

namespace ImaStepGTest {  // this file's names apart from the others' in a unity build

namespace {

using imatest::LinearNetwork;

TEST(ImaStep, BoundaryPointsLieAtTheAnalyticDistanceAndMarginsFollow) {
  // Class 0 vs class 1 in 2D: the difference of the weight rows is (3, 4) (norm 5), bias 0.
  LinearNetwork net(torch::tensor({{0.f, 0.f}, {3.f, 4.f}}), torch::tensor({0.f, 0.f}));
  // Samples of class 1 at signed distances 0.33 (flippable at eps 0.5), 2.0 (not flippable),
  // and one of class 0 that the model gets wrong.
  const auto u = torch::tensor({0.6f, 0.8f});
  const auto x = torch::stack({0.33f * u, 2.0f * u, 1.0f * u});
  const auto y = torch::tensor({1, 1, 0}, torch::kLong);
  const auto eps = torch::tensor({0.5f, 0.5f, 0.5f});
  ima::ImaStepOptions o;
  o.pgd.randomStart = false;  // deterministic path along the boundary normal
  o.bisectionSteps = 10;
  const auto r = ima::imaAdversarialStep(net, x, y, eps, o);
  EXPECT_TRUE(r.cleanCorrect[0].item<bool>());
  EXPECT_TRUE(r.cleanCorrect[1].item<bool>());
  EXPECT_FALSE(r.cleanCorrect[2].item<bool>());
  EXPECT_TRUE(r.found[0].item<bool>());
  EXPECT_FALSE(r.found[1].item<bool>());
  EXPECT_FALSE(r.found[2].item<bool>());
  // The bracket is one PGD step (alpha * eps / K = 0.1) halved B times.
  const double tolerance = 0.1 / (1 << o.bisectionSteps);
  EXPECT_NEAR(r.distance[0].item<float>(), 0.33, tolerance + 1e-6);
  // The boundary point is on the line w.x = 0 (up to the tolerance along the normal).
  EXPECT_NEAR(r.adversarial[0].dot(u).item<float>(), 0.0, tolerance + 1e-6);
  // The unflippable sample gets the PGD result: the far end of its ball, towards the boundary.
  EXPECT_NEAR((r.adversarial[1] - x[1]).norm().item<float>(), 0.5, 1e-5);
  EXPECT_LT(r.adversarial[1].dot(u).item<float>(), 2.0f);

  // End of epoch: flipped -> boundary distance; not flipped -> + delta; wrong -> unchanged.
  ima::MarginOptions mo;
  mo.delta = 0.05;
  mo.epsMax = 3.0;
  ima::MarginState margins(3, mo);
  for (int64_t i = 0; i < 3; ++i)
    margins.recordVisit(i, r.cleanCorrect[i].item<bool>(), r.found[i].item<bool>(), r.distance[i].item<float>());
  margins.endEpoch();
  EXPECT_NEAR(margins.eps(0), 0.33, tolerance + 1e-6);
  EXPECT_DOUBLE_EQ(margins.eps(1), 0.1);
  EXPECT_DOUBLE_EQ(margins.eps(2), 0.05);
}

TEST(ImaStep, LinfFindsTheBoundaryAlongTheSignDirection) {
  // Linf steps move along sign(3, 4) = (1, 1): w.(x + t(1,1)) crosses 0 at t = margin / 7.
  LinearNetwork net(torch::tensor({{0.f, 0.f}, {3.f, 4.f}}), torch::tensor({0.f, 0.f}));
  const auto x = torch::tensor({{0.1f, 0.2f}});  // w.x = 1.1 -> crossing at t = 1.1 / 7
  ima::ImaStepOptions o;
  o.pgd.norm = ima::Norm::Linf;
  o.pgd.randomStart = false;
  const auto r = ima::imaAdversarialStep(net, x, torch::tensor({1}, torch::kLong), torch::tensor({0.5f}), o);
  ASSERT_TRUE(r.found[0].item<bool>());
  EXPECT_NEAR(r.distance[0].item<float>(), 1.1 / 7, 0.1 / 1024 + 1e-6);
}

// Counts sample-forwards (the batch sizes of all forward passes) and sample-backwards (the batch
// sizes of the gradients that reached a forward output).
class SampleCountingNetwork : public LinearNetwork {
public:
  using LinearNetwork::LinearNetwork;
  torch::Tensor forward(const torch::Tensor& x) override {
    forwards += x.size(0);
    torch::Tensor out = LinearNetwork::forward(x);
    if (out.requires_grad()) out.register_hook([this](const torch::Tensor& g) { backwards += g.size(0); });
    return out;
  }
  int64_t forwards = 0, backwards = 0;
};

TEST(ImaStep, CrossedSamplesStopBeingAttackedWithTheSameResult) {
  // Class 1 samples at distances 0.05 ... 0.45 from the boundary of a linear model (crossed at
  // different PGD iterates), one out of reach and one the model gets wrong; per-sample budgets.
  const auto u = torch::tensor({0.6f, 0.8f});
  const auto x = torch::stack({0.05f * u, 0.2f * u, 0.33f * u, 0.45f * u, 3.0f * u, -1.0f * u});
  const auto y = torch::tensor({1, 1, 1, 1, 1, 1}, torch::kLong);
  const auto eps = torch::tensor({0.5f, 0.5f, 0.6f, 0.7f, 0.5f, 0.5f});
  ima::ImaStepOptions o;
  o.pgd.steps = 10;
  o.pgd.seed = 4;
  SampleCountingNetwork net(torch::tensor({{0.f, 0.f}, {3.f, 4.f}}), torch::tensor({0.f, 0.f}));
  const auto r = ima::imaAdversarialStep(net, x, y, eps, o);

  // Oracle: docs/architecture.md §5 steps 2-3 literally. PGD over the whole batch for all K steps with the
  // same seed, the last-correct / first-wrong iterates tracked, then the bisection of the crossed.
  LinearNetwork plain(torch::tensor({{0.f, 0.f}, {3.f, 4.f}}), torch::tensor({0.f, 0.f}));
  const auto correct = [&](const torch::Tensor& logits) { return logits.argmax(1) == y; };
  const torch::Tensor cleanCorrect = correct(plain.forward(x)).detach();
  torch::Tensor lastCorrect = x.clone(), firstWrong = x.clone(), wrongSeen = torch::zeros({6}, torch::kBool);
  std::vector<int> crossedAt(6, -1);
  ima::AttackOptions a;
  a.method = ima::AttackMethod::Pgd;
  a.steps = o.pgd.steps;
  a.stepFraction = 4.0 / o.pgd.steps;  // IMA's alpha = 4
  a.seed = o.pgd.seed;
  a.onIterate = [&](const ima::AttackIterate& it) {
    for (int64_t i = 0; i < 6; ++i) {
      if (wrongSeen[i].item<bool>()) continue;
      if (correct(it.logits)[i].item<bool>()) {
        lastCorrect[i] = it.xadv[i];
      } else {
        firstWrong[i] = it.xadv[i];
        wrongSeen[i] = true;
        crossedAt[static_cast<size_t>(i)] = it.iterate;
      }
    }
  };
  const torch::Tensor pgd = ima::attack(plain, x, y, eps, a);
  const torch::Tensor found = cleanCorrect & wrongSeen;
  EXPECT_EQ(found.sum().item<int64_t>(), 4);  // the test's point: samples 0-3 cross, at various iterates
  const torch::Tensor crossed = found.nonzero().squeeze(1);
  const torch::Tensor expected = pgd.index_copy(
      0, crossed,
      ima::bisectToBoundary([&](const torch::Tensor& z) { return plain.forward(z).argmax(1) == 1; },
                            lastCorrect.index_select(0, crossed), firstWrong.index_select(0, crossed), o.bisectionSteps));
  EXPECT_TRUE(torch::equal(r.cleanCorrect, cleanCorrect));
  EXPECT_TRUE(torch::equal(r.found, found));
  EXPECT_TRUE(torch::allclose(r.adversarial, expected, 1e-5, 1e-6));

  // The cost: a crossed sample's PGD takes iterates 0..c (a forward and a backward each, no
  // backward at the final point K); the others all K + 1 forwards and K backwards.
  int64_t forwards = 6 /* clean */ + o.bisectionSteps * 4, backwards = 0;
  for (int64_t i = 0; i < 6; ++i) {
    const int c = crossedAt[static_cast<size_t>(i)];
    const bool stops = found[i].item<bool>();
    forwards += stops ? c + 1 : o.pgd.steps + 1;
    backwards += stops ? std::min(c + 1, o.pgd.steps) : o.pgd.steps;
  }
  EXPECT_EQ(net.forwards, forwards);
  EXPECT_EQ(net.backwards, backwards);
  EXPECT_LT(net.forwards, 6 + 6 * (o.pgd.steps + 1) + o.bisectionSteps * 4);  // fewer than the full PGD's

  // A caller without use for the misclassified sample's attack (sample 5) saves its whole PGD.
  o.attackMisclassified = false;
  SampleCountingNetwork net2(torch::tensor({{0.f, 0.f}, {3.f, 4.f}}), torch::tensor({0.f, 0.f}));
  const auto r2 = ima::imaAdversarialStep(net2, x, y, eps, o);
  EXPECT_EQ(net2.forwards, forwards - (o.pgd.steps + 1));
  EXPECT_EQ(net2.backwards, backwards - o.pgd.steps);
  EXPECT_TRUE(torch::equal(r2.found, found));
  EXPECT_TRUE(torch::allclose(r2.adversarial.slice(0, 0, 5), expected.slice(0, 0, 5), 1e-5, 1e-6));
  EXPECT_LE((r2.adversarial[5] - x[5]).norm().item<float>(), 0.5f + 1e-6f);  // its start point

  // Retirement by mask (CUDA's default, no host read of the mask in the loop): the same result,
  // but every sample takes the full K + 1 forwards and K backwards of the PGD.
  o.attackMisclassified = true;
  o.pgd.retirement = ima::AttackOptions::Retirement::Mask;
  SampleCountingNetwork net3(torch::tensor({{0.f, 0.f}, {3.f, 4.f}}), torch::tensor({0.f, 0.f}));
  const auto r3 = ima::imaAdversarialStep(net3, x, y, eps, o);
  EXPECT_TRUE(torch::equal(r3.found, found));
  EXPECT_TRUE(torch::allclose(r3.adversarial, expected, 1e-5, 1e-6));
  EXPECT_EQ(net3.forwards, 6 + 6 * (o.pgd.steps + 1) + o.bisectionSteps * 4);
  EXPECT_EQ(net3.backwards, 6 * o.pgd.steps);
}

// SampleCountingNetwork that declares its forward the same in both modes (a linear model is).
class ModeIndependentCounting : public SampleCountingNetwork {
public:
  using SampleCountingNetwork::SampleCountingNetwork;
  bool modeIndependent() const override { return true; }
};

TEST(ImaStep, ReusingTheLastForwardGivesTheSameResultWithFewerForwards) {
  // Two class-1 samples cross (at distances 0.05 and 0.33, early in the PGD), five are out of
  // reach, one is misclassified: fewer than half cross, so the last iterate's forward is reused.
  const auto u = torch::tensor({0.6f, 0.8f});
  const auto x = torch::stack({0.05f * u, 0.33f * u, 2.0f * u, 2.5f * u, 3.0f * u, 3.5f * u, 4.0f * u, -1.0f * u});
  const auto y = torch::ones({8}, torch::kLong);
  const auto eps = torch::full({8}, 0.5f);
  const auto w = torch::tensor({{0.f, 0.f}, {3.f, 4.f}}), b = torch::tensor({0.f, 0.f});
  ima::ImaStepOptions o;
  o.pgd.steps = 10;
  o.pgd.seed = 4;
  SampleCountingNetwork plainNet(w, b);
  const auto plain = ima::imaAdversarialStep(plainNet, x, y, eps, o);
  const torch::Tensor plainLogits = plainNet.forward(plain.adversarial);  // the caller's adversarial forward
  o.reuseFinalForward = true;
  ModeIndependentCounting net(w, b);
  const auto r = ima::imaAdversarialStep(net, x, y, eps, o);

  ASSERT_EQ(plain.found.sum().item<int64_t>(), 2);
  EXPECT_TRUE(torch::equal(r.cleanCorrect, plain.cleanCorrect));
  EXPECT_TRUE(torch::equal(r.found, plain.found));
  EXPECT_TRUE(torch::allclose(r.adversarial, plain.adversarial, 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(r.distance, plain.distance, 1e-6, 1e-7));
  ASSERT_TRUE(r.adversarialLogits.defined());
  EXPECT_FALSE(plain.adversarialLogits.defined());
  EXPECT_TRUE(torch::allclose(r.adversarialLogits, plainLogits, 1e-6, 1e-6));
  // The same parameter gradients through the reused logits as through a fresh forward.
  torch::nn::functional::cross_entropy(r.adversarialLogits, y).backward();
  torch::nn::functional::cross_entropy(plainLogits, y).backward();
  for (size_t i = 0; i < 2; ++i)
    EXPECT_TRUE(torch::allclose(net.parameters()[i].grad(), plainNet.parameters()[i].grad(), 1e-6, 1e-7));
  // Sample-forwards: the 6 samples still attacked at the end are no longer forwarded apart; the
  // 2 crossed ones are forwarded again at their boundary point.
  EXPECT_EQ(net.forwards, plainNet.forwards - 6 + 2);

  // Half the samples or more crossed (here 4 of 6): the plain path, the same result.
  const auto x2 = torch::stack({0.05f * u, 0.2f * u, 0.33f * u, 0.45f * u, 3.0f * u, -1.0f * u});
  const auto y2 = torch::ones({6}, torch::kLong), eps2 = torch::full({6}, 0.5f);
  o.reuseFinalForward = false;
  SampleCountingNetwork plainNet2(w, b);
  const auto plain2 = ima::imaAdversarialStep(plainNet2, x2, y2, eps2, o);
  o.reuseFinalForward = true;
  ModeIndependentCounting net2(w, b);
  const auto r2 = ima::imaAdversarialStep(net2, x2, y2, eps2, o);
  ASSERT_EQ(plain2.found.sum().item<int64_t>(), 4);
  EXPECT_FALSE(r2.adversarialLogits.defined());
  EXPECT_TRUE(torch::allclose(r2.adversarial, plain2.adversarial, 1e-6, 1e-7));
  EXPECT_EQ(net2.forwards, plainNet2.forwards);
}

TEST(ImaStep, LeavesModeAndParameterGradientsAlone) {
  LinearNetwork net(torch::tensor({{0.f, 0.f}, {3.f, 4.f}}).requires_grad_(), torch::tensor({0.f, 0.f}).requires_grad_());
  net.setTraining(true);
  const auto x = torch::tensor({{0.1f, 0.1f}, {1.f, 1.f}});
  const auto before = x.clone();
  ima::imaAdversarialStep(net, x, torch::tensor({1, 1}, torch::kLong), torch::tensor({0.5f, 0.5f}), {});
  EXPECT_TRUE(net.isTraining());
  for (const auto& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_TRUE(torch::equal(x, before));
}

}  // namespace

}  // namespace ImaStepGTest
