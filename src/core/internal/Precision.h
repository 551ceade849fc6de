// Reduced-precision compute (RuntimeOptions::precision) for the core's torch code: which floating
// type the network's convolutions run in, and a Network that runs its forward passes under
// autocast in that type. Weights, inputs, perturbations, logits and margins stay float32: autocast
// casts per operation, and the logits are returned as float32 so that losses, correctness and
// the attacks' gradient steps are computed in full precision.
#pragma once
#include <memory>
#include <string>

#include <torch/torch.h>

#include "ima/Network.h"

namespace ima {

// "fp32" -> float, "bf16" -> bfloat16, "fp16" -> half (CUDA only), "auto" -> bfloat16 on a CPU
// with native bf16 arithmetic (cpuHasNativeBf16) or on CUDA, else float. Throws ima::Error for
// unknown names and for fp16 on a CPU.
torch::ScalarType resolvePrecision(const std::string& precision, const torch::Device& device);

// Whether this x86 CPU reports AVX512-BF16 or AMX-BF16 (CPUID leaf 7); false elsewhere.
bool cpuHasNativeBf16();

// `inner` with its forward passes under autocast to `type` on its device (float: no autocast).
// The other calls go to `inner` unchanged.
class MixedPrecisionNetwork : public Network {
public:
  MixedPrecisionNetwork(Network& inner, torch::ScalarType type) : inner_(inner), type_(type) {}
  torch::Tensor forward(const torch::Tensor& input) override;
  std::vector<torch::Tensor> parameters() override { return inner_.parameters(); }
  void setTraining(bool training) override { inner_.setTraining(training); }
  bool isTraining() const override { return inner_.isTraining(); }
  void to(const torch::Device& device) override { inner_.to(device); }
  torch::Device device() const override { return inner_.device(); }
  void saveWeights(std::ostream& out) override { inner_.saveWeights(out); }
  void loadWeights(std::istream& in) override { inner_.loadWeights(in); }
  bool modeIndependent() const override { return inner_.modeIndependent(); }

private:
  Network& inner_;
  torch::ScalarType type_;
};

}  // namespace ima
