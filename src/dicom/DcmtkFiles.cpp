// Helpers shared by the DICOM series and SEG code (see internal/DcmtkFiles.h).
#include "internal/DcmtkFiles.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"

#include "ima/Error.h"

namespace fs = std::filesystem;

namespace ima::dicom::internal {
namespace {

bool hasDicomPreamble(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char buffer[132];
  if (!in.read(buffer, sizeof buffer)) return false;
  return std::memcmp(buffer + 128, "DICM", 4) == 0;
}

}  // namespace

// A function-local static is initialised thread-safely (C++11).
void registerCodecs() {
  static const bool registered = [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    return true;
  }();
  (void)registered;
}

std::vector<std::string> filesUnder(const std::string& directory) {
  std::error_code ec;
  std::vector<std::string> paths;
  auto it = fs::recursive_directory_iterator(directory, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec)) paths.push_back(it->path().string());
  }
  if (ec) throw Error("cannot list DICOM directory " + quoted(directory) + ": " + ec.message());
  std::sort(paths.begin(), paths.end());
  return paths;
}

bool loadHeader(const std::string& path, DcmFileFormat& file, bool mustBeDicom) {
  // Some writers store known attributes with VR UN (pydicom's rtdose_rle.dcm: its position,
  // orientation and spacing); DCMTK keeps them as opaque bytes unless told to look the real VR up
  // in its dictionary, and the series would then lose its geometry.
  static const bool unknownVRConversion = (dcmEnableUnknownVRConversion.set(OFTrue), true);
  (void)unknownVRConversion;
  const bool preamble = hasDicomPreamble(path);
  const OFCondition status = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  if (status.bad()) {
    if (!preamble && !mustBeDicom) return false;
    throw Error("cannot read DICOM file " + quoted(path) + ": " + status.text() +
                " (truncated or damaged file?)");
  }
  DcmDataset* ds = file.getDataset();
  if (!preamble && !mustBeDicom && !ds->tagExists(DCM_SOPClassUID) && !ds->tagExists(DCM_SeriesInstanceUID))
    return false;  // something else that happened to parse
  return true;
}

std::string getString(DcmItem* item, const DcmTagKey& tag) {
  OFString value;
  if (item && item->findAndGetOFStringArray(tag, value).good()) return std::string(value.c_str());
  return "";
}

bool getNumbers(DcmItem* item, const DcmTagKey& tag, double* out, int n) {
  if (!item) return false;
  for (int i = 0; i < n; ++i)
    if (item->findAndGetFloat64(tag, out[i], static_cast<unsigned long>(i)).bad()) return false;
  return true;
}

long getInteger(DcmItem* item, const DcmTagKey& tag, long fallback) {
  if (!item) return fallback;
  Uint16 u16;
  if (item->findAndGetUint16(tag, u16).good()) return u16;
  Sint32 s32;
  if (item->findAndGetSint32(tag, s32).good()) return s32;
  return fallback;
}

DcmItem* sequenceItem(DcmItem* item, const DcmTagKey& sequence, unsigned long index) {
  DcmItem* result = nullptr;
  if (item && item->findAndGetSequenceItem(sequence, result, static_cast<signed long>(index)).good()) return result;
  return nullptr;
}

}  // namespace ima::dicom::internal
