#include "ima/UNet.h"

#include <sstream>

#include <ATen/autocast_mode.h>

#include "ima/Error.h"
#include "internal/WeightArchive.h"

namespace ima {
namespace {

// ATen 1.13 runs a float convolution on the CPU through oneDNN unless its input is one small sample
// (N = 1 and N*C*D*H in 3D, N*C*H*W in 2D, at most 20480): that goes to the reference kernels
// (slow_conv3d took a fifth of a 3D IMA iteration, docs/benchmarks.md). IMA's attacks forward
// subsets of a batch, often one sample; two copies of it keep oneDNN, and the first copy's output
// and gradients are those of the sample. The parameters stay the convolution's own (same names).
template <typename Conv>
class OneDnnConv : public Conv {
public:
  using Conv::Conv;
  torch::Tensor forward(const torch::Tensor& x) {
    constexpr int64_t kReferenceKernelLimit = 20480;
    // Under CPU autocast (bf16) ATen casts the input and takes oneDNN anyway: no copy needed.
    if (x.size(0) == 1 && x.is_cpu() && x.scalar_type() == torch::kFloat && !at::autocast::is_cpu_enabled() &&
        x.size(1) * x.size(2) * x.size(3) <= kReferenceKernelLimit)
      return Conv::forward(torch::cat({x, x})).narrow(0, 0, 1);
    return Conv::forward(x);
  }
};

torch::nn::AnyModule conv(int dims, int in, int out, int kernel, int stride) {
  const int pad = kernel / 2;
  if (dims == 2)
    return torch::nn::AnyModule(std::make_shared<OneDnnConv<torch::nn::Conv2dImpl>>(
        torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(pad)));
  return torch::nn::AnyModule(std::make_shared<OneDnnConv<torch::nn::Conv3dImpl>>(
      torch::nn::Conv3dOptions(in, out, kernel).stride(stride).padding(pad)));
}

torch::nn::AnyModule norm(int dims, const std::string& kind, int features) {
  if (kind == "instance") {
    if (dims == 2)
      return torch::nn::AnyModule(
          torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(features).affine(true)));
    return torch::nn::AnyModule(
        torch::nn::InstanceNorm3d(torch::nn::InstanceNorm3dOptions(features).affine(true)));
  }
  if (kind == "batch") {
    if (dims == 2) return torch::nn::AnyModule(torch::nn::BatchNorm2d(features));
    return torch::nn::AnyModule(torch::nn::BatchNorm3d(features));
  }
  return torch::nn::AnyModule(torch::nn::Identity());
}

int featuresAt(const NetworkSpec& s, int stage) {
  int64_t f = static_cast<int64_t>(s.baseFeatures) << stage;
  return static_cast<int>(std::min<int64_t>(f, s.maxFeatures));
}

void checkSpec(const NetworkSpec& s) {
  auto bad = [](const std::string& what) { throw Error("invalid U-Net specification: " + what); };
  if (s.dims != 2 && s.dims != 3) bad("dims must be 2 or 3, got " + std::to_string(s.dims));
  if (s.inChannels < 1) bad("inChannels must be >= 1");
  if (s.classes < 2) bad("classes must be >= 2 (background + structures)");
  if (s.baseFeatures < 1 || s.maxFeatures < s.baseFeatures) bad("features must be >= 1 and max >= base");
  if (s.stages < 1 || s.stages > 8) bad("stages must be in 1..8");
  if (s.convsPerStage < 1) bad("convsPerStage must be >= 1");
  if (s.norm != "instance" && s.norm != "batch" && s.norm != "none")
    bad("norm must be instance, batch or none, got '" + s.norm + "'");
}

}  // namespace

UNetImpl::UNetImpl(const NetworkSpec& spec) : spec_(spec) {
  checkSpec(spec);
  int in = spec.inChannels;
  for (int s = 0; s < spec.stages; ++s) {
    const int f = featuresAt(spec, s);
    encoder_.push_back(register_module("encoder" + std::to_string(s), convBlock(in, f, s == 0 ? 1 : 2)));
    in = f;
  }
  for (int s = spec.stages - 2; s >= 0; --s) {
    const int f = featuresAt(spec, s);
    up_.push_back(upsample(featuresAt(spec, s + 1), f));
    register_module("up" + std::to_string(s), up_.back().ptr());
    decoder_.push_back(register_module("decoder" + std::to_string(s), convBlock(2 * f, f, 1)));
  }
  head_ = conv(spec.dims, featuresAt(spec, 0), spec.classes, 1, 1);
  register_module("head", head_.ptr());
}

torch::nn::Sequential UNetImpl::convBlock(int in, int out, int firstStride) const {
  torch::nn::Sequential block;
  for (int i = 0; i < spec_.convsPerStage; ++i) {
    block->push_back(conv(spec_.dims, i == 0 ? in : out, out, 3, i == 0 ? firstStride : 1));
    block->push_back(norm(spec_.dims, spec_.norm, out));
    block->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.01).inplace(true)));
  }
  return block;
}

torch::nn::AnyModule UNetImpl::upsample(int in, int out) const {
  if (spec_.dims == 2)
    return torch::nn::AnyModule(
        torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 2).stride(2)));
  return torch::nn::AnyModule(
      torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(in, out, 2).stride(2)));
}

torch::Tensor UNetImpl::forward(torch::Tensor x) {
  std::vector<torch::Tensor> skips;
  for (auto& stage : encoder_) {
    x = stage->forward(x);
    skips.push_back(x);
  }
  for (size_t i = 0; i < decoder_.size(); ++i) {
    x = up_[i].forward(x);
    x = decoder_[i]->forward(torch::cat({x, skips[skips.size() - 2 - i]}, 1));
  }
  return head_.forward(x);
}

void heInitialize(torch::nn::Module& module) {
  torch::NoGradGuard noGrad;
  for (auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    const bool isBias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (isBias) {
      p.zero_();
    } else if (p.dim() >= 3) {  // conv / transposed conv weights
      torch::nn::init::kaiming_normal_(p, 0.01, torch::kFanIn, torch::kLeakyReLU);
    } else {  // norm scales
      p.fill_(1.0);
    }
  }
}

UNetNetwork::UNetNetwork(const NetworkSpec& spec, uint64_t seed) : net_(nullptr) {
  torch::manual_seed(seed);
  net_ = UNet(spec);
  heInitialize(*net_);
}

torch::Tensor UNetNetwork::forward(const torch::Tensor& input) {
  const int64_t expected = net_->spec().dims + 2;
  if (input.dim() != expected)
    throw Error("network input must have " + std::to_string(expected) + " dimensions [N, C, ...], got " +
                std::to_string(input.dim()));
  if (input.size(1) != net_->spec().inChannels)
    throw Error("network expects " + std::to_string(net_->spec().inChannels) + " input channel(s), got " +
                std::to_string(input.size(1)));
  return net_->forward(input);
}

void UNetNetwork::to(const torch::Device& device) {
  net_->to(device);
  device_ = device;
}

std::vector<std::pair<std::string, torch::Tensor>> UNetNetwork::namedTensors() {
  // Names and order of Python's state_dict() of the mirror imaseg.unet.UNet (same registration):
  // modules in pre-order, each with its parameters, then its buffers.
  std::vector<std::pair<std::string, torch::Tensor>> result;
  for (const auto& m : net_->named_modules()) {
    const std::string prefix = m.key().empty() ? "" : m.key() + ".";
    for (const auto& p : m.value()->named_parameters(false)) result.emplace_back(prefix + p.key(), p.value());
    for (const auto& b : m.value()->named_buffers(false)) result.emplace_back(prefix + b.key(), b.value());
  }
  return result;
}

// Instance norm uses each sample's own statistics in both modes (no running statistics) and the
// U-Net has no dropout, so only batch norm makes the forward depend on the mode.
bool UNetNetwork::modeIndependent() const { return net_->spec().norm != "batch"; }

void UNetNetwork::saveWeights(std::ostream& out) { saveModuleWeights(*net_, out); }

void UNetNetwork::loadWeights(std::istream& in) {
  // torch's own load replaces tensors whatever their shape; the names and shapes are checked
  // first so a mismatch is reported by name instead of producing a broken network.
  loadModuleWeights(*net_, in, device_);
}

}  // namespace ima
