#include "ima/TorchScriptNetwork.h"

#include "ima/Error.h"

namespace ima {

TorchScriptNetwork::TorchScriptNetwork(torch::jit::Module module) : module_(std::move(module)) {}

torch::Tensor TorchScriptNetwork::forward(const torch::Tensor& input) {
  torch::jit::IValue out = module_.forward({input});
  // MONAI/nnU-Net exports may return deep-supervision tuples or lists: the first is full size.
  if (out.isTuple()) out = out.toTuple()->elements().at(0);
  if (out.isList()) out = out.toList().get(0);
  if (!out.isTensor()) throw Error("TorchScript model's forward did not return a tensor");
  return out.toTensor();
}

std::vector<torch::Tensor> TorchScriptNetwork::parameters() {
  std::vector<torch::Tensor> result;
  for (const auto& p : module_.parameters()) result.push_back(p);
  return result;
}

void TorchScriptNetwork::to(const torch::Device& device) {
  module_.to(device);
  device_ = device;
}

std::vector<std::pair<std::string, torch::Tensor>> TorchScriptNetwork::namedTensors() {
  // The order of Python's state_dict(): modules in pre-order, parameters then buffers of each.
  std::vector<std::pair<std::string, torch::Tensor>> result;
  for (const auto& m : module_.named_modules()) {
    const std::string prefix = m.name.empty() ? "" : m.name + ".";
    for (const auto& p : m.value.named_parameters(false)) result.emplace_back(prefix + p.name, p.value);
    for (const auto& b : m.value.named_buffers(false)) result.emplace_back(prefix + b.name, b.value);
  }
  return result;
}

void TorchScriptNetwork::saveWeights(std::ostream& out) { module_.save(out); }

void TorchScriptNetwork::loadWeights(std::istream& in) {
  try {
    module_ = torch::jit::load(in, device_);
  } catch (const c10::Error& e) {
    throw Error(std::string("TorchScript archive cannot be loaded: ") + e.what_without_backtrace());
  }
  // A weights archive of another kind (e.g. a U-Net's state saved with torch::save) also loads as
  // a module, one without code: refuse it here rather than at the first forward pass.
  if (!module_.find_method("forward"))
    throw Error("the TorchScript archive defines no forward method (the metadata says kind \"torchscript\"; are these "
                "weights of another network kind?)");
}

}  // namespace ima
