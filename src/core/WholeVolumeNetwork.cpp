#include "internal/WholeVolumeNetwork.h"

#include <algorithm>

#include "ima/AvailableMemory.h"
#include "ima/Error.h"
#include "internal/WindowGrid.h"

namespace ima {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

Box extentOf(const torch::Tensor& x) { return {x.size(2), x.size(3), x.size(4)}; }

// The importance weight of one window [pd, ph, pw] and the summed weight at every voxel [D, H, W].
torch::Tensor outer(const std::array<std::vector<float>, 3>& w, const torch::TensorOptions& o) {
  const auto axis = [&](size_t a) { return torch::tensor(w[a], torch::kFloat).to(o.device()); };
  return axis(0).view({-1, 1, 1}) * axis(1).view({1, -1, 1}) * axis(2).view({1, 1, -1});
}
torch::Tensor outer(const std::array<std::vector<double>, 3>& w, const torch::TensorOptions& o) {
  const auto axis = [&](size_t a) { return torch::tensor(w[a], torch::kDouble).to(o.device()); };
  return (axis(0).view({-1, 1, 1}) * axis(1).view({1, -1, 1}) * axis(2).view({1, 1, -1})).to(torch::kFloat);
}

torch::Tensor window(const torch::Tensor& volume, const Box& start, const Box& size) {
  return volume.slice(-3, start[0], start[0] + size[0]).slice(-2, start[1], start[1] + size[1])
      .slice(-1, start[2], start[2] + size[2]);
}

// The weighted mean softmax, log taken; the network pointer travels in saved_data (it outlives
// the graph: attacks take their gradients inside their own call).
struct WeightedMeanSoftmax : torch::autograd::Function<WeightedMeanSoftmax> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t self) {
    auto* net = reinterpret_cast<WholeVolumeNetwork*>(self);
    const torch::Tensor accumulated = net->accumulate(x);
    ctx->save_for_backward({x, accumulated});
    ctx->saved_data["self"] = self;
    return accumulated.log();
  }
  static variable_list backward(AutogradContext* ctx, variable_list gradients) {
    auto* net = reinterpret_cast<WholeVolumeNetwork*>(ctx->saved_data["self"].toInt());
    const variable_list saved = ctx->get_saved_variables();
    // d log(a) / d a = 1 / a.
    return {net->backpropagate(saved[0], gradients[0] / saved[1]), torch::Tensor()};
  }
};

}  // namespace

WholeVolumeNetwork::WholeVolumeNetwork(Network& patchNet, int netDims, int classes, const Box& patch, double overlap,
                                       int windowsPerPass)
    : net_(patchNet), netDims_(netDims), classes_(classes), patch_(patch), overlap_(overlap),
      windowsPerPass_(windowsPerPass) {
  if (windowsPerPass < 1) throw Error("the windows per pass must be >= 1, got " + std::to_string(windowsPerPass));
  if (netDims == 2 && patch[0] != 1) throw Error("a 2D network's patch must have depth 1");
}

torch::Tensor WholeVolumeNetwork::forward(const torch::Tensor& input) {
  if (input.dim() != 5) throw Error("the whole-volume network takes [N, C, D, H, W] inputs");
  const Box extent = extentOf(input);
  // The input, padded (zeros: the normalised mean, as the inferer pads) to at least one patch.
  std::vector<int64_t> pad;
  for (int a = 2; a >= 0; --a) pad.insert(pad.end(), {0, std::max<int64_t>(0, patch_[a] - extent[a])});
  const torch::Tensor padded = torch::constant_pad_nd(input, pad, 0);
  const bool fresh = !plan_ || plan_->extent != extentOf(padded) || plan_->weight.device() != input.device();
  const Plan& plan = planFor(padded);
  if (fresh && input.device().is_cpu()) {
    // Once per volume shape, not per attack step: the accumulator, its gradient and the output
    // (classes each), the input and its gradient.
    const double voxels = static_cast<double>(padded.numel() / padded.size(1));
    requireAvailableMemory(4.0 * voxels * static_cast<double>(3 * classes_ + 2 * input.size(1)),
                           "attacking the whole " + std::to_string(extent[2]) + "x" + std::to_string(extent[1]) + "x" +
                               std::to_string(extent[0]) + " volume with " + std::to_string(classes_) + " classes");
  }
  // The padded grid's windows are the unpadded grid's, so its summed weights agree inside the volume.
  const torch::Tensor cover = window(plan.cover, {0, 0, 0}, extent);
  const torch::Tensor logAccumulated =
      WeightedMeanSoftmax::apply(padded, reinterpret_cast<int64_t>(this));
  return window(logAccumulated, {0, 0, 0}, extent) - cover.log();
}

torch::Tensor WholeVolumeNetwork::windows(const torch::Tensor& x, int64_t n, const std::vector<Box>& starts) const {
  std::vector<torch::Tensor> crops;
  for (const Box& s : starts) crops.push_back(window(x[n], s, patch_));
  return torch::stack(crops);
}

torch::Tensor WholeVolumeNetwork::softmax(const torch::Tensor& windows) {
  const torch::Tensor in = netDims_ == 2 ? windows.squeeze(2) : windows;
  const torch::Tensor p = torch::softmax(net_.forward(in).to(torch::kFloat), 1);
  return netDims_ == 2 ? p.unsqueeze(2) : p;
}

const WholeVolumeNetwork::Plan& WholeVolumeNetwork::planFor(const torch::Tensor& x) {
  const Box extent = extentOf(x);
  if (plan_ && plan_->extent == extent && plan_->weight.device() == x.device()) return *plan_;
  const WindowGrid grid(extent, patch_, overlap_, true);
  Plan plan{extent, {}, outer(grid.weights, x.options()), outer(grid.cover, x.options())};
  const std::vector<Box> all = grid.windows();
  for (size_t first = 0; first < all.size(); first += static_cast<size_t>(windowsPerPass_))
    plan.batches.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(first),
                              all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), first + windowsPerPass_)));
  plan_ = std::move(plan);
  return *plan_;
}

torch::Tensor WholeVolumeNetwork::accumulate(const torch::Tensor& x) {
  const Plan& plan = planFor(x);
  torch::Tensor sum;
  for (int64_t n = 0; n < x.size(0); ++n)
    for (const std::vector<Box>& starts : plan.batches) {
      const torch::Tensor p = softmax(windows(x, n, starts));
      if (!sum.defined()) sum = torch::zeros({x.size(0), p.size(1), plan.extent[0], plan.extent[1], plan.extent[2]}, p.options());
      for (size_t w = 0; w < starts.size(); ++w)
        window(sum[n], starts[w], patch_) += plan.weight * p[static_cast<int64_t>(w)];
    }
  return sum;
}

torch::Tensor WholeVolumeNetwork::backpropagate(const torch::Tensor& x, const torch::Tensor& upstream) {
  const Plan& plan = planFor(x);
  torch::Tensor gradient = torch::zeros_like(x);
  torch::AutoGradMode enable(true);  // backward passes run without grad mode; each window batch needs its graph
  for (int64_t n = 0; n < x.size(0); ++n)
    for (const std::vector<Box>& starts : plan.batches) {
      // Each batch differentiates its own leaf (a copy of its windows), so graphs never chain.
      const torch::Tensor leaf = windows(x, n, starts).detach().requires_grad_(true);
      std::vector<torch::Tensor> seeds;
      for (const Box& s : starts) seeds.push_back(plan.weight * window(upstream[n], s, patch_));
      const torch::Tensor g = torch::autograd::grad({softmax(leaf)}, {leaf}, {torch::stack(seeds)})[0];
      for (size_t w = 0; w < starts.size(); ++w) window(gradient[n], starts[w], patch_) += g[static_cast<int64_t>(w)];
    }
  return gradient;
}

}  // namespace ima
