// libFuzzer target: the DICOM series reader (ima::dicom, docs/dicom.md): an input is one or more
// files (separated as FuzzFiles.h says) in one directory, scanned (scanDirectory, damaged files
// recorded as failures), described as one series (describeFiles) and read (readSeries, uneven
// spacing allowed so that pixel decoding is reached). Any exception other than ima::Error, and
// every sanitizer report, is a finding.
#include "FuzzFiles.h"
#include "ima/DicomSeries.h"
#include "ima/Error.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ima::dicom::silenceDcmtkLogging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> paths =
      ima::fuzz::writeFiles("series", ima::fuzz::splitFiles(ima::fuzz::bytesOf(data, size)));
  const std::string directory = (ima::fuzz::scratchDirectory() / "series").string();
  ima::dicom::ReadOptions options;
  options.allowUneven = true;
  try {
    std::vector<ima::dicom::ScanFailure> failures;
    for (const ima::dicom::SeriesInfo& series : ima::dicom::scanDirectory(directory, &failures)) {
      try {
        ima::dicom::readSeries(series, options, directory);
      } catch (const ima::Error&) {
      }
    }
    ima::dicom::readSeries(ima::dicom::describeFiles(paths), options, directory);
  } catch (const ima::Error&) {
  }
  return 0;
}
