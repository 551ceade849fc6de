// The minibatch loss of each training method, shared by the segmentation trainer (patches of
// volumes) and the classification trainer (whole images):
//   standard  the task loss on clean samples;
//   pgd       Madry et al.: the task loss on PGD samples inside a fixed ball;
//   trades    Zhang et al.: clean task loss + tradesBeta * KL(clean || adversarial), the
//             adversarial sample maximising that KL inside a fixed ball;
//   ima       docs/architecture.md §5: (1 - beta) * clean + beta * adversarial loss, adversarial samples on
//             or within each sample's own margin, margins updated at the end of every epoch.
// The task loss is cross-entropy for [N, K] logits and Dice+CE for segmentation logits.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ima/AdversarialOptions.h"
#include "ima/Attacks.h"
#include "ima/ImaStep.h"
#include "ima/MarginState.h"
#include "ima/Network.h"
#include "ima/TrainingChoices.h"
#include "ima/WarmStarts.h"

namespace ima {

// Cross-entropy for [N, K] logits (classification), nnU-Net's Dice+CE otherwise.
torch::Tensor taskLoss(const torch::Tensor& logits, const torch::Tensor& target);

class Communicator;

// One process's part of a data-parallel global batch (docs/distributed.md): its minibatches are the
// slots [firstSlot, firstSlot + N) of batches of globalBatch samples. The batch Dice's sums are
// combined across processes and the attacks draw the global batch's random numbers and keep these
// slots, so that the processes' gradients, weighted by their shares N / globalBatch and summed,
// are one process's on the whole batch.
struct BatchPartition {
  Communicator* communicator = nullptr;  // null: one process
  int globalBatch = 0;
  int firstSlot = 0;
  // Cases sharded across the processes: a process only ever draws its own samples, so it keeps
  // only their warm starts (rank 0 gathers them all for a checkpoint).
  bool sharded = false;
};

// Data parallel over shared cases: any rank may draw any sample, so a sample's warm start is kept
// by one rank, its owner, which hands it to the rank that draws it.
inline int warmStartOwner(int64_t id, int worldSize) { return static_cast<int>(id % worldSize); }

class TrainingMethod {
public:
  // Throws ima::Error for out-of-range options.
  TrainingMethod(TrainingMethodKind kind, AdversarialOptions options);

  std::string name() const { return trainingMethodName(kind_); }
  TrainingMethodKind kind() const { return kind_; }
  const AdversarialOptions& options() const { return options_; }

  // IMA: the number of samples with stable ids 0..samples-1. Margins restored from a checkpoint
  // must cover exactly this many samples (ima::Error otherwise); fresh margins start at delta.
  void setSampleCount(int64_t samples);

  // The loss of one minibatch, to be back-propagated by the caller. net in training mode (the
  // attacks run in eval mode and restore it); x [N, C, ...] normalised, y the labels, ids [N] the
  // samples' stable ids (used by IMA only), seed for the attacks' random numbers, placements where
  // each sample lies in its case (IMA's warm starts; empty: whole fixed samples, as in
  // classification).
  torch::Tensor loss(Network& net, const torch::Tensor& x, const torch::Tensor& y, const std::vector<int64_t>& ids,
                     uint64_t seed, const std::vector<PatchPlacement>& placements = {});

  // Data-parallel training: the partition of every following minibatch (default: one process).
  void setBatchPartition(const BatchPartition& partition) { partition_ = partition; }

  // End of an epoch: IMA's margin update and the statistics of the new margins (none for the
  // other methods).
  std::optional<MarginStatistics> endEpoch();

  // Checkpoint state (IMA margins, exact); "" when the method has none.
  std::string stateJson() const;
  void restoreState(const std::string& json);
  const MarginState& margins() const { return margins_; }
  MarginState& margins() { return margins_; }  // distributed training combines the epoch's visits
  // IMA's warm starts (kept in checkpoints; checked against the sample count by setSampleCount).
  const WarmStarts& warmStarts() const { return warm_; }
  WarmStarts& warmStarts() { return warm_; }  // data parallel: trimmed to what this rank owns
  void restoreWarmStarts(WarmStarts warm) { warm_ = std::move(warm); }

private:
  torch::Tensor imaLoss(Network& net, const torch::Tensor& x, const torch::Tensor& y, const std::vector<int64_t>& ids,
                        uint64_t seed, const std::vector<PatchPlacement>& placements);
  // This minibatch's warm starts; data parallel over shared cases: from the ranks that own them.
  WarmStarts::Recalled recallWarmStarts(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& placements,
                                        const torch::Tensor& x);
  // Keeps this minibatch's adversarial perturbations; data parallel over shared cases: those of
  // the global batch's samples this rank owns.
  void keepWarmStarts(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& placements,
                      const torch::Tensor& delta);
  // Data parallel over shared cases: every slot's sample id and placement (slotIds_, slotPlacements_).
  void gatherSlots(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& placements);
  torch::Tensor tradesLoss(Network& net, const torch::Tensor& x, const torch::Tensor& y, uint64_t seed);
  // taskLoss of this process's part of the global batch (BatchPartition).
  torch::Tensor batchTaskLoss(const torch::Tensor& logits, const torch::Tensor& target) const;
  AttackOptions trainingAttack(uint64_t seed) const;

  TrainingMethodKind kind_;
  AdversarialOptions options_;
  ImaStepOptions imaStep_;
  MarginState margins_;
  WarmStarts warm_;
  std::string pendingMargins_;  // restored before the sample count is known
  BatchPartition partition_;
  std::vector<int64_t> slotIds_;  // this step's global batch (gatherSlots)
  std::vector<PatchPlacement> slotPlacements_;
};

}  // namespace ima
