// Attack tests in the manner of advertorch's: equivalent computations must agree (a batch vs each
// sample alone, a scalar eps vs a per-sample tensor), constraints must hold (the ball, the
// intensity range), and one- and two-step cases on a linear model match a closed-form oracle.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <tuple>
#include <vector>

#include "TestModels.h"
#include "ima/Attacks.h"
#include "ima/Error.h"
#include "ima/UNet.h"
#include "internal/Losses.h"

namespace AttacksGTest {  // this file's names apart from the others' in a unity build

namespace {

using imatest::LinearNetwork;

std::shared_ptr<LinearNetwork> randomLinear(int64_t classes, int64_t inputs, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor w = torch::randn({classes, inputs});
  const torch::Tensor b = torch::randn({classes}) * 0.1;
  return std::make_shared<LinearNetwork>(w, b);
}

ima::AttackOptions options(const std::string& method, const std::string& norm, int steps = 5) {
  ima::AttackOptions o;
  o.method = ima::attackMethodNamed(method);
  o.norm = ima::parseNorm(norm);
  o.steps = steps;
  return o;
}

torch::Tensor sampleL2(const torch::Tensor& t) { return t.reshape({t.size(0), -1}).to(torch::kDouble).pow(2).sum(1).sqrt(); }
torch::Tensor sampleLinf(const torch::Tensor& t) { return std::get<0>(t.reshape({t.size(0), -1}).abs().max(1)); }

std::vector<double> sampleValues(const torch::Tensor& x, int64_t i) {
  const torch::Tensor s = x[i].reshape({-1}).to(torch::kDouble).contiguous();
  return std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
}

// The closed-form input gradient of CE(W x + b, y) for one sample: W^T (softmax(W x + b) - e_y).
std::vector<double> ceGradient(const LinearNetwork& net, const std::vector<double>& x, int64_t y) {
  const torch::Tensor wt = net.weight().to(torch::kDouble).contiguous(), bt = net.bias().to(torch::kDouble);
  const auto W = wt.accessor<double, 2>();
  const auto b = bt.accessor<double, 1>();
  const int64_t K = wt.size(0), D = wt.size(1);
  std::vector<double> z(static_cast<size_t>(K));
  double zmax = -1e300;
  for (int64_t k = 0; k < K; ++k) {
    z[k] = b[k];
    for (int64_t j = 0; j < D; ++j) z[k] += W[k][j] * x[j];
    zmax = std::max(zmax, z[k]);
  }
  double sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += std::exp(z[k] - zmax);
  std::vector<double> g(static_cast<size_t>(D), 0.0);
  for (int64_t k = 0; k < K; ++k) {
    const double residual = std::exp(z[k] - zmax) / sum - (k == y ? 1.0 : 0.0);
    for (int64_t j = 0; j < D; ++j) g[j] += W[k][j] * residual;
  }
  return g;
}

double sign(double v) { return (v > 0) - (v < 0); }

// Attacks a batch and each of its samples alone and expects the same perturbed samples.
void expectBatchEqualsSingles(ima::Network& net, const torch::Tensor& x, const torch::Tensor& y,
                              const torch::Tensor& eps, const ima::AttackOptions& o) {
  const torch::Tensor batch = ima::attack(net, x, y, eps, o);
  ASSERT_EQ(batch.sizes(), x.sizes());
  for (int64_t i = 0; i < x.size(0); ++i) {
    const torch::Tensor single = ima::attack(net, x.narrow(0, i, 1), y.narrow(0, i, 1), eps.narrow(0, i, 1), o);
    // Tolerance: batched and single-sample kernels may sum in a different order (float32).
    EXPECT_TRUE(torch::allclose(batch.narrow(0, i, 1), single, 1e-5, 1e-5))
        << ima::attackMethodName(o.method) << " " << ima::normName(o.norm) << " sample " << i << " max difference "
        << (batch.narrow(0, i, 1) - single).abs().max().item<double>();
  }
}

class Attack : public ::testing::Test {
protected:
  void SetUp() override { torch::set_num_threads(1); }
};

TEST_F(Attack, BatchEqualsEachSampleAloneForClassificationLogits) {
  auto net = randomLinear(3, 12, 1);
  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({4, 2, 2, 3});
  const torch::Tensor y = torch::tensor({0, 2, 1, 2}, torch::kLong);
  const torch::Tensor eps = torch::tensor({0.5, 0.0, 1.5, 0.25});
  for (const char* norm : {"l2", "linf"})
    for (const char* method : {"pgd", "ifgsm", "fgsm"}) {
      auto o = options(method, norm);
      o.randomStart = false;
      expectBatchEqualsSingles(*net, x, y, eps, o);
    }
}

TEST_F(Attack, BatchEqualsEachSampleAloneForSegmentationLogits) {
  imatest::PointwiseNetwork pointwise(2, 2, 3);
  ima::UNetNetwork unet(imatest::tinyUNetMetadata(2).network, 7);
  unet.setTraining(false);
  torch::manual_seed(4);
  const torch::Tensor x2 = torch::randn({3, 2, 6, 5});
  const torch::Tensor x1 = torch::randn({3, 1, 16, 16});
  const torch::Tensor y2 = torch::randint(0, 3, {3, 6, 5}, torch::kLong);
  const torch::Tensor y1 = torch::randint(0, 3, {3, 16, 16}, torch::kLong);
  const torch::Tensor eps = torch::tensor({1.0, 0.3, 2.0});
  for (const char* norm : {"l2", "linf"}) {
    auto o = options("pgd", norm, 4);
    o.randomStart = false;
    expectBatchEqualsSingles(pointwise, x2, y2, norm == std::string("l2") ? eps : eps * 0.1, o);
    expectBatchEqualsSingles(unet, x1, y1, norm == std::string("l2") ? eps : eps * 0.1, o);
    o.loss = ima::AttackLoss::CrossEntropy;
    expectBatchEqualsSingles(unet, x1, y1, norm == std::string("l2") ? eps : eps * 0.1, o);
  }
}

// Random starts drawn for a larger batch (data-parallel training): the slots [2, 4) of a batch of
// 5 attacked on their own start where the whole batch's samples 2 and 3 start, so they end at the
// same points; without randomBatch their start is another (the batch's first two draws).
TEST_F(Attack, SlotsOfALargerRandomBatchStartWhereTheWholeBatchDoes) {
  imatest::PointwiseNetwork pointwise(2, 2, 3);
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({5, 2, 6, 5});
  const torch::Tensor y = torch::randint(0, 3, {5, 6, 5}, torch::kLong);
  const torch::Tensor eps = torch::tensor({1.0, 0.3, 2.0, 0.7, 1.2});
  for (const char* norm : {"l2", "linf"}) {
    auto o = options("pgd", norm, 3);
    o.seed = 11;
    const torch::Tensor whole = ima::attack(pointwise, x, y, eps, o);
    const torch::Tensor alone = ima::attack(pointwise, x.narrow(0, 2, 2), y.narrow(0, 2, 2), eps.narrow(0, 2, 2), o);
    o.randomBatch = 5;
    o.randomOffset = 2;
    const torch::Tensor slots = ima::attack(pointwise, x.narrow(0, 2, 2), y.narrow(0, 2, 2), eps.narrow(0, 2, 2), o);
    EXPECT_TRUE(torch::allclose(slots, whole.narrow(0, 2, 2), 1e-5, 1e-5)) << norm;
    EXPECT_GT((alone - whole.narrow(0, 2, 2)).abs().max().item<double>(), 1e-3) << norm;
    o.randomOffset = 4;  // slots 4 and 5 of 5
    EXPECT_THROW(ima::attack(pointwise, x.narrow(0, 2, 2), y.narrow(0, 2, 2), eps.narrow(0, 2, 2), o), ima::Error);
  }
  // Without randomBatch (one process) the numbers are the generator's first draws for x itself:
  // Linf noise is x + (2u - 1) eps with u = rand(x's sizes) from a generator seeded with the seed.
  auto o = options("noise", "linf");
  o.seed = 5;
  at::Generator generator = at::detail::createCPUGenerator(5);
  const torch::Tensor u = torch::rand(x.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat));
  const torch::Tensor expected = x + (2 * u - 1) * eps.view({5, 1, 1, 1});
  EXPECT_TRUE(torch::allclose(ima::attack(pointwise, x, y, eps, o), expected, 0, 1e-6));
  o.randomBatch = 5;  // the whole batch as its own random batch: the same numbers
  EXPECT_TRUE(torch::allclose(ima::attack(pointwise, x, y, eps, o), expected, 0, 1e-6));
}

TEST_F(Attack, ScalarEpsEqualsPerSampleTensorOfThatValue) {
  auto net = randomLinear(3, 12, 1);
  imatest::PointwiseNetwork pointwise(2, 2, 3);
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({4, 2, 2, 3});
  const torch::Tensor y = torch::tensor({0, 2, 1, 2}, torch::kLong);
  const torch::Tensor ys = torch::randint(0, 3, {4, 2, 3}, torch::kLong);
  for (const char* norm : {"l2", "linf"})
    for (const char* method : {"pgd", "ifgsm", "fgsm", "noise"}) {
      auto o = options(method, norm);
      o.restarts = 2;  // random start and restarts included: same seed, same draws
      o.seed = 11;
      const torch::Tensor a = ima::attack(*net, x, y, 0.4, o);
      const torch::Tensor b = ima::attack(*net, x, y, torch::full({4}, 0.4), o);
      const torch::Tensor c = ima::attack(*net, x, y, torch::tensor(0.4), o);
      EXPECT_TRUE(torch::equal(a, b)) << method << " " << norm;
      EXPECT_TRUE(torch::equal(a, c)) << method << " " << norm;
      const torch::Tensor d = ima::attack(pointwise, x, ys, 0.4, o);
      const torch::Tensor e = ima::attack(pointwise, x, ys, torch::full({4}, 0.4), o);
      EXPECT_TRUE(torch::equal(d, e)) << method << " " << norm;
    }
}

TEST_F(Attack, PerturbationStaysInItsBallAndEpsZeroLeavesTheSampleUnchanged) {
  auto net = randomLinear(3, 12, 3);
  imatest::PointwiseNetwork pointwise(2, 2, 3);
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({4, 2, 2, 3});
  const torch::Tensor y = torch::tensor({1, 0, 2, 2}, torch::kLong);
  const torch::Tensor ys = torch::randint(0, 3, {4, 2, 3}, torch::kLong);
  const torch::Tensor eps = torch::tensor({0.0, 0.05, 0.3, 1.0});
  for (const char* norm : {"l2", "linf"})
    for (const char* method : {"pgd", "ifgsm", "fgsm", "noise"})
      for (int model = 0; model < 2; ++model) {
        auto o = options(method, norm, 7);
        o.stepFraction = 0.6;  // large steps: the projection has work to do
        o.restarts = 2;
        const torch::Tensor adv = model == 0 ? ima::attack(*net, x, y, eps, o) : ima::attack(pointwise, x, ys, eps, o);
        const torch::Tensor delta = adv - x;
        const torch::Tensor size = norm == std::string("l2") ? sampleL2(delta) : sampleLinf(delta);
        for (int64_t i = 0; i < 4; ++i) {
          const double e = eps[i].item<double>(), s = size[i].item<double>();
          // float32 rounding of x + delta: a few ulps of |x| ~ 1.
          EXPECT_LE(s, e * (1 + 1e-5) + 1e-6) << method << " " << norm << " sample " << i;
          if (e > 0) EXPECT_GT(s, 0.5 * e) << method << " " << norm << " sample " << i;
        }
        EXPECT_TRUE(torch::equal(adv[0], x[0])) << method << " " << norm;
      }
}

TEST_F(Attack, ClampKeepsTheIntensityRangeAndTheBall) {
  auto net = randomLinear(3, 12, 3);
  torch::manual_seed(7);
  const torch::Tensor x = torch::rand({4, 2, 2, 3});  // inside [0, 1]
  const torch::Tensor y = torch::tensor({1, 0, 2, 2}, torch::kLong);
  const torch::Tensor eps = torch::tensor({0.0, 0.2, 0.8, 3.0});
  for (const char* norm : {"l2", "linf"})
    for (const char* method : {"pgd", "ifgsm", "fgsm", "noise"}) {
      auto o = options(method, norm, 6);
      o.clamp = true;
      o.clampLow = 0;
      o.clampHigh = 1;
      const torch::Tensor adv = ima::attack(*net, x, y, eps, o);
      EXPECT_GE(adv.min().item<double>(), 0.0) << method << " " << norm;
      EXPECT_LE(adv.max().item<double>(), 1.0) << method << " " << norm;
      const torch::Tensor size = norm == std::string("l2") ? sampleL2(adv - x) : sampleLinf(adv - x);
      for (int64_t i = 0; i < 4; ++i)
        EXPECT_LE(size[i].item<double>(), eps[i].item<double>() * (1 + 1e-5) + 1e-6) << method << " " << norm;
      EXPECT_TRUE(torch::equal(adv[0], x[0]));
      EXPECT_GT((adv[3] - x[3]).abs().max().item<double>(), 0.0) << method << " " << norm;
    }
}

TEST_F(Attack, OneStepMatchesTheClosedFormOnALinearModel) {
  // FGSM: x + eps * sign(g) (Linf) and x + eps * g / ||g|| (L2), g = W^T (softmax(Wx + b) - e_y).
  auto net = randomLinear(4, 6, 8);
  torch::manual_seed(9);
  const torch::Tensor x = torch::randn({3, 1, 2, 3});
  const std::vector<int64_t> labels{3, 0, 1};
  const torch::Tensor y = torch::tensor(labels, torch::kLong);
  const std::vector<double> epsValues{0.1, 0.35, 0.02};
  const torch::Tensor eps = torch::tensor(epsValues);
  for (const char* norm : {"linf", "l2"}) {
    const torch::Tensor adv = ima::attack(*net, x, y, eps, options("fgsm", norm));
    for (int64_t i = 0; i < 3; ++i) {
      const auto xi = sampleValues(x, i);
      const auto g = ceGradient(*net, xi, labels[i]);
      double gnorm = 0;
      for (double v : g) gnorm += v * v;
      gnorm = std::sqrt(gnorm);
      const auto ai = sampleValues(adv, i);
      for (size_t j = 0; j < xi.size(); ++j) {
        const double step = norm == std::string("linf") ? sign(g[j]) : g[j] / gnorm;
        EXPECT_NEAR(ai[j], xi[j] + epsValues[i] * step, 2e-6) << norm << " sample " << i << " value " << j;
      }
    }
  }
}

TEST_F(Attack, PerSampleStepSizesAndProjectionMatchTheClosedForm) {
  auto net = randomLinear(4, 6, 10);
  torch::manual_seed(11);
  const torch::Tensor x = torch::randn({3, 1, 2, 3});
  const std::vector<int64_t> labels{2, 1, 0};
  const torch::Tensor y = torch::tensor(labels, torch::kLong);

  // One IFGSM step with an explicit per-sample step and a large ball: x + step_i * sign(g).
  const std::vector<double> steps{0.01, 0.02, 0.03};
  auto o = options("ifgsm", "linf", 1);
  o.stepSize = torch::tensor(steps);
  const torch::Tensor one = ima::attack(*net, x, y, 10.0, o);
  for (int64_t i = 0; i < 3; ++i) {
    const auto xi = sampleValues(x, i), ai = sampleValues(one, i);
    const auto g = ceGradient(*net, xi, labels[i]);
    for (size_t j = 0; j < xi.size(); ++j) EXPECT_NEAR(ai[j], xi[j] + steps[i] * sign(g[j]), 2e-6);
  }

  // Two Linf steps of 0.08 in a ball of 0.1: the second step is clipped to [-0.1, 0.1].
  o.steps = 2;
  o.stepSize = torch::tensor(0.08);
  const torch::Tensor two = ima::attack(*net, x, y, 0.1, o);
  for (int64_t i = 0; i < 3; ++i) {
    auto xi = sampleValues(x, i);
    const auto g1 = ceGradient(*net, xi, labels[i]);
    std::vector<double> x1(xi.size()), expected(xi.size());
    for (size_t j = 0; j < xi.size(); ++j) x1[j] = xi[j] + 0.08 * sign(g1[j]);
    const auto g2 = ceGradient(*net, x1, labels[i]);
    for (size_t j = 0; j < xi.size(); ++j)
      expected[j] = xi[j] + std::max(-0.1, std::min(0.1, 0.08 * sign(g1[j]) + 0.08 * sign(g2[j])));
    const auto ai = sampleValues(two, i);
    for (size_t j = 0; j < xi.size(); ++j) EXPECT_NEAR(ai[j], expected[j], 2e-6) << "sample " << i << " value " << j;
  }
}

TEST_F(Attack, LeavesInputModeAndParameterGradientsAlone) {
  ima::UNetNetwork unet(imatest::tinyUNetMetadata(2).network, 3);
  auto linear = randomLinear(3, 12, 1);
  torch::manual_seed(12);
  const torch::Tensor xs = torch::randn({2, 1, 16, 16});
  const torch::Tensor ys = torch::randint(0, 3, {2, 16, 16}, torch::kLong);
  const torch::Tensor xc = torch::randn({2, 1, 3, 4});
  const torch::Tensor yc = torch::tensor({0, 2}, torch::kLong);
  auto o = options("pgd", "l2", 3);
  o.restarts = 2;
  int calls = 0;
  o.onIterate = [&](const ima::AttackIterate&) { ++calls; };

  for (ima::Network* net : std::vector<ima::Network*>{&unet, linear.get()}) {
    const torch::Tensor x = net == &unet ? xs : xc, y = net == &unet ? ys : yc;
    const torch::Tensor before = x.clone();
    for (bool training : {true, false}) {
      net->setTraining(training);
      for (auto& p : net->parameters()) ASSERT_FALSE(p.grad().defined());
      const torch::Tensor adv = ima::attack(*net, x, y, 0.5, o);
      EXPECT_TRUE(torch::equal(x, before));
      EXPECT_FALSE(torch::equal(adv, x));
      EXPECT_FALSE(adv.requires_grad());
      EXPECT_EQ(net->isTraining(), training);
      for (auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
    }
    // Existing gradients (a caller between backward and step) are kept as they are.
    for (auto& p : net->parameters()) p.mutable_grad() = torch::full_like(p, 0.25);
    ima::attack(*net, x, y, 0.5, o);
    for (auto& p : net->parameters()) EXPECT_TRUE(torch::equal(p.grad(), torch::full_like(p, 0.25)));
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();

    // Under the caller's NoGradGuard, and with an input that requires grad, the attack still works
    // and leaves the input's gradient undefined.
    {
      torch::NoGradGuard noGrad;
      EXPECT_FALSE(torch::equal(ima::attack(*net, x, y, 0.5, o), x));
    }
    const torch::Tensor leaf = x.clone().requires_grad_(true);
    EXPECT_FALSE(torch::equal(ima::attack(*net, leaf, y, 0.5, o), x));
    EXPECT_FALSE(leaf.grad().defined());
  }
  EXPECT_EQ(calls, 2 * 5 * 2 * 4);  // networks x calls x restarts x (steps + 1) iterates
}

TEST_F(Attack, WhiteNoiseHasNormEpsL2AndStaysWithinEpsLinf) {
  auto net = randomLinear(3, 128, 1);
  torch::manual_seed(13);
  const torch::Tensor x = torch::randn({4, 2, 8, 8});
  const torch::Tensor y = torch::tensor({0, 1, 2, 0}, torch::kLong);
  const torch::Tensor eps = torch::tensor({0.0, 0.1, 1.0, 5.0});
  auto o = options("noise", "l2");
  o.seed = 3;
  const torch::Tensor l2 = sampleL2(ima::attack(*net, x, y, eps, o) - x);
  for (int64_t i = 0; i < 4; ++i) EXPECT_NEAR(l2[i].item<double>(), eps[i].item<double>(), 1e-5 * (1 + eps[i].item<double>()));
  o.norm = ima::Norm::Linf;
  const torch::Tensor adv = ima::attack(*net, x, y, eps, o);
  const torch::Tensor linf = sampleLinf(adv - x);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_LE(linf[i].item<double>(), eps[i].item<double>() * (1 + 1e-6) + 1e-6);
    // 128 uniform values: the largest is below 0.9 eps with probability 0.9^128 ~ 1e-6.
    EXPECT_GE(linf[i].item<double>(), 0.9 * eps[i].item<double>());
  }
  EXPECT_TRUE(torch::equal(adv, ima::attack(*net, x, y, eps, o)));  // same seed, same noise
  o.seed = 4;
  EXPECT_FALSE(torch::equal(adv, ima::attack(*net, x, y, eps, o)));
  // The noise needs no label: an undefined target is fine.
  EXPECT_EQ(ima::attack(*net, x, torch::Tensor(), eps, o).sizes(), x.sizes());
}

// A nearest-class-mean linear classifier (W = means, b = -|mean|^2 / 2) on samples near their
// class mean: a well-trained linear model without a training loop, so everything is deterministic.
struct TrainedLinear {
  std::shared_ptr<LinearNetwork> net;
  torch::Tensor x, y;
};

TrainedLinear trainedLinear(int64_t classes, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor means = torch::randn({classes, 16}) * 0.6;
  const torch::Tensor y = torch::arange(n, torch::kLong) % classes;
  const torch::Tensor x = (means.index_select(0, y) + 0.2 * torch::randn({n, 16})).reshape({n, 1, 4, 4});
  const torch::Tensor b = -0.5 * means.pow(2).sum(1);
  return {std::make_shared<LinearNetwork>(means, b), x, y};
}

TEST_F(Attack, IncreasesTheLossAndPGDIsAtLeastAsStrongAsFGSM) {
  for (int64_t classes : {2, 4}) {
    auto m = trainedLinear(classes, 12, 20 + classes);
    const torch::Tensor clean = ima::attackLoss(m.net->forward(m.x), m.y);
    ASSERT_LT(clean.mean().item<double>(), 0.5);  // the model is right with some confidence
    for (const char* norm : {"l2", "linf"}) {
      const double eps = norm == std::string("l2") ? 0.5 : 0.1;
      auto loss = [&](const std::string& method) {
        auto o = options(method, norm, 20);
        o.seed = 1;
        o.restarts = 2;
        return ima::attackLoss(m.net->forward(ima::attack(*m.net, m.x, m.y, eps, o)), m.y).detach();
      };
      const torch::Tensor fgsm = loss("fgsm"), ifgsm = loss("ifgsm"), pgd = loss("pgd"), noise = loss("noise");
      for (int64_t i = 0; i < m.x.size(0); ++i) {
        const double c = clean[i].item<double>();
        EXPECT_GT(fgsm[i].item<double>(), c) << norm << " sample " << i;
        EXPECT_GT(ifgsm[i].item<double>(), c) << norm << " sample " << i;
        EXPECT_GT(pgd[i].item<double>(), c) << norm << " sample " << i;
        EXPECT_LT(noise[i].item<double>(), pgd[i].item<double>()) << norm << " sample " << i;
        // Two classes: the CE of a linear model grows along one fixed direction, so FGSM is the
        // exact maximiser and PGD converges to it (Linf: exactly, once every value reached the
        // bound; L2: the random start's orthogonal part shrinks by about 1/1.2 per step, leaving a
        // relative loss deficit of ~1e-3 after 20 steps).
        if (classes == 2) EXPECT_GE(pgd[i].item<double>(), fgsm[i].item<double>() * (1 - 1e-2)) << norm << " sample " << i;
      }
      EXPECT_GE(pgd.mean().item<double>(), fgsm.mean().item<double>() * (1 - 1e-2)) << norm << " " << classes;
    }
  }
}

TEST_F(Attack, IncreasesTheDiceCrossEntropyOfASegmentationNetwork) {
  ima::UNetNetwork unet(imatest::tinyUNetMetadata(2).network, 5);
  unet.setTraining(false);
  torch::manual_seed(14);
  const torch::Tensor x = torch::randn({2, 1, 16, 16});
  torch::Tensor y;
  {
    torch::NoGradGuard noGrad;
    y = unet.forward(x).argmax(1);  // the network is right at x: the attack has to make it wrong
  }
  const torch::Tensor clean = ima::attackLoss(unet.forward(x), y).detach();
  for (const char* norm : {"l2", "linf"}) {
    auto o = options("pgd", norm, 10);
    const double eps = norm == std::string("l2") ? 2.0 : 0.1;
    const torch::Tensor adv = ima::attack(unet, x, y, eps, o);
    const torch::Tensor attacked = ima::attackLoss(unet.forward(adv), y).detach();
    for (int64_t i = 0; i < 2; ++i) EXPECT_GT(attacked[i].item<double>(), clean[i].item<double>() + 1e-3) << norm;
  }
}

TEST_F(Attack, RestartsKeepTheWorstFinalIteratePerSample) {
  auto m = trainedLinear(4, 8, 30);
  auto o = options("pgd", "l2", 4);
  o.seed = 9;
  o.restarts = 3;
  std::vector<torch::Tensor> finals, finalLosses;
  int calls = 0;
  o.onIterate = [&](const ima::AttackIterate& it) {
    ++calls;
    EXPECT_TRUE(torch::allclose(it.logits, m.net->forward(it.xadv).detach()));
    EXPECT_TRUE(torch::allclose(it.loss, ima::attackLoss(it.logits, m.y)));
    if (it.iterate == 4) {
      finals.push_back(it.xadv);
      finalLosses.push_back(it.loss);
    }
  };
  const torch::Tensor best = ima::attack(*m.net, m.x, m.y, 2.0, o);
  EXPECT_EQ(calls, 3 * 5);
  ASSERT_EQ(finals.size(), 3u);
  const torch::Tensor losses = torch::stack(finalLosses);  // [restarts, N]
  const torch::Tensor pick = losses.argmax(0);
  for (int64_t i = 0; i < m.x.size(0); ++i)
    EXPECT_TRUE(torch::equal(best[i], finals[static_cast<size_t>(pick[i].item<int64_t>())][i])) << "sample " << i;
  // The first restart is the single-restart run with the same seed.
  auto single = o;
  single.restarts = 1;
  single.onIterate = nullptr;
  EXPECT_TRUE(torch::equal(ima::attack(*m.net, m.x, m.y, 2.0, single), finals[0]));
}

TEST_F(Attack, FinishedSamplesKeepTheirPointAndLeaveTheOthersUnchanged) {
  // Oracle: the same PGD without an early stop, its iterates recorded. Sample 1 is retired before
  // iterate 2 and sample 4 before iterate 0: they must end at their iterate-2 and start points,
  // take part in no later forward, and every other sample must follow its full path.
  auto m = trainedLinear(4, 8, 31);
  auto o = options("pgd", "l2", 4);
  o.seed = 5;
  std::vector<torch::Tensor> path;  // the full run's iterates, [N, ...] each
  o.onIterate = [&](const ima::AttackIterate& it) { path.push_back(it.xadv); };
  const torch::Tensor full = ima::attack(*m.net, m.x, m.y, 2.0, o);
  ASSERT_EQ(path.size(), 5u);

  std::vector<std::vector<int64_t>> seen;  // the samples of each iterate of the early-stop run
  int asked = 0;
  auto early = o;
  early.onIterate = [&](const ima::AttackIterate& it) {
    const torch::Tensor s = it.samples.contiguous();
    seen.emplace_back(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
    ASSERT_EQ(it.xadv.size(0), s.numel());
    EXPECT_TRUE(torch::allclose(it.logits, m.net->forward(it.xadv).detach()));
    // Equal up to rounding: the matrix product of a smaller batch may round differently.
    EXPECT_TRUE(torch::allclose(it.xadv, path[static_cast<size_t>(it.iterate)].index_select(0, it.samples), 1e-5, 1e-6))
        << "iterate " << it.iterate;
  };
  early.finished = [&] {
    torch::Tensor done = torch::zeros({8}, torch::kBool);
    done[4] = true;
    if (asked++ >= 2) done[1] = true;
    return done;
  };
  const torch::Tensor result = ima::attack(*m.net, m.x, m.y, 2.0, early);
  EXPECT_EQ(asked, 5);  // before each of the 4 steps and before the final point
  ASSERT_EQ(seen.size(), 5u);
  const std::vector<int64_t> withOne{0, 1, 2, 3, 5, 6, 7}, withoutOne{0, 2, 3, 5, 6, 7};
  EXPECT_EQ(seen[0], withOne);
  EXPECT_EQ(seen[1], withOne);
  for (size_t k = 2; k < 5; ++k) EXPECT_EQ(seen[k], withoutOne) << "iterate " << k;
  for (int64_t i : withoutOne) EXPECT_TRUE(torch::allclose(result[i], full[i], 1e-5, 1e-6)) << "sample " << i;
  EXPECT_TRUE(torch::allclose(result[1], path[2][1], 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(result[4], path[0][4]));
  EXPECT_FALSE(torch::allclose(result[1], full[1], 1e-3, 1e-3));

  // Retirement by mask: every iterate holds all 8 samples, the retired ones frozen at their point;
  // the result equals the compacting run's.
  asked = 0;
  auto masked = early;
  masked.retirement = ima::AttackOptions::Retirement::Mask;
  std::vector<torch::Tensor> maskedPath;
  masked.onIterate = [&](const ima::AttackIterate& it) {
    ASSERT_EQ(it.samples.numel(), 8);
    maskedPath.push_back(it.xadv);
  };
  const torch::Tensor maskedResult = ima::attack(*m.net, m.x, m.y, 2.0, masked);
  ASSERT_EQ(maskedPath.size(), 5u);
  EXPECT_TRUE(torch::allclose(maskedResult, result, 1e-5, 1e-6));
  for (size_t k = 1; k < 5; ++k) EXPECT_TRUE(torch::equal(maskedPath[k][4], path[0][4])) << "iterate " << k;
  for (size_t k = 3; k < 5; ++k) EXPECT_TRUE(torch::equal(maskedPath[k][1], maskedPath[2][1])) << "iterate " << k;
}

TEST_F(Attack, AnEarlyStopOfEverySampleEndsTheAttack) {
  auto m = trainedLinear(2, 4, 32);
  auto o = options("ifgsm", "linf", 6);
  int calls = 0;
  o.onIterate = [&](const ima::AttackIterate&) { ++calls; };
  o.finished = [&] { return torch::full({4}, calls >= 2, torch::kBool); };
  auto single = options("ifgsm", "linf", 2);
  EXPECT_TRUE(torch::equal(ima::attack(*m.net, m.x, m.y, 0.1, o), ima::attack(*m.net, m.x, m.y, 0.1, single)));
  EXPECT_EQ(calls, 2);
}

// Runs f, which must throw ima::Error with `part` in its message.
void expectError(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << part << "'";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST_F(Attack, BadEarlyStopsAreErrors) {
  auto m = trainedLinear(2, 4, 33);
  auto o = options("pgd", "l2", 3);
  o.finished = [] { return torch::zeros({3}, torch::kBool); };  // one value short
  expectError([&] { ima::attack(*m.net, m.x, m.y, 0.5, o); }, "one value per sample (4)");
  o.finished = [] { return torch::zeros({4}, torch::kFloat); };
  expectError([&] { ima::attack(*m.net, m.x, m.y, 0.5, o); }, "bool mask");
  o.finished = [] { return torch::zeros({4}, torch::kBool); };
  o.restarts = 2;
  expectError([&] { ima::attack(*m.net, m.x, m.y, 0.5, o); }, "single restart");
}

// A warm start: the masked samples' iterate 0 is their start projected onto the ball (oracle: the
// L2 projection by hand, eps / ||start|| * start for a start outside); the others start at the same
// random points as without a warm start, and follow the same path.
TEST_F(Attack, AWarmStartReplacesTheRandomStartOfTheMaskedSamplesOnly) {
  auto m = trainedLinear(3, 6, 34);
  auto o = options("pgd", "l2", 3);
  o.seed = 9;
  std::vector<torch::Tensor> cold, warm;
  o.onIterate = [&](const ima::AttackIterate& it) { cold.push_back(it.xadv); };
  const torch::Tensor coldResult = ima::attack(*m.net, m.x, m.y, 1.0, o);
  auto w = o;
  w.onIterate = [&](const ima::AttackIterate& it) { warm.push_back(it.xadv); };
  w.startDelta = torch::zeros_like(m.x);
  w.startDelta[1] = torch::full({1, 4, 4}, 3.0);  // norm 3 sqrt(D), outside the ball: projected
  w.startDelta[4] = torch::full({1, 4, 4}, 0.1);  // inside: kept
  w.startMask = torch::zeros({6}, torch::kBool);
  w.startMask[1] = true;
  w.startMask[4] = true;
  const torch::Tensor warmResult = ima::attack(*m.net, m.x, m.y, 1.0, w);
  ASSERT_EQ(warm.size(), cold.size());
  const double d = 16;  // values per sample
  EXPECT_TRUE(torch::allclose(warm[0][1] - m.x[1], torch::full({1, 4, 4}, 1.0 / std::sqrt(d)), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(warm[0][4] - m.x[4], torch::full({1, 4, 4}, 0.1), 1e-5, 1e-6));
  for (int64_t i : {0, 2, 3, 5}) {
    EXPECT_TRUE(torch::equal(warm[0][i], cold[0][i])) << "sample " << i;
    EXPECT_TRUE(torch::allclose(warmResult[i], coldResult[i], 1e-5, 1e-6)) << "sample " << i;
  }
  w.restarts = 2;
  expectError([&] { ima::attack(*m.net, m.x, m.y, 1.0, w); }, "one restart");
  w.restarts = 1;
  w.startMask = torch::zeros({5}, torch::kBool);
  expectError([&] { ima::attack(*m.net, m.x, m.y, 1.0, w); }, "[N] mask");
}

TEST_F(Attack, StepDefaultsFollowTheEvaluationProtocol) {
  EXPECT_EQ(ima::attackSteps(options("fgsm", "l2", 20)), 1);
  EXPECT_DOUBLE_EQ(ima::attackStepFraction(options("fgsm", "l2", 20)), 1.0);
  EXPECT_EQ(ima::attackSteps(options("ifgsm", "l2", 10)), 10);
  EXPECT_DOUBLE_EQ(ima::attackStepFraction(options("ifgsm", "l2", 10)), 0.25);
  EXPECT_DOUBLE_EQ(ima::attackStepFraction(options("pgd", "l2", 20)), 0.2);
  EXPECT_EQ(ima::attackSteps(options("noise", "l2", 20)), 0);
}

TEST_F(Attack, BadArgumentsAreClearErrors) {
  auto net = randomLinear(3, 12, 1);
  const torch::Tensor x = torch::randn({2, 1, 3, 4});
  const torch::Tensor y = torch::tensor({0, 2}, torch::kLong);
  EXPECT_THROW(ima::attack(*net, x, y, 0.1, options("cw", "l2")), ima::Error);
  EXPECT_THROW(ima::attack(*net, x, y, 0.1, options("pgd", "l1")), ima::Error);
  auto o = options("pgd", "l2");
  EXPECT_THROW(ima::attackLossNamed("focal"), ima::Error);
  EXPECT_THROW(ima::attack(*net, x, y, 0.1, options("pgd", "l2", 0)), ima::Error);
  EXPECT_THROW(ima::attack(*net, x, y, -0.1, options("pgd", "l2")), ima::Error);
  EXPECT_THROW(ima::attack(*net, x, y, std::nan(""), options("pgd", "l2")), ima::Error);
  EXPECT_THROW(ima::attack(*net, x, y, torch::tensor({0.1, 0.2, 0.3}), options("pgd", "l2")), ima::Error);
  EXPECT_THROW(ima::attack(*net, x, torch::tensor({0, 1, 2}, torch::kLong), 0.1, options("pgd", "l2")), ima::Error);
  EXPECT_THROW(ima::attack(*net, x, torch::tensor({0, 3}, torch::kLong), 0.1, options("pgd", "l2")), ima::Error);
  EXPECT_THROW(ima::attack(*net, x, torch::tensor({0.0, 1.0}), 0.1, options("pgd", "l2")), ima::Error);
  o = options("pgd", "l2");
  o.clamp = true;
  o.clampLow = 1;
  o.clampHigh = 0;
  EXPECT_THROW(ima::attack(*net, x, y, 0.1, o), ima::Error);
  EXPECT_THROW(ima::attackLoss(torch::randn({2, 1, 3}), torch::zeros({2, 3}, torch::kLong), ima::AttackLoss::JensenShannon),
               ima::Error);  // one class
  // eps 0 everywhere: x itself, no forward pass needed.
  EXPECT_TRUE(torch::equal(ima::attack(*net, x, y, 0.0, options("pgd", "linf")), x));
}

TEST(AttackLoss, IsPerSampleCrossEntropyPlusOneMinusPerSampleSoftDice) {
  torch::manual_seed(15);
  const torch::Tensor logits = torch::randn({3, 3, 5, 4});
  const torch::Tensor y = torch::randint(0, 3, {3, 5, 4}, torch::kLong);
  const torch::Tensor loss = ima::attackLoss(logits, y);
  ASSERT_EQ(loss.sizes(), (std::vector<int64_t>{3}));
  for (int64_t i = 0; i < 3; ++i) {
    // Each sample alone through the training loss's pieces: CE mean + (1 - mean foreground Dice).
    const torch::Tensor li = logits.narrow(0, i, 1), yi = y.narrow(0, i, 1);
    const double expected = torch::nn::functional::cross_entropy(li, yi).item<double>() +
                            1 - ima::softDice(li, yi, /*perSample=*/false).mean().item<double>();
    EXPECT_NEAR(loss[i].item<double>(), expected, 1e-5);
  }
  const torch::Tensor ce = ima::attackLoss(logits, y, ima::AttackLoss::CrossEntropy);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_NEAR(ce[i].item<double>(),
                torch::nn::functional::cross_entropy(logits.narrow(0, i, 1), y.narrow(0, i, 1)).item<double>(), 1e-6);
  // Classification logits: "auto" is plain CE per sample.
  const torch::Tensor flat = torch::randn({4, 5});
  const torch::Tensor labels = torch::tensor({0, 4, 2, 1}, torch::kLong);
  EXPECT_TRUE(torch::allclose(ima::attackLoss(flat, labels),
                              torch::nn::functional::cross_entropy(
                                  flat, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))));
  EXPECT_EQ(ima::attackLoss(flat, labels, ima::AttackLoss::DiceCrossEntropy).sizes(), (std::vector<int64_t>{4}));
}

}  // namespace

}  // namespace AttacksGTest
