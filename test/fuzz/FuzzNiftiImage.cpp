// libFuzzer target: the NIfTI path of every command that reads an image file (src/io/ImageFiles.cpp):
// the raw checks of RawImageChecks (header, sform/qform, sizes, spacing, data length, gzip stream,
// NaN voxels) and then ITK's read, as an image (readVolume) and as a label map (readLabelMap). An
// input starting with gzip's magic bytes is read as .nii.gz, else as .nii. Any exception other than
// ima::Error, and every sanitizer report, is a finding.
#include "FuzzFiles.h"
#include "ima/io/ImageFiles.h"
#include "ima/Error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string path = (ima::fuzz::scratchDirectory() / (gzip ? "input.nii.gz" : "input.nii")).string();
  ima::fuzz::writeFile(path, ima::fuzz::bytesOf(data, size));
  try {
    ima::io::readVolume(path);
  } catch (const ima::Error&) {
  }
  try {
    ima::io::readLabelMap(path);
  } catch (const ima::Error&) {
  }
  return 0;
}
