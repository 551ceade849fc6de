#include "ima/Apgd.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <sstream>

#include "ima/Error.h"
#include "internal/PredictedClasses.h"
#include "internal/AttackLosses.h"
#include "internal/Perturbation.h"

namespace ima {
namespace {

// A bool [N] mask as [N, 1, ..., 1] to select whole samples with torch::where.
torch::Tensor perSample(const torch::Tensor& mask, const torch::Tensor& x) { return mask.reshape(perSampleShape(x)); }

void checkOptions(const ApgdOptions& o) {
  if (o.steps < 1) throw Error("apgd: steps must be at least 1, got " + std::to_string(o.steps));
  if (!(o.momentum > 0 && o.momentum <= 1)) throw Error("apgd: momentum must lie in (0, 1]");
  if (o.clamp && !(o.clampLow <= o.clampHigh)) throw Error("apgd: the clamp range is empty");
  if (o.loss == AttackLoss::KL) throw Error("apgd: the kl loss needs reference logits, which apgd does not take");
}

// Per sample: beaten = the label has foreground and no foreground voxel is predicted right
// (segmentation), or the class is wrong (classification).
torch::Tensor beaten(const torch::Tensor& logits, const torch::Tensor& y) {
  const torch::Tensor pred = predictedClasses(logits);
  if (logits.dim() == 2) return pred != y;
  const torch::Tensor fg = (y > 0).reshape({y.size(0), -1});
  const torch::Tensor rightFg = fg & (pred == y).reshape({y.size(0), -1});
  return fg.any(1) & ~rightFg.any(1);
}

struct Evaluation {
  torch::Tensor loss, grad, beaten;
};

// One APGD run of `steps` iterations in the balls of radius e ([N]) from startDelta (inside them);
// returns each sample's best perturbation (or its early-stop one).
torch::Tensor runApgd(Network& net, const torch::Tensor& x0, const torch::Tensor& y, const torch::Tensor& e,
                      const torch::Tensor& startDelta, int steps, int stage, const ApgdOptions& o) {
  const int64_t n = x0.size(0);
  const torch::Tensor epsS = e.reshape(perSampleShape(x0));
  const PerturbationBall ball(o.norm, o.clamp, o.clampLow, o.clampHigh, x0, epsS);
  const auto boolOpts = torch::TensorOptions().dtype(torch::kBool).device(x0.device());

  bool checked = false;  // shapes and labels, once per stage (one device sync)
  const auto evaluate = [&](const torch::Tensor& delta) {
    const torch::Tensor xadv = ball.point(delta).detach().requires_grad_(true);
    torch::AutoGradMode enableGrad(true);  // also under a caller's NoGradGuard
    const torch::Tensor logits = net.forward(xadv);
    if (!checked) {
      checkAttackLossInputs(logits, y, o.loss, {}, "apgd");
      checked = true;
    }
    const torch::Tensor loss = perSampleAttackLoss(logits, y, o.loss, {});
    const torch::Tensor total = loss.sum();
    torch::Tensor grad = torch::zeros_like(xadv);
    if (total.requires_grad()) {
      const auto g = torch::autograd::grad({total}, {xadv}, {}, false, false, /*allow_unused=*/true);
      if (g[0].defined()) grad = g[0];
    }
    const torch::Tensor done = o.earlyStop ? beaten(logits.detach(), y) : torch::zeros({n}, boolOpts);
    return Evaluation{loss.detach(), grad, done};
  };

  torch::Tensor delta = startDelta;
  Evaluation current = evaluate(delta);
  torch::Tensor loss = current.loss, grad = current.grad, finished = current.beaten;
  torch::Tensor step = 2 * e;  // [N]
  torch::Tensor best = delta, bestLoss = loss, bestGrad = grad;
  torch::Tensor previous = delta;
  torch::Tensor plainStep = torch::ones({n}, boolOpts);  // the first step, and the one after a restart
  torch::Tensor increases = torch::zeros({n}, torch::TensorOptions().dtype(torch::kLong).device(x0.device()));
  torch::Tensor bestAtCheckpoint = bestLoss, halvedAtCheckpoint = torch::zeros({n}, boolOpts);
  const std::vector<int> checkpoints = apgdCheckpoints(steps);
  size_t nextCheckpoint = 1;
  if (o.onIterate) o.onIterate({stage, 0, ball.point(delta), loss, step, torch::zeros({n}, boolOpts), finished});

  for (int k = 0; k < steps; ++k) {
    if (finished.all().item<bool>()) break;
    const torch::Tensor active = ~finished;
    const torch::Tensor stepS = step.reshape(perSampleShape(x0));
    const torch::Tensor z = ball.constrain(delta + stepS * ascentDirection(grad, o.norm));
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
    if (o.onIterate) o.onIterate({stage, k + 1, ball.point(delta), loss, step, restarted, finished});
  }
  return best;
}

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

std::vector<RadiusStage> radiusAnnealingStages(int steps) {
  const int early = static_cast<int>(std::floor(0.3 * steps + 1e-9));  // tolerance: 0.3 * 10 is 3
  std::vector<RadiusStage> stages;
  for (const RadiusStage& s : {RadiusStage{2.0, early}, RadiusStage{1.5, early}, RadiusStage{1.0, steps - 2 * early}})
    if (s.steps > 0) stages.push_back(s);
  return stages;
}

std::string describeApgd(const ApgdOptions& o) {
  std::ostringstream s;
  s << "APGD-" << o.steps << " (" << normName(o.norm) << "), loss " << attackLossName(o.loss) << ", momentum " << o.momentum
    << (o.randomStart ? ", random start" : "") << (o.radiusAnnealing ? ", radius annealing 2/1.5/1 eps" : "");
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
  const torch::Tensor y = target.detach().to(x0.device(), torch::kLong);

  const std::vector<RadiusStage> stages =
      o.radiusAnnealing ? radiusAnnealingStages(o.steps) : std::vector<RadiusStage>{RadiusStage{1.0, o.steps}};
  torch::Tensor delta = torch::zeros_like(x0);
  if (o.randomStart) {
    SlotRandom random(o.seed, x0.size(0));
    delta = randomStart(x0, (stages.front().radius * e).reshape(perSampleShape(x0)), o.norm, random);
  }
  for (size_t s = 0; s < stages.size(); ++s) {
    // Each stage starts from the previous result projected into its (smaller) ball.
    const torch::Tensor radius = stages[s].radius * e;
    const torch::Tensor radiusS = radius.reshape(perSampleShape(x0));
    delta = PerturbationBall(o.norm, o.clamp, o.clampLow, o.clampHigh, x0, radiusS).constrain(delta);
    delta = runApgd(net, x0, y, radius, delta, stages[s].steps, o.radiusAnnealing ? static_cast<int>(s) : 0, o);
  }
  const torch::Tensor epsS = e.reshape(perSampleShape(x0));
  return PerturbationBall(o.norm, o.clamp, o.clampLow, o.clampHigh, x0, epsS).point(delta).detach();
}

}  // namespace ima
