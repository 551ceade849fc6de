// Image/label folders paired by file name, loaded and checked (train, evaluate).
#pragma once
#include <string>
#include <vector>

#include "ima/Training.h"

#include "ImageIO.h"

namespace ima::cli {

struct CasePair {
  std::string id, image, label;
};

// Pairs by identical file name; a DICOM series in imageDir (a subdirectory or a .dcm file) pairs with
// the label file named after it (series "case_001/" with "case_001.nii.gz"). Every entry must have
// its partner (errors name the files).
std::vector<CasePair> pairCases(const std::string& imageDir, const std::string& labelDir);
// Reads one pair; NaN/Inf, size and geometry mismatches are errors naming both files.
TrainingCase loadCase(const CasePair& pair, const DicomInput& dicom = {});
std::vector<TrainingCase> loadCases(const std::vector<CasePair>& pairs, const std::string& label, bool quiet,
                                    const DicomInput& dicom = {});
std::string describeGeometry(const Geometry& g, int dims);

}  // namespace ima::cli
