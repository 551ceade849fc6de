#include "ima/Apgd.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <sstream>

#include "ima/Attacks.h"
#include "ima/Error.h"

namespace ima {
namespace {

constexpr double kTinyNorm = 1e-30;  // a zero gradient gives a zero direction, not NaN

std::vector<int64_t> perSampleShape(const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  return shape;
}

torch::Tensor sampleNorms(const torch::Tensor& t) {
  return t.reshape({t.size(0), -1}).pow(2).sum(1).sqrt().reshape(perSampleShape(t));
}

// A bool [N] mask as [N, 1, ..., 1] to select whole samples with torch::where.
torch::Tensor perSample(const torch::Tensor& mask, const torch::Tensor& x) { return mask.reshape(perSampleShape(x)); }

void checkOptions(const ApgdOptions& o) {
  if (o.norm != "l2" && o.norm != "linf") throw Error("apgd: unknown norm '" + o.norm + "' (expected l2 or linf)");
  if (o.steps < 1) throw Error("apgd: steps must be at least 1, got " + std::to_string(o.steps));
  if (!(o.momentum > 0 && o.momentum <= 1)) throw Error("apgd: momentum must lie in (0, 1]");
  if (o.clamp && !(o.clampLow <= o.clampHigh)) throw Error("apgd: the clamp range is empty");
}

// Per sample: beaten = the label has foreground and no foreground voxel is predicted right
// (segmentation), or the class is wrong (classification).
torch::Tensor beaten(const torch::Tensor& logits, const torch::Tensor& y) {
  const torch::Tensor pred = logits.argmax(1);
  if (logits.dim() == 2) return pred != y;
  const torch::Tensor fg = (y > 0).reshape({y.size(0), -1});
  const torch::Tensor rightFg = fg & (pred == y).reshape({y.size(0), -1});
  return fg.any(1) & ~rightFg.any(1);
}

class Ball {
public:
  Ball(const ApgdOptions& o, const torch::Tensor& x0, const torch::Tensor& eps) : o_(o), x0_(x0), eps_(eps) {}
  torch::Tensor point(const torch::Tensor& delta) const {
    const torch::Tensor p = x0_ + delta;
    return o_.clamp ? p.clamp(o_.clampLow, o_.clampHigh) : p;
  }
  // Projection onto the ball, then onto the intensity range (x0 inside the range stays inside the ball).
  torch::Tensor constrain(const torch::Tensor& delta) const {
    torch::Tensor d;
    if (o_.norm == "linf")
      d = torch::maximum(torch::minimum(delta, eps_), -eps_);
    else
      d = delta * (eps_ / sampleNorms(delta).clamp_min(kTinyNorm)).clamp_max(1.0);
    return o_.clamp ? point(d) - x0_ : d;
  }
  torch::Tensor direction(const torch::Tensor& g) const {
    return o_.norm == "linf" ? g.sign() : g / sampleNorms(g).clamp_min(kTinyNorm);
  }

private:
  const ApgdOptions& o_;
  const torch::Tensor& x0_;
  const torch::Tensor& eps_;
};

// The random start of ima::attack's PGD: uniform in the Linf cube or the L2 ball.
torch::Tensor randomStart(const torch::Tensor& x, const torch::Tensor& eps, const std::string& norm, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto opts = torch::TensorOptions().dtype(x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
  if (norm == "linf") return (2 * torch::rand(x.sizes(), gen, opts) - 1).to(x.device(), x.scalar_type()) * eps;
  const torch::Tensor g = torch::randn(x.sizes(), gen, opts);
  const torch::Tensor dir = (g / sampleNorms(g).clamp_min(kTinyNorm)).to(x.device(), x.scalar_type());
  const double d = static_cast<double>(x.numel() / x.size(0));
  const torch::Tensor u = torch::rand({x.size(0)}, gen, opts.dtype(torch::kDouble)).pow(1.0 / d);
  return dir * u.to(x.device(), x.scalar_type()).reshape(perSampleShape(x)) * eps;
}

struct Evaluation {
  torch::Tensor loss, grad, beaten;
};

}  // namespace

std::vector<int> apgdCheckpoints(int steps) {
  std::vector<int> w{0};
  double previous = 0, p = 0.22;
  while (true) {
    // The small tolerance keeps 0.22 * 100 at 22 despite rounding.
    const int checkpoint = static_cast<int>(std::ceil(p * steps - 1e-9));
    if (checkpoint > steps) break;
    if (checkpoint > w.back()) w.push_back(checkpoint);
    const double next = p + std::max(p - previous - 0.03, 0.06);
    previous = p;
    p = next;
  }
  return w;
}

std::string describeApgd(const ApgdOptions& o) {
  std::ostringstream s;
  s << "APGD-" << o.steps << " (" << o.norm << "), loss " << o.loss << ", momentum " << o.momentum
    << (o.randomStart ? ", random start" : "");
  return s.str();
}

torch::Tensor apgd(Network& net, const torch::Tensor& x, const torch::Tensor& target, const torch::Tensor& eps,
                   const ApgdOptions& o) {
  checkOptions(o);
  if (!x.defined() || x.dim() < 2 || !x.is_floating_point())
    throw Error("apgd: input must be a floating-point [N, C, ...] tensor");
  const torch::Device xd = x.device(), nd = net.device();
  if (xd.type() != nd.type() || (xd.has_index() && nd.has_index() && xd.index() != nd.index()))
    throw Error("apgd: input is on " + x.device().str() + " but the network on " + net.device().str());
  if (!target.defined() || target.is_floating_point()) throw Error("apgd: target must hold integer labels");
  const torch::Tensor x0 = x.detach();
  const int64_t n = x0.size(0);
  if (n == 0) return x0.clone();
  if (!eps.defined() || !(eps.dim() == 0 || (eps.dim() == 1 && (eps.size(0) == 1 || eps.size(0) == n))))
    throw Error("apgd: eps must be a scalar or have shape [" + std::to_string(n) + "] (one per sample)");
  const torch::Tensor e = eps.detach().to(x0.device(), x0.scalar_type()).reshape({-1}).expand({n});
  if (!torch::isfinite(e).all().item<bool>() || (e < 0).any().item<bool>())
    throw Error("apgd: eps must be finite and >= 0");
  if ((e == 0).all().item<bool>()) return x0.clone();
  const torch::Tensor epsS = e.reshape(perSampleShape(x0));
  const torch::Tensor y = target.detach().to(x0.device(), torch::kLong);
  const Ball ball(o, x0, epsS);

  const auto evaluate = [&](const torch::Tensor& delta) {
    const torch::Tensor xadv = ball.point(delta).detach().requires_grad_(true);
    torch::AutoGradMode enableGrad(true);  // also under a caller's NoGradGuard
    const torch::Tensor logits = net.forward(xadv);
    const torch::Tensor loss = attackLoss(logits, y, o.loss);  // checks shapes and labels
    const torch::Tensor total = loss.sum();
    torch::Tensor grad = torch::zeros_like(xadv);
    if (total.requires_grad()) {
      const auto g = torch::autograd::grad({total}, {xadv}, {}, false, false, /*allow_unused=*/true);
      if (g[0].defined()) grad = g[0];
    }
    const torch::Tensor done =
        o.earlyStop ? beaten(logits.detach(), y) : torch::zeros({n}, torch::TensorOptions().dtype(torch::kBool).device(x0.device()));
    return Evaluation{loss.detach(), grad, done};
  };

  torch::Tensor delta = o.randomStart ? ball.constrain(randomStart(x0, epsS, o.norm, o.seed)) : torch::zeros_like(x0);
  Evaluation current = evaluate(delta);
  torch::Tensor loss = current.loss, grad = current.grad, finished = current.beaten;
  torch::Tensor step = 2 * e;  // [N]
  torch::Tensor best = delta, bestLoss = loss, bestGrad = grad;
  torch::Tensor previous = delta;
  const auto boolOpts = torch::TensorOptions().dtype(torch::kBool).device(x0.device());
  torch::Tensor plainStep = torch::ones({n}, boolOpts);  // the first step, and the one after a restart
  torch::Tensor increases = torch::zeros({n}, torch::TensorOptions().dtype(torch::kLong).device(x0.device()));
  torch::Tensor bestAtCheckpoint = bestLoss, halvedAtCheckpoint = torch::zeros({n}, boolOpts);
  const std::vector<int> checkpoints = apgdCheckpoints(o.steps);
  size_t nextCheckpoint = 1;
  if (o.onIterate) o.onIterate({0, ball.point(delta), loss, step, torch::zeros({n}, boolOpts), finished});

  for (int k = 0; k < o.steps; ++k) {
    if (finished.all().item<bool>()) break;
    const torch::Tensor active = ~finished;
    const torch::Tensor stepS = step.reshape(perSampleShape(x0));
    const torch::Tensor z = ball.constrain(delta + stepS * ball.direction(grad));
    const torch::Tensor a = torch::where(plainStep, torch::ones_like(step), torch::full_like(step, o.momentum))
                                .reshape(perSampleShape(x0));
    torch::Tensor next = ball.constrain(delta + a * (z - delta) + (1 - a) * (delta - previous));
    next = torch::where(perSample(active, x0), next, delta);
    const Evaluation ev = evaluate(next);

    increases += ((ev.loss > loss) & active).to(torch::kLong);
    const torch::Tensor improved = (ev.loss > bestLoss) & active;
    const torch::Tensor stopped = ev.beaten & active;  // its result is the point that beat it
    const torch::Tensor take = improved | stopped;
    best = torch::where(perSample(take, x0), next, best);
    bestLoss = torch::where(take, ev.loss, bestLoss);
    bestGrad = torch::where(perSample(take, x0), ev.grad, bestGrad);
    finished = finished | stopped;
    previous = delta;
    delta = next;
    loss = torch::where(active, ev.loss, loss);
    grad = ev.grad;
    plainStep = torch::zeros({n}, boolOpts);

    torch::Tensor restarted = torch::zeros({n}, boolOpts);
    if (nextCheckpoint < checkpoints.size() && k + 1 == checkpoints[nextCheckpoint]) {
      const int window = checkpoints[nextCheckpoint] - checkpoints[nextCheckpoint - 1];
      const torch::Tensor fewIncreases = increases.to(torch::kDouble) <= 0.75 * window;
      const torch::Tensor stalled = ~halvedAtCheckpoint & (bestAtCheckpoint >= bestLoss);
      restarted = (fewIncreases | stalled) & ~finished;
      const torch::Tensor r = perSample(restarted, x0);
      step = torch::where(restarted, step / 2, step);
      delta = torch::where(r, best, delta);
      previous = torch::where(r, best, previous);
      grad = torch::where(r, bestGrad, grad);
      loss = torch::where(restarted, bestLoss, loss);
      plainStep = restarted;
      increases.zero_();
      bestAtCheckpoint = bestLoss;
      halvedAtCheckpoint = restarted;
      ++nextCheckpoint;
    }
    if (o.onIterate) o.onIterate({k + 1, ball.point(delta), loss, step, restarted, finished});
  }
  return ball.point(best).detach();
}

}  // namespace ima
