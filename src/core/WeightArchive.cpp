#include "internal/WeightArchive.h"

#include <sstream>

#include "ima/Error.h"

namespace ima {

void checkArchiveMatches(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                         const std::string& prefix) {
  auto check = [&](const std::string& name, const torch::Tensor& expected, bool buffer) {
    torch::Tensor stored;
    if (!archive.try_read(name, stored, buffer))
      throw Error("weights have no tensor '" + prefix + name + "'");
    if (stored.sizes() != expected.sizes()) {
      std::ostringstream m;
      m << "tensor '" << prefix << name << "' has shape " << stored.sizes() << " in the weights but "
        << expected.sizes() << " in the network";
      throw Error(m.str());
    }
  };
  for (const auto& p : module.named_parameters(false)) check(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(false)) check(b.key(), b.value(), true);
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (!archive.try_read(child.key(), sub))
      throw Error("weights have no module '" + prefix + child.key() + "'");
    checkArchiveMatches(*child.value(), sub, prefix + child.key() + ".");
  }
}

void saveModuleWeights(torch::nn::Module& module, std::ostream& out) {
  torch::serialize::OutputArchive archive;
  module.save(archive);
  archive.save_to(out);
}

void loadModuleWeights(torch::nn::Module& module, std::istream& in, const torch::Device& device) {
  torch::serialize::InputArchive archive;
  archive.load_from(in, device);
  checkArchiveMatches(module, archive, "");
  module.load(archive);
}

}  // namespace ima
