// Robustness evaluation of a segmentation model (docs/architecture.md §6). At the patch level each
// case is cut into a grid of the model's patches (for a 2D model: patch tiles of every slice), every
// patch is attacked through the network's forward pass, and the argmax predictions are put back
// together into a label map. At the volume level the whole image is attacked through the deployed
// sliding-window prediction. Either way the label map is scored against the reference (voxel Dice
// with TP/FP/FN summed over the test set, and mean per-case Dice), and the report says what was
// attacked ("attacked": "patch" or "volume").
#pragma once
#include <string>
#include <vector>

#include "ima/Model.h"
#include "ima/RobustnessReport.h"
#include "ima/Runtime.h"
#include "ima/Training.h"

namespace ima {

struct EvaluationOptions {
  // Names from evaluationAttackNames(): fgsm | ifgsm | pgd | noise | apgd-<loss> (masked-ce,
  // balanced-ce, js, margin, dicece) | strong (the ensemble, docs/evaluation.md "The strong
  // ensemble").
  std::vector<std::string> attacks{"pgd", "ifgsm"};
  Norm norm = Norm::L2;
  std::vector<double> budgets{0, 0.5, 1, 2};  // normalised units; 0 (clean) is added if missing
  int pgdSteps = 20;
  int ifgsmSteps = 10;
  int apgdSteps = 100;  // iterations of every APGD attack (with radius annealing: all three stages)
  int restarts = 1;     // PGD random restarts; strong's PGD member takes at least 3
  int batchSize = 8;
  uint64_t seed = 0;
  // Gradient-masking probes (docs/evaluation.md): FGSM and white noise at the largest budget, and
  // for PGD and IFGSM (alone or in an ensemble) twice the iterations there and 100 times that
  // budget. Without them the report still checks what its own attacks show (Dice not rising with
  // the budget; iterative attacks against fgsm and noise when those were evaluated).
  bool maskingChecks = false;
  // What is attacked (docs/evaluation.md, "Patch or whole volume"). Patch: every patch of the
  // case's grid on its own, through the network's forward pass. Volume: the whole image through the
  // deployed prediction (the sliding-window inferer's Gaussian-weighted windows at `overlap`,
  // batchSize windows per pass), the budget scaled to the volume: in L2 eps * sqrt(voxels / patch
  // voxels), the same energy per voxel as a patch attack of budget eps; in Linf eps itself.
  enum class Attacked { Patch, Volume };
  Attacked attacked = Attacked::Patch;
  double overlap = 0.5;
  RuntimeOptions runtime;
};

// "patch" | "volume", as reports write it; parseAttacked throws ima::Error for other names.
std::string attackedName(EvaluationOptions::Attacked attacked);
EvaluationOptions::Attacked parseAttacked(const std::string& name);

// The whole-volume budget of a per-patch budget eps (EvaluationOptions::Attacked::Volume).
double volumeBudget(double eps, Norm norm, int64_t volumeVoxels, int64_t patchVoxels);

// The attack names EvaluationOptions::attacks accepts; the ensemble "strong" runs APGD with each
// loss (masked-ce, balanced-ce, js and margin with radius annealing, dicece without) and PGD with
// at least 3 restarts, and keeps per case and budget the member result with the lowest Dice.
const std::vector<std::string>& evaluationAttackNames();
// ima::Error naming `name` and the valid names when it is not one of them.
void checkEvaluationAttack(const std::string& name);

// Cases hold raw images (the model's normalisation is applied) and reference labels.
RobustnessReport evaluateRobustness(const Model& model, const std::vector<LabelledCase>& cases,
                                    const EvaluationOptions& options, const ProgressCallback& progress = {});

// The adversarial version of one case (raw intensity units, the case's geometry): every patch of
// the grid (or, with options.attacked Volume, the whole image through the deployed prediction)
// attacked with `method` (any evaluation attack but the ensemble) at budget eps (per patch,
// normalised units, options.norm) and the perturbation added to the raw image. Where the last tile
// of an axis overlaps its neighbour, the later tile's perturbation wins. `options.pgdSteps` / `ifgsmSteps` / `apgdSteps`, `restarts`,
// `norm`, `attacked`, `overlap`, `batchSize` (patches per forward pass), `seed` and `runtime` apply; `attacks` and
// `budgets` do not. Progress is the fraction of patches attacked, reported before the first batch
// and after every batch; the callback can cancel between batches (ima::Cancelled).
Volume adversarialVolume(const Model& model, const LabelledCase& c, const std::string& method, double eps,
                         const EvaluationOptions& options, const ProgressCallback& progress = {});

}  // namespace ima
