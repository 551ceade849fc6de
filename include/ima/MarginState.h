// IMA's per-sample margin estimates (docs/architecture.md §5): one eps_i per training sample with a stable
// id, updated at the end of every epoch from what the attacks found during it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ima {

struct MarginOptions {
  double delta = 0.0;           // initial margin and growth per epoch (normalised units)
  double epsMax = 0.0;          // margins are clamped to [0, epsMax]
  bool resetMisclassified = false;  // misclassified samples: reset to delta (default: unchanged)
};

// What an epoch did to the margins; also the training log's margin statistics.
struct MarginStatistics {
  double mean = 0, minimum = 0, q10 = 0, median = 0, q90 = 0, maximum = 0;
  double fractionExpanded = 0;   // correct, no adversarial point found: eps += delta
  double fractionToBoundary = 0; // correct, adversarial found: eps = mean boundary distance
  double fractionUnchanged = 0;  // misclassified (or reset) or not visited this epoch
  int64_t visited = 0;
  std::string toJson() const;
};

class MarginState {
public:
  MarginState() = default;
  MarginState(int64_t samples, MarginOptions options);

  int64_t size() const { return static_cast<int64_t>(eps_.size()); }
  double eps(int64_t id) const;
  const std::vector<double>& margins() const { return eps_; }
  const MarginOptions& options() const { return options_; }

  // One visit of sample `id` in this epoch: whether its clean prediction was correct, whether
  // the attack found an adversarial point within eps_i, and if so its distance to the clean
  // sample (averaged over the epoch's visits). A sample visited several times takes the
  // correctness of its last visit and "found" if any visit found one.
  void recordVisit(int64_t id, bool correct, bool foundAdversarial, double boundaryDistance);

  // Processes that share one margin table (docs/distributed.md) combine an epoch's visits:
  // setVisitClock gives the order key of the next recordVisit (later calls count up from it), so
  // that "the last visit" is the one of the latest global batch slot, as in one process.
  // visitClocks: per sample, 1 + the key of its last visit here (0 = not visited); reduced by max.
  // visitSums(latest): per sample 4 values (correct if this process made the latest visit, found,
  // distance sum, distance count); summed. setVisits installs the combined result.
  void setVisitClock(int64_t clock) { clock_ = clock; }
  std::vector<double> visitClocks() const;
  std::vector<double> visitSums(const std::vector<double>& latestClocks) const;
  void setVisits(const std::vector<double>& latestClocks, const std::vector<double>& sums);

  // Applies the end-of-epoch rule to every visited sample, clamps, clears the epoch's flags and
  // returns statistics over all samples' new margins.
  MarginStatistics endEpoch();
  MarginStatistics statistics() const;  // of the current margins, no update

  // Exact serialisation (margins and the epoch's pending flags) for checkpoints.
  std::string toJson() const;
  static MarginState fromJson(const std::string& json);

private:
  struct Visit {
    bool visited = false, correct = false, found = false;
    double distanceSum = 0;
    int64_t distanceCount = 0;
    int64_t lastClock = 0;  // order key of the last visit
  };
  void check(int64_t id) const;

  MarginOptions options_;
  std::vector<double> eps_;
  std::vector<Visit> visits_;
  int64_t clock_ = 0;
};

}  // namespace ima
