#include "ima/classification/SmallCNN.h"

#include <sstream>

#include "ima/Error.h"
#include "internal/WeightArchive.h"

namespace ima {
namespace {

void checkSpec(const SmallCNNSpec& s) {
  auto bad = [](const std::string& what) { throw Error("invalid small CNN specification: " + what); };
  if (s.inChannels < 1) bad("inChannels must be >= 1, got " + std::to_string(s.inChannels));
  if (s.height < 4 || s.width < 4 || s.height % 4 != 0 || s.width % 4 != 0)
    bad("height and width must be positive multiples of 4 (two 2x2 poolings), got " + std::to_string(s.height) +
        "x" + std::to_string(s.width));
  if (s.classes < 2) bad("classes must be >= 2, got " + std::to_string(s.classes));
  if (s.features < 1) bad("features must be >= 1, got " + std::to_string(s.features));
  if (s.hidden < 1) bad("hidden must be >= 1, got " + std::to_string(s.hidden));
}

torch::nn::Conv2d conv3x3(int in, int out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
}

void appendBlock(torch::nn::Sequential& seq, int in, int out) {
  seq->push_back(conv3x3(in, out));
  seq->push_back(torch::nn::ReLU());
  seq->push_back(conv3x3(out, out));
  seq->push_back(torch::nn::ReLU());
  seq->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
}

void heInitializeRelu(torch::nn::Module& module) {
  torch::NoGradGuard noGrad;
  for (auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    const bool isBias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (isBias)
      p.zero_();
    else
      torch::nn::init::kaiming_normal_(p, 0.0, torch::kFanIn, torch::kReLU);
  }
}

}  // namespace

SmallCNNImpl::SmallCNNImpl(const SmallCNNSpec& spec) : spec_(spec) {
  checkSpec(spec);
  const int f = spec.features;
  features_ = torch::nn::Sequential();
  appendBlock(features_, spec.inChannels, f);
  appendBlock(features_, f, 2 * f);
  features_->push_back(torch::nn::Flatten());
  register_module("features", features_);

  const int64_t flat = int64_t{2 * f} * (spec.height / 4) * (spec.width / 4);
  classifier_ = torch::nn::Sequential(torch::nn::Linear(flat, spec.hidden), torch::nn::ReLU(),
                                      torch::nn::Linear(spec.hidden, spec.classes));
  register_module("classifier", classifier_);
}

torch::Tensor SmallCNNImpl::forward(torch::Tensor x) { return classifier_->forward(features_->forward(x)); }

SmallCNNNetwork::SmallCNNNetwork(const SmallCNNSpec& spec, uint64_t seed) : net_(nullptr) {
  torch::manual_seed(seed);
  net_ = SmallCNN(spec);
  heInitializeRelu(*net_);
}

torch::Tensor SmallCNNNetwork::forward(const torch::Tensor& input) {
  const SmallCNNSpec& s = net_->spec();
  if (input.dim() != 4 || input.size(1) != s.inChannels || input.size(2) != s.height || input.size(3) != s.width) {
    std::ostringstream m;
    m << "small CNN expects input [N, " << s.inChannels << ", " << s.height << ", " << s.width << "], got "
      << input.sizes();
    throw Error(m.str());
  }
  return net_->forward(input);
}

void SmallCNNNetwork::to(const torch::Device& device) {
  net_->to(device);
  device_ = device;
}

void SmallCNNNetwork::saveWeights(std::ostream& out) { saveModuleWeights(*net_, out); }

void SmallCNNNetwork::loadWeights(std::istream& in) { loadModuleWeights(*net_, in, device_); }

}  // namespace ima
