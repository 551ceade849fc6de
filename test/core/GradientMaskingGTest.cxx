// Gradient-masking checks (ima/GradientMasking.h). Oracles: a hand-made report with hand-picked
// probe values whose failed checks are known; a deliberately masked model (its logits pass through
// a step function, so every input gradient is zero) that the evaluator must flag, beside the same
// model without the step, which must pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>

#include "TestModels.h"
#include "ima/Error.h"
#include "ima/Evaluation.h"
#include "ima/GradientMasking.h"
#include "ima/Normalization.h"
#include "ima/RobustnessReport.h"

namespace GradientMaskingGTest {  // this file's names apart from the others' in a unity build

namespace {

// A per-voxel network on one channel with fixed logits (-2x, 1, 2x): class 0 below -0.5, class 1
// between, class 2 above 0.5 (normalised units). `stepped` rounds the logits: the same decisions
// up to the rounding, but a zero input gradient everywhere.
class ThreeBandNetwork : public ima::Network {
public:
  explicit ThreeBandNetwork(bool stepped) : stepped_(stepped) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    const torch::Tensor logits = torch::cat({-2 * x, torch::ones_like(x), 2 * x}, 1);
    return stepped_ ? torch::round(logits) : logits;
  }
  std::vector<torch::Tensor> parameters() override { return {}; }
  void setTraining(bool t) override { training_ = t; }
  bool isTraining() const override { return training_; }
  void to(const torch::Device&) override {}
  torch::Device device() const override { return torch::kCPU; }
  void saveWeights(std::ostream&) override {}
  void loadWeights(std::istream&) override {}

private:
  bool stepped_;
  bool training_ = false;
};

// A 16x16 ramp (z-scored to about [-1.7, 1.7]) labelled with the network's own clean decisions,
// so the clean Dice is 1 and all three classes are present.
ima::LabelledCase rampCase(ima::Network& net) {
  ima::LabelledCase c{"ramp", ima::Volume(ima::Shape{{16, 16}}, 1), ima::LabelMap(ima::Shape{{16, 16}}, 1)};
  for (size_t i = 0; i < c.image.data.size(); ++i) c.image.data[i] = static_cast<float>(i);
  const ima::Volume normalised = ima::normalize(ima::Normalization{}, c.image);
  const torch::Tensor x = torch::from_blob(const_cast<float*>(normalised.data.data()), {1, 1, 16, 16}).clone();
  const torch::Tensor labels = net.forward(x).argmax(1).to(torch::kByte).contiguous();
  std::copy(labels.data_ptr<uint8_t>(), labels.data_ptr<uint8_t>() + 256, c.labels.data.begin());
  return c;
}

ima::RobustnessReport evaluate(bool stepped) {
  auto net = std::make_shared<ThreeBandNetwork>(stepped);
  const ima::Model model(imatest::tinyUNetMetadata(2), net);
  ima::EvaluationOptions o;
  o.attacks = {"ifgsm"};
  o.norm = ima::Norm::Linf;
  o.budgets = {0, 0.5, 1};
  o.ifgsmSteps = 4;
  o.maskingChecks = true;
  o.runtime.device = "cpu";
  o.runtime.threads = 1;
  return ima::evaluateRobustness(model, {rampCase(*net)}, o);
}

std::set<std::string> checksOf(const ima::RobustnessReport& r) {
  std::set<std::string> checks;
  for (const ima::MaskingWarning& w : r.maskingWarnings) checks.insert(w.check);
  return checks;
}

TEST(GradientMasking, ASteppedModelIsFlaggedAndTheSameModelWithoutTheStepIsNot) {
  const ima::RobustnessReport masked = evaluate(true);
  EXPECT_DOUBLE_EQ(masked.curve(masked.attacks.front()).back(), 1.0) << "no gradient: the attack cannot move";
  const std::set<std::string> flagged = checksOf(masked);
  EXPECT_TRUE(flagged.count("weaker-than-noise")) << ima::toJson(masked);
  EXPECT_TRUE(flagged.count("large-budget-not-beaten")) << ima::toJson(masked);
  for (const ima::MaskingWarning& w : masked.maskingWarnings) EXPECT_EQ(w.attack, "ifgsm");

  const ima::RobustnessReport honest = evaluate(false);
  EXPECT_LT(honest.curve(honest.attacks.front()).back(), 0.9) << "the plain model is beaten";
  EXPECT_TRUE(honest.maskingWarnings.empty()) << ima::toJson(honest);

  // The warnings reach the JSON (and back) and a CSV column on the rows concerned.
  EXPECT_NE(ima::toJson(masked).find("\"masking_warnings\""), std::string::npos);
  EXPECT_EQ(ima::robustnessReportFromJson(ima::toJson(masked)).maskingWarnings.size(), masked.maskingWarnings.size());
  const std::string csv = ima::toCsv(masked);
  EXPECT_NE(csv.substr(0, csv.find('\n')).find(",masking_warnings"), std::string::npos);
  EXPECT_EQ(ima::toCsv(honest).find("masking_warnings"), std::string::npos);
}

// By hand: attack "pgd" with mean Dice 0.9, 0.5, 0.6 at eps 0, 1, 2 (rises by 0.1 at eps 2);
// "fgsm" 0.9, 0.7, 0.4; "noise" 0.9, 0.8, 0.55. At eps 2, pgd's 0.6 is above fgsm's 0.4 and
// noise's 0.55; twice the iterations give 0.65 (> 0.6); at eps 200 pgd leaves 0.3 (> 0.1).
TEST(GradientMasking, ChecksOnAHandMadeReport) {
  ima::RobustnessReport r;
  r.attacked = "patch";
  const auto add = [&](const std::string& name, std::vector<double> dice) {
    for (size_t i = 0; i < dice.size(); ++i) {
      // One label with fp = fn = 100 - tp: Dice = 2tp / (2tp + 200 - 2tp) = tp / 100.
      const int64_t tp = static_cast<int64_t>(dice[i] * 100 + 0.5);
      r.attack(name).budget(static_cast<double>(i)).addCase({{tp, 100 - tp, 100 - tp}});
    }
  };
  add("pgd", {0.9, 0.5, 0.6});
  add("fgsm", {0.9, 0.7, 0.4});
  add("noise", {0.9, 0.8, 0.55});
  ima::MaskingProbes probes;
  probes.eps = 2;
  probes.moreSteps["pgd"] = 0.65;
  probes.largeEps = 200;
  probes.largeBudget["pgd"] = 0.3;
  const std::vector<ima::MaskingWarning> w = ima::maskingWarnings(r, probes);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& x : w) got.emplace_back(x.attack, x.check);
  const std::vector<std::pair<std::string, std::string>> expected{
      {"pgd", "dice-rises-with-budget"}, {"pgd", "weaker-than-one-step"}, {"pgd", "weaker-than-noise"},
      {"pgd", "more-iterations-weaker"}, {"pgd", "large-budget-not-beaten"}};
  EXPECT_EQ(got, expected);
  EXPECT_EQ(w[0].eps, 2.0);
  EXPECT_EQ(w[4].eps, 200.0);
  EXPECT_NE(w[0].message.find("0.5"), std::string::npos) << w[0].message;
  EXPECT_NE(w[0].message.find("0.6"), std::string::npos) << w[0].message;

  // Within the tolerance nothing is flagged; fgsm beats noise here, so fgsm passes.
  probes.moreSteps["pgd"] = 0.405;
  probes.largeBudget["pgd"] = 0.1;
  r.attack("pgd").budgets[2] = ima::BudgetResult(2);
  r.attack("pgd").budgets[2].addCase({{40, 60, 60}});  // 0.4: no rise, not above fgsm or noise
  EXPECT_TRUE(ima::maskingWarnings(r, probes).empty());
}

}  // namespace

}  // namespace GradientMaskingGTest
