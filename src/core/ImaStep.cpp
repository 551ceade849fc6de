#include "ima/ImaStep.h"

#include "ima/Attacks.h"
#include "ima/Error.h"
#include "internal/EvalModeGuard.h"

namespace ima {
namespace {

torch::Tensor perSampleNorm(const torch::Tensor& d, Norm norm) {
  const torch::Tensor flat = d.reshape({d.size(0), -1});
  return norm == Norm::Linf ? flat.abs().amax(1) : flat.norm(2, 1);
}

torch::Tensor broadcastMask(const torch::Tensor& mask, const torch::Tensor& like) {
  std::vector<int64_t> view(static_cast<size_t>(like.dim()), 1);
  view[0] = like.size(0);
  return mask.reshape(view);
}

}  // namespace

ImaStepResult imaAdversarialStep(Network& net, const torch::Tensor& x, const torch::Tensor& target,
                                 const torch::Tensor& eps, const ImaStepOptions& o, const torch::Tensor& cleanLogits,
                                 const torch::Tensor& startDelta, const torch::Tensor& startMask) {
  if (o.pgd.steps < 1) throw Error("IMA needs at least one PGD step");
  if (!(o.bisectionTolerance >= 0)) throw Error("IMA's bisection tolerance must be >= 0");
  const torch::Tensor input = x.detach();
  const int64_t n = input.size(0);
  auto correct = [&](const torch::Tensor& logits, const torch::Tensor& t) {
    return isCorrect(logits, t, o.criterion, o.tau);
  };

  ImaStepResult r;
  // Per-sample tracking over the PGD iterates (iterate 0 is the start point).
  torch::Tensor lastCorrect = input.clone();
  torch::Tensor firstWrong = input.clone();
  torch::Tensor wrongSeen = torch::zeros({n}, torch::TensorOptions().dtype(torch::kBool).device(input.device()));
  const AttackIterateCallback record = [&](const AttackIterate& it) {
    // The iterate holds the samples still attacked; the rows of the others stay as they are.
    const bool all = it.samples.size(0) == n;
    auto rows = [&](const torch::Tensor& t) { return all ? t : t.index_select(0, it.samples); };
    auto update = [&](torch::Tensor& t, const torch::Tensor& rowsValue) {
      t = all ? rowsValue : t.index_copy(0, it.samples, rowsValue);
    };
    const torch::Tensor ok = correct(it.logits, rows(target));
    const torch::Tensor seen = rows(wrongSeen);
    const torch::Tensor fresh = ~ok & ~seen;  // first wrong iterate of these samples
    update(firstWrong, torch::where(broadcastMask(fresh, it.xadv), it.xadv, rows(firstWrong)));
    update(lastCorrect, torch::where(broadcastMask(ok & ~seen, it.xadv), it.xadv, rows(lastCorrect)));
    update(wrongSeen, seen | fresh);
  };
  // A sample that was correct and has crossed is done: its boundary point comes from the
  // bisection between the two iterates tracked, so the rest of its PGD path would be wasted.
  // Misclassified samples are done from the start when the caller has no use for their attack.
  const auto finished = [&] { return o.attackMisclassified ? r.cleanCorrect & wrongSeen : ~r.cleanCorrect | wrongSeen; };

  torch::Tensor pgd;
  {
    EvalModeGuard evalMode(net);
    {
      torch::NoGradGuard noGrad;
      r.cleanCorrect = correct(cleanLogits.defined() ? cleanLogits.detach() : net.forward(input), target);
    }
    AttackOptions a = o.pgd;
    a.method = AttackMethod::Pgd;
    a.restarts = 1;
    a.startDelta = startDelta;
    a.startMask = startMask;
    a.onIterate = record;
    a.finished = finished;
    a.reportFinalIterate = !o.reuseFinalForward;
    pgd = attack(net, input, target, eps, a);
  }

  torch::Tensor finalLogits;  // the last iterate's forward, in the caller's mode with autograd
  if (o.reuseFinalForward) {
    // The last iterate of the samples still attacked is checked here rather than in the attack.
    // Host synchronisation (as the bisection's): how many have crossed decides what is forwarded.
    const torch::Tensor active = (~finished()).nonzero().squeeze(1);
    if (active.size(0) > 0 && 2 * (n - active.size(0)) < n) {
      // The whole batch once, kept for the adversarial loss: the crossed samples' rows are
      // forwarded again at their boundary point, fewer than the active rows this saves.
      finalLogits = net.forward(pgd);
      record({0, o.pgd.steps, pgd.index_select(0, active), finalLogits.detach().index_select(0, active), {}, active});
    } else if (active.size(0) > 0) {
      EvalModeGuard evalMode(net);
      torch::NoGradGuard noGrad;
      const torch::Tensor xa = pgd.index_select(0, active);
      record({0, o.pgd.steps, xa, net.forward(xa), {}, active});
    }
  }

  r.found = r.cleanCorrect & wrongSeen;
  torch::Tensor crossed;  // the samples bisected
  {
    EvalModeGuard evalMode(net);
    torch::NoGradGuard noGrad;
    torch::Tensor adversarial = pgd;
    // Host synchronisation (unavoidable): the crossed samples decide the bisection's batch shape.
    if (r.found.any().item<bool>()) {
      // Only the samples that crossed are bisected: the others' forwards would be wasted.
      crossed = r.found.nonzero().squeeze(1);
      const torch::Tensor crossedTarget = target.index_select(0, crossed);
      const torch::Tensor inside = lastCorrect.index_select(0, crossed), outside = firstWrong.index_select(0, crossed);
      const torch::Tensor boundary =
          o.bisectionTolerance > 0
              ? bisectToBoundary(
                    [&](const torch::Tensor& z, const torch::Tensor& rows) {
                      return correct(net.forward(z), crossedTarget.index_select(0, rows));
                    },
                    inside, outside, o.bisectionSteps, o.bisection,
                    eps.detach().to(input.device(), torch::kDouble).reshape({-1}).expand({n}).index_select(0, crossed) *
                        o.bisectionTolerance,
                    o.pgd.norm)
              : bisectToBoundary([&](const torch::Tensor& z) { return correct(net.forward(z), crossedTarget); }, inside,
                                 outside, o.bisectionSteps, o.bisection);
      adversarial = pgd.index_copy(0, crossed, boundary);
    }
    r.adversarial = adversarial.detach();
    r.distance = torch::where(r.found, perSampleNorm(r.adversarial - input, o.pgd.norm),
                              torch::zeros({n}, eps.options().dtype(torch::kFloat)));
  }
  if (finalLogits.defined())
    r.adversarialLogits =
        crossed.defined() ? finalLogits.index_copy(0, crossed, net.forward(r.adversarial.index_select(0, crossed)))
                          : finalLogits;
  return r;
}

}  // namespace ima
