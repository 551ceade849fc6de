// The small classification CNN: shapes, deterministic initialisation, weight round trips, and that
// it actually learns (a few Adam steps on a problem a linear model could separate).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>

#include "ima/Error.h"
#include "ima/classification/SmallCNN.h"

namespace SmallCNNGTest {  // this file's names apart from the others' in a unity build

namespace {

ima::SmallCNNSpec tinySpec(int classes = 4) {
  ima::SmallCNNSpec s;
  s.height = 16;
  s.width = 16;
  s.classes = classes;
  s.features = 8;
  s.hidden = 32;
  return s;
}

std::map<std::string, torch::Tensor> namedParameters(ima::SmallCNNNetwork& net) {
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : net.module()->named_parameters()) params[p.key()] = p.value();
  return params;
}

TEST(SmallCNN, LogitsHaveOneRowPerSampleAndOneColumnPerClass) {
  ima::SmallCNNNetwork mnist(ima::SmallCNNSpec{}, 1);  // 1 x 28 x 28, 10 classes
  EXPECT_EQ(mnist.forward(torch::rand({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));

  ima::SmallCNNSpec s;
  s.inChannels = 3;
  s.height = 12;
  s.width = 20;
  s.classes = 5;
  ima::SmallCNNNetwork rgb(s, 1);
  EXPECT_EQ(rgb.forward(torch::rand({2, 3, 12, 20})).sizes(), (std::vector<int64_t>{2, 5}));
}

TEST(SmallCNN, WrongInputOrSpecificationIsAnError) {
  ima::SmallCNNNetwork net(tinySpec(), 1);
  EXPECT_THROW(net.forward(torch::rand({2, 1, 28, 28})), ima::Error);  // built for 16x16
  EXPECT_THROW(net.forward(torch::rand({2, 2, 16, 16})), ima::Error);  // one channel
  EXPECT_THROW(net.forward(torch::rand({1, 16, 16})), ima::Error);
  ima::SmallCNNSpec odd = tinySpec();
  odd.height = 30;  // not a multiple of 4
  EXPECT_THROW(ima::SmallCNNNetwork(odd, 1), ima::Error);
  ima::SmallCNNSpec one = tinySpec(1);
  EXPECT_THROW(ima::SmallCNNNetwork(one, 1), ima::Error);
}

TEST(SmallCNN, HeInitialisationHasTheExpectedVarianceAndZeroBiases) {
  // Kaiming normal, fan-in, ReLU gain: std = sqrt(2 / fan_in). The second conv of the default
  // network has 32 * 32 * 9 = 9216 weights, so the sample std is within a few percent.
  ima::SmallCNNNetwork net(ima::SmallCNNSpec{}, 3);
  const auto params = namedParameters(net);
  const double expected = std::sqrt(2.0 / (32.0 * 9.0));
  EXPECT_NEAR(params.at("features.2.weight").std().item<double>(), expected, expected * 0.05);
  for (const auto& p : params)
    if (p.first.size() > 4 && p.first.substr(p.first.size() - 4) == "bias")
      EXPECT_EQ(p.second.abs().sum().item<double>(), 0.0) << p.first;
}

TEST(SmallCNN, SameSeedSameWeightsDifferentSeedDifferentWeights) {
  ima::SmallCNNNetwork a(tinySpec(), 5), b(tinySpec(), 5), c(tinySpec(), 6);
  const auto pa = namedParameters(a), pb = namedParameters(b), pc = namedParameters(c);
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.second, pb.at(p.first))) << p.first;
  EXPECT_FALSE(torch::equal(pa.at("features.0.weight"), pc.at("features.0.weight")));
}

TEST(SmallCNN, SavedWeightsLoadIntoAnotherNetworkAndGiveIdenticalOutputs) {
  ima::SmallCNNNetwork a(tinySpec(), 1), b(tinySpec(), 2);
  a.setTraining(false);
  b.setTraining(false);
  const torch::Tensor x = torch::rand({4, 1, 16, 16});
  std::stringstream bytes;
  a.saveWeights(bytes);
  EXPECT_FALSE(torch::equal(a.forward(x), b.forward(x)));
  b.loadWeights(bytes);
  EXPECT_TRUE(torch::equal(a.forward(x), b.forward(x)));
}

TEST(SmallCNN, WeightsOfAnotherShapeAreRejectedByName) {
  ima::SmallCNNNetwork four(tinySpec(4), 1), three(tinySpec(3), 1);
  std::stringstream bytes;
  four.saveWeights(bytes);
  try {
    three.loadWeights(bytes);
    ADD_FAILURE() << "expected ima::Error";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("classifier.2.weight"), std::string::npos) << e.what();
  }
}

TEST(SmallCNN, LearnsWhichQuadrantIsBright) {
  // Class k = the bright quadrant (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) on a
  // noisy background: linearly separable, so a few dozen full-batch Adam steps must fit it.
  torch::set_num_threads(1);
  torch::manual_seed(11);
  const int64_t n = 64;
  torch::Tensor x = 0.2 * torch::rand({n, 1, 16, 16});
  torch::Tensor y = torch::arange(n, torch::kInt64) % 4;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = y[i].item<int64_t>();
    const int64_t r = (k / 2) * 8, c = (k % 2) * 8;
    x[i][0].slice(0, r, r + 8).slice(1, c, c + 8) += 0.6;
  }

  ima::SmallCNNNetwork net(tinySpec(4), 1);
  net.setTraining(true);
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(3e-3));
  for (int step = 0; step < 40; ++step) {
    optimizer.zero_grad();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(net.forward(x), y);
    loss.backward();
    optimizer.step();
  }
  net.setTraining(false);
  torch::NoGradGuard noGrad;
  const double accuracy = net.forward(x).argmax(1).eq(y).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(accuracy, 0.9);
}

}  // namespace

}  // namespace SmallCNNGTest
