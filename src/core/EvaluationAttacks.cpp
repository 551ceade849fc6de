#include "internal/EvaluationAttacks.h"

#include <algorithm>

#include "ima/Apgd.h"
#include "ima/Attacks.h"
#include "ima/Error.h"

namespace ima {
namespace {

constexpr const char* kStrong = "strong";
// Restarts of the ensemble's PGD member: never fewer than this, whatever EvaluationOptions::restarts.
constexpr int kStrongPgdRestarts = 3;

EvaluationAttack gradientAttack(const std::string& name, AttackOptions a) {
  const std::string description = describeAttack(a);
  return {name, description, [a](Network& net, const torch::Tensor& x, const torch::Tensor& y, double eps,
                                 uint64_t seed) mutable {
            a.seed = seed;
            return attack(net, x, y, eps, a);
          }};
}

// APGD with one loss. The SEA losses run with radius annealing and a random start, as Croce, Singh
// & Hein 2024 run them; Dice+CE starts at x with a fixed radius, so the ensemble also holds a plain
// APGD run.
EvaluationAttack apgdAttack(AttackLoss loss, const EvaluationOptions& o) {
  ApgdOptions a;
  a.norm = o.norm;
  a.steps = o.apgdSteps;
  a.loss = loss;
  a.randomStart = a.radiusAnnealing = loss != AttackLoss::DiceCrossEntropy;
  const std::string description = describeApgd(a);
  return {"apgd-" + attackLossName(loss), description,
          [a](Network& net, const torch::Tensor& x, const torch::Tensor& y, double eps, uint64_t seed) mutable {
            a.seed = seed;
            return apgd(net, x, y, torch::tensor(eps, torch::kDouble), a);
          }};
}

const AttackLoss kApgdLosses[] = {AttackLoss::MaskedCrossEntropy, AttackLoss::BalancedMaskedCrossEntropy,
                                  AttackLoss::JensenShannon, AttackLoss::Margin, AttackLoss::DiceCrossEntropy};

}  // namespace

const std::vector<std::string>& evaluationAttackNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n{"fgsm", "ifgsm", "pgd", "noise"};
    for (AttackLoss l : kApgdLosses) n.push_back("apgd-" + attackLossName(l));
    n.push_back(kStrong);
    return n;
  }();
  return names;
}

void checkEvaluationAttack(const std::string& name) {
  const auto& names = evaluationAttackNames();
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  std::string valid;
  for (const std::string& n : names) valid += (valid.empty() ? "" : ", ") + n;
  throw Error("unknown attack '" + name + "' (expected one of " + valid + ")");
}

std::vector<EvaluationAttack> evaluationAttacksOf(const std::string& name, const EvaluationOptions& o) {
  checkEvaluationAttack(name);
  if (name == kStrong) {
    std::vector<EvaluationAttack> members;
    for (AttackLoss l : kApgdLosses) members.push_back(apgdAttack(l, o));
    members.push_back(gradientAttack(
        "pgd", evaluationAttack("pgd", o.norm, o.pgdSteps, o.ifgsmSteps, std::max(o.restarts, kStrongPgdRestarts))));
    return members;
  }
  for (AttackLoss l : kApgdLosses)
    if (name == "apgd-" + attackLossName(l)) return {apgdAttack(l, o)};
  return {gradientAttack(name, evaluationAttack(name, o.norm, o.pgdSteps, o.ifgsmSteps, o.restarts))};
}

}  // namespace ima
