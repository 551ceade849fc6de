#include "ima/Communicator.h"

#include <cstdlib>
#include <map>

#include <torch/torch.h>

#include "ima/Error.h"

namespace ima {
namespace {

std::optional<int64_t> parseInteger(const std::string& text) {
  try {
    size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used != text.size()) return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<DistributedEnvironment> distributedEnvironment(const EnvironmentLookup& lookup) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    const char* value = lookup ? lookup(name) : std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
  const auto rankText = get("RANK"), worldText = get("WORLD_SIZE");
  if (!rankText && !worldText) return std::nullopt;
  if (!rankText) throw Error("WORLD_SIZE is set but RANK is not: set both for distributed training, or neither");
  if (!worldText) throw Error("RANK is set but WORLD_SIZE is not: set both for distributed training, or neither");
  auto integer = [&](const char* name, const std::string& text, int64_t low, int64_t high) {
    const auto value = parseInteger(text);
    if (!value || *value < low || *value > high)
      throw Error(std::string(name) + "='" + text + "' is not an integer in [" + std::to_string(low) + ", " +
                  std::to_string(high) + "]");
    return static_cast<int>(*value);
  };
  DistributedEnvironment e;
  e.worldSize = integer("WORLD_SIZE", *worldText, 1, 1 << 20);
  e.rank = integer("RANK", *rankText, 0, e.worldSize - 1);
  e.localRank = get("LOCAL_RANK") ? integer("LOCAL_RANK", *get("LOCAL_RANK"), 0, e.worldSize - 1) : 0;
  if (e.worldSize > 1) {
    const auto address = get("MASTER_ADDR"), port = get("MASTER_PORT");
    if (!address) throw Error("MASTER_ADDR is not set (the host of rank 0's store, e.g. 127.0.0.1)");
    if (!port) throw Error("MASTER_PORT is not set (the port of rank 0's store, e.g. 29500)");
    e.masterAddress = *address;
    e.masterPort = integer("MASTER_PORT", *port, 1, 65535);
  }
  const auto agent = get("TORCHELASTIC_USE_AGENT_STORE");
  e.agentHostsStore = agent && (*agent == "True" || *agent == "true" || *agent == "1");
  return e;
}

std::pair<int, int> batchSlots(int batch, int rank, int worldSize) {
  const auto at = [&](int r) { return static_cast<int>(static_cast<int64_t>(batch) * r / worldSize); };
  return {at(rank), at(rank + 1)};
}

template <typename Collective>
void Communicator::bucketed(const std::vector<torch::Tensor>& tensors, const Collective& collective) {
  // Consecutive tensors of one dtype and device share a bucket until it would exceed bucketBytes.
  size_t begin = 0;
  while (begin < tensors.size()) {
    size_t end = begin;
    int64_t bytes = 0;
    while (end < tensors.size() && tensors[end].scalar_type() == tensors[begin].scalar_type() &&
           tensors[end].device() == tensors[begin].device() &&
           (end == begin || bytes + tensors[end].nbytes() <= static_cast<size_t>(bucketBytes))) {
      bytes += static_cast<int64_t>(tensors[end].nbytes());
      ++end;
    }
    std::vector<torch::Tensor> flat;
    for (size_t i = begin; i < end; ++i) flat.push_back(tensors[i].detach().reshape({-1}));
    torch::Tensor buffer = torch::cat(flat).to(torch::Device(device_));
    collective(buffer);
    int64_t offset = 0;
    for (size_t i = begin; i < end; ++i) {
      const int64_t n = tensors[i].numel();
      torch::NoGradGuard noGrad;
      tensors[i].copy_(buffer.narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
    begin = end;
  }
}

void Communicator::allReduce(const std::vector<torch::Tensor>& tensors, Reduction reduction) {
  if (worldSize_ == 1) return;
  bucketed(tensors, [&](torch::Tensor& buffer) { allReduceFlat(buffer, reduction); });
}

void Communicator::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  if (worldSize_ == 1) return;
  bucketed(tensors, [&](torch::Tensor& buffer) { broadcastFlat(buffer, root); });
}

std::vector<std::string> Communicator::allGather(const std::string& text) {
  if (worldSize_ == 1) return {text};
  // The lengths, then the bytes: each rank fills its own part of zeros, so the sums are the texts.
  torch::Tensor lengths = torch::zeros({worldSize_}, torch::kLong);
  lengths[rank_] = static_cast<int64_t>(text.size());
  allReduce({lengths});
  const std::vector<int64_t> size(lengths.data_ptr<int64_t>(), lengths.data_ptr<int64_t>() + worldSize_);
  std::vector<int64_t> offset(static_cast<size_t>(worldSize_) + 1, 0);
  for (int r = 0; r < worldSize_; ++r) offset[static_cast<size_t>(r) + 1] = offset[static_cast<size_t>(r)] + size[static_cast<size_t>(r)];
  if (offset.back() == 0) return std::vector<std::string>(static_cast<size_t>(worldSize_));
  torch::Tensor bytes = torch::zeros({offset.back()}, torch::kInt);
  int32_t* b = bytes.data_ptr<int32_t>();
  for (size_t i = 0; i < text.size(); ++i) b[offset[static_cast<size_t>(rank_)] + static_cast<int64_t>(i)] = static_cast<unsigned char>(text[i]);
  allReduce({bytes});
  std::vector<std::string> texts;
  b = bytes.data_ptr<int32_t>();
  for (int r = 0; r < worldSize_; ++r)
    texts.emplace_back(b + offset[static_cast<size_t>(r)], b + offset[static_cast<size_t>(r) + 1]);
  return texts;
}

}  // namespace ima
