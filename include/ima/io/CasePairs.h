// Image/label folders paired by file name, loaded and checked: the cases of training, evaluation
// and attacks, for every host.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "ima/LabelledCase.h"
#include "ima/io/ImageFiles.h"

namespace ima::io {

struct CasePair {
  std::string id, image, label;
};

// Pairs by identical file name; a DICOM series in imageDir (a subdirectory or a .dcm file) pairs with
// the label file named after it (series "case_001/" with "case_001.nii.gz"). Every entry must have
// its partner (errors name the files).
std::vector<CasePair> pairCases(const std::string& imageDir, const std::string& labelDir);
// Reads one pair; NaN/Inf, size and geometry mismatches are errors naming both files.
LabelledCase loadCase(const CasePair& pair, const DicomInput& dicom = {});
// Reads every pair in order. `progress` (when given) hears the fraction done before each case and
// 1 at the end; returning false stops the loading with ima::Cancelled.
std::vector<LabelledCase> loadCases(const std::vector<CasePair>& pairs, const DicomInput& dicom = {},
                                    const std::function<bool(double)>& progress = {});
std::string describeGeometry(const Geometry& g, int dims);

}  // namespace ima::io
