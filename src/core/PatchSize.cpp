#include "ima/PatchSize.h"

#include <algorithm>
#include <climits>

#include "ima/Training.h"
#include "internal/SettingChecker.h"

namespace ima {

std::vector<int64_t> defaultPatchSize(const std::vector<LabelledCase>& cases, int dims, int stages) {
  const int64_t multiple = int64_t{1} << (stages - 1);
  std::vector<int64_t> patch;
  for (int a = 0; a < dims; ++a) {
    int64_t smallest = INT64_MAX;
    for (const auto& c : cases) smallest = std::min(smallest, c.image.shape.size[static_cast<size_t>(a)]);
    if (dims == 3) smallest = std::min<int64_t>(smallest, 64);
    patch.push_back(std::max(multiple, smallest / multiple * multiple));
  }
  return patch;
}

std::vector<int64_t> trainingPatchSize(const std::vector<int64_t>& requested, const NetworkSpec& network,
                                       const std::vector<int64_t>& modelPatch,
                                       const std::vector<LabelledCase>& cases, const SettingName& name) {
  if (!requested.empty()) {
    const internal::Checker check(name);
    std::string text;
    for (int64_t s : requested) text += (text.empty() ? "" : ",") + std::to_string(s);
    if (static_cast<int>(requested.size()) != network.dims)
      check.fail("patch_size", text, std::to_string(network.dims) + " sizes for a " + std::to_string(network.dims) +
                                         "D network");
    const int64_t multiple = int64_t{1} << (network.stages - 1);
    for (int64_t s : requested)
      if (s < 1 || s % multiple != 0 || s > 4096)
        check.fail("patch_size", text,
                   "positive multiples of 2^(stages-1) = " + std::to_string(multiple) + ", at most 4096");
    return requested;
  }
  if (static_cast<int>(modelPatch.size()) == network.dims) return modelPatch;
  return defaultPatchSize(cases, network.dims, network.stages);
}

int defaultBatchSize(int dims) { return dims == 3 ? 2 : 8; }

}  // namespace ima
