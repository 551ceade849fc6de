// APGD tests. Oracles: the checkpoint list worked out by hand from the paper's formula; the whole
// step schedule (steps, momentum, halving rule, restart from the best point) replayed iteration by
// iteration in plain double arithmetic with the closed-form gradient of a linear model's
// cross-entropy; equivalent computations (a batch vs each sample alone, a scalar eps vs a per-sample
// tensor); and the constraints (ball, clamp, eps 0, early stop).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "TestModels.h"
#include "ima/Apgd.h"
#include "ima/Attacks.h"
#include "ima/Error.h"

namespace {

using imatest::LinearNetwork;
using Vec = std::vector<double>;

// Cross-entropy of W x + b against class y and its input gradient W^T (softmax - e_y), by hand.
struct LinearCE {
  std::vector<Vec> W;
  Vec b;
  double loss(const Vec& x, int y, Vec* grad) const {
    const size_t K = W.size(), D = x.size();
    Vec z(K);
    double zmax = -1e300;
    for (size_t k = 0; k < K; ++k) {
      z[k] = b[k];
      for (size_t j = 0; j < D; ++j) z[k] += W[k][j] * x[j];
      zmax = std::max(zmax, z[k]);
    }
    double sum = 0;
    for (size_t k = 0; k < K; ++k) sum += std::exp(z[k] - zmax);
    if (grad) {
      grad->assign(D, 0.0);
      for (size_t k = 0; k < K; ++k) {
        const double r = std::exp(z[k] - zmax) / sum - (static_cast<int>(k) == y ? 1.0 : 0.0);
        for (size_t j = 0; j < D; ++j) (*grad)[j] += W[k][j] * r;
      }
    }
    return -(z[y] - zmax - std::log(sum));
  }
};

double sgn(double v) { return (v > 0) - (v < 0); }

TEST(Apgd, CheckpointsFollowThePapersFormula) {
  // p = 0, .22, .41, .57, .70, .80, .87, .93, .99 (windows shrink by .03 down to .06), times steps, rounded up.
  EXPECT_EQ(ima::apgdCheckpoints(100), (std::vector<int>{0, 22, 41, 57, 70, 80, 87, 93, 99}));
  EXPECT_EQ(ima::apgdCheckpoints(20), (std::vector<int>{0, 5, 9, 12, 14, 16, 18, 19, 20}));
  EXPECT_EQ(ima::apgdCheckpoints(5), (std::vector<int>{0, 2, 3, 4, 5}));  // 1.1, 2.05, 2.85, 3.5, 4, 4.35, 4.65, 4.95 rounded up, repeats dropped
}

// Replays APGD (Linf, CE, start at x) on one sample of a linear model in double precision and
// compares every iterate, step size and restart flag with the implementation's trace.
TEST(Apgd, StepScheduleMatchesAHandReplayOnALinearModel) {
  torch::manual_seed(5);
  const int64_t K = 3, D = 6;
  const torch::Tensor w = torch::randn({K, D}, torch::kDouble), b = torch::randn({K}, torch::kDouble) * 0.1;
  LinearNetwork net(w, b);
  const torch::Tensor x = torch::randn({1, D}, torch::kDouble);
  const torch::Tensor y = torch::tensor({1}, torch::kLong);
  const double eps = 0.3;
  const int steps = 20;

  ima::ApgdOptions o;
  o.norm = "linf";
  o.steps = steps;
  o.loss = "ce";
  o.earlyStop = false;
  std::vector<ima::ApgdIterate> trace;
  o.onIterate = [&](const ima::ApgdIterate& it) { trace.push_back(it); };
  const torch::Tensor result = ima::apgd(net, x, y, torch::tensor(eps, torch::kDouble), o);
  ASSERT_EQ(trace.size(), static_cast<size_t>(steps + 1));

  LinearCE f;
  for (int64_t k = 0; k < K; ++k) {
    f.W.emplace_back(D);
    for (int64_t j = 0; j < D; ++j) f.W[k][j] = w[k][j].item<double>();
    f.b.push_back(b[k].item<double>());
  }
  Vec x0(D);
  for (int64_t j = 0; j < D; ++j) x0[j] = x[0][j].item<double>();
  const auto project = [&](Vec v) {
    for (int64_t j = 0; j < D; ++j) v[j] = std::clamp(v[j], x0[j] - eps, x0[j] + eps);
    return v;
  };
  const std::vector<int> checkpoints{0, 5, 9, 12, 14, 16, 18, 19, 20};

  Vec cur = x0, prev = x0, g, best, bestG;
  double fx = f.loss(cur, 1, &g), fbest = fx, fAtCheckpoint = fx, eta = 2 * eps;
  best = cur;
  bestG = g;
  bool plain = true, halvedLast = false;
  int increases = 0, halvings = 0;
  size_t next = 1;
  for (int k = 0; k < steps; ++k) {
    Vec z(D), xn(D);
    for (int64_t j = 0; j < D; ++j) z[j] = cur[j] + eta * sgn(g[j]);
    z = project(z);
    const double a = plain ? 1.0 : 0.75;
    for (int64_t j = 0; j < D; ++j) xn[j] = cur[j] + a * (z[j] - cur[j]) + (1 - a) * (cur[j] - prev[j]);
    xn = project(xn);
    Vec gn;
    const double fn = f.loss(xn, 1, &gn);
    if (fn > fx) ++increases;
    if (fn > fbest) {
      fbest = fn;
      best = xn;
      bestG = gn;
    }
    prev = cur;
    cur = xn;
    fx = fn;
    g = gn;
    plain = false;
    bool restarted = false;
    if (k + 1 == checkpoints[next]) {
      const int window = checkpoints[next] - checkpoints[next - 1];
      restarted = increases <= 0.75 * window || (!halvedLast && fAtCheckpoint >= fbest);
      if (restarted) {
        ++halvings;
        eta /= 2;
        cur = prev = best;
        g = bestG;
        fx = fbest;
        plain = true;
      }
      increases = 0;
      fAtCheckpoint = fbest;
      halvedLast = restarted;
      ++next;
    }
    const ima::ApgdIterate& it = trace[static_cast<size_t>(k + 1)];
    ASSERT_EQ(it.iterate, k + 1);
    EXPECT_NEAR(it.stepSize[0].item<double>(), eta, 1e-12) << "iterate " << k + 1;
    EXPECT_EQ(it.restarted[0].item<bool>(), restarted) << "iterate " << k + 1;
    EXPECT_NEAR(it.loss[0].item<double>(), fx, 1e-9) << "iterate " << k + 1;
    for (int64_t j = 0; j < D; ++j) EXPECT_NEAR(it.xadv[0][j].item<double>(), cur[j], 1e-9) << "iterate " << k + 1;
  }
  for (int64_t j = 0; j < D; ++j) EXPECT_NEAR(result[0][j].item<double>(), best[j], 1e-9);
  // The example exercises the halving rule (on this convex example the best point is always the
  // current one at a checkpoint, so the jump back is replayed but not visible).
  EXPECT_GE(halvings, 1);
}

std::shared_ptr<imatest::PointwiseNetwork> pointwise(int dims) {
  return std::make_shared<imatest::PointwiseNetwork>(dims, 1, 3);
}

class ApgdEquivalence : public ::testing::TestWithParam<std::tuple<const char*, int>> {};

TEST_P(ApgdEquivalence, BatchEqualsSinglesAndScalarEqualsPerSampleEps) {
  const auto [norm, dims] = GetParam();
  auto net = pointwise(dims);
  torch::manual_seed(11);
  const std::vector<int64_t> shape = dims == 3 ? std::vector<int64_t>{3, 1, 3, 4, 4} : std::vector<int64_t>{3, 1, 5, 5};
  const torch::Tensor x = torch::randn(shape);
  std::vector<int64_t> labelShape(shape);
  labelShape.erase(labelShape.begin() + 1);
  const torch::Tensor y = torch::randint(0, 3, labelShape, torch::kLong);
  ima::ApgdOptions o;
  o.norm = norm;
  o.steps = 12;
  o.loss = "dicece";
  o.earlyStop = false;
  const double e = std::string(norm) == "linf" ? 0.2 : 1.0;
  const torch::Tensor perSample = torch::full({3}, e, torch::kDouble);
  const torch::Tensor batch = ima::apgd(*net, x, y, torch::tensor(e, torch::kDouble), o);
  const torch::Tensor batchPerSample = ima::apgd(*net, x, y, perSample, o);
  EXPECT_TRUE(torch::allclose(batch, batchPerSample, 0, 0));
  EXPECT_GT((batch - x).abs().max().item<double>(), 0.0);  // the attack moved
  for (int64_t i = 0; i < 3; ++i) {
    const torch::Tensor single = ima::apgd(*net, x.narrow(0, i, 1), y.narrow(0, i, 1), perSample.narrow(0, i, 1), o);
    // Batched and single kernels may round differently in float32.
    EXPECT_TRUE(torch::allclose(batch.narrow(0, i, 1), single, 1e-5, 1e-5)) << "sample " << i;
  }
  // Inside the ball.
  const torch::Tensor d = (batch - x).reshape({3, -1}).to(torch::kDouble);
  const torch::Tensor size = std::string(norm) == "linf" ? std::get<0>(d.abs().max(1)) : d.pow(2).sum(1).sqrt();
  EXPECT_LE(size.max().item<double>(), e * (1 + 1e-5));
}

INSTANTIATE_TEST_SUITE_P(NormsAndDims, ApgdEquivalence,
                         ::testing::Combine(::testing::Values("l2", "linf"), ::testing::Values(2, 3)));

TEST(Apgd, LowersDiceBelowTheCleanPredictionAndKeepsZeroBudgetsAndClamp) {
  auto net = pointwise(2);
  torch::manual_seed(2);
  const torch::Tensor x = torch::rand({2, 1, 6, 6});
  const torch::Tensor y = net->forward(x).argmax(1);  // the clean prediction is all right
  ima::ApgdOptions o;
  o.steps = 10;
  o.clamp = true;
  o.earlyStop = false;
  const torch::Tensor xa = ima::apgd(*net, x, y, torch::tensor({0.0, 0.5}, torch::kDouble), o);
  EXPECT_TRUE(torch::equal(xa[0], x[0]));                    // eps 0: unchanged
  EXPECT_GE(xa.min().item<double>(), 0.0);                   // clamp
  EXPECT_LE(xa.max().item<double>(), 1.0);
  const double wrong = (net->forward(xa[1].unsqueeze(0)).argmax(1) != y[1]).sum().item<double>();
  EXPECT_GT(wrong, 0.0);
}

TEST(Apgd, EarlyStopKeepsThePointWhereNoForegroundVoxelIsRight) {
  auto net = pointwise(2);
  torch::manual_seed(4);
  const torch::Tensor x = torch::rand({1, 1, 4, 4});
  const torch::Tensor y = net->forward(x).argmax(1);
  ima::ApgdOptions o;
  o.norm = "linf";
  o.steps = 30;
  o.loss = "ce";
  int calls = 0;
  bool wasFinished = false;
  o.onIterate = [&](const ima::ApgdIterate& it) {
    ++calls;
    wasFinished = it.finished[0].item<bool>();
  };
  const torch::Tensor xa = ima::apgd(*net, x, y, torch::tensor(10.0), o);  // a budget that beats every voxel
  ASSERT_TRUE(wasFinished);
  EXPECT_LT(calls, 31);  // stopped before the last iterate
  const torch::Tensor pred = net->forward(xa).argmax(1);
  const torch::Tensor fg = y > 0;
  ASSERT_TRUE(fg.any().item<bool>());
  EXPECT_FALSE((fg & (pred == y)).any().item<bool>());
}

TEST(Apgd, RejectsBadOptionsAndInputs) {
  auto net = pointwise(2);
  const torch::Tensor x = torch::zeros({2, 1, 3, 3});
  const torch::Tensor y = torch::zeros({2, 3, 3}, torch::kLong);
  ima::ApgdOptions o;
  o.norm = "l1";
  EXPECT_THROW(ima::apgd(*net, x, y, torch::tensor(1.0), o), ima::Error);
  o = {};
  o.steps = 0;
  EXPECT_THROW(ima::apgd(*net, x, y, torch::tensor(1.0), o), ima::Error);
  EXPECT_THROW(ima::apgd(*net, x, y, torch::tensor(-1.0)), ima::Error);
  EXPECT_THROW(ima::apgd(*net, x, y, torch::ones({3})), ima::Error);
  EXPECT_THROW(ima::apgd(*net, x, y.to(torch::kFloat), torch::tensor(1.0)), ima::Error);
}

}  // namespace
