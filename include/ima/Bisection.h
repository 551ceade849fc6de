// IMA step 3: put an adversarial sample on the decision boundary by bisection between a point
// still classified correctly (inside) and one that is not (outside), per sample, no gradients.
#pragma once
#include <functional>
#include <string>

#include <torch/torch.h>

namespace ima {

enum class BisectionReturn { Midpoint, Inside, Outside };
BisectionReturn parseBisectionReturn(const std::string& name);  // "midpoint" | "inside" | "outside"

// correct(x) -> bool [N]: whether each sample of x is still correctly classified.
// inside/outside: [N, ...]; samples whose inside point is not correct or whose outside point is
// correct are bisected all the same (the predicate decides each half), so callers pass only
// pairs that straddle the boundary. After `steps` halvings the bracket is 2^-steps of the
// original segment.
torch::Tensor bisectToBoundary(const std::function<torch::Tensor(const torch::Tensor&)>& correct,
                               torch::Tensor inside, torch::Tensor outside, int steps,
                               BisectionReturn result = BisectionReturn::Midpoint);

}  // namespace ima
