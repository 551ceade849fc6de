// The losses an attack maximises (docs/attacks.md "Losses"), one value per sample so that samples
// never influence each other. Hosts and options name a loss once, with attackLossNamed; the code
// passes the enum.
//
// Shapes: logits [N, K] (classification) or [N, K, (D,) H, W] (segmentation); target int64 [N] or
// [N, (D,) H, W] with values in [0, K). Every voxel average below is over all voxels of a sample.
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

namespace ima {

enum class AttackLoss {
  Auto,               // "auto": CrossEntropy for [N, K] logits, DiceCrossEntropy otherwise
  CrossEntropy,       // "ce": cross-entropy, averaged over voxels
  DiceCrossEntropy,   // "dicece": that cross-entropy + (1 - mean foreground soft Dice of the sample)
  KL,                 // "kl": KL(softmax(reference) || softmax(logits)), averaged over voxels (TRADES)
  MaskedCrossEntropy, // "masked-ce": cross-entropy of the voxels still predicted right (mask detached)
  BalancedMaskedCrossEntropy,  // "balanced-ce": masked-ce, each label class weighted equally
  JensenShannon,      // "js": Jensen-Shannon divergence of softmax(logits) and the one-hot label
  Margin,             // "margin": per-voxel DLR-like margin of the voxels still predicted right
};

// The loss of a name ("auto", "ce", "dicece", "kl", "masked-ce", "balanced-ce", "js", "margin");
// ima::Error naming the unknown value and the valid ones otherwise.
AttackLoss attackLossNamed(const std::string& name);
std::string attackLossName(AttackLoss loss);
std::vector<std::string> attackLossNames();

// Per-sample loss [N], differentiable in the logits. Definitions, with p = softmax(logits) at a
// voxel, y its label, z its logits and m = 1 when argmax z == y else 0 (detached):
//   ce           mean_v -log p_y
//   dicece       ce + 1 - mean over labels 1..K-1 of the sample's soft Dice
//   kl           mean_v sum_k q_k (log q_k - log p_k), q = softmax(reference)
//   masked-ce    mean_v m * (-log p_y)
//   balanced-ce  mean over the label classes c present in the sample of
//                (1 / n_c) sum_{v: y_v = c} m * (-log p_y), n_c = the voxels of class c
//   js           mean_v JS(p, e_y) = mean_v [KL(p || r) + KL(e_y || r)] / 2, r = (p + e_y) / 2
//   margin       mean_v m * (max_{k != y} z_k - z_y) / s, s = z_(1) - z_(3) (largest minus third
//                largest logit) for K >= 3, s = 1 for K = 2
// The masked losses stop pushing a voxel once it is wrong, so the attack spends its budget on the
// voxels still right (Croce, Singh & Hein 2024). Throws ima::Error on shapes that do not fit,
// labels outside [0, K), fewer than 2 classes for a segmentation loss, or a missing reference (kl).
torch::Tensor attackLoss(const torch::Tensor& logits, const torch::Tensor& target, AttackLoss loss = AttackLoss::Auto,
                         const torch::Tensor& reference = {});

}  // namespace ima
