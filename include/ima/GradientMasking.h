// Gradient-masking checks of a robustness evaluation (docs/evaluation.md "Gradient-masking
// checks"), after the checklist of Carlini et al. 2019 ("On evaluating adversarial robustness"):
// a model whose gradients hide its weaknesses looks robust to gradient attacks only. Each failed
// check is a warning in the report (JSON, CSV, screen), not an error. No torch: the evaluator
// measures the probes and the checks compare numbers.
#pragma once
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "ima/RobustnessReport.h"

namespace ima {

// Headline metrics the evaluator measured beside the report's attacks, at its largest budget
// `eps` (NaN or absent: not measured, the check is skipped).
struct MaskingProbes {
  double eps = 0;
  double oneStep = std::numeric_limits<double>::quiet_NaN();  // FGSM at eps
  double noise = std::numeric_limits<double>::quiet_NaN();    // white noise of norm eps
  std::map<std::string, double> moreSteps;    // attack name -> metric with twice its iterations at eps
  double largeEps = 0;                        // a budget far beyond the evaluated ones
  std::map<std::string, double> largeBudget;  // attack name -> metric at largeEps
};

struct MaskingThresholds {
  double tolerance = 0.01;          // metric differences up to this are noise, not a failed check
  double largeBudgetMetric = 0.1;   // at the very large budget the metric must fall to this or below
};

// The failed checks, in this order per attack:
//   dice-rises-with-budget   the metric at a budget exceeds the one at the next smaller budget;
//   weaker-than-one-step     an iterative attack leaves a higher metric than FGSM at eps (the
//                            report's own fgsm results, else probes.oneStep);
//   weaker-than-noise        a gradient attack leaves a higher metric than white noise at eps;
//   more-iterations-weaker   twice the iterations leave a higher metric;
//   large-budget-not-beaten  at probes.largeEps the metric stays above largeBudgetMetric.
// White noise itself is checked by none of them.
std::vector<MaskingWarning> maskingWarnings(const RobustnessReport& report, const MaskingProbes& probes,
                                            const MaskingThresholds& thresholds = {});

}  // namespace ima
