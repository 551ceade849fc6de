// The attack losses without their input checks, for the attacks' inner loops (checked once per
// attack with checkAttackLossInputs, then computed every iteration).
#pragma once
#include <torch/torch.h>

#include "ima/AttackLoss.h"

namespace ima {
// Shapes, the class count the loss needs and the label range (one device sync). `what` prefixes
// the messages ("attack", "apgd").
void checkAttackLossInputs(const torch::Tensor& logits, const torch::Tensor& target, AttackLoss loss,
                           const torch::Tensor& reference, const std::string& what);
torch::Tensor perSampleAttackLoss(const torch::Tensor& logits, const torch::Tensor& target, AttackLoss loss,
                                  const torch::Tensor& reference);
}  // namespace ima
