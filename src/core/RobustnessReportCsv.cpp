// The robustness report as a CSV table (docs/evaluation.md, "CSV"): one row per attack and budget.
#include "ima/RobustnessReport.h"

#include <algorithm>
#include <sstream>
#include <string>

#include "internal/ReportText.h"

namespace ima {
namespace {

std::string csvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

std::string toCsv(const RobustnessReport& report) {
  report.validate();
  const bool seg = segmentation(report);
  // The column naming each case's worst member (separated by ';') appears only with an ensemble.
  const bool ensembles =
      std::any_of(report.attacks.begin(), report.attacks.end(), [](const AttackResult& a) { return !a.members.empty(); });
  // Likewise the column of gradient-masking warnings, on the row of the attack and budget concerned.
  const bool warned = !report.maskingWarnings.empty();
  const auto warningsAt = [&](const AttackResult& a, const BudgetResult& b) {
    std::string text;
    for (const MaskingWarning& w : report.maskingWarnings)
      // A warning beyond the attack's budgets (the very large budget) goes on its last row.
      if (w.attack == a.name && (w.eps == b.eps || (&b == &a.budgets.back() && w.eps > b.eps)))
        text += (text.empty() ? "" : " | ") + w.message;
    return csvField(text);
  };
  std::ostringstream out;
  out << "attack,norm,attacked,eps," << (seg ? "cases" : "samples");
  if (seg) {
    for (const auto& name : report.labels()) out << ',' << csvField("dice_" + name);
    out << ",mean_voxel_dice,mean_case_dice,auc_mean_voxel_dice,auc_mean_case_dice"
        << (ensembles ? ",worst_attack_per_case" : "") << (warned ? ",masking_warnings" : "") << '\n';
  } else {
    out << ",accuracy,auc_accuracy" << (warned ? ",masking_warnings" : "") << '\n';
  }
  for (const auto& a : report.attacks) {
    const std::string auc = fixed(report.auc(a), 6);
    std::string aucCase;
    if (seg) {
      std::vector<double> caseCurve;
      for (const auto& b : a.budgets) caseCurve.push_back(b.meanCaseDice());
      aucCase = fixed(robustnessAUC(a.epsilons(), caseCurve), 6);
    }
    for (const auto& b : a.budgets) {
      out << csvField(a.name) << ',' << normName(report.norm) << ',' << report.attacked << ',' << general(b.eps, 10) << ',';
      if (seg) {
        out << b.caseDice.size();
        for (double d : b.classDice()) out << ',' << fixed(d, 6);
        out << ',' << fixed(b.meanVoxelDice(), 6) << ',' << fixed(b.meanCaseDice(), 6) << ',' << auc << ','
            << aucCase;
        if (ensembles) {
          std::string worst;
          for (const std::string& w : b.caseWorstAttack) worst += (worst.empty() ? "" : ";") + w;
          out << ',' << csvField(worst);
        }
        if (warned) out << ',' << warningsAt(a, b);
        out << '\n';
      } else {
        out << b.samples << ',' << fixed(b.accuracy(), 6) << ',' << auc;
        if (warned) out << ',' << warningsAt(a, b);
        out << '\n';
      }
    }
  }
  return out.str();
}

}  // namespace ima
