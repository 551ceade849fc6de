// The attack losses (ima/AttackLoss.h) on a 2x2 image with 3 classes and on single 2-class
// pixels. Oracles: the definitions evaluated in plain double arithmetic in this file (softmax,
// logarithms, the Jensen-Shannon divergence from its two KL terms, the DLR-like margin from sorted
// logits), and a few values worked out by hand; the masks are checked to carry no gradient.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "ima/AttackLoss.h"
#include "ima/Error.h"

namespace AttackLossesGTest {  // this file's names apart from the others' in a unity build

namespace {

using Logits = std::vector<std::vector<double>>;  // [voxel][class]

// Voxels of the 2x2 image in row-major order: (3, 1, 0) label 0 right; (0.5, 2, -1) label 1 right;
// (0, 1, 2) label 1 wrong (predicted 2); (1, 0, 3) label 2 right.
const Logits kImage{{3, 1, 0}, {0.5, 2, -1}, {0, 1, 2}, {1, 0, 3}};
const std::vector<int> kLabels{0, 1, 1, 2};

std::vector<double> softmax(const std::vector<double>& z) {
  double sum = 0;
  for (double v : z) sum += std::exp(v);
  std::vector<double> p;
  for (double v : z) p.push_back(std::exp(v) / sum);
  return p;
}
bool right(const std::vector<double>& z, int y) {
  return std::max_element(z.begin(), z.end()) - z.begin() == y;
}
double ce(const std::vector<double>& z, int y) { return -std::log(softmax(z)[static_cast<size_t>(y)]); }
double klDivergence(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k] > 0) d += a[k] * std::log(a[k] / b[k]);
  return d;
}
double js(const std::vector<double>& z, int y) {
  const std::vector<double> p = softmax(z);
  std::vector<double> e(p.size(), 0.0), m(p.size());
  e[static_cast<size_t>(y)] = 1;
  for (size_t k = 0; k < p.size(); ++k) m[k] = (p[k] + e[k]) / 2;
  return (klDivergence(p, m) + klDivergence(e, m)) / 2;
}
double margin(const std::vector<double>& z, int y) {
  double other = -1e300;
  for (size_t k = 0; k < z.size(); ++k)
    if (static_cast<int>(k) != y) other = std::max(other, z[k]);
  std::vector<double> sorted(z);
  std::sort(sorted.rbegin(), sorted.rend());
  const double scale = z.size() >= 3 ? sorted[0] - sorted[2] + 1e-12 : 1.0;
  return (other - z[static_cast<size_t>(y)]) / scale;
}
double mean(const Logits& z, const std::vector<int>& y, const std::function<double(const std::vector<double>&, int)>& f) {
  double sum = 0;
  for (size_t v = 0; v < z.size(); ++v) sum += f(z[v], y[v]);
  return sum / static_cast<double>(z.size());
}

// [1, K, 2, 2] logits (double, requiring gradients) and [1, 2, 2] labels of a 2x2 image.
torch::Tensor logitsOf(const Logits& z) {
  const int64_t K = static_cast<int64_t>(z[0].size());
  torch::Tensor t = torch::empty({1, K, 2, 2}, torch::kDouble);
  for (int64_t v = 0; v < 4; ++v)
    for (int64_t k = 0; k < K; ++k) t[0][k][v / 2][v % 2] = z[static_cast<size_t>(v)][static_cast<size_t>(k)];
  return t.requires_grad_(true);
}
torch::Tensor labelsOf(const std::vector<int>& y) {
  return torch::tensor({{{y[0], y[1]}, {y[2], y[3]}}}, torch::kLong);
}
double lossOf(ima::AttackLoss loss, const Logits& z = kImage, const std::vector<int>& y = kLabels) {
  return ima::attackLoss(logitsOf(z), labelsOf(y), loss).item<double>();
}

TEST(AttackLosses, CrossEntropyAndTheMaskedVariantsMatchTheDefinitions) {
  EXPECT_NEAR(lossOf(ima::AttackLoss::CrossEntropy), mean(kImage, kLabels, ce), 1e-12);
  const auto masked = [](const std::vector<double>& z, int y) { return right(z, y) ? ce(z, y) : 0.0; };
  EXPECT_NEAR(lossOf(ima::AttackLoss::MaskedCrossEntropy), mean(kImage, kLabels, masked), 1e-12);
  // Classes 0, 1, 2 have 1, 2, 1 voxels; the wrong voxel 2 counts in n_1 but adds nothing.
  const double balanced = (ce(kImage[0], 0) + ce(kImage[1], 1) / 2 + ce(kImage[3], 2)) / 3;
  EXPECT_NEAR(lossOf(ima::AttackLoss::BalancedMaskedCrossEntropy), balanced, 1e-12);
  // A class absent from the label does not enter the class average: labels 0, 0, 0, 2 (voxel 1
  // and 2 wrong: predicted 1 and 2), present classes 0 and 2.
  const std::vector<int> twoClasses{0, 0, 0, 2};
  EXPECT_NEAR(lossOf(ima::AttackLoss::BalancedMaskedCrossEntropy, kImage, twoClasses),
              (ce(kImage[0], 0) / 3 + ce(kImage[3], 2)) / 2, 1e-12);
}

TEST(AttackLosses, JensenShannonMatchesItsTwoKLTerms) {
  EXPECT_NEAR(lossOf(ima::AttackLoss::JensenShannon), mean(kImage, kLabels, js), 1e-12);
  // By hand for logits (ln 3, 0), label 0: p = (3/4, 1/4), r = (7/8, 1/8);
  // JS = [3/4 ln(6/7) + 1/4 ln 2 + ln(8/7)] / 2.
  const Logits pixel(4, {std::log(3.0), 0.0});
  EXPECT_NEAR(lossOf(ima::AttackLoss::JensenShannon, pixel, {0, 0, 0, 0}),
              (0.75 * std::log(6.0 / 7.0) + 0.25 * std::log(2.0) + std::log(8.0 / 7.0)) / 2, 1e-12);
  // Bounds: 0 for a certain right answer, ln 2 for a certain wrong one.
  const Logits certain(4, {60.0, 0.0});
  EXPECT_NEAR(lossOf(ima::AttackLoss::JensenShannon, certain, {0, 0, 0, 0}), 0.0, 1e-12);
  EXPECT_NEAR(lossOf(ima::AttackLoss::JensenShannon, certain, {1, 1, 1, 1}), std::log(2.0), 1e-12);
}

TEST(AttackLosses, MarginIsTheMaskedDlrLikeMargin) {
  // By hand: voxel 0 (1 - 3) / (3 - 0) = -2/3; voxel 1 (0.5 - 2) / (2 + 1) = -1/2; voxel 2 is wrong
  // (0); voxel 3 (1 - 3) / (3 - 0) = -2/3. Mean: -11/24.
  EXPECT_NEAR(lossOf(ima::AttackLoss::Margin), -11.0 / 24.0, 1e-12);
  const auto masked = [](const std::vector<double>& z, int y) { return right(z, y) ? margin(z, y) : 0.0; };
  EXPECT_NEAR(lossOf(ima::AttackLoss::Margin), mean(kImage, kLabels, masked), 1e-12);
  // Two classes: the plain logit margin, -ln 3 for (ln 3, 0) with label 0.
  const Logits pixel(4, {std::log(3.0), 0.0});
  EXPECT_NEAR(lossOf(ima::AttackLoss::Margin, pixel, {0, 0, 0, 0}), -std::log(3.0), 1e-12);
}

TEST(AttackLosses, DiceCrossEntropyIsCrossEntropyPlusOneMinusTheSamplesSoftDice) {
  double dice = 0;
  for (int c = 1; c < 3; ++c) {
    double intersection = 0, predicted = 0, truth = 0;
    for (size_t v = 0; v < 4; ++v) {
      const double p = softmax(kImage[v])[static_cast<size_t>(c)], t = kLabels[v] == c ? 1.0 : 0.0;
      intersection += p * t;
      predicted += p;
      truth += t;
    }
    dice += (2 * intersection + 1e-5) / (predicted + truth + 1e-5) / 2;
  }
  EXPECT_NEAR(lossOf(ima::AttackLoss::DiceCrossEntropy), mean(kImage, kLabels, ce) + 1 - dice, 1e-12);
  EXPECT_NEAR(lossOf(ima::AttackLoss::Auto), lossOf(ima::AttackLoss::DiceCrossEntropy), 0);
}

TEST(AttackLosses, MasksCarryNoGradientAndWrongVoxelsGetNone) {
  for (ima::AttackLoss loss : {ima::AttackLoss::MaskedCrossEntropy, ima::AttackLoss::BalancedMaskedCrossEntropy,
                               ima::AttackLoss::Margin}) {
    const torch::Tensor z = logitsOf(kImage);
    ima::attackLoss(z, labelsOf(kLabels), loss).sum().backward();
    const torch::Tensor g = z.grad();
    EXPECT_TRUE(torch::equal(g.select(2, 1).select(2, 0), torch::zeros({1, 3}, torch::kDouble)))
        << ima::attackLossName(loss) << ": the wrong voxel 2 gets no gradient";
    EXPECT_GT(g.select(2, 0).select(2, 0).abs().sum().item<double>(), 0.0) << ima::attackLossName(loss);
  }
  // Masked CE's gradient at a right voxel is (p - e_y) / 4 (the mean over 4 voxels).
  const torch::Tensor z = logitsOf(kImage);
  ima::attackLoss(z, labelsOf(kLabels), ima::AttackLoss::MaskedCrossEntropy).sum().backward();
  const std::vector<double> p = softmax(kImage[0]);
  for (int64_t k = 0; k < 3; ++k)
    EXPECT_NEAR(z.grad()[0][k][0][0].item<double>(), (p[static_cast<size_t>(k)] - (k == 0 ? 1 : 0)) / 4, 1e-12);
}

TEST(AttackLosses, AreComputedPerSample) {
  const Logits second{{0, 2, 1}, {2, 0, 0}, {0, 0, 4}, {1, 3, 0}};
  const std::vector<int> secondLabels{1, 0, 2, 0};
  const torch::Tensor z = torch::cat({logitsOf(kImage), logitsOf(second)}).detach();
  const torch::Tensor y = torch::cat({labelsOf(kLabels), labelsOf(secondLabels)});
  for (const std::string& name : ima::attackLossNames()) {
    const ima::AttackLoss loss = ima::attackLossNamed(name);
    if (loss == ima::AttackLoss::KL) continue;  // needs reference logits; tested with TRADES
    const torch::Tensor both = ima::attackLoss(z, y, loss);
    ASSERT_EQ(both.sizes(), (std::vector<int64_t>{2})) << name;
    EXPECT_NEAR(both[0].item<double>(), lossOf(loss), 1e-12) << name;
    EXPECT_NEAR(both[1].item<double>(), lossOf(loss, second, secondLabels), 1e-12) << name;
  }
}

TEST(AttackLosses, NamesRoundTripAndBadInputIsAnError) {
  for (const std::string& name : ima::attackLossNames())
    EXPECT_EQ(ima::attackLossName(ima::attackLossNamed(name)), name);
  try {
    ima::attackLossNamed("focal");
    FAIL() << "no error";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'focal'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("masked-ce"), std::string::npos) << e.what();
  }
  // Labels outside [0, K), a target of the wrong shape, one class.
  EXPECT_THROW(lossOf(ima::AttackLoss::JensenShannon, kImage, {0, 1, 3, 0}), ima::Error);
  EXPECT_THROW(ima::attackLoss(logitsOf(kImage), torch::zeros({1, 2}, torch::kLong), ima::AttackLoss::Margin),
               ima::Error);
  EXPECT_THROW(ima::attackLoss(torch::zeros({1, 1, 2, 2}), torch::zeros({1, 2, 2}, torch::kLong),
                               ima::AttackLoss::MaskedCrossEntropy),
               ima::Error);
}

}  // namespace

}  // namespace AttackLossesGTest
