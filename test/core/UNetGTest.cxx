#include <gtest/gtest.h>

#include "ima/Error.h"
#include "ima/UNet.h"

namespace UNetGTest {  // this file's names apart from the others' in a unity build

namespace {

ima::NetworkSpec spec(int dims, int stages, int base, int maxFeatures = 320) {
  ima::NetworkSpec s;
  s.dims = dims;
  s.inChannels = 2;
  s.classes = 3;
  s.baseFeatures = base;
  s.maxFeatures = maxFeatures;
  s.stages = stages;
  return s;
}

TEST(UNet, OutputHasClassesAndInputResolution2D) {
  ima::UNetNetwork net(spec(2, 3, 4), 1);
  const auto y = net.forward(torch::randn({2, 2, 32, 24}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 32, 24}));
}

TEST(UNet, OutputHasClassesAndInputResolution3D) {
  ima::UNetNetwork net(spec(3, 3, 4), 1);
  const auto y = net.forward(torch::randn({1, 2, 16, 8, 24}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 3, 16, 8, 24}));
}

// IMA reuses a forward across modes only where the mode changes nothing: instance norm (each
// sample's own statistics in both modes) and no norm; batch norm's eval mode uses running statistics.
TEST(UNet, OnlyBatchNormMakesTheForwardDependOnTheMode) {
  for (const char* norm : {"instance", "none", "batch"}) {
    ima::NetworkSpec s = spec(2, 2, 4);
    s.norm = norm;
    ima::UNetNetwork net(s, 1);
    const torch::Tensor x = torch::randn({3, 2, 16, 16});
    net.setTraining(true);
    const torch::Tensor train = net.forward(x).detach();
    net.setTraining(false);
    const torch::Tensor eval = net.forward(x).detach();
    EXPECT_EQ(net.modeIndependent(), std::string(norm) != "batch") << norm;
    EXPECT_EQ(torch::allclose(train, eval, 1e-5, 1e-6), net.modeIndependent()) << norm;
  }
}

TEST(UNet, FeaturesDoublePerStageUpToTheCap) {
  // base 8, cap 20: stages have 8, 16, 20, 20 features (nnU-Net's rule min(base * 2^i, cap)).
  ima::UNetNetwork net(spec(2, 4, 8, 20), 1);
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : net.module()->named_parameters()) params[p.key()] = p.value();
  EXPECT_EQ(params.at("encoder0.0.weight").size(0), 8);
  EXPECT_EQ(params.at("encoder1.0.weight").size(0), 16);
  EXPECT_EQ(params.at("encoder2.0.weight").size(0), 20);
  EXPECT_EQ(params.at("encoder3.0.weight").size(0), 20);
  EXPECT_EQ(params.at("encoder0.0.weight").size(1), 2);  // in-channels
  EXPECT_EQ(params.at("head.weight").size(0), 3);
  // Strided first conv in stages > 0 halves the resolution: 4 stages need multiples of 8.
  EXPECT_EQ(net.forward(torch::randn({1, 2, 8, 8})).size(2), 8);
}

TEST(UNet, HeInitialisationHasTheExpectedVariance) {
  // Kaiming normal with a = 0.01, fan-in: std = sqrt(2 / (1 + a^2)) / sqrt(fan_in).
  ima::NetworkSpec s = spec(3, 2, 32);
  ima::UNetNetwork net(s, 7);
  for (const auto& p : net.module()->named_parameters()) {
    if (p.key() != "encoder1.0.weight") continue;
    const double fanIn = 32.0 * 27.0;
    const double expected = std::sqrt(2.0 / (1 + 0.01 * 0.01)) / std::sqrt(fanIn);
    EXPECT_NEAR(p.value().std().item<double>(), expected, expected * 0.05);
  }
  for (const auto& p : net.module()->named_parameters())
    if (p.key().size() > 4 && p.key().substr(p.key().size() - 4) == "bias") EXPECT_EQ(p.value().abs().sum().item<double>(), 0.0);
}

TEST(UNet, SameSeedSameWeightsDifferentSeedDifferentWeights) {
  ima::UNetNetwork a(spec(2, 2, 4), 11), b(spec(2, 2, 4), 11), c(spec(2, 2, 4), 12);
  const auto pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
  EXPECT_FALSE(torch::equal(pa[0], pc[0]));
}

TEST(UNet, NormOptions) {
  for (const char* norm : {"instance", "batch", "none"}) {
    ima::NetworkSpec s = spec(2, 2, 4);
    s.norm = norm;
    ima::UNetNetwork net(s, 1);
    EXPECT_EQ(net.forward(torch::randn({2, 2, 8, 8})).size(1), 3) << norm;
  }
  ima::NetworkSpec bad = spec(2, 2, 4);
  bad.norm = "group";
  EXPECT_THROW(ima::UNetNetwork(bad, 1), ima::Error);
}

TEST(UNet, WrongChannelCountIsAClearError) {
  ima::UNetNetwork net(spec(2, 2, 4), 1);
  try {
    net.forward(torch::randn({1, 1, 8, 8}));
    FAIL() << "expected an error";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 input channel"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

// A single small sample (which the network runs as two copies, to keep ATen's oneDNN kernels) gives
// the output, input gradient and weight gradients it gives inside a batch with another sample.
TEST(UNet, ASingleSmallSampleBehavesAsInsideABatch) {
  for (int dims : {2, 3}) {
    ima::UNetNetwork net(spec(dims, 3, 4), 5);
    net.setTraining(true);
    const std::vector<int64_t> shape = dims == 3 ? std::vector<int64_t>{1, 2, 8, 8, 8} : std::vector<int64_t>{1, 2, 16, 16};
    torch::manual_seed(3);
    const torch::Tensor sample = torch::randn(shape), other = torch::randn(shape);
    const torch::Tensor weights = torch::randn(net.forward(sample).sizes());

    auto gradients = [&](const torch::Tensor& input, int64_t rows) {
      for (auto& p : net.parameters()) p.mutable_grad() = torch::Tensor();
      const torch::Tensor x = input.clone().requires_grad_(true);
      const torch::Tensor out = net.forward(x).narrow(0, 0, 1);
      (out * weights).sum().backward();
      std::vector<torch::Tensor> g{out.detach(), x.grad().narrow(0, 0, 1)};
      for (auto& p : net.parameters()) g.push_back(p.grad().clone());
      EXPECT_EQ(x.size(0), rows);
      return g;
    };
    const auto alone = gradients(sample, 1);
    const auto inBatch = gradients(torch::cat({sample, other}), 2);
    ASSERT_EQ(alone.size(), inBatch.size());
    for (size_t i = 0; i < alone.size(); ++i)
      EXPECT_TRUE(torch::allclose(alone[i], inBatch[i], 1e-4, 1e-5))
          << dims << "D, tensor " << i << ", max difference " << (alone[i] - inBatch[i]).abs().max().item<double>();
  }
}

}  // namespace

}  // namespace UNetGTest
