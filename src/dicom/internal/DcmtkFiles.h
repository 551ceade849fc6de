// Helpers shared by the DICOM series and SEG code (src/dicom only; includes DCMTK): listing the
// files under a directory, loading a file's header, and reading attribute values.
#pragma once
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"  // must come first
#include "dcmtk/dcmdata/dcfilefo.h"

namespace ima::dicom::internal {

using Vec3 = std::array<double, 3>;

inline Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
inline double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
inline double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }

inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

// JPEG baseline/extended/lossless (dcmjpeg), JPEG-LS (dcmjpls) and RLE (dcmdata) decoders,
// registered once per process (thread-safe). Deflated explicit VR little endian needs no codec
// (dcmdata inflates with zlib while reading).
void registerCodecs();

// Regular files under `directory`, recursively, sorted; hidden files and directories are skipped.
std::vector<std::string> filesUnder(const std::string& directory);

// Loads the header of `path` (pixel data and other large values are read lazily later). Returns
// false for a file that is not DICOM when `mustBeDicom` is false; throws for a damaged DICOM file.
bool loadHeader(const std::string& path, DcmFileFormat& file, bool mustBeDicom);

// The value of `tag` (all values, backslash-separated), "" when absent.
std::string getString(DcmItem* item, const DcmTagKey& tag);
// Reads `n` numbers of `tag` into `out`; false when the attribute is absent or too short.
bool getNumbers(DcmItem* item, const DcmTagKey& tag, double* out, int n);
// An integer attribute (US or SL/IS), `fallback` when absent.
long getInteger(DcmItem* item, const DcmTagKey& tag, long fallback);
// Item `index` of sequence `sequence` in `item`, nullptr when absent.
DcmItem* sequenceItem(DcmItem* item, const DcmTagKey& sequence, unsigned long index);

}  // namespace ima::dicom::internal
