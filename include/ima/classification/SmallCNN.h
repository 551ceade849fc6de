// A small convolutional classifier for MNIST-sized images, the network of the classification
// experiments (Fashion-MNIST, issue 3): two blocks of (conv 3x3, ReLU, conv 3x3, ReLU, max-pool 2)
// with `features` and 2 * `features` channels, then flatten, a fully connected layer of `hidden`
// units with ReLU, and a fully connected layer giving one logit per class.
//
// Input [N, inChannels, height, width] float32 (normalised intensities, e.g. [0, 1] pixels);
// output logits [N, classes]. height and width are fixed at construction (the first fully
// connected layer sees 2 * features * height/4 * width/4 values) and must be multiples of 4.
// He (Kaiming normal, fan-in, ReLU gain) initialisation of every weight, zero biases.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <vector>

#include <torch/torch.h>

#include "ima/Network.h"

namespace ima {

struct SmallCNNSpec {
  int inChannels = 1;
  int height = 28;    // pixels, multiple of 4
  int width = 28;     // pixels, multiple of 4
  int classes = 10;   // >= 2
  int features = 32;  // channels of the first block; the second has twice as many
  int hidden = 128;   // units of the hidden fully connected layer
};

class SmallCNNImpl : public torch::nn::Module {
public:
  // Throws ima::Error when a field of the specification is out of range.
  explicit SmallCNNImpl(const SmallCNNSpec& spec);
  torch::Tensor forward(torch::Tensor x);
  const SmallCNNSpec& spec() const { return spec_; }

private:
  SmallCNNSpec spec_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
};
TORCH_MODULE(SmallCNN);

// A Network over SmallCNN. The seed fixes the initial weights (it seeds torch's global generator,
// as UNetNetwork does).
class SmallCNNNetwork : public Network {
public:
  SmallCNNNetwork(const SmallCNNSpec& spec, uint64_t seed);
  // Throws ima::Error when the input is not [N, inChannels, height, width].
  torch::Tensor forward(const torch::Tensor& input) override;
  std::vector<torch::Tensor> parameters() override { return net_->parameters(); }
  void setTraining(bool training) override { net_->train(training); }
  bool isTraining() const override { return net_->is_training(); }
  void to(const torch::Device& device) override;
  torch::Device device() const override { return device_; }
  void saveWeights(std::ostream& out) override;
  // Throws ima::Error naming the tensor when the weights do not fit this network's spec.
  void loadWeights(std::istream& in) override;
  SmallCNN& module() { return net_; }

private:
  SmallCNN net_;
  torch::Device device_{torch::kCPU};
};

}  // namespace ima
