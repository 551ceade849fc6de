// IMA's adversarial step on a linear classifier, where the boundary distance is analytic: for two
// classes the L2 PGD direction is exactly perpendicular to the boundary w.x + b = 0, so the
// boundary point found must lie at distance |margin| / ||w_true - w_other|| from the sample.
#include <gtest/gtest.h>

#include "TestModels.h"
#include "ima/ImaStep.h"
#include "ima/MarginState.h"

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
  o.randomStart = false;  // deterministic path along the boundary normal
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
  o.norm = "linf";
  o.randomStart = false;
  const auto r = ima::imaAdversarialStep(net, x, torch::tensor({1}, torch::kLong), torch::tensor({0.5f}), o);
  ASSERT_TRUE(r.found[0].item<bool>());
  EXPECT_NEAR(r.distance[0].item<float>(), 1.1 / 7, 0.1 / 1024 + 1e-6);
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
