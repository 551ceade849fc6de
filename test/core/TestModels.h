// Small models and volumes shared by the core tests.
#pragma once
#include <sstream>

#include <torch/torch.h>

#include "ima/Model.h"
#include "ima/Network.h"

namespace imatest {

inline ima::ModelMetadata tinyUNetMetadata(int dims, int inChannels = 1, int classes = 3) {
  ima::ModelMetadata m;
  m.network.dims = dims;
  m.network.inChannels = inChannels;
  m.network.classes = classes;
  m.network.baseFeatures = 4;
  m.network.stages = 2;
  m.patchSize = dims == 3 ? std::vector<int64_t>{16, 16, 8} : std::vector<int64_t>{16, 16};
  for (int k = 1; k < classes; ++k) m.labels.push_back({k, "structure " + std::to_string(k), {255, 0, 0}});
  return m;
}

// A per-voxel (1x1) network: its output at a voxel depends on that voxel only, so any correct
// sliding-window average equals the whole-image result.
class PointwiseNetwork : public ima::Network {
public:
  PointwiseNetwork(int dims, int in, int classes) : dims_(dims) {
    torch::manual_seed(3);
    weight_ = torch::randn({classes, in}) * 2;
    bias_ = torch::randn({classes});
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = -1;
    return torch::einsum("kc,nc...->nk...", {weight_, x}) + bias_.view(shape);
  }
  std::vector<torch::Tensor> parameters() override { return {weight_, bias_}; }
  void setTraining(bool t) override { training_ = t; }
  bool isTraining() const override { return training_; }
  void to(const torch::Device&) override {}
  torch::Device device() const override { return torch::kCPU; }
  void saveWeights(std::ostream&) override {}
  void loadWeights(std::istream&) override {}

private:
  int dims_;
  bool training_ = true;
  torch::Tensor weight_, bias_;
};

// logits = W flatten(x) + b, with trainable (requires_grad) parameters.
class LinearNetwork : public ima::Network {
public:
  LinearNetwork(torch::Tensor w, torch::Tensor b) : w_(w.clone().requires_grad_(true)), b_(b.clone().requires_grad_(true)) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x.reshape({x.size(0), -1}).matmul(w_.t()) + b_; }
  std::vector<torch::Tensor> parameters() override { return {w_, b_}; }
  void setTraining(bool t) override { training_ = t; }
  bool isTraining() const override { return training_; }
  void to(const torch::Device&) override {}
  torch::Device device() const override { return torch::kCPU; }
  void saveWeights(std::ostream&) override {}
  void loadWeights(std::istream&) override {}
  torch::Tensor weight() const { return w_.detach(); }
  torch::Tensor bias() const { return b_.detach(); }

private:
  torch::Tensor w_, b_;
  bool training_ = true;
};

inline ima::Volume randomVolume(std::vector<int64_t> size, int channels, uint64_t seed) {
  ima::Volume v(ima::Shape{std::move(size)}, channels);
  torch::manual_seed(seed);
  const torch::Tensor t = torch::randn({static_cast<int64_t>(v.data.size())}) * 50 + 100;
  std::copy(t.data_ptr<float>(), t.data_ptr<float>() + t.numel(), v.data.begin());
  return v;
}

}  // namespace imatest
