#include "ima/AttackLoss.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

#include "ima/Error.h"
#include "internal/AttackLosses.h"
#include "internal/Losses.h"
#include "internal/PredictedClasses.h"
#include "internal/ShapeText.h"

namespace ima {
namespace {

const std::pair<AttackLoss, const char*> kNames[] = {
    {AttackLoss::Auto, "auto"},
    {AttackLoss::CrossEntropy, "ce"},
    {AttackLoss::DiceCrossEntropy, "dicece"},
    {AttackLoss::KL, "kl"},
    {AttackLoss::MaskedCrossEntropy, "masked-ce"},
    {AttackLoss::BalancedMaskedCrossEntropy, "balanced-ce"},
    {AttackLoss::JensenShannon, "js"},
    {AttackLoss::Margin, "margin"},
};

AttackLoss resolved(AttackLoss loss, const torch::Tensor& logits) {
  if (loss != AttackLoss::Auto) return loss;
  return logits.dim() == 2 ? AttackLoss::CrossEntropy : AttackLoss::DiceCrossEntropy;
}

// Mean over each sample's voxels: [N, ...] -> [N] ([N] stays as it is).
torch::Tensor voxelMean(const torch::Tensor& t) { return t.dim() > 1 ? t.reshape({t.size(0), -1}).mean(1) : t; }

// 1 where the voxel's prediction is its label, else 0; no gradient flows through it.
torch::Tensor stillRight(const torch::Tensor& logits, const torch::Tensor& target) {
  return (predictedClasses(logits.detach()) == target).to(logits.scalar_type());
}

torch::Tensor balancedMaskedCE(const torch::Tensor& maskedCE, const torch::Tensor& target, int64_t classes) {
  const int64_t n = target.size(0);
  const torch::Tensor y = target.reshape({n, -1});
  const torch::Tensor oneHot =
      torch::zeros({n, classes, y.size(1)}, maskedCE.options()).scatter_(1, y.unsqueeze(1), 1.0);
  const torch::Tensor voxels = oneHot.sum(2);  // n_c per sample and class
  const torch::Tensor perClass = (oneHot * maskedCE.reshape({n, 1, -1})).sum(2) / voxels.clamp_min(1);
  const torch::Tensor present = (voxels > 0).to(maskedCE.scalar_type());
  return (perClass * present).sum(1) / present.sum(1).clamp_min(1);
}

// JS(p, e_y) depends on p_y alone: [2 log 2 + p_y log p_y - (1 + p_y) log(1 + p_y)] / 2.
torch::Tensor jensenShannon(const torch::Tensor& logProbY) {
  const torch::Tensor py = logProbY.exp();
  return 0.5 * (2 * std::log(2.0) + py * logProbY - (1 + py) * torch::log1p(py));
}

torch::Tensor maskedMargin(const torch::Tensor& logits, const torch::Tensor& target) {
  const torch::Tensor zy = logits.gather(1, target.unsqueeze(1)).squeeze(1);
  const torch::Tensor others = logits.scatter(1, target.unsqueeze(1), -std::numeric_limits<double>::infinity());
  const torch::Tensor margin = std::get<0>(others.max(1)) - zy;
  torch::Tensor scale = torch::ones_like(zy);
  if (logits.size(1) >= 3) {
    const torch::Tensor top = std::get<0>(logits.topk(3, 1));
    scale = top.select(1, 0) - top.select(1, 2) + 1e-12;
  }
  return stillRight(logits, target) * margin / scale;
}

}  // namespace

AttackLoss attackLossNamed(const std::string& name) {
  for (const auto& [loss, text] : kNames)
    if (name == text) return loss;
  std::string valid;
  for (const auto& [loss, text] : kNames) valid += (valid.empty() ? "" : ", ") + std::string(text);
  throw Error("unknown attack loss '" + name + "' (expected one of " + valid + ")");
}

std::string attackLossName(AttackLoss loss) {
  for (const auto& [l, text] : kNames)
    if (l == loss) return text;
  return "unknown";
}

std::vector<std::string> attackLossNames() {
  std::vector<std::string> names;
  for (const auto& entry : kNames) names.push_back(entry.second);
  return names;
}

void checkAttackLossInputs(const torch::Tensor& logits, const torch::Tensor& target, AttackLoss loss,
                           const torch::Tensor& reference, const std::string& what) {
  if (logits.dim() < 2)
    throw Error(what + ": network output must be [N, K] or [N, K, ...] logits, got " + shapeText(logits.sizes()));
  std::vector<int64_t> expected(logits.sizes().begin(), logits.sizes().end());
  expected.erase(expected.begin() + 1);
  if (target.sizes() != torch::IntArrayRef(expected))
    throw Error(what + ": target has shape " + shapeText(target.sizes()) + " but the logits " +
                shapeText(logits.sizes()) + " need " + shapeText(expected));
  const AttackLoss l = resolved(loss, logits);
  if (l == AttackLoss::KL && (!reference.defined() || reference.sizes() != logits.sizes()))
    throw Error(what + ": reference logits must have the network output's shape " + shapeText(logits.sizes()));
  if (l != AttackLoss::CrossEntropy && l != AttackLoss::KL && logits.size(1) < 2)
    throw Error(what + ": the " + attackLossName(l) + " loss needs at least 2 classes, the network gives " +
                std::to_string(logits.size(1)));
  if (target.numel() == 0) return;
  const int64_t lo = target.min().item<int64_t>(), hi = target.max().item<int64_t>();
  if (lo < 0 || hi >= logits.size(1))
    throw Error(what + ": target labels must lie in [0, " + std::to_string(logits.size(1) - 1) + "], found [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

torch::Tensor perSampleAttackLoss(const torch::Tensor& logits, const torch::Tensor& target, AttackLoss loss,
                                  const torch::Tensor& reference) {
  const AttackLoss l = resolved(loss, logits);
  if (l == AttackLoss::KL) {
    const torch::Tensor logP = torch::log_softmax(logits, 1);
    const torch::Tensor logRef = torch::log_softmax(reference, 1);
    return voxelMean((logRef.exp() * (logRef - logP)).sum(1));
  }
  if (l == AttackLoss::Margin) return voxelMean(maskedMargin(logits, target));
  const torch::Tensor logProbY = torch::log_softmax(logits, 1).gather(1, target.unsqueeze(1)).squeeze(1);
  switch (l) {
    case AttackLoss::JensenShannon: return voxelMean(jensenShannon(logProbY));
    case AttackLoss::MaskedCrossEntropy: return voxelMean(-logProbY * stillRight(logits, target));
    case AttackLoss::BalancedMaskedCrossEntropy:
      return balancedMaskedCE(-logProbY * stillRight(logits, target), target, logits.size(1));
    case AttackLoss::CrossEntropy: return voxelMean(-logProbY);
    default: break;
  }
  // Dice+CE. softDice reduces over the spatial dims; give [N, K] logits a spatial dim of size 1 so
  // that an empty reduction list (which would reduce everything) never occurs.
  const bool flat = logits.dim() == 2;
  const torch::Tensor dice = softDice(flat ? logits.unsqueeze(2) : logits, flat ? target.unsqueeze(1) : target,
                                      /*perSample=*/true);
  return voxelMean(-logProbY) + (1 - dice.mean(1));
}

torch::Tensor attackLoss(const torch::Tensor& logits, const torch::Tensor& target, AttackLoss loss,
                         const torch::Tensor& reference) {
  if (!target.defined()) throw Error("attack loss: target is undefined");
  if (target.is_floating_point() || target.is_complex())
    throw Error("attack loss: target must hold integer labels, got a floating-point tensor");
  const torch::Tensor t = target.detach().to(logits.device(), torch::kLong);
  checkAttackLossInputs(logits, t, loss, reference, "attack");
  return perSampleAttackLoss(logits, t, loss, reference);
}

}  // namespace ima
