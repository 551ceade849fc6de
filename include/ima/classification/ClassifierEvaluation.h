// Robustness evaluation of an image classifier (logits [N, K], docs/architecture.md §6): accuracy under
// each attack at each budget, on whole images ("attacked": "image"). Budgets are in the units of
// the images (e.g. [0, 1] pixels), measured in the report's norm.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ima/classification/IdxReader.h"
#include "ima/Network.h"
#include "ima/RobustnessReport.h"

namespace ima {

struct ClassifierEvaluationOptions {
  std::vector<std::string> attacks{"pgd", "ifgsm"};  // fgsm | ifgsm | pgd | noise
  Norm norm = Norm::L2;
  std::vector<double> budgets{0, 0.5, 1, 2};  // same units as the images; 0 (clean) added if missing
  int pgdSteps = 20;
  int ifgsmSteps = 10;
  int restarts = 1;
  int batchSize = 256;
  // Clamp attacked images to a valid range, e.g. [0, 1] pixels.
  bool clamp = false;
  double clampLow = 0, clampHigh = 1;
  uint64_t seed = 0;
};

// Accuracy of the classifier under each attack at each budget, in eval mode (the network's mode
// is restored). An image counts as correct at a budget only when it is classified correctly both
// clean and attacked, so clean mistakes are errors at every budget. The report's task is
// "classification", attacked "image". Throws ima::Error for an empty set or unknown options.
RobustnessReport evaluateClassifierRobustness(Network& net, const ClassificationSet& test,
                                              const ClassifierEvaluationOptions& options);

}  // namespace ima
