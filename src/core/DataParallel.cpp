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

void sumOverRanks(const World& world, torch::Tensor& values) {
  if (world.communicator) world.communicator->allReduce({values});
}

}  // namespace ima
