#include "ima/Attacks.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <sstream>
#include <vector>

#include "ima/Error.h"
#include "internal/Losses.h"

namespace ima {
namespace {

// Guards divisions by per-sample norms: a zero gradient gives a zero direction, not NaN.
constexpr double kTinyNorm = 1e-30;

bool oneOf(const std::string& value, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (value == a) return true;
  return false;
}

void checkOptions(const AttackOptions& o) {
  if (!oneOf(o.method, {"fgsm", "ifgsm", "pgd", "noise"}))
    throw Error("attack: unknown method '" + o.method + "' (expected fgsm, ifgsm, pgd or noise)");
  if (!oneOf(o.norm, {"l2", "linf"}))
    throw Error("attack: unknown norm '" + o.norm + "' (expected l2 or linf)");
  if (!oneOf(o.loss, {"ce", "dicece", "auto", "kl"}))
    throw Error("attack: unknown loss '" + o.loss + "' (expected ce, dicece, auto or kl)");
  if (o.loss == "kl" && !o.referenceLogits.defined())
    throw Error("attack: loss kl needs reference logits (the distribution to move away from)");
  if ((o.method == "ifgsm" || o.method == "pgd") && o.steps < 1)
    throw Error("attack: steps must be at least 1, got " + std::to_string(o.steps));
  if (o.method == "pgd" && o.restarts < 1)
    throw Error("attack: restarts must be at least 1, got " + std::to_string(o.restarts));
  if (!std::isfinite(o.stepFraction) || o.stepFraction < 0)
    throw Error("attack: step fraction must be finite and >= 0 (0 = the method's default)");
  if (o.clamp && !(o.clampLow <= o.clampHigh))
    throw Error("attack: clamp range [" + std::to_string(o.clampLow) + ", " + std::to_string(o.clampHigh) +
                "] is empty");
}

std::string shapeText(torch::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

// [N, 1, ..., 1] with x's number of dimensions: per-sample values broadcast over a sample.
std::vector<int64_t> perSampleShape(const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  return shape;
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

// Per-sample L2 norms as [N, 1, ..., 1].
torch::Tensor sampleNorms(const torch::Tensor& t) {
  return t.reshape({t.size(0), -1}).pow(2).sum(1).sqrt().reshape(perSampleShape(t));
}

// The steepest-ascent direction of unit size in the norm: L2 -> g / ||g|| per sample; Linf -> sign.
torch::Tensor ascentDirection(const torch::Tensor& g, const std::string& norm) {
  if (norm == "linf") return g.sign();
  return g / sampleNorms(g).clamp_min(kTinyNorm);
}

// Projection onto each sample's ball of radius eps around 0.
torch::Tensor projectOntoBall(const torch::Tensor& delta, const torch::Tensor& eps, const std::string& norm) {
  if (norm == "linf") return torch::maximum(torch::minimum(delta, eps), -eps);
  // Factor 1 inside the ball, eps / ||delta|| outside; eps 0 gives 0 (also for delta 0).
  const torch::Tensor factor = (eps / sampleNorms(delta).clamp_min(kTinyNorm)).clamp_max(1.0);
  return delta * factor;
}

// Random numbers come from a private CPU generator (deterministic in the seed whatever the device)
// and are then moved to x's device. They are drawn for the whole batch of which x holds some slots
// (AttackOptions::randomBatch), so a sample's numbers do not depend on how the batch is split.
struct SlotRandom {
  at::Generator generator;
  int64_t batch, offset;
  SlotRandom(const AttackOptions& o, int64_t samples)
      : generator(at::detail::createCPUGenerator(o.seed)), batch(o.randomBatch > 0 ? o.randomBatch : samples),
        offset(o.randomBatch > 0 ? o.randomOffset : 0) {
    if (offset < 0 || offset + samples > batch)
      throw Error("attack: slots " + std::to_string(offset) + ".." + std::to_string(offset + samples - 1) +
                  " lie outside the random batch of " + std::to_string(batch));
  }
  // Uniform in [0, 1) or standard normal, of `sizes` ([N, ...], N this process's samples).
  torch::Tensor draw(c10::IntArrayRef sizes, bool gaussian, torch::ScalarType dtype) {
    std::vector<int64_t> all = sizes.vec();
    all[0] = batch;
    const auto options = torch::TensorOptions().dtype(dtype);
    const torch::Tensor t = gaussian ? torch::randn(all, generator, options) : torch::rand(all, generator, options);
    return t.narrow(0, offset, sizes[0]);
  }
};

torch::ScalarType randomType(const torch::Tensor& x) {
  return x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

// Uniform in [-1, 1]^d, scaled by eps (Linf ball).
torch::Tensor uniformInCube(const torch::Tensor& x, const torch::Tensor& eps, SlotRandom& random) {
  const torch::Tensor u = random.draw(x.sizes(), false, randomType(x)).to(x.device(), x.scalar_type());
  return (2 * u - 1) * eps;
}

// A direction uniform on the unit sphere (normalised Gaussian), per sample.
torch::Tensor uniformDirection(const torch::Tensor& x, SlotRandom& random) {
  const torch::Tensor g = random.draw(x.sizes(), true, randomType(x));
  return (g / sampleNorms(g).clamp_min(kTinyNorm)).to(x.device(), x.scalar_type());
}

// Uniform in each sample's L2 ball: uniform direction, radius eps * u^(1/d) with d the number of
// values per sample (the radius law of the uniform distribution in a d-ball).
torch::Tensor uniformInL2Ball(const torch::Tensor& x, const torch::Tensor& eps, SlotRandom& random) {
  const torch::Tensor direction = uniformDirection(x, random);
  const double d = static_cast<double>(x.numel() / x.size(0));
  const torch::Tensor u = random.draw({x.size(0)}, false, torch::kDouble);
  const torch::Tensor radius = u.pow(1.0 / d).to(x.device(), x.scalar_type()).reshape(perSampleShape(x));
  return direction * radius * eps;
}

// Per sample: sum over classes of p_ref * (log p_ref - log p), averaged over pixels.
torch::Tensor perSampleKL(const torch::Tensor& logits, const torch::Tensor& reference) {
  const torch::Tensor logP = torch::log_softmax(logits, 1);
  const torch::Tensor logRef = torch::log_softmax(reference, 1);
  const torch::Tensor kl = (logRef.exp() * (logRef - logP)).sum(1);
  return kl.dim() > 1 ? kl.reshape({kl.size(0), -1}).mean(1) : kl;
}

torch::Tensor perSampleLoss(const torch::Tensor& logits, const torch::Tensor& target, const std::string& loss,
                            const torch::Tensor& reference) {
  namespace F = torch::nn::functional;
  if (loss == "kl") return perSampleKL(logits, reference);
  const std::string kind = loss == "auto" ? (logits.dim() == 2 ? "ce" : "dicece") : loss;
  torch::Tensor ce = F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  if (ce.dim() > 1) ce = ce.reshape({ce.size(0), -1}).mean(1);
  if (kind == "ce") return ce;
  // softDice reduces over the spatial dims; give [N, K] logits a spatial dim of size 1 so that an
  // empty reduction list (which would reduce everything) never occurs.
  const bool flat = logits.dim() == 2;
  const torch::Tensor dice = softDice(flat ? logits.unsqueeze(2) : logits, flat ? target.unsqueeze(1) : target,
                                      /*perSample=*/true);
  return ce + (1 - dice.mean(1));
}

// Shapes (cheap, no device sync).
void checkLossShapes(const torch::Tensor& logits, const torch::Tensor& target, const std::string& loss,
                     const torch::Tensor& reference) {
  if (logits.dim() < 2)
    throw Error("attack: network output must be [N, K] or [N, K, ...] logits, got " + shapeText(logits.sizes()));
  std::vector<int64_t> expected(logits.sizes().begin(), logits.sizes().end());
  expected.erase(expected.begin() + 1);
  if (target.sizes() != torch::IntArrayRef(expected))
    throw Error("attack: target has shape " + shapeText(target.sizes()) + " but the logits " +
                shapeText(logits.sizes()) + " need " + shapeText(expected));
  if (loss == "kl" && (!reference.defined() || reference.sizes() != logits.sizes()))
    throw Error("attack: reference logits must have the network output's shape " + shapeText(logits.sizes()));
  const bool dice = loss == "dicece" || (loss == "auto" && logits.dim() > 2);
  if (dice && logits.size(1) < 2)
    throw Error("attack: the Dice+CE loss needs at least 2 classes, the network gives " + std::to_string(logits.size(1)));
}

// Label range (one device sync; done once per attack).
void checkLabels(const torch::Tensor& logits, const torch::Tensor& target) {
  if (target.numel() == 0) return;
  const int64_t lo = target.min().item<int64_t>(), hi = target.max().item<int64_t>();
  if (lo < 0 || hi >= logits.size(1))
    throw Error("attack: target labels must lie in [0, " + std::to_string(logits.size(1) - 1) + "], found [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]");
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

class Perturber {
public:
  Perturber(const AttackOptions& o, const torch::Tensor& x0, const torch::Tensor& eps)
      : o_(o), x0_(x0), eps_(eps) {}

  // x0 + delta, clamped to the intensity range when asked.
  torch::Tensor point(const torch::Tensor& delta) const {
    const torch::Tensor p = x0_ + delta;
    return o_.clamp ? p.clamp(o_.clampLow, o_.clampHigh) : p;
  }
  // The perturbation after projection onto the ball and the intensity range (x0 inside the range
  // keeps it inside the ball: clamping moves each value towards x0).
  torch::Tensor constrain(const torch::Tensor& delta) const {
    const torch::Tensor d = projectOntoBall(delta, eps_, o_.norm);
    return o_.clamp ? point(d) - x0_ : d;
  }

private:
  const AttackOptions& o_;
  const torch::Tensor& x0_;
  const torch::Tensor& eps_;
};

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

int attackSteps(const AttackOptions& options) {
  if (options.method == "noise") return 0;
  if (options.method == "fgsm") return 1;
  return options.steps;
}

double attackStepFraction(const AttackOptions& options) {
  if (options.method == "noise") return 0;
  if (options.stepFraction > 0) return options.stepFraction;
  if (options.method == "fgsm") return 1.0;
  if (options.method == "ifgsm") return 0.25;
  return 4.0 / std::max(options.steps, 1);  // pgd: alpha * eps / K, alpha = 4
}

std::string describeAttack(const AttackOptions& a) {
  if (a.method == "pgd")
    return "PGD-" + std::to_string(a.steps) + ", random start, step 4*eps/" + std::to_string(a.steps) + ", " +
           std::to_string(a.restarts) + " restart(s)";
  if (a.method == "ifgsm") return "IFGSM-" + std::to_string(a.steps) + ", step eps/4";
  if (a.method == "fgsm") return "FGSM, one step of eps";
  return "white noise of norm eps";
}

AttackOptions evaluationAttack(const std::string& method, const std::string& norm, int pgdSteps, int ifgsmSteps,
                               int restarts) {
  AttackOptions a;
  a.method = method;
  a.norm = norm;
  a.steps = method == "ifgsm" ? ifgsmSteps : pgdSteps;
  a.restarts = method == "pgd" ? restarts : 1;
  return a;
}

torch::Tensor attackLoss(const torch::Tensor& logits, const torch::Tensor& target, const std::string& loss,
                         const torch::Tensor& reference) {
  if (!oneOf(loss, {"ce", "dicece", "auto", "kl"}))
    throw Error("attack: unknown loss '" + loss + "' (expected ce, dicece, auto or kl)");
  const torch::Tensor t = labelTensor(target, logits);
  checkLossShapes(logits, t, loss, reference);
  checkLabels(logits, t);
  return perSampleLoss(logits, t, loss, reference);
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

  SlotRandom random(o, x0.size(0));
  const Perturber perturber(o, x0, e);

  if (o.method == "noise") {
    const torch::Tensor delta =
        o.norm == "linf" ? uniformInCube(x0, e, random) : uniformDirection(x0, random) * e;  // ||delta||_2 = eps
    return perturber.point(delta);
  }

  const torch::Tensor y = labelTensor(target, x0);
  const torch::Tensor reference = o.loss == "kl" ? o.referenceLogits.detach().to(x0.device()) : torch::Tensor();
  const int steps = attackSteps(o);
  const torch::Tensor step =
      o.stepSize.defined() ? perSampleValue(o.stepSize, x0, "step size") : e * attackStepFraction(o);
  const bool randomStart = o.method == "pgd" && o.randomStart;
  const int restarts = randomStart ? o.restarts : 1;
  if (o.finished && restarts > 1) throw Error("attack: a per-sample early stop needs a single restart");
  const bool evaluateFinal = restarts > 1 || static_cast<bool>(o.onIterate);

  bool checked = false;
  torch::Tensor best, bestLoss;
  for (int r = 0; r < restarts; ++r) {
    torch::Tensor delta = torch::zeros_like(x0);
    if (randomStart)
      delta = perturber.constrain(o.norm == "linf" ? uniformInCube(x0, e, random) : uniformInL2Ball(x0, e, random));
    ActiveSamples a{torch::arange(x0.size(0), torch::TensorOptions().dtype(torch::kLong).device(x0.device())),
                    x0, e, step, y, reference, delta, delta};
    a.byMask = o.retirement == AttackOptions::Retirement::Mask ||
               (o.retirement == AttackOptions::Retirement::Auto && x0.is_cuda());
    bool left = true;  // samples left to attack
    for (int k = 0; k < steps && left; ++k) {
      if (o.finished && !(left = a.retire(o.finished()))) break;
      const Perturber p(o, a.x0, a.eps);
      const torch::Tensor xadv = p.point(a.delta).detach().requires_grad_(true);
      torch::Tensor logits, loss, grad;
      {
        torch::AutoGradMode enableGrad(true);  // also under a caller's NoGradGuard
        logits = net.forward(xadv);
        if (!checked) {
          checkLossShapes(logits, a.y, o.loss, a.reference);
          checkLabels(logits, a.y);
          checked = true;
        }
        loss = perSampleLoss(logits, a.y, o.loss, a.reference);
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
    const torch::Tensor xa = Perturber(o, a.x0, a.eps).point(a.delta).detach();
    const torch::Tensor logits = net.forward(xa);
    const torch::Tensor loss = perSampleLoss(logits, a.y, o.loss, a.reference);
    if (o.onIterate) o.onIterate({r, steps, xa, logits, loss, a.samples});
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
