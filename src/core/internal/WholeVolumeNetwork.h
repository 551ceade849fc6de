// The deployed prediction of a patch network as one Network over whole volumes, for attacking
// what a user actually gets (docs/evaluation.md, "Patch or whole volume"): the output is the log
// of the sliding-window inferer's Gaussian-weighted mean softmax, so every attack and loss that
// takes logits sees exactly those probabilities (softmax(log p) = p) and its argmax is the
// segmentation `ima segment` writes.
//
// Memory stays bounded by one batch of windows plus a few volume-sized tensors: the forward pass
// keeps no autograd graph; the backward pass recomputes the windows batch by batch, each with its
// own small graph, and adds their input gradients (the vector-Jacobian product of the weighted
// mean). So no graph grows with the number of windows; the price is one extra forward per window.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "ima/Network.h"
#include "Patches.h"

namespace ima {

class WholeVolumeNetwork : public Network {
public:
  // patchNet takes [n, C, (d,) h, w] (netDims 2: depth squeezed, patch depth 1) and gives
  // `classes` logits; windowsPerPass windows go through it at a time. The Gaussian weighting and
  // the window grid (overlap) are the inferer's.
  WholeVolumeNetwork(Network& patchNet, int netDims, int classes, const Box& patch, double overlap,
                     int windowsPerPass);

  // input [N, C, D, H, W] (normalised, D = 1 for a 2D image); returns [N, K, D, H, W].
  torch::Tensor forward(const torch::Tensor& input) override;

  std::vector<torch::Tensor> parameters() override { return net_.parameters(); }
  void setTraining(bool training) override { net_.setTraining(training); }
  bool isTraining() const override { return net_.isTraining(); }
  void to(const torch::Device& device) override { net_.to(device); }
  torch::Device device() const override { return net_.device(); }
  void saveWeights(std::ostream& out) override { net_.saveWeights(out); }
  void loadWeights(std::istream& in) override { net_.loadWeights(in); }

  // The two passes of the autograd function (WholeVolumeNetwork.cpp). x is padded to at least one
  // patch per axis; accumulate returns sum over windows of weight * softmax [N, K, padded];
  // backpropagate returns the input gradient of sum(upstream * accumulated) [N, C, padded].
  torch::Tensor accumulate(const torch::Tensor& paddedInput);
  torch::Tensor backpropagate(const torch::Tensor& paddedInput, const torch::Tensor& upstream);

private:
  // The window grid of one padded extent, built once and kept while attacks step on the same
  // volume: its windows in batches of windowsPerPass, a window's weight [pd, ph, pw] and the
  // summed weight at every voxel [D, H, W], on the input's device.
  struct Plan {
    Box extent;
    std::vector<std::vector<Box>> batches;
    torch::Tensor weight, cover;
  };
  const Plan& planFor(const torch::Tensor& paddedInput);

  // The windows at `starts` of sample n, stacked [w, C, pd, ph, pw], and their softmax [w, K, ...].
  torch::Tensor windows(const torch::Tensor& paddedInput, int64_t n, const std::vector<Box>& starts) const;
  torch::Tensor softmax(const torch::Tensor& windows);

  Network& net_;
  int netDims_;
  int classes_;
  Box patch_;
  double overlap_;
  int windowsPerPass_;
  std::optional<Plan> plan_;
};

}  // namespace ima
