#include "ima/Metrics.h"

#include "ima/Error.h"

namespace ima {

double OverlapCounts::dice() const {
  const int64_t denominator = 2 * tp + fp + fn;
  return denominator == 0 ? 1.0 : 2.0 * static_cast<double>(tp) / static_cast<double>(denominator);
}

std::vector<OverlapCounts> overlapCounts(const LabelMap& prediction, const LabelMap& reference, int classes) {
  if (!(prediction.shape == reference.shape))
    throw Error("prediction " + prediction.shape.str() + " and reference " + reference.shape.str() +
                " differ in size");
  if (classes < 2) throw Error("need at least 2 classes (background + one structure)");
  std::vector<OverlapCounts> counts(static_cast<size_t>(classes - 1));
  const size_t n = reference.data.size();
  for (size_t i = 0; i < n; ++i) {
    const int p = prediction.data[i], r = reference.data[i];
    if (p == r) {
      if (p > 0 && p < classes) ++counts[static_cast<size_t>(p - 1)].tp;
      continue;
    }
    if (p > 0 && p < classes) ++counts[static_cast<size_t>(p - 1)].fp;
    if (r > 0 && r < classes) ++counts[static_cast<size_t>(r - 1)].fn;
  }
  return counts;
}

}  // namespace ima
