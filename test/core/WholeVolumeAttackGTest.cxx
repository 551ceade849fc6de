// The whole-volume attack (EvaluationOptions::Attacked::Volume, docs/evaluation.md "Patch or whole
// volume"). Oracles: the sliding-window inferer (a separate implementation of the same weighted
// mean) for the forward pass; central finite differences for the gradient of the custom backward
// pass; the patch-level attack when the volume is exactly one patch; the budget by hand.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "TestModels.h"
#include "ima/Attacks.h"
#include "ima/Evaluation.h"
#include "ima/Model.h"
#include "ima/Normalization.h"
#include "ima/SlidingWindowInferer.h"
#include "internal/EvalModeGuard.h"
#include "internal/Patches.h"
#include "internal/WholeVolumeNetwork.h"

namespace WholeVolumeAttackGTest {  // this file's names apart from the others' in a unity build

namespace {

// The raw volume normalised with the model's normalisation, as [1, C, D, H, W].
torch::Tensor normalisedInput(const ima::Model& model, const ima::Volume& v) {
  const ima::Box extent = ima::volumeExtent(v.shape);
  torch::Tensor x = torch::empty({1, v.channels, extent[0], extent[1], extent[2]});
  ima::extractPatch(v, ima::normalizationFor(model.metadata().normalization, v), {0, 0, 0}, extent, x.data_ptr<float>());
  return x;
}

ima::WholeVolumeNetwork volumeNetwork(const ima::Model& model, int windowsPerPass) {
  const auto& spec = model.metadata().network;
  return ima::WholeVolumeNetwork(*model.network(), spec.dims, spec.classes,
                                 ima::patchExtent(model.metadata().patchSize), 0.5, windowsPerPass);
}

TEST(WholeVolumeAttack, ForwardIsTheInferersWeightedMeanSoftmax) {
  for (int dims : {2, 3}) {
    SCOPED_TRACE(dims);
    const ima::Model model = ima::Model::create(imatest::tinyUNetMetadata(dims), 11);
    // Larger than a patch on every axis but whole multiples of nothing: overlapping, uneven windows.
    const ima::Volume v = imatest::randomVolume(dims == 3 ? std::vector<int64_t>{27, 21, 13}
                                                          : std::vector<int64_t>{27, 21, 3},
                                                1, 5);
    ima::InferenceOptions io;
    io.runtime.device = "cpu";
    io.runtime.threads = 1;
    const ima::Segmentation oracle = ima::segment(model, v, io, {}, true);
    ima::EvalModeGuard eval(*model.network());
    ima::WholeVolumeNetwork net = volumeNetwork(model, 3);
    torch::NoGradGuard noGrad;
    const torch::Tensor p = net.forward(normalisedInput(model, v)).exp()[0].contiguous();
    const torch::Tensor expected =
        torch::from_blob(const_cast<float*>(oracle.probabilities.data.data()), p.sizes()).clone();
    EXPECT_LT((p - expected).abs().max().item<double>(), 1e-5);
    const torch::Tensor labels = p.argmax(0).to(torch::kByte).flatten();
    const torch::Tensor oracleLabels =
        torch::from_blob(const_cast<uint8_t*>(oracle.labels.data.data()), {labels.numel()}, torch::kByte);
    EXPECT_TRUE(labels.equal(oracleLabels));
  }
}

// A smooth 2D network with spatial context (3x3 convolution, tanh, 1x1 convolution; zero padding
// makes a window's border outputs differ from its neighbours', so the weighting matters): central
// differences are exact to O(h^2) on it, where a ReLU U-Net's kinks would blur them.
class SmoothConvNetwork : public ima::Network {
public:
  SmoothConvNetwork() {
    torch::manual_seed(9);
    w1_ = torch::randn({6, 1, 3, 3}) * 0.5;
    w2_ = torch::randn({3, 6, 1, 1});
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return torch::conv2d(torch::tanh(torch::conv2d(x, w1_, {}, 1, 1)), w2_);
  }
  std::vector<torch::Tensor> parameters() override { return {w1_, w2_}; }
  void setTraining(bool) override {}
  bool isTraining() const override { return false; }
  void to(const torch::Device&) override {}
  torch::Device device() const override { return torch::kCPU; }
  void saveWeights(std::ostream&) override {}
  void loadWeights(std::istream&) override {}

private:
  torch::Tensor w1_, w2_;
};

TEST(WholeVolumeAttack, GradientEqualsCentralFiniteDifferences) {
  SmoothConvNetwork smooth;
  // 8x8 windows at overlap 0.5 over 13x11 slices: 3x2 windows per slice, two slices.
  ima::WholeVolumeNetwork net(smooth, 2, 3, {1, 8, 8}, 0.5, 4);
  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({1, 1, 2, 11, 13});
  // Summed in double, so that the difference quotient is not drowned by the rounding of the sum.
  const torch::Tensor w = torch::randn({1, 3, 2, 11, 13}, torch::kDouble);
  const auto loss = [&](const torch::Tensor& in) { return (w * net.forward(in).to(torch::kDouble)).sum(); };
  const torch::Tensor leaf = x.clone().requires_grad_(true);
  const torch::Tensor gradient = torch::autograd::grad({loss(leaf)}, {leaf})[0];
  for (int direction = 0; direction < 4; ++direction) {
    torch::Tensor v = torch::randn_like(x);
    v /= v.norm();
    const double h = 1e-2;
    torch::NoGradGuard noGrad;
    const double numeric = (loss(x + h * v).item<double>() - loss(x - h * v).item<double>()) / (2 * h);
    const double analytic = (gradient * v).sum().item<double>();
    EXPECT_NEAR(analytic, numeric, 2e-3 * std::abs(numeric) + 1e-4) << "direction " << direction;
  }
  // One voxel at a window border and one inside, against the difference quotient along it.
  for (const std::array<int64_t, 3>& voxel : {std::array<int64_t, 3>{0, 4, 4}, std::array<int64_t, 3>{1, 7, 6}}) {
    torch::Tensor e = torch::zeros_like(x);
    e[0][0][voxel[0]][voxel[1]][voxel[2]] = 1;
    torch::NoGradGuard noGrad;
    const double numeric = (loss(x + 1e-2 * e).item<double>() - loss(x - 1e-2 * e).item<double>()) / 2e-2;
    EXPECT_NEAR(gradient[0][0][voxel[0]][voxel[1]][voxel[2]].item<double>(), numeric, 2e-3 * std::abs(numeric) + 1e-4);
  }
}

TEST(WholeVolumeAttack, OnAVolumeOfExactlyOnePatchEqualsThePatchAttack) {
  const ima::Model model = ima::Model::create(imatest::tinyUNetMetadata(3), 13);
  ima::EvalModeGuard eval(*model.network());
  ima::WholeVolumeNetwork volumeNet = volumeNetwork(model, 2);
  const torch::Tensor x = normalisedInput(model, imatest::randomVolume({16, 16, 8}, 1, 7));
  const torch::Tensor y = torch::randint(0, 3, {1, 8, 16, 16}, torch::kLong);
  ima::AttackOptions pgd;
  pgd.steps = 10;
  pgd.seed = 3;
  const torch::Tensor patchLevel = ima::attack(*model.network(), x, y, 2.0, pgd);
  const torch::Tensor volumeLevel = ima::attack(volumeNet, x, y, 2.0, pgd);
  EXPECT_GT((patchLevel - x).norm().item<double>(), 1.9);
  EXPECT_LT((patchLevel - volumeLevel).abs().max().item<double>(), 1e-3);
}

TEST(WholeVolumeAttack, EvaluationOfAOnePatchVolumeMatchesThePatchLevelReport) {
  const ima::Model model = ima::Model::create(imatest::tinyUNetMetadata(3), 14);
  ima::LabelledCase c{"one", imatest::randomVolume({16, 16, 8}, 1, 8), ima::LabelMap(ima::Shape{{16, 16, 8}}, 1)};
  {
    // Labels: the model's own clean decisions, so that the clean Dice is 1 and the attack lowers it.
    ima::InferenceOptions io;
    io.runtime.device = "cpu";
    c.labels = ima::segment(model, c.image, io).labels;
  }
  ima::EvaluationOptions o;
  o.attacks = {"pgd"};
  o.budgets = {0, 2, 8};
  o.pgdSteps = 5;
  o.runtime.device = "cpu";
  const ima::RobustnessReport patch = ima::evaluateRobustness(model, {c}, o);
  o.attacked = ima::EvaluationOptions::Attacked::Volume;
  const ima::RobustnessReport volume = ima::evaluateRobustness(model, {c}, o);
  EXPECT_EQ(patch.attacked, "patch");
  EXPECT_EQ(volume.attacked, "volume");
  const auto& p = patch.attacks.at(0).budgets;
  const auto& v = volume.attacks.at(0).budgets;
  ASSERT_EQ(p.size(), 3u);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_DOUBLE_EQ(v[0].meanVoxelDice(), 1.0);
  EXPECT_LT(v[2].meanVoxelDice(), 0.9);
  for (size_t b = 0; b < 3; ++b) EXPECT_NEAR(v[b].meanVoxelDice(), p[b].meanVoxelDice(), 0.01) << "budget " << b;
}

TEST(WholeVolumeAttack, BudgetKeepsTheEnergyPerVoxelInL2) {
  EXPECT_DOUBLE_EQ(ima::volumeBudget(1.5, ima::Norm::L2, 400, 100), 3.0);  // sqrt(4) = 2
  EXPECT_DOUBLE_EQ(ima::volumeBudget(1.5, ima::Norm::Linf, 400, 100), 1.5);
  EXPECT_EQ(ima::attackedName(ima::parseAttacked("volume")), "volume");
  EXPECT_THROW(ima::parseAttacked("slab"), ima::Error);
}

}  // namespace

}  // namespace WholeVolumeAttackGTest
