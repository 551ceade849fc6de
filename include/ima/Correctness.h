// Per-sample correctness, the decision IMA's margins are built on (docs/architecture.md §5 step 1).
// Classification: argmax equals the label. Segmentation: per-pixel predictions aggregated per
// sample by a criterion with threshold tau.
#pragma once
#include <torch/torch.h>

#include "ima/TrainingChoices.h"

namespace ima {

// Hard Dice per sample and foreground class, [N, K-1] float, from predicted and true labels
// [N, ...] (int64). A class absent from both prediction and label gets NaN ("no evidence").
torch::Tensor hardDice(const torch::Tensor& predicted, const torch::Tensor& target, int64_t classes);

// Per-sample correctness, bool [N]. logits [N, K] (classification) or [N, K, (D,) H, W].
// Dice criteria use the classes present in the label or the prediction; a sample where no
// foreground class is present in either (empty label, empty prediction) has Dice 1: correct.
torch::Tensor isCorrect(const torch::Tensor& logits, const torch::Tensor& target, Criterion criterion = Criterion::MaxDice,
                        double tau = 0.6);

}  // namespace ima
