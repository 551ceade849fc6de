// A U-Net in the shape of nnU-Net's PlainConvUNet: per stage `convsPerStage` x (conv 3, norm,
// LeakyReLU 0.01); the first conv of stages > 0 has stride 2; decoder upsamples with a stride-2
// transposed conv, concatenates the skip and applies the same conv block; a 1x1 conv gives
// logits. Features per stage: min(base * 2^i, max). He (Kaiming) initialisation, zero biases.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "ima/ModelMetadata.h"
#include "ima/Network.h"

namespace ima {

class UNetImpl : public torch::nn::Module {
public:
  explicit UNetImpl(const NetworkSpec& spec);
  torch::Tensor forward(torch::Tensor x);
  const NetworkSpec& spec() const { return spec_; }

private:
  torch::nn::Sequential convBlock(int in, int out, int firstStride) const;
  torch::nn::AnyModule upsample(int in, int out) const;

  NetworkSpec spec_;
  std::vector<torch::nn::Sequential> encoder_;
  std::vector<torch::nn::AnyModule> up_;
  std::vector<torch::nn::Sequential> decoder_;
  torch::nn::AnyModule head_;
};
TORCH_MODULE(UNet);

// Re-initialises conv weights with Kaiming normal (a = 0.01), biases zero, norms to identity.
void heInitialize(torch::nn::Module& module);

// A Network over a libtorch C++ module.
class UNetNetwork : public Network {
public:
  UNetNetwork(const NetworkSpec& spec, uint64_t seed);
  torch::Tensor forward(const torch::Tensor& input) override;
  std::vector<torch::Tensor> parameters() override { return net_->parameters(); }
  void setTraining(bool training) override { net_->train(training); }
  bool isTraining() const override { return net_->is_training(); }
  void to(const torch::Device& device) override;
  torch::Device device() const override { return device_; }
  void saveWeights(std::ostream& out) override;
  void loadWeights(std::istream& in) override;
  std::vector<std::pair<std::string, torch::Tensor>> namedTensors() override;
  bool modeIndependent() const override;  // instance norm or none; batch norm is not
  UNet& module() { return net_; }

private:
  UNet net_;
  torch::Device device_{torch::kCPU};
};

}  // namespace ima
