// APGD tests. Oracles: the checkpoint list worked out by hand from the paper's formula; the whole
// step schedule (steps, momentum, halving rule, restart from the best point) replayed iteration by
// iteration in plain double arithmetic with the closed-form gradient of a linear model's
// cross-entropy; equivalent computations (a batch vs each sample alone, a scalar eps vs a per-sample
// tensor); and the constraints (ball, clamp, eps 0, early stop).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "TestModels.h"
#include "ima/Apgd.h"
#include "ima/Attacks.h"
#include "ima/Error.h"

namespace ApgdGTest {  // this file's names apart from the others' in a unity build

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

// Replays APGD (CE, start at x) on one sample of a linear model in double precision and compares
// every iterate, step size and restart flag with the implementation's trace. In Linf the iterates
// sit on corners of the box where the loss is flat, so a restart jumps back to the point it is
// already at; in L2 the step of 2 eps overshoots along the sphere, the loss falls between
// checkpoints, and the restart to the best point moves the iterate: the replay counts those
// visible restarts, so both halving conditions and the jump back are checked.
class ApgdReplay : public ::testing::TestWithParam<const char*> {};

TEST_P(ApgdReplay, StepScheduleMatchesAHandReplayOnALinearModel) {
  const std::string norm = GetParam();
  torch::manual_seed(5);
  const int64_t K = 3, D = 6;
  const torch::Tensor w = torch::randn({K, D}, torch::kDouble), b = torch::randn({K}, torch::kDouble) * 0.1;
  LinearNetwork net(w, b);
  const torch::Tensor x = torch::randn({1, D}, torch::kDouble);
  const torch::Tensor y = torch::tensor({1}, torch::kLong);
  const double eps = norm == "linf" ? 0.3 : 1.0;
  const int steps = 20;

  ima::ApgdOptions o;
  o.norm = ima::parseNorm(norm);
  o.steps = steps;
  o.loss = ima::AttackLoss::CrossEntropy;
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
  const auto length = [&](const Vec& v) {
    double s = 0;
    for (double e : v) s += e * e;
    return std::sqrt(s);
  };
  // Onto the ball around x0: clip each value (Linf) or scale the offset down to eps (L2).
  const auto project = [&](Vec v) {
    Vec d(D);
    for (int64_t j = 0; j < D; ++j) d[j] = v[j] - x0[j];
    const double scale = norm == "linf" ? 1.0 : std::min(1.0, eps / std::max(length(d), 1e-30));
    for (int64_t j = 0; j < D; ++j)
      v[j] = x0[j] + (norm == "linf" ? std::clamp(d[j], -eps, eps) : d[j] * scale);
    return v;
  };
  // The unit step: the gradient's sign (Linf) or the gradient over its length (L2).
  const auto direction = [&](const Vec& g) {
    Vec u(D);
    for (int64_t j = 0; j < D; ++j) u[j] = norm == "linf" ? sgn(g[j]) : g[j] / std::max(length(g), 1e-30);
    return u;
  };
  const std::vector<int> checkpoints{0, 5, 9, 12, 14, 16, 18, 19, 20};

  Vec cur = x0, prev = x0, g, best, bestG;
  double fx = f.loss(cur, 1, &g), fbest = fx, fAtCheckpoint = fx, eta = 2 * eps;
  best = cur;
  bestG = g;
  bool plain = true, halvedLast = false;
  int increases = 0, halvings = 0, visibleRestarts = 0;
  size_t next = 1;
  for (int k = 0; k < steps; ++k) {
    Vec z(D), xn(D);
    const Vec u = direction(g);
    for (int64_t j = 0; j < D; ++j) z[j] = cur[j] + eta * u[j];
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
        if (cur != best) ++visibleRestarts;
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
  EXPECT_GE(halvings, 1) << "the example must exercise the halving rule";
  if (norm == "l2") EXPECT_GE(visibleRestarts, 1) << "the example must move an iterate back to its best point";
}

INSTANTIATE_TEST_SUITE_P(Norms, ApgdReplay, ::testing::Values("linf", "l2"));

TEST(ApgdRadiusAnnealing, StagesAreThirtyThirtyFortyPercentAtTwoOneAndAHalfAndOneEps) {
  const auto stages = [](int steps) {
    std::vector<std::pair<double, int>> s;
    for (const ima::RadiusStage& r : ima::radiusAnnealingStages(steps)) s.emplace_back(r.radius, r.steps);
    return s;
  };
  using S = std::vector<std::pair<double, int>>;
  EXPECT_EQ(stages(100), (S{{2.0, 30}, {1.5, 30}, {1.0, 40}}));
  EXPECT_EQ(stages(10), (S{{2.0, 3}, {1.5, 3}, {1.0, 4}}));
  EXPECT_EQ(stages(20), (S{{2.0, 6}, {1.5, 6}, {1.0, 8}}));
  EXPECT_EQ(stages(5), (S{{2.0, 1}, {1.5, 1}, {1.0, 3}}));   // floor(1.5) = 1
  EXPECT_EQ(stages(3), (S{{1.0, 3}}));                      // floor(0.9) = 0: the first stages vanish
  EXPECT_EQ(stages(1), (S{{1.0, 1}}));
}

// Each stage starts from the previous stage's best point projected into its smaller ball, every
// iterate stays in its stage's ball, and the result is the last stage's best point (inside eps).
// Oracle: the best point read off the trace and the projection done by hand per coordinate.
class ApgdAnnealingProjection : public ::testing::TestWithParam<const char*> {};

TEST_P(ApgdAnnealingProjection, EachStageStartsFromThePreviousBestProjectedIntoItsBall) {
  const std::string norm = GetParam();
  torch::manual_seed(9);
  const int64_t K = 3, D = 5;
  LinearNetwork net(torch::randn({K, D}, torch::kDouble), torch::randn({K}, torch::kDouble));
  const torch::Tensor x = torch::randn({1, D}, torch::kDouble);
  const torch::Tensor y = torch::tensor({2}, torch::kLong);
  const double eps = norm == "linf" ? 0.4 : 1.0;
  ima::ApgdOptions o;
  o.norm = ima::parseNorm(norm);
  o.steps = 20;
  o.loss = ima::AttackLoss::CrossEntropy;
  o.earlyStop = false;
  o.randomStart = true;
  o.radiusAnnealing = true;
  o.seed = 4;
  std::vector<ima::ApgdIterate> trace;
  o.onIterate = [&](const ima::ApgdIterate& it) { trace.push_back(it); };
  const torch::Tensor result = ima::apgd(net, x, y, torch::tensor(eps, torch::kDouble), o);

  const std::vector<double> radius{2.0, 1.5, 1.0};
  const std::vector<int> steps{6, 6, 8};
  Vec x0(D);
  for (int64_t j = 0; j < D; ++j) x0[j] = x[0][j].item<double>();
  const auto offset = [&](const ima::ApgdIterate& it) {
    Vec d(D);
    for (int64_t j = 0; j < D; ++j) d[j] = it.xadv[0][j].item<double>() - x0[j];
    return d;
  };
  const auto size = [&](const Vec& d) {
    double s = 0;
    for (double v : d) s = norm == "linf" ? std::max(s, std::abs(v)) : s + v * v;
    return norm == "linf" ? s : std::sqrt(s);
  };
  const auto project = [&](Vec d, double r) {
    if (norm == "linf") {
      for (double& v : d) v = std::clamp(v, -r, r);
    } else if (const double n = size(d); n > r) {
      for (double& v : d) v *= r / n;
    }
    return d;
  };
  size_t at = 0;
  Vec best;
  for (size_t s = 0; s < 3; ++s) {
    ASSERT_LT(at, trace.size());
    ASSERT_EQ(trace[at].stage, static_cast<int>(s));
    ASSERT_EQ(trace[at].iterate, 0);
    const Vec start = offset(trace[at]);
    if (s > 0) {
      const Vec expected = project(best, radius[s] * eps);
      for (int64_t j = 0; j < D; ++j) EXPECT_NEAR(start[j], expected[j], 1e-12) << "stage " << s << " value " << j;
      EXPECT_GT(size(best), radius[s] * eps) << "the example should need the projection";
    }
    // The stage's best point: the first iterate with the highest loss (restarts repeat it).
    double bestLoss = -1e300;
    for (int k = 0; k <= steps[s]; ++k, ++at) {
      ASSERT_EQ(trace[at].stage, static_cast<int>(s));
      if (k == 0) EXPECT_NEAR(trace[at].stepSize[0].item<double>(), 2 * radius[s] * eps, 1e-12);  // 2 * its radius
      EXPECT_LE(size(offset(trace[at])), radius[s] * eps * (1 + 1e-12));
      if (trace[at].loss[0].item<double>() > bestLoss) {
        bestLoss = trace[at].loss[0].item<double>();
        best = offset(trace[at]);
      }
    }
  }
  EXPECT_EQ(at, trace.size());
  for (int64_t j = 0; j < D; ++j) EXPECT_NEAR(result[0][j].item<double>() - x0[j], best[j], 1e-12);
  EXPECT_LE(size(best), eps * (1 + 1e-12));
}

INSTANTIATE_TEST_SUITE_P(Norms, ApgdAnnealingProjection, ::testing::Values("l2", "linf"));

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
  o.norm = ima::parseNorm(norm);
  o.steps = 12;
  o.loss = ima::AttackLoss::DiceCrossEntropy;
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
  o.norm = ima::Norm::Linf;
  o.steps = 30;
  o.loss = ima::AttackLoss::CrossEntropy;
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
  o.steps = 0;
  EXPECT_THROW(ima::apgd(*net, x, y, torch::tensor(1.0), o), ima::Error);
  EXPECT_THROW(ima::apgd(*net, x, y, torch::tensor(-1.0)), ima::Error);
  EXPECT_THROW(ima::apgd(*net, x, y, torch::ones({3})), ima::Error);
  EXPECT_THROW(ima::apgd(*net, x, y.to(torch::kFloat), torch::tensor(1.0)), ima::Error);
}

}  // namespace

}  // namespace ApgdGTest
