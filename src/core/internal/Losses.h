// Segmentation losses shared by training and (later) attacks.
#pragma once
#include <torch/torch.h>

namespace ima {
// Soft Dice per sample and foreground class, [N, K-1]; empty-vs-empty counts as 1 via smoothing.
torch::Tensor softDice(const torch::Tensor& logits, const torch::Tensor& target, double smooth = 1e-5);
// nnU-Net's loss: cross-entropy + (1 - mean foreground soft Dice). logits [N, K, ...], target
// [N, ...] int64.
torch::Tensor diceCrossEntropy(const torch::Tensor& logits, const torch::Tensor& target);
}  // namespace ima
