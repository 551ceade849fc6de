// DICOM SEG output of the command line (`ima segment --output OUT.dcm`): the glue between a model's
// label metadata (ima::dicom::segmentsOf), the DICOM series that was segmented and
// ima::dicom::writeSegmentation.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "ima/DicomSeg.h"
#include "ima/ModelMetadata.h"

#include "ima/io/ImageFiles.h"

namespace ima::cli {

// True when `path` names a DICOM SEG output (*.dcm).
bool isSegOutput(const std::string& path);

// Checks before any work: a SEG needs a DICOM series as input (else UsageError naming both), an
// existing output directory, and no existing output unless `overwrite`.
void checkSegOutput(const std::string& output, const std::string& input, bool overwrite);

// Writes `labels`, the segmentation of `series` (as readVolume read it), as a SEG referencing that
// series. `modelName` goes into the series description; warnings (labels absent from the result)
// go to `warn`.
void writeSegOutput(const LabelMap& labels, const std::string& output, const dicom::SeriesInfo& series,
                    const ModelMetadata& metadata, const std::string& modelName, bool overwrite,
                    const std::function<void(const std::string&)>& warn);

}  // namespace ima::cli
