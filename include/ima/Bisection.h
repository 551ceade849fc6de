// IMA step 3: put an adversarial sample on the decision boundary by bisection between a point
// still classified correctly (inside) and one that is not (outside), per sample, no gradients.
#pragma once
#include <functional>

#include <torch/torch.h>

#include "ima/Norm.h"
#include "ima/TrainingChoices.h"

namespace ima {

// correct(x) -> bool [N]: whether each sample of x is still correctly classified.
// inside/outside: [N, ...]; samples whose inside point is not correct or whose outside point is
// correct are bisected all the same (the predicate decides each half), so callers pass only
// pairs that straddle the boundary. After `steps` halvings the bracket is 2^-steps of the
// original segment. The end points are never evaluated (the caller knows which side they are on).
torch::Tensor bisectToBoundary(const std::function<torch::Tensor(const torch::Tensor&)>& correct,
                               torch::Tensor inside, torch::Tensor outside, int steps,
                               BisectionReturn result = BisectionReturn::Midpoint);

// The same bisection, but a sample stops as soon as its bracket (the norm, "l2" or "linf", of
// outside - inside) is at most tolerance [N] (absolute, >= 0), after at most `steps` halvings; a
// tolerance of 0 takes all `steps`. Since every halving halves the bracket, each sample's number
// of halvings is known up front: ceil(log2(bracket / tolerance)), clamped to [0, steps]. Those
// numbers are read on the host once (they decide which rows each forward pass takes: one device
// synchronisation per call, none inside the loop). correctRows(x, rows) -> bool [M]: whether each
// x[m] (the sample rows[m] of the batch, int64 on the device) is still correctly classified.
torch::Tensor bisectToBoundary(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& correctRows,
                               torch::Tensor inside, torch::Tensor outside, int steps, BisectionReturn result,
                               const torch::Tensor& tolerance, Norm norm);

}  // namespace ima
