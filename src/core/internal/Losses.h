// Segmentation losses shared by training and (later) attacks.
#pragma once
#include <functional>

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
// The same loss for one process's part of a data-parallel global batch (docs/distributed.md), as
// nnU-Net does under DDP: the batch Dice's per-class sums [2, K-1] (intersection; prediction plus
// target) of every process are added by `sumOverProcesses`, so the Dice is the global batch's. The
// value is the global loss's with this process's mean cross-entropy; the gradient is arranged so
// that `share` (this process's samples / the global batch) times it, summed over the processes,
// is the gradient of one process's loss on the whole batch.
using SumOverProcesses = std::function<torch::Tensor(const torch::Tensor&)>;
torch::Tensor diceCrossEntropyOfGlobalBatch(const torch::Tensor& logits, const torch::Tensor& target, double share,
                                            const SumOverProcesses& sumOverProcesses);
}  // namespace ima
