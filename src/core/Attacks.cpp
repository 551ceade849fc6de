#include "ima/Attacks.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <sstream>
#include <vector>

#include "ima/Error.h"
#include "internal/AttackLosses.h"
#include "internal/Perturbation.h"
#include "internal/ShapeText.h"

namespace ima {
namespace {

void checkOptions(const AttackOptions& o) {
  if (o.loss == AttackLoss::KL && !o.referenceLogits.defined())
    throw Error("attack: loss kl needs reference logits (the distribution to move away from)");
  if ((o.method == AttackMethod::Ifgsm || o.method == AttackMethod::Pgd) && o.steps < 1)
    throw Error("attack: steps must be at least 1, got " + std::to_string(o.steps));
  if (o.method == AttackMethod::Pgd && o.restarts < 1)
    throw Error("attack: restarts must be at least 1, got " + std::to_string(o.restarts));
  if (!std::isfinite(o.stepFraction) || o.stepFraction < 0)
    throw Error("attack: step fraction must be finite and >= 0 (0 = the method's default)");
  if (o.clamp && !(o.clampLow <= o.clampHigh))
    throw Error("attack: clamp range [" + std::to_string(o.clampLow) + ", " + std::to_string(o.clampHigh) +
                "] is empty");
}

// A 0-d or [N] tensor as [N, 1, ..., 1] in x's dtype and on x's device; finite and >= 0.
torch::Tensor perSampleValue(const torch::Tensor& value, const torch::Tensor& x, const std::string& what) {
  const int64_t n = x.size(0);
  if (!value.defined()) throw Error("attack: " + what + " is undefined");
  const bool scalar = value.dim() == 0 || (value.dim() == 1 && value.size(0) == 1);
  if (!scalar && !(value.dim() == 1 && value.size(0) == n))
    throw Error("attack: " + what + " must be a scalar or have shape [" + std::to_string(n) + "] (one per sample), got " +
                shapeText(value.sizes()));
  const torch::Tensor v = value.detach().to(x.device(), x.scalar_type()).reshape({-1}).expand({n});
  if (!torch::isfinite(v).all().item<bool>() || (v < 0).any().item<bool>())
    throw Error("attack: " + what + " must be finite and >= 0");
  return v.reshape(perSampleShape(x));
}

torch::Tensor labelTensor(const torch::Tensor& target, const torch::Tensor& x) {
  if (!target.defined()) throw Error("attack: target is undefined");
  if (target.is_floating_point() || target.is_complex())
    throw Error("attack: target must hold integer labels, got a floating-point tensor");
  return target.detach().to(x.device(), torch::kLong);
}

bool sameDevice(const torch::Device& a, const torch::Device& b) {
  return a.type() == b.type() && (!a.has_index() || !b.has_index() || a.index() == b.index());
}

// d(sum of per-sample losses)/d(xadv) without touching parameter gradients.
torch::Tensor inputGradient(const torch::Tensor& lossSum, const torch::Tensor& xadv) {
  if (!lossSum.requires_grad()) return torch::zeros_like(xadv);  // output independent of the input
  const auto grads = torch::autograd::grad({lossSum}, {xadv}, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                           /*create_graph=*/false, /*allow_unused=*/true);
  return grads[0].defined() ? grads[0] : torch::zeros_like(xadv);
}

// The samples an iterative attack is still working on: their batch indices and their slices of
// every per-sample tensor. AttackOptions::finished retires samples; without it this is the batch.
struct ActiveSamples {
  torch::Tensor samples, x0, eps, step, y, reference, delta;
  torch::Tensor retiredDelta;  // [N, ...]: the perturbation of every retired sample, at its row
  bool byMask = false;         // AttackOptions::Retirement::Mask: rows stay, `frozen` marks the retired
  torch::Tensor frozen;        // bool [N] (mask mode)

  // Retires the samples `finished` marks (bool [N]); returns false when none is left (compact mode;
  // mask mode never reads the mask on the host, so it always returns true).
  bool retire(const torch::Tensor& finished) {
    const int64_t n = retiredDelta.size(0);
    if (!finished.defined() || finished.dim() != 1 || finished.size(0) != n || finished.scalar_type() != torch::kBool)
      throw Error("attack: the early stop must return a bool mask with one value per sample (" + std::to_string(n) +
                  ")");
    if (byMask) {
      frozen = frozen.defined() ? frozen | finished.to(samples.device()) : finished.to(samples.device());
      return true;
    }
    const torch::Tensor done = finished.to(samples.device()).index_select(0, samples);
    if (!done.any().item<bool>()) return true;
    retiredDelta = retiredDelta.index_copy(0, samples, delta);
    const torch::Tensor keep = (~done).nonzero().squeeze(1);
    for (torch::Tensor* t : {&samples, &x0, &eps, &step, &y, &delta}) *t = t->index_select(0, keep);
    if (reference.defined()) reference = reference.index_select(0, keep);
    return samples.size(0) > 0;
  }
  // A step's new perturbation, except for the rows frozen in mask mode.
  torch::Tensor advance(const torch::Tensor& next) const {
    if (!frozen.defined()) return next;
    std::vector<int64_t> view(static_cast<size_t>(next.dim()), 1);
    view[0] = next.size(0);
    return torch::where(frozen.reshape(view), delta, next);
  }
  // The perturbation of the whole batch: retired samples keep the one they finished with.
  torch::Tensor batchDelta() const {
    return samples.size(0) == retiredDelta.size(0) ? delta : retiredDelta.index_copy(0, samples, delta);
  }
};

}  // namespace

AttackMethod attackMethodNamed(const std::string& name) {
  if (name == "fgsm") return AttackMethod::Fgsm;
  if (name == "ifgsm") return AttackMethod::Ifgsm;
  if (name == "pgd") return AttackMethod::Pgd;
  if (name == "noise") return AttackMethod::Noise;
  throw Error("attack: unknown method '" + name + "' (expected fgsm, ifgsm, pgd or noise)");
}

const char* attackMethodName(AttackMethod method) {
  switch (method) {
    case AttackMethod::Fgsm: return "fgsm";
    case AttackMethod::Ifgsm: return "ifgsm";
    case AttackMethod::Noise: return "noise";
    case AttackMethod::Pgd: break;
  }
  return "pgd";
}

int attackSteps(const AttackOptions& options) {
  if (options.method == AttackMethod::Noise) return 0;
  if (options.method == AttackMethod::Fgsm) return 1;
  return options.steps;
}

double attackStepFraction(const AttackOptions& options) {
  if (options.method == AttackMethod::Noise) return 0;
  if (options.stepFraction > 0) return options.stepFraction;
  if (options.method == AttackMethod::Fgsm) return 1.0;
  if (options.method == AttackMethod::Ifgsm) return 0.25;
  return 4.0 / std::max(options.steps, 1);  // pgd: alpha * eps / K, alpha = 4
}

std::string describeAttack(const AttackOptions& a) {
  if (a.method == AttackMethod::Pgd)
    return "PGD-" + std::to_string(a.steps) + ", random start, step 4*eps/" + std::to_string(a.steps) + ", " +
           std::to_string(a.restarts) + " restart(s)";
  if (a.method == AttackMethod::Ifgsm) return "IFGSM-" + std::to_string(a.steps) + ", step eps/4";
  if (a.method == AttackMethod::Fgsm) return "FGSM, one step of eps";
  return "white noise of norm eps";
}

AttackOptions evaluationAttack(const std::string& method, Norm norm, int pgdSteps, int ifgsmSteps,
                               int restarts) {
  AttackOptions a;
  a.method = attackMethodNamed(method);
  a.norm = norm;
  a.steps = a.method == AttackMethod::Ifgsm ? ifgsmSteps : pgdSteps;
  a.restarts = a.method == AttackMethod::Pgd ? restarts : 1;
  return a;
}

torch::Tensor attack(Network& net, const torch::Tensor& x, const torch::Tensor& target, double eps,
                     const AttackOptions& options) {
  return attack(net, x, target, torch::tensor(eps, torch::kDouble), options);
}

torch::Tensor attack(Network& net, const torch::Tensor& x, const torch::Tensor& target, const torch::Tensor& eps,
                     const AttackOptions& o) {
  checkOptions(o);
  if (!x.defined() || x.dim() < 2)
    throw Error("attack: input must be a [N, C, ...] tensor");
  if (!x.is_floating_point()) throw Error("attack: input must be a floating-point tensor");
  if (!sameDevice(x.device(), net.device()))
    throw Error("attack: input is on " + x.device().str() + " but the network on " + net.device().str());
  const torch::Tensor x0 = x.detach();
  if (x0.size(0) == 0) return x0.clone();
  const torch::Tensor e = perSampleValue(eps, x0, "eps");
  if ((e == 0).all().item<bool>()) return x0.clone();

  SlotRandom random(o.seed, x0.size(0), o.randomBatch, o.randomOffset);
  const PerturbationBall perturber(o.norm, o.clamp, o.clampLow, o.clampHigh, x0, e);

  if (o.method == AttackMethod::Noise) {
    const torch::Tensor delta =
        o.norm == Norm::Linf ? uniformInCube(x0, e, random) : uniformDirection(x0, random) * e;  // ||delta||_2 = eps
    return perturber.point(delta);
  }

  const torch::Tensor y = labelTensor(target, x0);
  const torch::Tensor reference = o.loss == AttackLoss::KL ? o.referenceLogits.detach().to(x0.device()) : torch::Tensor();
  const int steps = attackSteps(o);
  const torch::Tensor step =
      o.stepSize.defined() ? perSampleValue(o.stepSize, x0, "step size") : e * attackStepFraction(o);
  const bool startAtRandom = o.method == AttackMethod::Pgd && o.randomStart;
  const int restarts = startAtRandom ? o.restarts : 1;
  if (o.finished && restarts > 1) throw Error("attack: a per-sample early stop needs a single restart");
  if (o.startMask.defined()) {
    if (o.method != AttackMethod::Pgd || restarts > 1) throw Error("attack: a warm start needs PGD with one restart");
    if (o.startMask.sizes() != c10::IntArrayRef{x0.size(0)} || !o.startDelta.defined() || o.startDelta.sizes() != x0.sizes())
      throw Error("attack: a warm start needs a [N] mask and a start of the input's shape");
  }
  const bool reportFinal = o.onIterate && o.reportFinalIterate;
  const bool evaluateFinal = restarts > 1 || reportFinal;

  bool checked = false;
  torch::Tensor best, bestLoss;
  for (int r = 0; r < restarts; ++r) {
    torch::Tensor delta = torch::zeros_like(x0);
    if (startAtRandom)
      delta = perturber.constrain(randomStart(x0, e, o.norm, random));
    if (o.startMask.defined())
      delta = torch::where(o.startMask.to(x0.device()).reshape(perSampleShape(x0)),
                           perturber.constrain(o.startDelta.to(x0.device(), x0.scalar_type())), delta);
    ActiveSamples a{torch::arange(x0.size(0), torch::TensorOptions().dtype(torch::kLong).device(x0.device())),
                    x0, e, step, y, reference, delta, delta};
    a.byMask = o.retirement == AttackOptions::Retirement::Mask ||
               (o.retirement == AttackOptions::Retirement::Auto && x0.is_cuda());
    bool left = true;  // samples left to attack
    for (int k = 0; k < steps && left; ++k) {
      if (o.finished && !(left = a.retire(o.finished()))) break;
      const PerturbationBall p(o.norm, o.clamp, o.clampLow, o.clampHigh, a.x0, a.eps);
      const torch::Tensor xadv = p.point(a.delta).detach().requires_grad_(true);
      torch::Tensor logits, loss, grad;
      {
        torch::AutoGradMode enableGrad(true);  // also under a caller's NoGradGuard
        logits = net.forward(xadv);
        if (!checked) {
          checkAttackLossInputs(logits, a.y, o.loss, a.reference, "attack");
          checked = true;
        }
        loss = perSampleAttackLoss(logits, a.y, o.loss, a.reference);
        // The sum's gradient w.r.t. a sample's input is that sample's own loss gradient.
        grad = inputGradient(loss.sum(), xadv);
      }
      if (o.onIterate) o.onIterate({r, k, xadv.detach(), logits.detach(), loss.detach(), a.samples});
      a.delta = a.advance(p.constrain(a.delta + a.step * ascentDirection(grad, o.norm)));
    }
    if (left && o.finished) left = a.retire(o.finished());
    const torch::Tensor xadv = perturber.point(a.batchDelta()).detach();
    if (!evaluateFinal || !left) {
      best = xadv;
      continue;
    }
    torch::NoGradGuard noGrad;
    const torch::Tensor xa = PerturbationBall(o.norm, o.clamp, o.clampLow, o.clampHigh, a.x0, a.eps).point(a.delta).detach();
    const torch::Tensor logits = net.forward(xa);
    const torch::Tensor loss = perSampleAttackLoss(logits, a.y, o.loss, a.reference);
    if (reportFinal) o.onIterate({r, steps, xa, logits, loss, a.samples});
    if (r == 0) {
      best = xadv;
      bestLoss = loss;
    } else {
      // Keep, per sample, the restart whose final iterate has the highest loss (ties: the earlier).
      const torch::Tensor better = loss > bestLoss;
      best = torch::where(better.reshape(perSampleShape(x0)), xadv, best);
      bestLoss = torch::where(better, loss, bestLoss);
    }
  }
  return best;
}

}  // namespace ima
