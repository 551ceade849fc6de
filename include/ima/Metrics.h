// Overlap metrics on label maps (no torch).
#pragma once
#include <cstdint>
#include <vector>

#include "ima/Volume.h"

namespace ima {

struct OverlapCounts {
  int64_t tp = 0, fp = 0, fn = 0;
  // Dice = 2TP / (2TP + FP + FN); an empty reference with an empty prediction counts as 1.
  double dice() const;
};

// Counts for labels 1..classes-1 (index 0 of the result is label 1).
std::vector<OverlapCounts> overlapCounts(const LabelMap& prediction, const LabelMap& reference,
                                         int classes);

}  // namespace ima
