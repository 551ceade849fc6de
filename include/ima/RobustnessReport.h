// Robustness evaluation results (docs/architecture.md §6): metrics per attack and budget, the robustness
// AUC, and the report files: JSON for machines, CSV for tables, an SVG plot for people.
// No torch: the evaluator runs the attacks and feeds counts in here. Budgets (eps) are in
// normalised intensity units (docs/architecture.md §3), measured in the report's norm.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ima/Metrics.h"
#include "ima/Norm.h"

namespace ima {

// Area under metric(eps) by the trapezoid rule, divided by the largest budget: the average of
// the metric over [0, max eps], so 1 for a model the attack never hurts (metric 1 throughout).
// `budgets` must start at 0 (the clean point) and be strictly ascending, one metric value per
// budget, all finite; anything else throws ima::Error. A single budget {0} gives metric[0].
// Example: budgets {0, 1, 2}, metric {1, 0.5, 0.5} -> ((1+0.5)/2 + (0.5+0.5)/2) / 2 = 0.625.
double robustnessAUC(const std::vector<double>& budgets, const std::vector<double>& metric);

// The outcome of one attack at one budget, accumulated over the test set.
struct BudgetResult {
  double eps = 0;  // budget, normalised intensity units, in the report's norm; 0 = clean

  // Segmentation. Overlap counts of labels 1..K-1 summed over all cases (index 0 = label 1), and
  // each case's mean foreground Dice in the order the cases were added.
  std::vector<OverlapCounts> classCounts;
  std::vector<double> caseDice;
  // Ensembles only (AttackResult::members not empty): per case, in caseDice's order, the name of
  // the member attack whose result the ensemble kept (the member with that case's lowest Dice).
  std::vector<std::string> caseWorstAttack;

  // Classification: samples classified correctly both clean and under this attack (a clean
  // mistake counts as an error at every budget), out of `samples`.
  int64_t correct = 0, samples = 0;

  BudgetResult() = default;
  explicit BudgetResult(double budget) : eps(budget) {}

  // Adds one segmentation case: its per-label counts (from overlapCounts) are summed into
  // classCounts and its mean foreground Dice (OverlapCounts::dice, empty vs empty = 1) is
  // appended to caseDice. Every case must have the same number of labels.
  void addCase(const std::vector<OverlapCounts>& counts);
  // Adds one classification sample.
  void addPrediction(bool cleanCorrect, bool attackedCorrect);

  std::vector<double> classDice() const;  // voxel Dice per label from the summed counts
  double meanVoxelDice() const;           // mean of classDice() over labels 1..K-1
  double meanCaseDice() const;            // mean of caseDice
  double accuracy() const;                // correct / samples
};

// One attack (with its settings) evaluated at a list of budgets.
struct AttackResult {
  std::string name;         // label in the legend and the CSV, e.g. "pgd-20"; unique per report
  std::string description;  // optional settings, e.g. "PGD, 20 steps, step 4*eps/20, 3 restarts"
  std::vector<BudgetResult> budgets;  // strictly ascending eps, starting at 0
  // An ensemble's member attacks (each also in the report, with the same budgets); empty for a
  // single attack. Per case and budget the ensemble keeps its worst member's result.
  std::vector<std::string> members;

  // The result at `eps`, added (keeping budgets sorted) when missing. Like a vector element,
  // the reference is invalidated when another budget is added.
  BudgetResult& budget(double eps);
  std::vector<double> epsilons() const;
};

// A sign that an attack's gradients may be masked (the checklist of Carlini et al. 2019, "On
// evaluating adversarial robustness"); found by ima::maskingWarnings (ima/GradientMasking.h).
struct MaskingWarning {
  std::string check;    // "dice-rises-with-budget" | "weaker-than-one-step" | "weaker-than-noise" |
                        // "more-iterations-weaker" | "large-budget-not-beaten"
  std::string attack;   // the attack concerned
  double eps = 0;       // the budget concerned
  std::string message;  // one sentence with the numbers
};

// A whole evaluation: one model, one test set, one norm, several attacks.
struct RobustnessReport {
  std::string title;                  // plot title; empty: derived from the task
  std::string task = "segmentation";  // "segmentation" | "classification"
  // What the attack perturbs and the metric is computed on. Segmentation: "patch" (the
  // network's forward on training-size patches) or "volume" (the full sliding-window
  // inference over each case). Classification: "image" (the whole input).
  std::string attacked = "volume";
  Norm norm = Norm::L2;
  std::string model;                     // optional provenance: model file or name
  std::string data;                      // optional provenance: test set
  std::vector<std::string> labelNames;   // segmentation: names of labels 1..K-1; empty: "label1", ...
  std::vector<AttackResult> attacks;
  std::vector<MaskingWarning> maskingWarnings;  // empty: no check failed

  // The attack called `name`, added when missing (the reference is invalidated when another
  // attack is added).
  AttackResult& attack(const std::string& name);

  // Throws ima::Error naming the attack, budget and problem when the report is inconsistent:
  // unknown task/attacked/norm, no attacks, duplicate names, budgets not starting at 0 or not
  // strictly ascending, a budget without cases/samples, label counts that differ, an ensemble
  // whose members are missing, have other budgets or cases, or do not name each case's worst.
  void validate() const;

  // The headline metric plotted and summarised by the AUC: mean voxel Dice (segmentation) or
  // accuracy (classification).
  std::string metricName() const;  // "mean_voxel_dice" | "accuracy"
  double metric(const BudgetResult& result) const;
  std::vector<double> curve(const AttackResult& attack) const;  // metric per budget
  double auc(const AttackResult& attack) const;                 // robustnessAUC of curve()
  std::vector<std::string> labels() const;  // labelNames, or "label1".. when not given
};

// JSON (format "ima-robustness-report", version 1; fields in docs/evaluation.md). Holds the raw
// counts, so robustnessReportFromJson(toJson(r)) gives back an equal report.
std::string toJson(const RobustnessReport& report);
RobustnessReport robustnessReportFromJson(const std::string& json);

// The budget list of an evaluation: sorted, without repeats, with the clean budget 0 added.
// ima::Error for a negative or non-finite budget.
std::vector<double> evaluationBudgets(std::vector<double> budgets);

// Reads a JSON report file; ima::Error names the file when it is missing or not a report.
RobustnessReport readRobustnessReport(const std::string& path);

// Several models' reports as one, for a side-by-side table and one plot: every attack is renamed
// "<name> <attack>" (names[i] for reports[i]). The reports must agree on task, what was attacked,
// norm and labels, and attacks of the same name must use the same budgets (otherwise their AUCs
// are not comparable); ima::Error names the report and the difference.
RobustnessReport combineReports(const std::vector<RobustnessReport>& reports, const std::vector<std::string>& names);

// CSV: a header, then one row per attack x budget (columns in docs/evaluation.md); the
// attack's AUC is repeated on each of its rows.
std::string toCsv(const RobustnessReport& report);

// A self-contained SVG line plot of metric() against eps, one line with markers per attack,
// legend with each attack's AUC.
std::string toSvgPlot(const RobustnessReport& report);

// Writes the non-empty paths, each through a temporary file in its own folder renamed into
// place, so a failure leaves no partial file; when one write fails, the files this call created
// are removed again. All texts are produced before anything is written. Existing files are replaced: refusing to overwrite is the caller's decision
// (the CLI's --force).
void writeReportFiles(const RobustnessReport& report, const std::string& jsonPath, const std::string& csvPath,
                      const std::string& svgPath);

}  // namespace ima
