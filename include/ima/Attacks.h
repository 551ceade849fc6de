// Adversarial attacks on a Network (docs/architecture.md §5 step 2 and §6): FGSM, IFGSM-K, PGD-K with random
// start and restarts, and white noise, in the L2 or Linf norm. Shape-agnostic in the manner of
// advertorch's perturb_iterative: every sample of the batch is flattened and treated on its own,
// so attacking a batch gives the same result as attacking each sample alone, and each sample may
// have its own budget.
//
// Shapes: x is the network input [N, C, (D,) H, W] in normalised intensity units (budgets are in
// the same units, docs/architecture.md §3). The network's logits are [N, K] (classification, target int64
// [N]) or [N, K, (D,) H, W] (segmentation, target int64 [N, (D,) H, W]). All tensors live on x's
// device, which must be the network's device.
//
// Side effects: none on the caller's objects. x is not modified; the network runs in whatever
// train/eval mode the caller set (the attack never toggles it; note that BatchNorm in training mode
// updates its running statistics on every forward); parameter gradients (p.grad()) are left as they
// were, because input gradients are taken with torch::autograd::grad.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <torch/torch.h>

#include "ima/AttackLoss.h"
#include "ima/Network.h"
#include "ima/Norm.h"

namespace ima {

// One iterate of an iterative attack, handed to AttackOptions::onIterate.
struct AttackIterate {
  int restart = 0;       // 0-based restart index (PGD with random start; otherwise always 0)
  int iterate = 0;       // 0 = the start point (x, or the random start); `steps` = the final point
  torch::Tensor xadv;    // [M, C, ...] the iterate of the samples still attacked (detached)
  torch::Tensor logits;  // the network's output at xadv (detached)
  torch::Tensor loss;    // [M] per-sample attack loss at xadv (detached)
  // int64 [M]: the batch indices of the samples in xadv, logits and loss; all N in order unless
  // AttackOptions::finished has retired some.
  torch::Tensor samples;
};
using AttackIterateCallback = std::function<void(const AttackIterate&)>;

// The attacks of docs/attacks.md, and white noise of the same budget (a masking check's baseline).
enum class AttackMethod { Fgsm, Ifgsm, Pgd, Noise };
// "fgsm" | "ifgsm" | "pgd" | "noise"; anything else is an ima::Error naming the value.
AttackMethod attackMethodNamed(const std::string& name);
const char* attackMethodName(AttackMethod method);

struct AttackOptions {
  AttackMethod method = AttackMethod::Pgd;
  Norm norm = Norm::L2;
  // Iterations for ifgsm and pgd (fgsm always takes one step, noise none).
  int steps = 20;
  // Step size as a fraction of each sample's eps; 0 = the method's default: fgsm 1,
  // ifgsm 1/4 (docs/architecture.md §6 "IFGSM-K, step eps/4"), pgd alpha/steps with alpha = 4 (§5).
  double stepFraction = 0;
  // Absolute step size, 0-d or [N] (normalised intensity units); when defined it overrides
  // stepFraction.
  torch::Tensor stepSize;
  // PGD only: independent random starts; per sample the final iterate with the highest loss is
  // kept. Restarts need a random start (without one they would all be the same run).
  int restarts = 1;
  bool randomStart = true;  // PGD only: start uniformly inside the ball (see docs/attacks.md)
  // PGD with one restart only: a warm start. Where the bool [N] `startMask` is true the sample starts
  // at `startDelta` [N, C, ...] (a perturbation, projected onto its ball) instead of its random or
  // zero start. The random starts are drawn for every sample whatever the mask, so that the others'
  // do not depend on it.
  torch::Tensor startDelta, startMask;
  // What the attack maximises (ima/AttackLoss.h); kl needs referenceLogits.
  AttackLoss loss = AttackLoss::Auto;
  // Loss "kl" only: logits with the network output's shape whose distribution the attack moves
  // away from (TRADES: the clean prediction). Detached; on x's device.
  torch::Tensor referenceLogits;
  // Clamp x_adv to [clampLow, clampHigh] (a valid intensity range; off for z-scored inputs).
  // x itself should lie inside the range, otherwise clamping can move x_adv out of its ball.
  bool clamp = false;
  double clampLow = 0;
  double clampHigh = 1;
  uint64_t seed = 0;  // random start and noise; a private generator, the global one is untouched
  // x as the slots [randomOffset, randomOffset + N) of a batch of randomBatch samples (0 = x's own
  // batch): the random numbers are drawn for the whole batch and x's slots kept, so a process of a
  // data-parallel run starts from the points one process with the whole batch would
  // (docs/distributed.md).
  int64_t randomBatch = 0;
  int64_t randomOffset = 0;
  // Called for every iterate of ifgsm/pgd/fgsm (not noise). Reporting the final iterate costs one
  // extra forward pass (shared with the restart selection when restarts > 1).
  AttackIterateCallback onIterate;
  // false: onIterate is not called for the final iterate, whose forward the caller does itself
  // (IMA's step, which can fold it into its training forward); no pass is spent on it then.
  bool reportFinalIterate = true;
  // Optional per-sample early stop (ifgsm/pgd with one restart): asked before every iterate's
  // forward pass, returns a bool [N] mask of the samples whose attack is over. A finished sample
  // keeps its current point as its result and takes part in no further forward or backward pass;
  // the others go on exactly as before, since samples do not influence each other. IMA stops
  // attacking a sample once it has crossed the boundary: the rest of its path is never used.
  std::function<torch::Tensor()> finished;
  // How finished samples leave: Compact drops their rows, which saves their passes but needs the
  // mask on the host once per iteration; Mask freezes their perturbation in place, so the loop
  // never waits for the device (a CUDA stream is never stalled) at the price of their passes.
  // Auto: Mask on CUDA, Compact elsewhere. The result is the same either way.
  enum class Retirement { Auto, Compact, Mask };
  Retirement retirement = Retirement::Auto;
};

// Returns x_adv with x's shape, dtype and device (detached). eps: budget in normalised intensity
// units, 0-d (all samples) or [N] (per sample), >= 0; a sample with eps 0 is returned unchanged.
// Throws ima::Error for unknown options, negative/non-finite eps, wrong eps/step/target shapes,
// target values outside [0, K) and a device mismatch.
torch::Tensor attack(Network& net, const torch::Tensor& x, const torch::Tensor& target,
                     const torch::Tensor& eps, const AttackOptions& options = {});
torch::Tensor attack(Network& net, const torch::Tensor& x, const torch::Tensor& target, double eps,
                     const AttackOptions& options = {});

// The number of gradient steps and the step fraction `options` resolve to (for reports).
int attackSteps(const AttackOptions& options);
double attackStepFraction(const AttackOptions& options);
// A one-line description of the attack's settings for reports, e.g.
// "PGD-20, random start, step 4*eps/20, 1 restart(s)".
std::string describeAttack(const AttackOptions& options);

// The attack of the robustness evaluations (docs/architecture.md §6), shared by the segmentation and the
// classification evaluator: `method` with the steps of its kind (ifgsm: ifgsmSteps, else
// pgdSteps) and restarts for PGD only; seed, clamp and the rest keep their defaults.
AttackOptions evaluationAttack(const std::string& method, Norm norm, int pgdSteps, int ifgsmSteps,
                               int restarts);

}  // namespace ima
