// Segmentation losses shared by training and (later) attacks.
#pragma once
#include <torch/torch.h>

namespace ima {
// Soft Dice per foreground class. perSample: [N, K-1] (one value per sample and class);
// otherwise "batch Dice" [K-1], with sums over the whole batch, which stays informative when a
// sample lacks a structure (per-sample Dice then punishes any probability mass at all).
torch::Tensor softDice(const torch::Tensor& logits, const torch::Tensor& target, bool perSample,
                       double smooth = 1e-5);
// nnU-Net's loss: cross-entropy + (1 - mean foreground batch soft Dice). logits [N, K, ...],
// target [N, ...] int64.
torch::Tensor diceCrossEntropy(const torch::Tensor& logits, const torch::Tensor& target);
}  // namespace ima
