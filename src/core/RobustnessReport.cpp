// The robustness report's model (ima/RobustnessReport.h): results per attack and budget, their
// metric and AUC, validation, and combining reports. Its forms are RobustnessReportJson.cpp,
// RobustnessReportCsv.cpp and RobustnessPlot.cpp; files, RobustnessReportFiles.cpp.
#include "ima/RobustnessReport.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "ima/Error.h"
#include "internal/ReportText.h"

namespace ima {
namespace {

std::string where(const AttackResult& attack, const BudgetResult& budget) {
  return "attack '" + attack.name + "' at eps " + general(budget.eps);
}


const AttackResult* findAttack(const RobustnessReport& report, const std::string& name) {
  for (const auto& a : report.attacks)
    if (a.name == name) return &a;
  return nullptr;
}

// An ensemble's members exist, share its budgets and case count, and name each case's worst.
void validateEnsemble(const RobustnessReport& report, const AttackResult& a) {
  const std::string which = "robustness report: ensemble '" + a.name + "'";
  if (a.members.empty()) {
    for (const auto& b : a.budgets)
      if (!b.caseWorstAttack.empty()) throw Error("robustness report: " + where(a, b) + " names worst attacks but has no members");
    return;
  }
  if (!segmentation(report)) throw Error(which + ": ensembles are for segmentation reports");
  for (const std::string& m : a.members) {
    const AttackResult* member = findAttack(report, m);
    if (!member || member == &a) throw Error(which + ": member '" + m + "' is not an attack of the report");
    if (member->epsilons() != a.epsilons()) throw Error(which + ": member '" + m + "' has other budgets");
    for (size_t i = 0; i < a.budgets.size(); ++i)
      if (member->budgets[i].caseDice.size() != a.budgets[i].caseDice.size())
        throw Error(which + ": member '" + m + "' has another number of cases");
  }
  for (const auto& b : a.budgets) {
    if (b.caseWorstAttack.size() != b.caseDice.size())
      throw Error("robustness report: " + where(a, b) + " names the worst attack of " +
                  std::to_string(b.caseWorstAttack.size()) + " of " + std::to_string(b.caseDice.size()) + " cases");
    for (const std::string& w : b.caseWorstAttack)
      if (std::find(a.members.begin(), a.members.end(), w) == a.members.end())
        throw Error("robustness report: " + where(a, b) + " names '" + w + "', which is not one of its members");
  }
}

}  // namespace

double robustnessAUC(const std::vector<double>& budgets, const std::vector<double>& metric) {
  if (budgets.size() != metric.size())
    throw Error("robustness AUC: " + std::to_string(budgets.size()) + " budgets but " +
                std::to_string(metric.size()) + " metric values");
  if (budgets.empty()) throw Error("robustness AUC: no budgets");
  for (size_t i = 0; i < budgets.size(); ++i) {
    if (!std::isfinite(budgets[i]) || !std::isfinite(metric[i]))
      throw Error("robustness AUC: budget or metric " + std::to_string(i) + " is not finite");
    if (i > 0 && !(budgets[i] > budgets[i - 1]))
      throw Error("robustness AUC: budgets must be strictly ascending, got " + general(budgets[i]) +
                  " after " + general(budgets[i - 1]));
  }
  if (budgets.front() != 0.0)
    throw Error("robustness AUC: budgets must start at 0 (the clean point), got " + general(budgets.front()));
  if (budgets.size() == 1) return metric.front();
  double area = 0;
  for (size_t i = 1; i < budgets.size(); ++i)
    area += 0.5 * (metric[i] + metric[i - 1]) * (budgets[i] - budgets[i - 1]);
  return area / budgets.back();
}

// ---- BudgetResult ----------------------------------------------------------------------------

void BudgetResult::addCase(const std::vector<OverlapCounts>& counts) {
  if (counts.empty()) throw Error("a segmentation case needs counts for at least one label");
  if (!classCounts.empty() && classCounts.size() != counts.size())
    throw Error("case with " + std::to_string(counts.size()) + " labels added to results over " +
                std::to_string(classCounts.size()) + " labels");
  if (classCounts.empty()) classCounts.resize(counts.size());
  double sum = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    classCounts[c].tp += counts[c].tp;
    classCounts[c].fp += counts[c].fp;
    classCounts[c].fn += counts[c].fn;
    sum += counts[c].dice();
  }
  caseDice.push_back(sum / static_cast<double>(counts.size()));
}

void BudgetResult::addPrediction(bool cleanCorrect, bool attackedCorrect) {
  ++samples;
  if (cleanCorrect && attackedCorrect) ++correct;
}

std::vector<double> BudgetResult::classDice() const {
  std::vector<double> dice;
  dice.reserve(classCounts.size());
  for (const auto& c : classCounts) dice.push_back(c.dice());
  return dice;
}

double BudgetResult::meanVoxelDice() const {
  if (classCounts.empty()) throw Error("no segmentation results at eps " + general(eps));
  double sum = 0;
  for (const auto& c : classCounts) sum += c.dice();
  return sum / static_cast<double>(classCounts.size());
}

double BudgetResult::meanCaseDice() const {
  if (caseDice.empty()) throw Error("no segmentation cases at eps " + general(eps));
  double sum = 0;
  for (double d : caseDice) sum += d;
  return sum / static_cast<double>(caseDice.size());
}

double BudgetResult::accuracy() const {
  if (samples <= 0) throw Error("no classification samples at eps " + general(eps));
  return static_cast<double>(correct) / static_cast<double>(samples);
}

// ---- AttackResult / RobustnessReport ---------------------------------------------------------

BudgetResult& AttackResult::budget(double eps) {
  auto it = std::lower_bound(budgets.begin(), budgets.end(), eps,
                             [](const BudgetResult& b, double e) { return b.eps < e; });
  if (it != budgets.end() && it->eps == eps) return *it;
  return *budgets.insert(it, BudgetResult(eps));
}

std::vector<double> AttackResult::epsilons() const {
  std::vector<double> eps;
  eps.reserve(budgets.size());
  for (const auto& b : budgets) eps.push_back(b.eps);
  return eps;
}

AttackResult& RobustnessReport::attack(const std::string& name) {
  for (auto& a : attacks)
    if (a.name == name) return a;
  attacks.push_back(AttackResult{name, "", {}});
  return attacks.back();
}

void RobustnessReport::validate() const {
  if (task != "segmentation" && task != "classification")
    throw Error("robustness report: task must be 'segmentation' or 'classification', got '" + task + "'");
  if (segmentation(*this) && attacked != "patch" && attacked != "volume")
    throw Error("robustness report: a segmentation attack perturbs a 'patch' or a 'volume', got '" +
                attacked + "'");
  if (!segmentation(*this) && attacked != "image")
    throw Error("robustness report: a classification attack perturbs the 'image', got '" + attacked + "'");
  if (attacks.empty()) throw Error("robustness report: no attacks");
  std::set<std::string> names;
  size_t labelCount = labelNames.size();
  for (const auto& a : attacks) {
    if (a.name.empty()) throw Error("robustness report: an attack has no name");
    if (!names.insert(a.name).second) throw Error("robustness report: attack '" + a.name + "' appears twice");
    if (a.budgets.empty()) throw Error("robustness report: attack '" + a.name + "' has no budgets");
    if (a.budgets.front().eps != 0.0)
      throw Error("robustness report: attack '" + a.name + "' must start at budget 0 (the clean point), got " +
                  general(a.budgets.front().eps));
    for (size_t i = 0; i < a.budgets.size(); ++i) {
      const BudgetResult& b = a.budgets[i];
      if (!std::isfinite(b.eps) || (i > 0 && !(b.eps > a.budgets[i - 1].eps)))
        throw Error("robustness report: attack '" + a.name + "': budgets must be finite and strictly ascending, got " +
                    general(b.eps) + (i > 0 ? " after " + general(a.budgets[i - 1].eps) : std::string()));
      if (segmentation(*this)) {
        if (b.classCounts.empty() || b.caseDice.empty())
          throw Error("robustness report: " + where(a, b) + " has no segmentation cases");
        if (labelCount == 0) labelCount = b.classCounts.size();
        if (b.classCounts.size() != labelCount)
          throw Error("robustness report: " + where(a, b) + " has " + std::to_string(b.classCounts.size()) +
                      " labels, expected " + std::to_string(labelCount));
        for (const auto& c : b.classCounts)
          if (c.tp < 0 || c.fp < 0 || c.fn < 0)
            throw Error("robustness report: " + where(a, b) + " has negative overlap counts");
        for (double d : b.caseDice)
          if (!(d >= 0 && d <= 1)) throw Error("robustness report: " + where(a, b) + " has a case Dice outside [0, 1]");
      } else if (b.samples <= 0 || b.correct < 0 || b.correct > b.samples) {
        throw Error("robustness report: " + where(a, b) + " has " + std::to_string(b.correct) + " correct of " +
                    std::to_string(b.samples) + " samples");
      }
    }
  }
  for (const auto& a : attacks) validateEnsemble(*this, a);
}

std::string RobustnessReport::metricName() const { return segmentation(*this) ? "mean_voxel_dice" : "accuracy"; }

double RobustnessReport::metric(const BudgetResult& result) const {
  return segmentation(*this) ? result.meanVoxelDice() : result.accuracy();
}

std::vector<double> RobustnessReport::curve(const AttackResult& attack) const {
  std::vector<double> values;
  values.reserve(attack.budgets.size());
  for (const auto& b : attack.budgets) values.push_back(metric(b));
  return values;
}

double RobustnessReport::auc(const AttackResult& attack) const { return robustnessAUC(attack.epsilons(), curve(attack)); }

std::vector<std::string> RobustnessReport::labels() const {
  if (!labelNames.empty()) return labelNames;
  std::vector<std::string> names;
  if (!attacks.empty() && !attacks.front().budgets.empty())
    for (size_t c = 0; c < attacks.front().budgets.front().classCounts.size(); ++c)
      names.push_back("label" + std::to_string(c + 1));
  return names;
}

std::vector<double> evaluationBudgets(std::vector<double> budgets) {
  for (double b : budgets)
    if (!(b >= 0) || !std::isfinite(b)) throw Error("budgets must be finite and >= 0, got " + std::to_string(b));
  budgets.push_back(0);
  std::sort(budgets.begin(), budgets.end());
  budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
  return budgets;
}

RobustnessReport combineReports(const std::vector<RobustnessReport>& reports, const std::vector<std::string>& names) {
  if (reports.empty()) throw Error("combining reports: no reports given");
  if (names.size() != reports.size())
    throw Error("combining reports: " + std::to_string(reports.size()) + " reports but " + std::to_string(names.size()) +
                " names");
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) throw Error("combining reports: report " + std::to_string(i + 1) + " has an empty name");
    for (size_t k = 0; k < i; ++k)
      if (names[k] == names[i]) throw Error("combining reports: the name '" + names[i] + "' is given twice");
  }
  const RobustnessReport& first = reports.front();
  RobustnessReport combined;
  combined.task = first.task;
  combined.attacked = first.attacked;
  combined.norm = first.norm;
  combined.labelNames = first.labelNames;
  combined.data = first.data;
  for (size_t i = 0; i < reports.size(); ++i) {
    const RobustnessReport& r = reports[i];
    const std::string which = "combining reports: '" + names[i] + "'";
    r.validate();
    if (r.task != first.task || r.attacked != first.attacked || r.norm != first.norm)
      throw Error(which + " is a " + r.task + " report (" + r.attacked + ", " + normName(r.norm) + ") but '" + names[0] +
                  "' is " + first.task + " (" + first.attacked + ", " + normName(first.norm) + ")");
    if (r.labels() != first.labels()) throw Error(which + " has other labels than '" + names[0] + "'");
    for (const AttackResult& a : r.attacks) {
      for (size_t k = 0; k < i; ++k)
        for (const AttackResult& earlier : reports[k].attacks)
          if (earlier.name == a.name && earlier.epsilons() != a.epsilons())
            throw Error(which + ": attack " + a.name + " has other budgets than in '" + names[k] +
                        "'; robustness AUCs are comparable only over the same budgets");
      AttackResult renamed = a;
      renamed.name = names[i] + " " + a.name;
      for (std::string& m : renamed.members) m = names[i] + " " + m;
      for (BudgetResult& b : renamed.budgets)
        for (std::string& w : b.caseWorstAttack) w = names[i] + " " + w;
      combined.attacks.push_back(std::move(renamed));
    }
    for (MaskingWarning w : r.maskingWarnings) {
      w.attack = names[i] + " " + w.attack;
      combined.maskingWarnings.push_back(std::move(w));
    }
    combined.title += (i == 0 ? "" : " vs ") + names[i];
  }
  combined.title += ": " + std::string(combined.task == "segmentation" ? "mean Dice" : "accuracy") + " against budget";
  combined.validate();
  return combined;
}

}  // namespace ima
