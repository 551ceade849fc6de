// Data-parallel training across processes on torch.distributed's c10d (docs/architecture.md §11):
// the environment torchrun (or a scheduler) sets, and the collectives the trainer needs.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Torch types by declaration only: host programs include this header without libtorch's.
namespace at {
class Tensor;
}
namespace c10 {
struct Device;
}

namespace ima {

// What torchrun sets for every worker: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, and
// TORCHELASTIC_USE_AGENT_STORE=True when its agent already hosts the TCP store.
struct DistributedEnvironment {
  int rank = 0;
  int worldSize = 1;
  int localRank = 0;
  std::string masterAddress;
  int masterPort = 0;
  bool agentHostsStore = false;  // otherwise rank 0 hosts the store
};

// Reads the variables through `lookup` (getenv by default). No RANK and no WORLD_SIZE: nullopt (one
// process, as without torchrun). Some set and others missing or malformed: ima::Error naming the
// variable.
using EnvironmentLookup = std::function<const char*(const char*)>;
std::optional<DistributedEnvironment> distributedEnvironment(const EnvironmentLookup& lookup = {});

// True when this build has a c10d backend (Gloo); otherwise Communicator::connect throws.
bool distributedTrainingAvailable();

// A process group of `worldSize` cooperating processes. Every collective is called by all ranks
// in the same order; one that fails (a peer died) or does not finish within the timeout throws
// ima::Error naming this rank and the operation.
class Communicator {
public:
  // Connects to the store at MASTER_ADDR:MASTER_PORT (hosting it on rank 0 unless torchrun's
  // agent does), checks that all ranks agree on WORLD_SIZE and that no rank is taken twice, and
  // creates the backend: Gloo for a CPU device, NCCL for cuda:LOCAL_RANK when the build has it.
  // `device`: "cpu", "cuda:N", ...
  static std::shared_ptr<Communicator> connect(const DistributedEnvironment& environment, const std::string& device,
                                               std::chrono::milliseconds timeout);
  virtual ~Communicator() = default;

  int rank() const { return rank_; }
  int worldSize() const { return worldSize_; }
  const std::string& backend() const { return backend_; }

  // Sums (or takes the maximum of) `tensors` across ranks in place. Tensors of one dtype and device
  // are flattened into buckets of at most `bucketBytes` so that a network's gradients travel in a
  // few calls, not one per parameter.
  enum class Reduction { Sum, Max };
  void allReduce(const std::vector<at::Tensor>& tensors, Reduction reduction = Reduction::Sum);
  // Copies rank `root`'s `tensors` into every rank's (in place, bucketed the same way).
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  // Every rank's `text`, indexed by rank (e.g. the names of the cases each rank read).
  std::vector<std::string> allGather(const std::string& text);

  static constexpr int64_t bucketBytes = 25 << 20;  // PyTorch DDP's default bucket size

protected:
  // Collectives run on `device` (NCCL: the rank's GPU); tensors elsewhere are copied there and back.
  Communicator(int rank, int worldSize, std::string backend, std::string device)
      : rank_(rank), worldSize_(worldSize), backend_(std::move(backend)), device_(std::move(device)) {}
  // One collective on a flat contiguous buffer.
  virtual void allReduceFlat(at::Tensor& buffer, Reduction reduction) = 0;
  virtual void broadcastFlat(at::Tensor& buffer, int root) = 0;

private:
  template <typename Collective>
  void bucketed(const std::vector<at::Tensor>& tensors, const Collective& collective);

  int rank_;
  int worldSize_;
  std::string backend_;
  std::string device_;
};

// The slots [first, end) of a global batch of `batch` samples that `rank` of `worldSize` handles:
// floor(batch * rank / worldSize) .. floor(batch * (rank + 1) / worldSize), so shares differ by at
// most one sample and the lower ranks take the smaller shares.
std::pair<int, int> batchSlots(int batch, int rank, int worldSize);

}  // namespace ima
