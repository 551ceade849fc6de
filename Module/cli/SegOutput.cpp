#include "SegOutput.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>

#include "ima/DicomModelSegments.h"
#include "ima/Error.h"

#include "ArgumentParser.h"

#ifndef IMA_VERSION_STRING
#define IMA_VERSION_STRING "unknown"
#endif

namespace fs = std::filesystem;

namespace ima::cli {

bool isSegOutput(const std::string& path) {
  std::string extension = fs::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".dcm";
}

void checkSegOutput(const std::string& output, const std::string& input, bool overwrite) {
  if (!io::isDicomInput(input))
    throw UsageError("--output '" + output + "' is a DICOM SEG (.dcm), which references the DICOM series it "
                     "segments, but --input '" + input + "' is not DICOM (a directory or .dcm file); write a "
                     ".nii.gz, .nrrd or .mha label map instead");
  io::checkFileOutputPath(output, overwrite, "output");
}

void writeSegOutput(const LabelMap& labels, const std::string& output, const dicom::SeriesInfo& series,
                    const ModelMetadata& metadata, const std::string& modelName, bool overwrite,
                    const std::function<void(const std::string&)>& warn) {
  dicom::silenceDcmtkLogging();  // our messages name the file and the reason
  dicom::SegWriteOptions options;
  options.algorithmVersion = IMA_VERSION_STRING;
  // Series Description is at most 64 characters.
  options.seriesDescription = ("IMA segmentation (" + modelName + ")").substr(0, 64);
  options.overwrite = overwrite;
  options.warn = warn;
  dicom::writeSegmentation(output, labels, series, dicom::segmentsOf(metadata), options);
}

}  // namespace ima::cli
