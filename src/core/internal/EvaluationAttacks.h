// The attacks of a robustness evaluation by name (docs/evaluation.md "Attacks"): the single
// attacks, and the ensemble "strong" as the list of its members.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ima/Evaluation.h"
#include "ima/Network.h"

namespace ima {

// One attack run on a batch of patches: x [n, C, ...] normalised, y [n, ...] labels, budget eps
// per patch; returns the attacked batch.
struct EvaluationAttack {
  std::string name;         // as in EvaluationOptions::attacks, e.g. "pgd", "apgd-js"
  std::string description;  // its settings, for reports
  std::function<torch::Tensor(Network&, const torch::Tensor& x, const torch::Tensor& y, double eps, uint64_t seed)> run;
};

// The attacks `name` stands for: the attack itself, or for "strong" its members in a fixed order.
// ima::Error for an unknown name.
std::vector<EvaluationAttack> evaluationAttacksOf(const std::string& name, const EvaluationOptions& options);

}  // namespace ima
