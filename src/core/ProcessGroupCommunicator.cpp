// Communicator::connect over c10d: a TCPStore for the rendezvous and ProcessGroupGloo (CPU) or
// ProcessGroupNCCL (CUDA). Built with IMA_HAVE_GLOO only; without it connect says distributed
// training is unavailable.
#include "ima/Communicator.h"

#include <cstdlib>

#include <torch/torch.h>

#include "ima/Error.h"

#ifdef IMA_HAVE_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef IMA_HAVE_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace ima {
namespace {

// WORLD_SIZE=1: every collective is the identity.
class SingleProcessCommunicator : public Communicator {
public:
  SingleProcessCommunicator() : Communicator(0, 1, "none", "cpu") {}

protected:
  void allReduceFlat(torch::Tensor&, Reduction) override {}
  void broadcastFlat(torch::Tensor&, int) override {}
};

#ifdef IMA_HAVE_GLOO
std::string describe(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

class ProcessGroupCommunicator : public Communicator {
public:
  ProcessGroupCommunicator(c10::intrusive_ptr<c10d::ProcessGroup> group, int rank, int worldSize, std::string backend,
                           std::string device, std::chrono::milliseconds timeout)
      : Communicator(rank, worldSize, std::move(backend), std::move(device)), group_(std::move(group)), timeout_(timeout) {}

protected:
  void allReduceFlat(torch::Tensor& buffer, Reduction reduction) override {
    std::vector<torch::Tensor> tensors{buffer};
    c10d::AllreduceOptions options;
    options.reduceOp = reduction == Reduction::Max ? c10d::ReduceOp::MAX : c10d::ReduceOp::SUM;
    options.timeout = timeout_;
    run("all-reduce", [&] { return group_->allreduce(tensors, options); });
  }
  void broadcastFlat(torch::Tensor& buffer, int root) override {
    std::vector<torch::Tensor> tensors{buffer};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.timeout = timeout_;
    run("broadcast", [&] { return group_->broadcast(tensors, options); });
  }

private:
  template <typename Start>
  void run(const char* what, const Start& start) {
    try {
      auto work = start();
      work->wait(timeout_);
    } catch (const std::exception& e) {
      throw Error("distributed training: " + std::string(what) + " on rank " + std::to_string(rank()) + " of " +
                  std::to_string(worldSize()) + " failed: another process died or did not answer within the " +
                  std::to_string(timeout_.count() / 1000) + " s timeout (--dist-timeout): " + describe(e));
    }
  }

  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  std::chrono::milliseconds timeout_;
};

std::string text(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }
std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// Every rank checks in: a rank taken twice, or ranks that disagree on WORLD_SIZE, fail here with a
// message rather than hang in the backend's rendezvous.
void checkMembership(c10d::Store& store, const DistributedEnvironment& e) {
  const std::string rank = std::to_string(e.rank);
  if (store.add("ima/rank-taken/" + rank, 1) > 1)
    throw Error("RANK=" + rank + " is used by two processes (each process needs its own RANK in [0, WORLD_SIZE))");
  store.set("ima/world-size/" + rank, bytes(std::to_string(e.worldSize)));
  const std::string key = "ima/world-size/0";
  store.wait({key});
  const std::string rootWorldSize = text(store.get(key));
  if (rootWorldSize != std::to_string(e.worldSize))
    throw Error("WORLD_SIZE=" + std::to_string(e.worldSize) + " on rank " + rank + " but WORLD_SIZE=" + rootWorldSize +
                " on rank 0: every process needs the same WORLD_SIZE");
}

std::shared_ptr<::gloo::transport::Device> glooDevice(const DistributedEnvironment& e) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface)
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  // All ranks on this machine: loopback, whatever the host name resolves to.
  if (e.masterAddress == "localhost" || e.masterAddress.rfind("127.", 0) == 0)
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

}  // namespace

bool distributedTrainingAvailable() {
#ifdef IMA_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

std::shared_ptr<Communicator> Communicator::connect(const DistributedEnvironment& e, const std::string& deviceName,
                                                    std::chrono::milliseconds timeout) {
  const torch::Device device(deviceName);
  if (e.worldSize == 1) return std::make_shared<SingleProcessCommunicator>();
#ifndef IMA_HAVE_GLOO
  (void)device;
  (void)timeout;
  throw Error("distributed training is unavailable: this build of IMASegmentation has no Gloo backend "
              "(install libgloo-dev and rebuild); unset WORLD_SIZE and RANK to train in one process");
#else
  const std::string where = e.masterAddress + ":" + std::to_string(e.masterPort);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(e.masterPort);
    options.isServer = e.rank == 0 && !e.agentHostsStore;
    options.numWorkers = c10::nullopt;
    options.waitWorkers = false;
    options.timeout = timeout;
    store = c10::make_intrusive<c10d::PrefixStore>("ima", c10::make_intrusive<c10d::TCPStore>(e.masterAddress, options));
  } catch (const std::exception& x) {
    throw Error("distributed training: rank " + std::to_string(e.rank) + " cannot " +
                (e.rank == 0 && !e.agentHostsStore ? "host" : "reach") + " the store at MASTER_ADDR:MASTER_PORT=" +
                where + " within " + std::to_string(timeout.count() / 1000) + " s: " + describe(x));
  }
  try {
    store->setTimeout(timeout);
    checkMembership(*store, e);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& x) {
    throw Error("distributed training: rank " + std::to_string(e.rank) + " waited " +
                std::to_string(timeout.count() / 1000) + " s for rank 0 at MASTER_ADDR:MASTER_PORT=" + where +
                " (is WORLD_SIZE=" + std::to_string(e.worldSize) + " right and is every rank started?): " + describe(x));
  }
  try {
    if (device.is_cuda()) {
#ifdef IMA_HAVE_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, e.rank, e.worldSize, options);
      return std::make_shared<ProcessGroupCommunicator>(group, e.rank, e.worldSize, "nccl", deviceName, timeout);
#else
      throw Error("distributed training on " + device.str() + " needs NCCL, which this build lacks; use --device cpu (Gloo)");
#endif
    }
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(glooDevice(e));
    options->threads = 2;
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, e.rank, e.worldSize, options);
    return std::make_shared<ProcessGroupCommunicator>(group, e.rank, e.worldSize, "gloo", "cpu", timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& x) {
    throw Error("distributed training: rank " + std::to_string(e.rank) + " of WORLD_SIZE=" +
                std::to_string(e.worldSize) + " could not connect to the other ranks within " +
                std::to_string(timeout.count() / 1000) + " s: " + describe(x));
  }
#endif
}

}  // namespace ima
