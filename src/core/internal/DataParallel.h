// The trainer's side of data-parallel training (docs/distributed.md): which process this is, and
// the collective steps every rank takes in the same order. With a world of one (no communicator)
// each step does nothing.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ima/Communicator.h"
#include "ima/MarginState.h"
#include "ima/Network.h"
#include "ima/WarmStarts.h"

namespace ima {

// The processes of a data-parallel run; a world of one without a communicator.
struct World {
  Communicator* communicator = nullptr;
  int rank = 0, size = 1;
  explicit World(const std::shared_ptr<Communicator>& c)
      : communicator(c && c->worldSize() > 1 ? c.get() : nullptr), rank(communicator ? c->rank() : 0),
        size(communicator ? c->worldSize() : 1) {}
  bool writes() const { return rank == 0; }  // logs, checkpoints and the model
};

// Every rank starts from rank 0's weights and buffers (also after --init or --resume).
void broadcastWeights(const World& world, Network& net);
// Gradients of each rank's mean loss weighted by its share of the global batch and summed: the
// gradient of the global batch's mean loss (for a loss that is a mean over samples).
void averageGradients(const World& world, Network& net, double share);
// IMA: the epoch's visits of all ranks combined, so every rank applies the same update.
void combineMarginVisits(const World& world, MarginState& margins);
// Sharded cases: the first sample id of this rank (the lower ranks' samples come first) and the
// number of samples of all ranks. Every rank needs at least one case; all fail alike otherwise.
std::pair<int64_t, int64_t> shardedSampleIds(const World& world, size_t caseCount, int64_t sampleCount);
// Every rank's warm starts (WarmStarts::tensors()) on rank 0, for its checkpoint, rank after rank
// (in id order when the cases are sharded; with shared cases, rank 0's ids, which are 0 mod N, then
// rank 1's, ...); the other ranks get none. Each rank's table is broadcast in
// blocks of at most `blockBytes` of perturbations, so a rank other than 0 holds its own table, its
// stacked copy and one block.
std::vector<std::pair<std::string, torch::Tensor>> gatherWarmStarts(const World& world, const WarmStarts& own,
                                                                   int64_t blockBytes = Communicator::bucketBytes);
// Rank 0's `value`, on every rank.
bool rankZerosChoice(const World& world, bool value);
// A sum over ranks, in place (the epoch's loss, validation counts).
void sumOverRanks(const World& world, torch::Tensor& values);

}  // namespace ima
