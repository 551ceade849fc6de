// Saving and loading a libtorch module's weights (parameters and buffers) as a torch archive, with
// the names and shapes checked before anything is replaced: torch's own load accepts a tensor of
// any shape, which would leave a broken network instead of an error.
#pragma once
#include <iosfwd>
#include <string>

#include <torch/torch.h>

namespace ima {

// Throws ima::Error naming the first tensor or submodule of `module` that `archive` lacks or
// holds with another shape. `prefix` is prepended to the names in messages.
void checkArchiveMatches(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                         const std::string& prefix = "");

void saveModuleWeights(torch::nn::Module& module, std::ostream& out);
// Loads onto `device` after checkArchiveMatches.
void loadModuleWeights(torch::nn::Module& module, std::istream& in, const torch::Device& device);

}  // namespace ima
