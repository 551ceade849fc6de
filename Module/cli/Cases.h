// Image/label folders paired by file name, loaded and checked (train, evaluate).
#pragma once
#include <string>
#include <vector>

#include "ima/Training.h"

namespace ima::cli {

struct CasePair {
  std::string id, image, label;
};

// Pairs by identical file name; every file must have its partner (errors name the files).
std::vector<CasePair> pairCases(const std::string& imageDir, const std::string& labelDir);
// Reads one pair; NaN/Inf, size and geometry mismatches are errors naming both files.
TrainingCase loadCase(const CasePair& pair);
std::vector<TrainingCase> loadCases(const std::vector<CasePair>& pairs, const std::string& label, bool quiet);
std::string describeGeometry(const Geometry& g, int dims);

}  // namespace ima::cli
