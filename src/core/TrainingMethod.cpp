#include "ima/TrainingMethod.h"

#include <algorithm>

#include "ima/Attacks.h"
#include "ima/Communicator.h"
#include "ima/Error.h"
#include "internal/EvalModeGuard.h"
#include "internal/Losses.h"

namespace ima {
torch::Tensor taskLoss(const torch::Tensor& logits, const torch::Tensor& target) {
  if (logits.dim() == 2) return torch::nn::functional::cross_entropy(logits, target);
  return diceCrossEntropy(logits, target);
}

// The training attacks' PGD from the method's options: PGD-AT's and TRADES' in a fixed ball, and
// IMA's search in each sample's own.
AttackOptions TrainingMethod::trainingAttack(uint64_t seed) const {
  const AdversarialOptions& a = options_;
  AttackOptions o;
  o.method = AttackMethod::Pgd;
  o.norm = a.norm;
  o.steps = a.pgdSteps;
  o.stepFraction = a.alpha / a.pgdSteps;
  o.clamp = a.clamp;
  o.clampLow = a.clampLow;
  o.clampHigh = a.clampHigh;
  o.seed = seed;
  if (partition_.communicator) {
    o.randomBatch = partition_.globalBatch;
    o.randomOffset = partition_.firstSlot;
  }
  return o;
}

torch::Tensor TrainingMethod::batchTaskLoss(const torch::Tensor& logits, const torch::Tensor& target) const {
  // Cross-entropy alone is a mean over samples: the trainer's share weighting makes it global.
  if (!partition_.communicator || logits.dim() == 2) return taskLoss(logits, target);
  Communicator& communicator = *partition_.communicator;
  const double share = static_cast<double>(logits.size(0)) / partition_.globalBatch;
  return diceCrossEntropyOfGlobalBatch(logits, target, share, [&](const torch::Tensor& sums) {
    torch::Tensor total = sums.clone();
    communicator.allReduce({total});
    return total;
  });
}

TrainingMethod::TrainingMethod(TrainingMethodKind kind, AdversarialOptions a) : kind_(kind), options_(std::move(a)) {
  if (kind_ == TrainingMethodKind::Standard) return;
  if (options_.pgdSteps < 1 || options_.bisectionSteps < 0) throw Error("PGD steps must be >= 1 and bisection steps >= 0");
  if (!(options_.alpha > 0)) throw Error("alpha must be > 0");
  if (!(options_.bisectionTolerance >= 0)) throw Error("the bisection tolerance must be >= 0");
  if (!(options_.beta >= 0 && options_.beta <= 1)) throw Error("beta must be in [0, 1]");
  if (!(options_.tradesBeta >= 0)) throw Error("the TRADES beta must be >= 0");
  imaStep_.bisectionSteps = options_.bisectionSteps;
  imaStep_.bisectionTolerance = options_.bisectionTolerance;
  imaStep_.bisection = options_.bisection;
  imaStep_.criterion = options_.criterion;
  imaStep_.tau = options_.tau;
  if ((kind_ == TrainingMethodKind::Pgd || kind_ == TrainingMethodKind::Trades) && !(options_.eps > 0))
    throw Error(std::string(trainingMethodName(kind_)) + " training needs eps > 0");
  if (kind_ == TrainingMethodKind::Ima) MarginState(1, MarginOptions{options_.delta, options_.epsMax, options_.resetMisclassified});  // validates
}

void TrainingMethod::setSampleCount(int64_t samples) {
  if (kind_ != TrainingMethodKind::Ima) return;
  if (!pendingMargins_.empty()) {
    margins_ = MarginState::fromJson(pendingMargins_);
    pendingMargins_.clear();
  }
  warm_.checkIds(samples);
  if (margins_.size() == samples) return;
  if (margins_.size() > 0)
    throw Error("the checkpoint's margins cover " + std::to_string(margins_.size()) + " samples but this training set has " +
                std::to_string(samples) + "; resume with the same training data");
  margins_ = MarginState(samples, MarginOptions{options_.delta, options_.epsMax, options_.resetMisclassified});
}

torch::Tensor TrainingMethod::loss(Network& net, const torch::Tensor& x, const torch::Tensor& y,
                                   const std::vector<int64_t>& ids, uint64_t seed,
                                   const std::vector<PatchPlacement>& placements) {
  switch (kind_) {
    case TrainingMethodKind::Standard: return batchTaskLoss(net.forward(x), y);
    case TrainingMethodKind::Ima: return imaLoss(net, x, y, ids, seed, placements);
    case TrainingMethodKind::Trades: return tradesLoss(net, x, y, seed);
    case TrainingMethodKind::Pgd: break;
  }
  // Madry et al.: the worst case inside a fixed ball, attacked in eval mode.
  torch::Tensor xAdv;
  {
    EvalModeGuard evalMode(net);
    xAdv = attack(net, x, y, options_.eps, trainingAttack(seed));
  }
  return batchTaskLoss(net.forward(xAdv), y);
}

torch::Tensor TrainingMethod::tradesLoss(Network& net, const torch::Tensor& x, const torch::Tensor& y, uint64_t seed) {
  AttackOptions o = trainingAttack(seed);
  o.loss = AttackLoss::KL;
  torch::Tensor xAdv;
  {
    // As in TRADES' reference code: the clean distribution and the attack in eval mode. The
    // random start matters here: at x itself the KL's gradient is zero.
    EvalModeGuard evalMode(net);
    {
      torch::NoGradGuard noGrad;
      o.referenceLogits = net.forward(x);
    }
    xAdv = attack(net, x, y, options_.eps, o);
  }
  const torch::Tensor clean = net.forward(x);
  const torch::Tensor adversarial = net.forward(xAdv);
  // KL(p_clean || p_adv), summed over classes, averaged over samples and pixels.
  const torch::Tensor logClean = torch::log_softmax(clean, 1);
  const torch::Tensor kl = (logClean.exp() * (logClean - torch::log_softmax(adversarial, 1))).sum(1).mean();
  return batchTaskLoss(clean, y) + options_.tradesBeta * kl;
}

torch::Tensor TrainingMethod::imaLoss(Network& net, const torch::Tensor& x, const torch::Tensor& y,
                                      const std::vector<int64_t>& ids, uint64_t seed,
                                      const std::vector<PatchPlacement>& placements) {
  if (static_cast<int64_t>(ids.size()) != x.size(0)) throw Error("IMA needs one sample id per sample of the minibatch");
  if (!placements.empty() && placements.size() != ids.size()) throw Error("IMA needs one placement per sample of the minibatch");
  std::vector<float> epsValues;
  for (int64_t id : ids) epsValues.push_back(static_cast<float>(margins_.eps(id)));
  const torch::Tensor eps = torch::tensor(epsValues).to(x.device());
  const torch::Tensor logits = net.forward(x);
  const bool classification = logits.dim() == 2;
  const AdversarialSamples samples = options_.adversarialSamples;
  const bool all = samples == AdversarialSamples::All || (samples == AdversarialSamples::Auto && !classification);
  imaStep_.pgd = trainingAttack(seed);  // the budget is each sample's eps_i
  imaStep_.attackMisclassified = all;
  imaStep_.reuseFinalForward = all && net.modeIndependent();
  WarmStarts::Recalled start;
  if (options_.warmStart) start = recallWarmStarts(ids, placements, x);
  const ImaStepResult r = imaAdversarialStep(net, x, y, eps, imaStep_, logits.detach(), start.delta, start.found);
  if (options_.warmStart) keepWarmStarts(ids, placements, r.adversarial - x.detach());
  const torch::Tensor clean = batchTaskLoss(logits, y);
  torch::Tensor adversarial = torch::zeros({}, clean.options());
  if (all) {
    adversarial = batchTaskLoss(r.adversarialLogits.defined() ? r.adversarialLogits : net.forward(r.adversarial), y);
  } else if (r.found.any().item<bool>()) {
    const torch::Tensor chosen = r.found.nonzero().squeeze(1);
    adversarial = taskLoss(net.forward(r.adversarial.index_select(0, chosen)), y.index_select(0, chosen));
  }
  const torch::Tensor correct = r.cleanCorrect.cpu(), found = r.found.cpu(), distance = r.distance.cpu().to(torch::kDouble);
  const auto* c = correct.data_ptr<bool>();
  const auto* f = found.data_ptr<bool>();
  const auto* d = distance.data_ptr<double>();
  for (size_t b = 0; b < ids.size(); ++b) margins_.recordVisit(ids[b], c[b], f[b], d[b]);
  return (1 - options_.beta) * clean + options_.beta * adversarial;
}

void TrainingMethod::gatherSlots(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& placements) {
  // Each rank fills its own slots' rows of zeros: the sum is every slot's id, start and flips.
  const int global = partition_.globalBatch, first = partition_.firstSlot;
  torch::Tensor where = torch::zeros({global, 7}, torch::kDouble);
  for (size_t i = 0; i < ids.size(); ++i) {
    const PatchPlacement p = placements.empty() ? PatchPlacement{} : placements[i];
    const int64_t row = first + static_cast<int64_t>(i);
    where[row][0] = static_cast<double>(ids[i]);
    for (size_t a = 0; a < 3; ++a) {
      where[row][1 + static_cast<int64_t>(a)] = static_cast<double>(p.start[a]);
      where[row][4 + static_cast<int64_t>(a)] = p.flipped[a] ? 1.0 : 0.0;
    }
  }
  partition_.communicator->allReduce({where});
  slotIds_.assign(static_cast<size_t>(global), 0);
  slotPlacements_.assign(static_cast<size_t>(global), PatchPlacement{});
  const auto* w = where.data_ptr<double>();
  for (size_t i = 0; i < slotIds_.size(); ++i) {
    slotIds_[i] = static_cast<int64_t>(w[i * 7]);
    for (size_t a = 0; a < 3; ++a) {
      slotPlacements_[i].start[a] = static_cast<int64_t>(w[i * 7 + 1 + a]);
      slotPlacements_[i].flipped[a] = w[i * 7 + 4 + a] != 0;
    }
  }
}

WarmStarts::Recalled TrainingMethod::recallWarmStarts(const std::vector<int64_t>& ids,
                                                      const std::vector<PatchPlacement>& placements,
                                                      const torch::Tensor& x) {
  if (!partition_.communicator || partition_.sharded) return warm_.recall(ids, placements, x);
  // Shared cases: each slot's start comes from the rank that owns its sample; the others add zeros.
  gatherSlots(ids, placements);
  std::vector<int64_t> shape = x.sizes().vec();
  shape[0] = partition_.globalBatch;
  const WarmStarts::Recalled owned = warm_.recall(slotIds_, slotPlacements_, torch::empty(shape, torch::kFloat));
  torch::Tensor found = owned.found.to(torch::kLong);
  partition_.communicator->allReduce({owned.delta, found});
  const int64_t first = partition_.firstSlot, n = x.size(0);
  return {owned.delta.narrow(0, first, n).to(x.device(), x.scalar_type()),
          found.narrow(0, first, n).to(torch::kBool).to(x.device())};
}

void TrainingMethod::keepWarmStarts(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& placements,
                                    const torch::Tensor& delta) {
  if (!partition_.communicator || partition_.sharded) return warm_.store(ids, placements, delta);
  // Shared cases: the global batch's perturbations (the ranks' slots are disjoint: a sum gathers
  // them), of which each rank keeps the samples it owns; recallWarmStarts gathered the slots.
  if (slotIds_.size() != static_cast<size_t>(partition_.globalBatch) ||
      !std::equal(ids.begin(), ids.end(), slotIds_.begin() + partition_.firstSlot))
    throw Error("warm starts: this minibatch's slots were not gathered before its perturbations are kept");
  std::vector<int64_t> shape = delta.sizes().vec();
  shape[0] = partition_.globalBatch;
  torch::Tensor all = torch::zeros(shape, torch::kFloat);
  all.narrow(0, partition_.firstSlot, delta.size(0)).copy_(delta.detach().to(torch::kCPU, torch::kFloat));
  partition_.communicator->allReduce({all});
  const Communicator& c = *partition_.communicator;
  std::vector<int64_t> ownIds, rows;
  std::vector<PatchPlacement> ownPlacements;
  for (size_t i = 0; i < slotIds_.size(); ++i)
    if (warmStartOwner(slotIds_[i], c.worldSize()) == c.rank()) {
      ownIds.push_back(slotIds_[i]);
      ownPlacements.push_back(slotPlacements_[i]);
      rows.push_back(static_cast<int64_t>(i));
    }
  if (!rows.empty()) warm_.store(ownIds, ownPlacements, all.index_select(0, torch::tensor(rows)));
}

std::optional<MarginStatistics> TrainingMethod::endEpoch() {
  if (kind_ != TrainingMethodKind::Ima) return std::nullopt;
  return margins_.endEpoch();
}

std::string TrainingMethod::stateJson() const { return kind_ == TrainingMethodKind::Ima ? margins_.toJson() : std::string(); }

void TrainingMethod::restoreState(const std::string& json) {
  if (kind_ == TrainingMethodKind::Ima && !json.empty()) {
    pendingMargins_ = json;
    margins_ = MarginState();
  }
}

}  // namespace ima
