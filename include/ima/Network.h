// The network behind a Model, seen by the core's training and inference code. Tensors are
// [N, C, (D,) H, W] float32 in, logits [N, classes, (D,) H, W] out, on the network's device.
#pragma once
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace ima {

class Network {
public:
  virtual ~Network() = default;
  virtual torch::Tensor forward(const torch::Tensor& input) = 0;
  virtual std::vector<torch::Tensor> parameters() = 0;
  virtual void setTraining(bool training) = 0;
  virtual bool isTraining() const = 0;
  virtual void to(const torch::Device& device) = 0;
  virtual torch::Device device() const = 0;
  // Weights (and buffers) as bytes; loadWeights checks names and shapes and throws on mismatch.
  virtual void saveWeights(std::ostream& out) = 0;
  virtual void loadWeights(std::istream& in) = 0;
  // Parameters and buffers under the names PyTorch's state_dict() gives the same network in
  // Python (what `ima export --state-dict` writes). Kinds without such names throw ima::Error.
  virtual std::vector<std::pair<std::string, torch::Tensor>> namedTensors();
  // Whether forward() gives the same result in training and in eval mode and changes no state in
  // either (no batch statistics, no dropout), so that a forward in one mode can stand for one in
  // the other: IMA's training then reuses the forward of its last PGD iterate as the forward of
  // its adversarial loss. False unless the network knows.
  virtual bool modeIndependent() const { return false; }
};

}  // namespace ima
