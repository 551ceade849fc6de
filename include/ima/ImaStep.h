// The adversarial half of one IMA minibatch (docs/architecture.md §5 steps 2-3): PGD inside each sample's
// own ball of radius eps_i, tracking per sample the last iterate still correct and the first
// that is wrong, then a batched no-grad bisection between the two onto the decision boundary.
// A sample that was correct stops being attacked as soon as it is wrong (its result is the
// bisection's): later PGD iterates would not change it, so its forwards and backwards are saved.
#pragma once
#include <string>

#include <torch/torch.h>

#include "ima/Attacks.h"
#include "ima/AttackLoss.h"
#include "ima/Bisection.h"
#include "ima/Correctness.h"
#include "ima/Network.h"
#include "ima/Norm.h"

namespace ima {

struct ImaStepOptions {
  // The PGD search: K = pgd.steps, step alpha * eps_i / K (pgd.stepFraction; 0 = alpha 4), norm,
  // random start, loss (Auto: ce for classification, dicece for segmentation), clamp, seed and
  // random slots (x as slots of a larger batch), and how samples that crossed leave the loop
  // (pgd.retirement: Auto compacts on the CPU and masks on CUDA, where the loop then never waits
  // for the device). The step sets the rest: PGD, one restart, its callbacks and the warm start.
  AttackOptions pgd;
  int bisectionSteps = 10; // B
  // A sample's bisection stops once its bracket is at most this fraction of its eps_i (at most B
  // halvings in any case); 0 = always B halvings.
  double bisectionTolerance = 0;
  BisectionReturn bisection = BisectionReturn::Midpoint;
  Criterion criterion = Criterion::MaxDice;  // segmentation only
  double tau = 0.6;
  // Whether the caller uses the adversarial points of samples whose clean prediction is wrong
  // (segmentation's adversarial loss over all samples does). If not (classification's loss over the
  // crossed samples only), they are not attacked at all and come back at their PGD start point.
  bool attackMisclassified = true;
  // Whether the caller's adversarial loss takes every sample's adversarial point and its network is
  // mode-independent (Network::modeIndependent): then, unless half the samples or more have crossed
  // before the last PGD iterate, the last iterate's forward runs once, in the caller's mode and
  // with autograd, both to check it and as the adversarial forward (ImaStepResult::adversarialLogits):
  // one forward of the batch fewer. The result is the same either way.
  bool reuseFinalForward = false;
};

struct ImaStepResult {
  torch::Tensor adversarial;   // [N, C, ...]: on the boundary where found, else the PGD result
  torch::Tensor cleanCorrect;  // bool [N]: clean prediction correct (criterion for segmentation)
  torch::Tensor found;         // bool [N]: clean correct and an adversarial point within eps_i
  torch::Tensor distance;      // [N]: ||adversarial - x|| in the attack's norm (0 where not found)
  // Where the last iterate's forward was reused: the network's logits at `adversarial`, in the
  // caller's mode and with autograd (the crossed samples' rows forwarded at their boundary point);
  // undefined otherwise.
  torch::Tensor adversarialLogits;
};

// x [N, C, ...] (normalised), target [N] or [N, ...], eps [N] >= 0. cleanLogits: the trainer's
// clean forward (step 1), reused for correctness so that no pass is repeated; when undefined the
// clean forward is run here. The network is put in eval mode for the attack and restored
// afterwards (BatchNorm statistics stay untouched); parameter gradients are not touched.
// startDelta [N, C, ...] and startMask bool [N], when defined: the warm start (ima/WarmStarts.h)
// of the samples in the mask, whose PGD starts there (projected onto the ball) instead of at random.
ImaStepResult imaAdversarialStep(Network& net, const torch::Tensor& x, const torch::Tensor& target,
                                 const torch::Tensor& eps, const ImaStepOptions& options,
                                 const torch::Tensor& cleanLogits = {}, const torch::Tensor& startDelta = {},
                                 const torch::Tensor& startMask = {});

}  // namespace ima
