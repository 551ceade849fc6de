// The strong ensemble of the robustness evaluation (ima/Evaluation.h, docs/evaluation.md). Oracle:
// every member run again on its own (`--attack apgd-js`, ...), and per case and budget the minimum
// of those Dice values, taken here; the ensemble's counts equal its worst member's on one case.
// The report's JSON and CSV carry the members and each case's worst member.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <memory>
#include <sstream>

#include "TestModels.h"
#include "ima/Error.h"
#include "ima/Evaluation.h"
#include "ima/Normalization.h"
#include "ima/RobustnessReport.h"

namespace EvaluationEnsembleGTest {  // this file's names apart from the others' in a unity build

namespace {

const std::vector<std::string> kMembers{"apgd-masked-ce", "apgd-balanced-ce", "apgd-js",
                                        "apgd-margin",    "apgd-dicece",      "pgd"};

// A per-voxel network behind a 2D model with 16x16 patches and 3 classes: cheap to attack.
std::shared_ptr<imatest::PointwiseNetwork> network() { return std::make_shared<imatest::PointwiseNetwork>(2, 1, 3); }
ima::Model pointwiseModel() { return ima::Model(imatest::tinyUNetMetadata(2), network()); }

// A 20x16 random image (two overlapping tiles along x) labelled with the network's own clean
// decisions, so that the clean Dice is 1 and every attack that works lowers it.
ima::LabelledCase makeCase(const std::string& id, uint64_t seed) {
  ima::LabelledCase c{id, imatest::randomVolume({20, 16}, 1, seed), ima::LabelMap(ima::Shape{{20, 16}}, 1)};
  const ima::Volume normalised = ima::normalize(ima::Normalization{}, c.image);
  const torch::Tensor x = torch::from_blob(const_cast<float*>(normalised.data.data()), {1, 1, 16, 20}).clone();
  const torch::Tensor labels = network()->forward(x).argmax(1).to(torch::kByte).contiguous();
  std::copy(labels.data_ptr<uint8_t>(), labels.data_ptr<uint8_t>() + 320, c.labels.data.begin());
  return c;
}

ima::EvaluationOptions options(const std::vector<std::string>& attacks, int restarts) {
  ima::EvaluationOptions o;
  o.attacks = attacks;
  o.norm = ima::Norm::L2;
  o.budgets = {0, 1, 3};
  o.apgdSteps = 5;
  o.pgdSteps = 3;
  o.restarts = restarts;
  o.seed = 7;
  o.runtime.device = "cpu";
  o.runtime.threads = 1;
  return o;
}

const ima::AttackResult& attackNamed(const ima::RobustnessReport& r, const std::string& name) {
  for (const auto& a : r.attacks)
    if (a.name == name) return a;
  throw std::runtime_error("no attack " + name);
}

TEST(StrongEnsemble, KeepsPerCaseAndBudgetTheLowestDiceOfItsMembersRunAlone) {
  const ima::Model model = pointwiseModel();
  const std::vector<ima::LabelledCase> cases{makeCase("a", 1), makeCase("b", 2)};
  const ima::RobustnessReport strong = ima::evaluateRobustness(model, cases, options({"strong"}, 1));
  ASSERT_EQ(strong.attacks.size(), 1u + kMembers.size());
  const ima::AttackResult& ensemble = strong.attacks.front();
  EXPECT_EQ(ensemble.name, "strong");
  std::vector<std::string> expectedMembers;
  for (const std::string& m : kMembers) expectedMembers.push_back("strong:" + m);
  EXPECT_EQ(ensemble.members, expectedMembers);

  // Each member alone (strong's PGD takes at least 3 restarts) gives the member's entry.
  std::map<std::string, ima::AttackResult> alone;
  for (const std::string& m : kMembers) {
    const ima::RobustnessReport r = ima::evaluateRobustness(model, cases, options({m}, m == "pgd" ? 3 : 1));
    alone[m] = r.attacks.at(0);
    const ima::AttackResult& inEnsemble = attackNamed(strong, "strong:" + m);
    for (size_t b = 0; b < inEnsemble.budgets.size(); ++b)
      EXPECT_EQ(inEnsemble.budgets[b].caseDice, alone[m].budgets[b].caseDice) << m << " budget " << b;
  }
  EXPECT_EQ(ensemble.budgets[0].caseDice, (std::vector<double>{1.0, 1.0})) << "clean: the labels are the prediction";
  bool attackHurts = false;
  for (size_t b = 0; b < ensemble.budgets.size(); ++b) {
    const ima::BudgetResult& e = ensemble.budgets[b];
    ASSERT_EQ(e.caseDice.size(), 2u);
    ASSERT_EQ(e.caseWorstAttack.size(), 2u);
    for (size_t c = 0; c < 2; ++c) {
      double lowest = 2;
      std::string first;
      for (const std::string& m : kMembers)
        if (alone[m].budgets[b].caseDice[c] < lowest) {
          lowest = alone[m].budgets[b].caseDice[c];
          first = "strong:" + m;
        }
      EXPECT_EQ(e.caseDice[c], lowest) << "budget " << b << " case " << c;
      EXPECT_EQ(e.caseWorstAttack[c], first) << "budget " << b << " case " << c;
      if (b > 0 && lowest < 1) attackHurts = true;
    }
  }
  EXPECT_TRUE(attackHurts) << "the example must be one the attacks change";
}

TEST(StrongEnsemble, OnOneCaseItsCountsAreTheWorstMembersCounts) {
  const ima::Model model = pointwiseModel();
  const ima::RobustnessReport r = ima::evaluateRobustness(model, {makeCase("a", 3)}, options({"strong"}, 1));
  const ima::AttackResult& ensemble = r.attacks.front();
  for (size_t i = 0; i < ensemble.budgets.size(); ++i) {
    const ima::BudgetResult& b = ensemble.budgets[i];
    const ima::BudgetResult& worst = attackNamed(r, b.caseWorstAttack.at(0)).budgets.at(i);
    ASSERT_EQ(b.classCounts.size(), worst.classCounts.size());
    for (size_t k = 0; k < b.classCounts.size(); ++k) {
      EXPECT_EQ(b.classCounts[k].tp, worst.classCounts[k].tp);
      EXPECT_EQ(b.classCounts[k].fp, worst.classCounts[k].fp);
      EXPECT_EQ(b.classCounts[k].fn, worst.classCounts[k].fn);
    }
  }
}

TEST(StrongEnsemble, ReportsCarryMembersAndWorstAttacksThroughJsonAndCsv) {
  const ima::Model model = pointwiseModel();
  ima::EvaluationOptions o = options({"strong", "noise"}, 1);
  o.budgets = {1};
  const ima::RobustnessReport r = ima::evaluateRobustness(model, {makeCase("a", 4), makeCase("b", 5)}, o);
  const std::string json = ima::toJson(r);
  const ima::RobustnessReport back = ima::robustnessReportFromJson(json);
  EXPECT_EQ(ima::toJson(back), json);
  EXPECT_EQ(back.attacks.front().members, r.attacks.front().members);
  EXPECT_EQ(back.attacks.front().budgets[1].caseWorstAttack, r.attacks.front().budgets[1].caseWorstAttack);

  // CSV: a last column with each case's worst member on the ensemble's rows, empty elsewhere.
  std::istringstream csv(ima::toCsv(r));
  std::string header, row;
  std::getline(csv, header);
  EXPECT_EQ(header.substr(header.rfind(',') + 1), "worst_attack_per_case");
  std::getline(csv, row);  // strong, eps 0
  std::getline(csv, row);  // strong, eps 1
  const std::vector<std::string>& worst = r.attacks.front().budgets[1].caseWorstAttack;
  EXPECT_EQ(row.substr(row.rfind(',') + 1), worst[0] + ";" + worst[1]);
  std::string last;
  while (std::getline(csv, row)) last = row;  // noise, eps 1
  EXPECT_EQ(last.substr(0, 6), "noise,");
  EXPECT_EQ(last.back(), ',');

  // An ensemble naming a member the report lacks, or a worst attack outside its members, is refused.
  ima::RobustnessReport broken = r;
  broken.attacks.front().members.push_back("strong:missing");
  EXPECT_THROW(broken.validate(), ima::Error);
  broken = r;
  broken.attacks.front().budgets[1].caseWorstAttack[0] = "noise";
  EXPECT_THROW(broken.validate(), ima::Error);
}

TEST(StrongEnsemble, UnknownAttacksAndSingleImagesOfTheEnsembleAreErrors) {
  const ima::Model model = pointwiseModel();
  EXPECT_THROW(ima::evaluateRobustness(model, {makeCase("a", 1)}, options({"strongest"}, 1)), ima::Error);
  EXPECT_THROW(ima::checkEvaluationAttack("apgd-kl"), ima::Error);
  EXPECT_NO_THROW(ima::checkEvaluationAttack("apgd-margin"));
  EXPECT_THROW(ima::adversarialVolume(model, makeCase("a", 1), "strong", 1.0, options({}, 1)), ima::Error);
}

}  // namespace

}  // namespace EvaluationEnsembleGTest
