// A Network over an imported TorchScript module (trusted code: TorchScript files can execute
// arbitrary operations when run).
#pragma once
#include <torch/script.h>

#include "ima/Network.h"

namespace ima {

class TorchScriptNetwork : public Network {
public:
  explicit TorchScriptNetwork(torch::jit::Module module);
  torch::Tensor forward(const torch::Tensor& input) override;
  std::vector<torch::Tensor> parameters() override;
  void setTraining(bool training) override { module_.train(training); }
  bool isTraining() const override { return module_.is_training(); }
  void to(const torch::Device& device) override;
  torch::Device device() const override { return device_; }
  void saveWeights(std::ostream& out) override;  // the whole TorchScript archive
  void loadWeights(std::istream& in) override;
  std::vector<std::pair<std::string, torch::Tensor>> namedTensors() override;

private:
  torch::jit::Module module_;
  torch::Device device_{torch::kCPU};
};

}  // namespace ima
