// libFuzzer target: the DICOM SEG reader (ima::dicom, docs/dicom.md): an input is a DICOM series
// and SEGs on it, as files separated as FuzzFiles.h says, in one directory. Every SEG found
// (scanSegmentations, damaged files recorded as failures) is described and read onto each series
// found (scanDirectory) whose UID it references, as `ima batch harden` does; every file is also
// checked with isSegmentationFile. Any exception other than ima::Error, and every sanitizer report,
// is a finding.
#include "FuzzFiles.h"
#include "ima/DicomSeg.h"
#include "ima/DicomSeries.h"
#include "ima/Error.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ima::dicom::silenceDcmtkLogging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> paths =
      ima::fuzz::writeFiles("seg", ima::fuzz::splitFiles(ima::fuzz::bytesOf(data, size)));
  const std::string directory = (ima::fuzz::scratchDirectory() / "seg").string();
  for (const std::string& path : paths) {
    try {
      if (ima::dicom::isSegmentationFile(path)) ima::dicom::describeSegmentation(path);
    } catch (const ima::Error&) {
    }
  }
  try {
    std::vector<ima::dicom::ScanFailure> failures;
    const std::vector<ima::dicom::SeriesInfo> series = ima::dicom::scanDirectory(directory, &failures);
    for (const ima::dicom::SegInfo& seg : ima::dicom::scanSegmentations(directory, &failures)) {
      for (const ima::dicom::SeriesInfo& s : series) {
        if (s.seriesInstanceUid != seg.referencedSeriesUid) continue;
        try {
          ima::dicom::readSegmentation(seg.file, s);
        } catch (const ima::Error&) {
        }
      }
    }
  } catch (const ima::Error&) {
  }
  return 0;
}
