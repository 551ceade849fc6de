#include "ima/GradientMasking.h"

#include <cmath>
#include <iomanip>
#include <locale>
#include <sstream>

namespace ima {
namespace {

std::string number(double value) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << std::setprecision(4) << value;
  return out.str();
}

// The report's own result of `name` at `eps`, or NaN.
double reported(const RobustnessReport& report, const std::string& name, double eps) {
  for (const AttackResult& a : report.attacks)
    if (a.name == name)
      for (const BudgetResult& b : a.budgets)
        if (b.eps == eps) return report.metric(b);
  return std::numeric_limits<double>::quiet_NaN();
}

bool isNoise(const AttackResult& a) { return a.name == "noise"; }
bool isOneStep(const AttackResult& a) { return a.name == "fgsm"; }

}  // namespace

std::vector<MaskingWarning> maskingWarnings(const RobustnessReport& report, const MaskingProbes& probes,
                                            const MaskingThresholds& t) {
  std::vector<MaskingWarning> warnings;
  const std::string metric = report.task == "segmentation" ? "mean Dice" : "accuracy";
  const double eps = probes.eps;
  double oneStep = reported(report, "fgsm", eps), noise = reported(report, "noise", eps);
  if (std::isnan(oneStep)) oneStep = probes.oneStep;
  if (std::isnan(noise)) noise = probes.noise;
  for (const AttackResult& a : report.attacks) {
    if (isNoise(a)) continue;
    const std::vector<double> curve = report.curve(a);
    for (size_t i = 1; i < curve.size(); ++i)
      if (curve[i] > curve[i - 1] + t.tolerance)
        warnings.push_back({"dice-rises-with-budget", a.name, a.budgets[i].eps,
                            a.name + ": " + metric + " rises from " + number(curve[i - 1]) + " at eps " +
                                number(a.budgets[i - 1].eps) + " to " + number(curve[i]) + " at eps " +
                                number(a.budgets[i].eps)});
    const double here = reported(report, a.name, eps);
    if (std::isnan(here)) continue;
    if (!isOneStep(a) && here > oneStep + t.tolerance)
      warnings.push_back({"weaker-than-one-step", a.name, eps,
                          a.name + " leaves " + metric + " " + number(here) + " at eps " + number(eps) +
                              ", more than one FGSM step (" + number(oneStep) + ")"});
    if (here > noise + t.tolerance)
      warnings.push_back({"weaker-than-noise", a.name, eps,
                          a.name + " leaves " + metric + " " + number(here) + " at eps " + number(eps) +
                              ", more than white noise of the same budget (" + number(noise) + ")"});
    if (const auto more = probes.moreSteps.find(a.name);
        more != probes.moreSteps.end() && more->second > here + t.tolerance)
      warnings.push_back({"more-iterations-weaker", a.name, eps,
                          a.name + " with twice the iterations leaves " + metric + " " + number(more->second) +
                              " at eps " + number(eps) + ", more than with its own (" + number(here) + ")"});
    if (const auto large = probes.largeBudget.find(a.name);
        large != probes.largeBudget.end() && large->second > t.largeBudgetMetric)
      warnings.push_back({"large-budget-not-beaten", a.name, probes.largeEps,
                          a.name + " leaves " + metric + " " + number(large->second) + " at the very large eps " +
                              number(probes.largeEps) + " (expected at most " + number(t.largeBudgetMetric) + ")"});
  }
  return warnings;
}

}  // namespace ima
