#include "internal/DataParallel.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "ima/Error.h"

namespace ima {

void broadcastWeights(const World& world, Network& net) {
  if (!world.communicator) return;
  std::ostringstream out;
  if (world.rank == 0) net.saveWeights(out);  // the weights file's bytes: parameters and buffers
  const std::string bytes = out.str();
  torch::Tensor size = torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong);
  world.communicator->broadcast({size});
  torch::Tensor buffer = torch::zeros({size.item<int64_t>()}, torch::kUInt8);
  if (world.rank == 0) std::copy(bytes.begin(), bytes.end(), buffer.data_ptr<uint8_t>());
  world.communicator->broadcast({buffer});
  if (world.rank == 0) return;
  std::istringstream in(std::string(reinterpret_cast<const char*>(buffer.data_ptr<uint8_t>()), static_cast<size_t>(buffer.numel())));
  const torch::Device device = net.device();
  net.loadWeights(in);
  net.to(device);
}

void averageGradients(const World& world, Network& net, double share) {
  if (!world.communicator) return;
  std::vector<torch::Tensor> gradients;
  for (auto& p : net.parameters()) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    p.mutable_grad().mul_(share);
    gradients.push_back(p.grad());
  }
  world.communicator->allReduce(gradients);
}

void combineMarginVisits(const World& world, MarginState& margins) {
  if (!world.communicator || margins.size() == 0) return;
  const auto asTensor = [](const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); };
  const auto asVector = [](const torch::Tensor& t) { return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel()); };
  torch::Tensor clocks = asTensor(margins.visitClocks());
  world.communicator->allReduce({clocks}, Communicator::Reduction::Max);
  const std::vector<double> latest = asVector(clocks);
  torch::Tensor sums = asTensor(margins.visitSums(latest));
  world.communicator->allReduce({sums});
  margins.setVisits(latest, asVector(sums));
}

std::pair<int64_t, int64_t> shardedSampleIds(const World& world, size_t caseCount, int64_t sampleCount) {
  torch::Tensor counts = torch::zeros({2, world.size}, torch::kLong);
  counts[0][world.rank] = static_cast<int64_t>(caseCount);
  counts[1][world.rank] = sampleCount;
  world.communicator->allReduce({counts});
  for (int r = 0; r < world.size; ++r)
    if (counts[0][r].item<int64_t>() == 0)
      throw Error("distributed training: rank " + std::to_string(r) + " of " + std::to_string(world.size) +
                  " has no training case in its share of the data; use fewer processes (WORLD_SIZE)");
  return {counts[1].narrow(0, 0, world.rank).sum().item<int64_t>(), counts[1].sum().item<int64_t>()};
}

std::vector<std::pair<std::string, torch::Tensor>> gatherWarmStarts(const World& world, const WarmStarts& own,
                                                                   int64_t blockBytes) {
  const std::vector<std::pair<std::string, torch::Tensor>> mine = own.tensors();  // ids, placements, deltas
  // Every rank's count and per-sample shape [C, D, H, W], so that all can size the transfers.
  torch::Tensor sizes = torch::zeros({world.size, 5}, torch::kLong);
  if (!mine.empty()) {
    const torch::Tensor& deltas = mine[2].second;
    sizes[world.rank][0] = deltas.size(0);
    for (int64_t a = 1; a < 5; ++a) sizes[world.rank][a] = deltas.size(a);
  }
  world.communicator->allReduce({sizes});
  const int64_t total = sizes.select(1, 0).sum().item<int64_t>();
  if (total == 0) return {};
  std::vector<int64_t> shape;
  for (int r = 0; r < world.size && shape.empty(); ++r)
    if (sizes[r][0].item<int64_t>() > 0) shape = {sizes[r][1].item<int64_t>(), sizes[r][2].item<int64_t>(),
                                                  sizes[r][3].item<int64_t>(), sizes[r][4].item<int64_t>()};
  const auto rows = [&](int64_t n) {
    std::vector<int64_t> s{n};
    s.insert(s.end(), shape.begin(), shape.end());
    return std::vector<torch::Tensor>{torch::zeros({n}, torch::kLong), torch::zeros({n, 6}, torch::kLong),
                                      torch::zeros(s, torch::kFloat)};
  };
  const auto slice = [](const std::vector<torch::Tensor>& t, int64_t first, int64_t n) {
    return std::vector<torch::Tensor>{t[0].narrow(0, first, n), t[1].narrow(0, first, n), t[2].narrow(0, first, n)};
  };
  int64_t sampleBytes = 4;
  for (int64_t extent : shape) sampleBytes *= extent;
  // Blocks of rows, so that no transfer (nor its copy on a GPU, for NCCL) holds a whole rank's table.
  const int64_t block = std::max<int64_t>(1, blockBytes / sampleBytes);
  std::vector<torch::Tensor> all;  // rank 0: the whole table
  if (world.rank == 0) all = rows(total);
  const std::vector<torch::Tensor> ownRows =
      mine.empty() ? std::vector<torch::Tensor>{} : std::vector<torch::Tensor>{mine[0].second, mine[1].second, mine[2].second};
  int64_t offset = 0;
  for (int r = 0; r < world.size; ++r) {
    const int64_t n = sizes[r][0].item<int64_t>();
    if (r == 0 && world.rank == 0 && n > 0)
      for (size_t i = 0; i < all.size(); ++i) all[i].narrow(0, 0, n).copy_(ownRows[i]);
    for (int64_t first = 0; r > 0 && first < n; first += block) {
      const int64_t m = std::min(block, n - first);
      world.communicator->broadcast(world.rank == 0   ? slice(all, offset + first, m)
                                    : world.rank == r ? slice(ownRows, first, m)
                                                      : rows(m),
                                    r);
    }
    offset += n;
  }
  if (world.rank != 0) return {};
  return {{"ids", all[0]}, {"placements", all[1]}, {"deltas", all[2]}};
}

bool rankZerosChoice(const World& world, bool value) {
  if (!world.communicator) return value;
  torch::Tensor flag = torch::tensor({static_cast<int64_t>(value)}, torch::kLong);
  world.communicator->broadcast({flag}, 0);
  return flag.item<int64_t>() != 0;
}

void sumOverRanks(const World& world, torch::Tensor& values) {
  if (world.communicator) world.communicator->allReduce({values});
}

}  // namespace ima
