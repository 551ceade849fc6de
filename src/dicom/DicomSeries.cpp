// DICOM series reading with DCMTK (see include/ima/DicomSeries.h); no torch and no ITK here.
#include "ima/DicomSeries.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>
#include <type_traits>

#include "dcmtk/config/osconfig.h"  // must come first
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfcache.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/oflog/oflog.h"

#include "ima/AvailableMemory.h"
#include "ima/Error.h"
#include "internal/DcmtkFiles.h"

namespace fs = std::filesystem;

namespace ima::dicom {
namespace {

using namespace internal;

std::string formatNumber(double v, int precision = 6) {
  std::ostringstream s;
  s.precision(precision);
  s << v;
  return s.str();
}

bool isJpeg2000(E_TransferSyntax xfer) {
  return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000 ||
         xfer == EXS_JPEG2000MulticomponentLosslessOnly || xfer == EXS_JPEG2000Multicomponent;
}

std::string xferName(E_TransferSyntax xfer) {
  DcmXfer x(xfer);
  return std::string(x.getXferName()) + " (" + x.getXferID() + ")";
}

// An attribute of frame `frame` of an enhanced (functional-group) multi-frame object: looked up in
// the frame's Per-frame Functional Groups item, then in the Shared Functional Groups, then (legacy
// objects) at the top level of the dataset.
bool frameNumbers(DcmDataset* ds, unsigned long frame, const DcmTagKey& macro, const DcmTagKey& tag, double* out,
                  int n) {
  DcmItem* perFrame = sequenceItem(ds, DCM_PerFrameFunctionalGroupsSequence, frame);
  if (getNumbers(sequenceItem(perFrame, macro, 0), tag, out, n)) return true;
  DcmItem* shared = sequenceItem(ds, DCM_SharedFunctionalGroupsSequence, 0);
  if (getNumbers(sequenceItem(shared, macro, 0), tag, out, n)) return true;
  return getNumbers(ds, tag, out, n);
}

// What one file contributes to scanning.
struct FileSlices {
  std::string seriesUid, modality, description, photometric;
  bool isImage = false;  // has pixel data and is not a Segmentation (whose frames are masks)
  std::string sopClass;
  long rows = 0, columns = 0, samples = 1, frames = 1;
  Vec3 rowDir{1, 0, 0}, colDir{0, 1, 0};
  double pixelSpacing[2] = {1, 1};  // between rows (y), between columns (x)
  double sliceSpacingHint = 0;      // SpacingBetweenSlices or SliceThickness, 0 when absent
  std::vector<SliceRef> slices;
};

// Number of Frames is an Integer String; DCMTK reads "1A" as 1, which would silently drop all but
// one frame, so the text itself must be a plain number.
long numberOfFrames(DcmDataset* ds, const std::string& path) {
  if (!ds->tagExists(DCM_NumberOfFrames)) return 1;
  std::string text = getString(ds, DCM_NumberOfFrames);
  text.erase(0, text.find_first_not_of(' '));
  text.erase(text.find_last_not_of(' ') + 1);
  if (text.empty()) return 1;
  const bool digits = text.size() <= 9 && std::all_of(text.begin() + (text[0] == '+' ? 1 : 0), text.end(),
                                                      [](unsigned char c) { return std::isdigit(c) != 0; });
  if (!digits)
    throw Error("DICOM file " + quoted(path) + " has an invalid Number of Frames (0028,0008) '" + text +
                "' (not a whole number)");
  return std::stol(text);
}

// Geometry values must be finite: a NaN position or direction would be carried into the volume's
// origin and direction and abort the next program that reads the result.
void requireFinite(const double* values, int n, const std::string& path, const std::string& attribute) {
  for (int i = 0; i < n; ++i)
    if (!std::isfinite(values[i]))
      throw Error("DICOM file " + quoted(path) + " has a non-finite " + attribute + " (value " + std::to_string(i + 1) +
                  " is " + (std::isnan(values[i]) ? "NaN" : "infinite") + ")");
}

FileSlices describeFile(const std::string& path, DcmFileFormat& file) {
  DcmDataset* ds = file.getDataset();
  FileSlices f;
  f.seriesUid = getString(ds, DCM_SeriesInstanceUID);
  f.sopClass = getString(ds, DCM_SOPClassUID);
  f.modality = getString(ds, DCM_Modality);
  f.description = getString(ds, DCM_SeriesDescription);
  f.photometric = getString(ds, DCM_PhotometricInterpretation);
  // A Segmentation (SEG) has pixel data but is a mask over another series, not an image series.
  f.isImage = ds->tagExists(DCM_PixelData) && f.sopClass != UID_SegmentationStorage;
  if (!f.isImage) return f;
  if (f.seriesUid.empty()) throw Error("DICOM file " + quoted(path) + " has no Series Instance UID (0020,000E)");
  f.rows = getInteger(ds, DCM_Rows, 0);
  f.columns = getInteger(ds, DCM_Columns, 0);
  f.samples = getInteger(ds, DCM_SamplesPerPixel, 1);
  f.frames = numberOfFrames(ds, path);
  if (f.rows <= 0 || f.columns <= 0 || f.frames <= 0)
    throw Error("DICOM file " + quoted(path) + " has an invalid image size (Rows " + std::to_string(f.rows) +
                ", Columns " + std::to_string(f.columns) + ", Number of Frames " + std::to_string(f.frames) + ")");

  // Uncompressed pixel data shorter than Rows x Columns x frames is refused here, before the
  // volume is allocated from those numbers (encapsulated data is checked when decoded).
  DcmElement* pixels = nullptr;
  const long bitsAllocated = getInteger(ds, DCM_BitsAllocated, 0);
  if (!DcmXfer(ds->getOriginalXfer()).isEncapsulated() && bitsAllocated > 0 &&
      ds->findAndGetElement(DCM_PixelData, pixels).good() && pixels) {
    // YBR_FULL_422 / YBR_PARTIAL_422 store one Cb and one Cr per two pixels: 2 values a pixel, not 3.
    const bool chroma422 = f.samples == 3 && f.photometric.rfind("YBR_", 0) == 0 &&
                           f.photometric.find("_422") != std::string::npos;
    const double samples = chroma422 ? 2.0 : static_cast<double>(f.samples);
    const double expected = static_cast<double>(f.rows) * static_cast<double>(f.columns) * samples *
                            static_cast<double>(f.frames) * static_cast<double>(bitsAllocated / 8);
    if (static_cast<double>(pixels->getLength()) < expected)
      throw Error("DICOM file " + quoted(path) + " has " + std::to_string(pixels->getLength()) +
                  " bytes of pixel data but Rows " + std::to_string(f.rows) + " x Columns " + std::to_string(f.columns) +
                  " x " + std::to_string(f.frames) + " frame(s) x " + formatNumber(samples, 3) + " sample(s) x " +
                  std::to_string(bitsAllocated / 8) + " byte(s) need " + formatNumber(expected, 15));
  }

  double iop[6];
  const bool oriented = frameNumbers(ds, 0, DCM_PlaneOrientationSequence, DCM_ImageOrientationPatient, iop, 6);
  if (oriented) {
    requireFinite(iop, 6, path, "Image Orientation (Patient) (0020,0037)");
    f.rowDir = {iop[0], iop[1], iop[2]};
    f.colDir = {iop[3], iop[4], iop[5]};
    const double rn = norm(f.rowDir), cn = norm(f.colDir);
    if (rn < 1e-6 || cn < 1e-6 || std::abs(dot(f.rowDir, f.colDir)) > 1e-3 * rn * cn)
      throw Error("DICOM file " + quoted(path) + " has an invalid Image Orientation (Patient) (row and column "
                  "directions must be non-zero and perpendicular)");
    for (auto& v : f.rowDir) v /= rn;
    for (auto& v : f.colDir) v /= cn;
  }
  if (!frameNumbers(ds, 0, DCM_PixelMeasuresSequence, DCM_PixelSpacing, f.pixelSpacing, 2) &&
      !getNumbers(ds, DCM_ImagerPixelSpacing, f.pixelSpacing, 2)) {
    f.pixelSpacing[0] = f.pixelSpacing[1] = 1;
  }
  requireFinite(f.pixelSpacing, 2, path, "Pixel Spacing (0028,0030)");
  if (!(f.pixelSpacing[0] > 0) || !(f.pixelSpacing[1] > 0))
    throw Error("DICOM file " + quoted(path) + " has a non-positive Pixel Spacing");
  double hint = 0;
  if (frameNumbers(ds, 0, DCM_PixelMeasuresSequence, DCM_SpacingBetweenSlices, &hint, 1) && hint > 0)
    f.sliceSpacingHint = hint;
  else if (frameNumbers(ds, 0, DCM_PixelMeasuresSequence, DCM_SliceThickness, &hint, 1) && hint > 0)
    f.sliceSpacingHint = hint;
  requireFinite(&f.sliceSpacingHint, 1, path, "Spacing Between Slices or Slice Thickness");

  const Vec3 normal = cross(f.rowDir, f.colDir);
  const bool enhanced = ds->tagExists(DCM_PerFrameFunctionalGroupsSequence);
  for (long frame = 0; frame < f.frames; ++frame) {
    SliceRef s;
    s.file = path;
    s.frame = static_cast<int>(frame);
    const auto fr = static_cast<unsigned long>(frame);
    double ipp[3];
    if (enhanced && frameNumbers(ds, fr, DCM_PlanePositionSequence, DCM_ImagePositionPatient, ipp, 3)) {
      double frameIop[6];
      if (frameNumbers(ds, fr, DCM_PlaneOrientationSequence, DCM_ImageOrientationPatient, frameIop, 6)) {
        const Vec3 r{frameIop[0], frameIop[1], frameIop[2]}, c{frameIop[3], frameIop[4], frameIop[5]};
        if (norm(cross(r, f.rowDir)) > 1e-4 * norm(r) || norm(cross(c, f.colDir)) > 1e-4 * norm(c))
          throw Error("DICOM file " + quoted(path) + ": frame " + std::to_string(frame + 1) +
                      " has another orientation than frame 1; frames of different orientations cannot form "
                      "one volume");
      }
      requireFinite(ipp, 3, path, "Image Position (Patient) (0020,0032) of frame " + std::to_string(frame + 1));
      s.position = {ipp[0], ipp[1], ipp[2]};
    } else if (getNumbers(ds, DCM_ImagePositionPatient, ipp, 3)) {
      requireFinite(ipp, 3, path, "Image Position (Patient) (0020,0032)");
      // Legacy multi-frame: frames stacked along the normal from the one position given, at the
      // offsets of Grid Frame Offset Vector (RT dose) or else at the slice spacing.
      // Offsets whose first value is not 0 are absolute (relative to the z of the position).
      double offset = 0, first = 0;
      if (f.frames > 1 && ds->findAndGetFloat64(DCM_GridFrameOffsetVector, offset, fr).good() &&
          ds->findAndGetFloat64(DCM_GridFrameOffsetVector, first, 0).good())
        offset -= first;
      else
        offset = static_cast<double>(frame) * (f.sliceSpacingHint > 0 ? f.sliceSpacingHint : 1.0);
      requireFinite(&offset, 1, path, "Grid Frame Offset Vector (3004,000C)");
      for (int i = 0; i < 3; ++i) s.position[static_cast<size_t>(i)] = ipp[i] + offset * normal[static_cast<size_t>(i)];
    } else {
      // No geometry at all (secondary capture, ...): frames stacked at unit distance from 0.
      s.position = {0, 0, static_cast<double>(frame)};
    }
    double rescale[2];
    if (frameNumbers(ds, fr, DCM_PixelValueTransformationSequence, DCM_RescaleSlope, &rescale[0], 1))
      s.rescaleSlope = rescale[0];
    else if (getNumbers(ds, DCM_DoseGridScaling, &rescale[0], 1))
      s.rescaleSlope = rescale[0];  // RT dose: stored value x Dose Grid Scaling = dose in Gy
    if (frameNumbers(ds, fr, DCM_PixelValueTransformationSequence, DCM_RescaleIntercept, &rescale[1], 1))
      s.rescaleIntercept = rescale[1];
    const double rescaleValues[2] = {s.rescaleSlope, s.rescaleIntercept};
    requireFinite(rescaleValues, 2, path, "Rescale Slope / Intercept");
    f.slices.push_back(s);
  }
  return f;
}

// Slices of one series group: what must agree for them to form one volume.
struct GroupKey {
  std::string uid;
  long rows, columns, samples;
  std::array<long long, 8> rounded;  // orientation (1e-4) and pixel spacing (1e-4 mm)
  bool operator<(const GroupKey& o) const {
    return std::tie(uid, rows, columns, samples, rounded) < std::tie(o.uid, o.rows, o.columns, o.samples, o.rounded);
  }
};

GroupKey keyOf(const FileSlices& f) {
  GroupKey k{f.seriesUid, f.rows, f.columns, f.samples, {}};
  for (int i = 0; i < 3; ++i) {
    k.rounded[static_cast<size_t>(i)] = std::llround(f.rowDir[static_cast<size_t>(i)] * 1e4);
    k.rounded[static_cast<size_t>(3 + i)] = std::llround(f.colDir[static_cast<size_t>(i)] * 1e4);
  }
  k.rounded[6] = std::llround(f.pixelSpacing[0] * 1e4);
  k.rounded[7] = std::llround(f.pixelSpacing[1] * 1e4);
  return k;
}

// Builds a SeriesInfo (grid from the first file, slices sorted along the normal).
SeriesInfo makeSeries(const std::vector<const FileSlices*>& files) {
  const FileSlices& first = *files.front();
  SeriesInfo s;
  s.seriesInstanceUid = s.id = first.seriesUid;
  s.modality = first.modality;
  s.description = first.description;
  s.rows = first.rows;
  s.columns = first.columns;
  s.channels = static_cast<int>(first.samples);
  const Vec3 normal = cross(first.rowDir, first.colDir);
  for (int i = 0; i < 3; ++i) {
    const auto r = static_cast<size_t>(i);
    s.geometry.direction[3 * r + 0] = first.rowDir[r];
    s.geometry.direction[3 * r + 1] = first.colDir[r];
    s.geometry.direction[3 * r + 2] = normal[r];
  }
  s.geometry.spacing = {first.pixelSpacing[1], first.pixelSpacing[0],
                        first.sliceSpacingHint > 0 ? first.sliceSpacingHint : 1.0};
  for (const FileSlices* f : files) s.slices.insert(s.slices.end(), f->slices.begin(), f->slices.end());
  std::stable_sort(s.slices.begin(), s.slices.end(), [&](const SliceRef& a, const SliceRef& b) {
    const double da = dot(a.position, normal), db = dot(b.position, normal);
    if (da != db) return da < db;
    return std::tie(a.file, a.frame) < std::tie(b.file, b.frame);
  });
  s.geometry.origin = s.slices.front().position;
  if (s.slices.size() > 1) {
    const double extent = dot(s.slices.back().position, normal) - dot(s.slices.front().position, normal);
    const double mean = extent / static_cast<double>(s.slices.size() - 1);
    if (mean > 0) s.geometry.spacing[2] = mean;
    for (size_t k = 0; k + 1 < s.slices.size() && mean > 0; ++k) {
      const double d = dot(s.slices[k + 1].position, normal) - dot(s.slices[k].position, normal);
      s.spacingDeviation = std::max(s.spacingDeviation, std::abs(d - mean) / mean);
    }
  }
  return s;
}

struct ScanResult {
  std::vector<SeriesInfo> series;
  std::vector<std::string> nonImages;  // "'file' (SOP class ...)" of DICOM files without pixel data or SEGs
  size_t nonDicom = 0;
};

// Without `failures`, a file that cannot be parsed throws; with it, the file is recorded there.
ScanResult groupFiles(const std::vector<std::string>& paths, bool mustBeDicom,
                      std::vector<ScanFailure>* failures = nullptr) {
  ScanResult result;
  std::vector<FileSlices> described;
  for (const auto& path : paths) {
    DcmFileFormat file;
    try {
      if (!loadHeader(path, file, mustBeDicom)) {
        ++result.nonDicom;
        continue;
      }
      FileSlices f = describeFile(path, file);
      if (!f.isImage) {
        result.nonImages.push_back(quoted(path) + (f.sopClass.empty() ? "" : " (SOP Class " + f.sopClass + ")"));
        continue;
      }
      described.push_back(std::move(f));
    } catch (const Error& e) {
      if (!failures) throw;
      // DCMTK keeps what it parsed before the damage: often enough to name the series.
      failures->push_back({path, getString(file.getDataset(), DCM_SeriesInstanceUID), e.what()});
    }
  }
  // Group by key; a UID with several keys is split into parts named UID.part1, UID.part2, ...
  std::map<GroupKey, std::vector<const FileSlices*>> groups;
  for (const auto& f : described) groups[keyOf(f)].push_back(&f);
  std::map<std::string, std::vector<SeriesInfo>> byUid;
  for (const auto& [key, files] : groups) byUid[key.uid].push_back(makeSeries(files));
  for (auto& [uid, parts] : byUid) {
    if (parts.size() > 1) {
      // Deterministic part numbers: by number of slices (largest first), then first file name.
      std::stable_sort(parts.begin(), parts.end(), [](const SeriesInfo& a, const SeriesInfo& b) {
        if (a.slices.size() != b.slices.size()) return a.slices.size() > b.slices.size();
        return a.slices.front().file < b.slices.front().file;
      });
      for (size_t i = 0; i < parts.size(); ++i) parts[i].id = uid + ".part" + std::to_string(i + 1);
    }
    for (auto& p : parts) result.series.push_back(std::move(p));
  }
  return result;
}

std::string listSeries(const std::vector<SeriesInfo>& series) {
  std::string list;
  for (const auto& s : series) list += "\n  " + s.describe();
  return list;
}

void checkGeometry(const SeriesInfo& s, const ReadOptions& options, const std::string& what) {
  const std::string name = "series " + s.id + (what.empty() ? "" : " in " + quoted(what));
  if (s.slices.empty()) throw Error(name + " has no slices");
  Vec3 normal;
  for (int i = 0; i < 3; ++i) normal[static_cast<size_t>(i)] = s.geometry.direction[3 * static_cast<size_t>(i) + 2];
  auto where = [](const SliceRef& r) {
    return quoted(r.file) + (r.frame > 0 ? " frame " + std::to_string(r.frame + 1) : "");
  };
  for (size_t k = 0; k + 1 < s.slices.size(); ++k) {
    const SliceRef &a = s.slices[k], &b = s.slices[k + 1];
    const Vec3 d{b.position[0] - a.position[0], b.position[1] - a.position[1], b.position[2] - a.position[2]};
    const double along = dot(d, normal);
    const double across = norm({d[0] - along * normal[0], d[1] - along * normal[1], d[2] - along * normal[2]});
    if (along < 1e-4 * std::max(1.0, s.geometry.spacing[0]))
      throw Error(name + " has two slices at the same position along the slice normal (" + where(a) + " and " +
                  where(b) + "); several echoes, phases or time points in one series cannot form one volume");
    if (across > kTiltTolerance * along + 1e-4)
      throw Error(name + " is not stacked along its slice normal (gantry tilt or sheared stack: " +
                  formatNumber(std::atan2(across, along) * 180.0 / M_PI, 3) + " degrees between " + where(a) +
                  " and " + where(b) + "); resample it to an orthogonal grid first");
  }
  if (s.spacingDeviation > kSpacingTolerance) {
    double smallest = 1e300, largest = 0;
    size_t gap = 0;
    for (size_t k = 0; k + 1 < s.slices.size(); ++k) {
      const double d = dot(s.slices[k + 1].position, normal) - dot(s.slices[k].position, normal);
      smallest = std::min(smallest, d);
      if (d > largest) largest = d, gap = k;
    }
    const std::string message = name + " has uneven slice distances (" + formatNumber(smallest) + " to " +
                                formatNumber(largest) + " mm; largest gap between " + where(s.slices[gap]) +
                                " and " + where(s.slices[gap + 1]) + "): missing slices?";
    if (!options.allowUneven)
      throw Error(message + " Allow it (--allow-uneven) to read it on a grid with the mean distance " +
                  formatNumber(s.geometry.spacing[2]) + " mm");
    if (options.warn) options.warn("warning: " + message + " Reading it with the mean distance " +
                                   formatNumber(s.geometry.spacing[2]) + " mm");
  }
}

// Where the samples of one channel of one frame lie in the decoded pixel data, and how to read them.
struct SampleLayout {
  size_t first, stride;  // index of the first sample, distance between consecutive pixels
  int bitsStored;        // low bits that hold the value (high bits masked off)
  bool isSigned;         // two's complement in bitsStored bits
};

// Stored values -> modality values (stored * slope + intercept) for `count` pixels. The common case
// (all allocated bits stored, one channel) is a plain loop the compiler vectorises; masking and
// sign extension of fewer stored bits take the general path.
template <typename T>
void convertSamples(const T* raw, const SampleLayout& layout, size_t count, const SliceRef& slice, float* out) {
  using Signed = std::make_signed_t<T>;
  const double slope = slice.rescaleSlope, intercept = slice.rescaleIntercept;
  const T* in = raw + layout.first;
  const size_t stride = layout.stride;
  constexpr int kBits = static_cast<int>(8 * sizeof(T));
  if (layout.bitsStored == kBits && stride == 1) {
    if (layout.isSigned)
      for (size_t i = 0; i < count; ++i) out[i] = static_cast<float>(static_cast<Signed>(in[i]) * slope + intercept);
    else
      for (size_t i = 0; i < count; ++i) out[i] = static_cast<float>(in[i] * slope + intercept);
    return;
  }
  const int bits = layout.bitsStored;
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  const uint64_t signBit = uint64_t{1} << (bits - 1);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t v = static_cast<uint64_t>(in[i * stride]) & mask;
    const double value = layout.isSigned && (v & signBit) ? static_cast<double>(static_cast<int64_t>(v) - (int64_t{1} << bits))
                                                          : static_cast<double>(v);
    out[i] = static_cast<float>(value * slope + intercept);
  }
}

// Decodes every frame of `path` that `series` uses into `volume`; `buffer` holds one frame at a
// time (passed in so that one allocation serves a whole series).
Shape volumeShape(const SeriesInfo& series) {
  return Shape{{series.columns, series.rows, static_cast<int64_t>(series.slices.size())}};
}

// The volume is allocated once the first file's pixel data has been decoded and found complete, so
// that a small damaged file claiming a giant image fails before the giant allocation.
void readFileInto(const std::string& path, const std::vector<std::pair<int, size_t>>& frames,  // (frame, z)
                  const SeriesInfo& series, std::optional<Volume>& volume, std::vector<Uint16>& buffer) {
  registerCodecs();
  DcmFileFormat file;
  loadHeader(path, file, true);
  DcmDataset* ds = file.getDataset();
  const E_TransferSyntax xfer = ds->getOriginalXfer();
  if (isJpeg2000(xfer))
    throw Error("DICOM file " + quoted(path) + " is compressed with " + xferName(xfer) +
                ", which DCMTK cannot decode; convert the series to an uncompressed or JPEG-LS transfer syntax "
                "first (e.g. with gdcmconv --raw)");
  if (DcmXfer(xfer).isEncapsulated()) {
    const OFCondition status = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
    if (status.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
      throw Error("cannot decode the pixel data of DICOM file " + quoted(path) + " (transfer syntax " +
                  xferName(xfer) + "): " + (status.bad() ? status.text() : "no decoder for it in DCMTK"));
  }
  const long rows = getInteger(ds, DCM_Rows, 0), columns = getInteger(ds, DCM_Columns, 0);
  const long samples = getInteger(ds, DCM_SamplesPerPixel, 1), frameCount = numberOfFrames(ds, path);
  const long bitsAllocated = getInteger(ds, DCM_BitsAllocated, 0);
  const long bitsStored = getInteger(ds, DCM_BitsStored, bitsAllocated);
  const bool isSigned = getInteger(ds, DCM_PixelRepresentation, 0) == 1;
  const bool planar = getInteger(ds, DCM_PlanarConfiguration, 0) == 1;
  const std::string photometric = getString(ds, DCM_PhotometricInterpretation);
  if (rows != series.rows || columns != series.columns || samples != series.channels)
    throw Error("DICOM file " + quoted(path) + " changed while it was read (its size differs from the scan)");
  const bool mono = photometric == "MONOCHROME1" || photometric == "MONOCHROME2";
  if (!((mono && samples == 1) || (photometric == "RGB" && samples == 3)))
    throw Error("DICOM file " + quoted(path) + " has photometric interpretation '" + photometric + "' with " +
                std::to_string(samples) + " samples per pixel; only MONOCHROME1, MONOCHROME2 and RGB are supported");
  if (bitsAllocated != 8 && bitsAllocated != 16 && bitsAllocated != 32)
    throw Error("DICOM file " + quoted(path) + " has " + std::to_string(bitsAllocated) +
                " bits allocated per sample; 8, 16 and 32 are supported");
  if (bitsStored < 1 || bitsStored > bitsAllocated)
    throw Error("DICOM file " + quoted(path) + " has an invalid Bits Stored (" + std::to_string(bitsStored) + ")");

  DcmElement* element = nullptr;
  if (ds->findAndGetElement(DCM_PixelData, element).bad() || !element)
    throw Error("DICOM file " + quoted(path) + " has no Pixel Data (not an image object)");
  const size_t samplesPerFrame = static_cast<size_t>(rows) * static_cast<size_t>(columns) * static_cast<size_t>(samples);
  const size_t bytesPerSample = static_cast<size_t>(bitsAllocated / 8);
  const size_t expected = samplesPerFrame * static_cast<size_t>(frameCount) * bytesPerSample;
  if (static_cast<size_t>(element->getLength()) < expected)
    throw Error("DICOM file " + quoted(path) + " is truncated: its pixel data has " +
                std::to_string(element->getLength()) + " bytes, " + std::to_string(expected) + " expected for " +
                std::to_string(frameCount) + " frame(s) of " + std::to_string(columns) + "x" + std::to_string(rows));

  // Frame by frame into one reused buffer (getPartialValue reads an uncompressed value straight from
  // the file, in local byte order per 8- or 16-bit word), then converted into the volume: no copy of
  // the whole pixel data per file, and only the frames the series uses are read.
  const size_t frameBytes = samplesPerFrame * bytesPerSample;
  buffer.resize((frameBytes + 1) / 2);
  const bool swapWordPairs = bitsAllocated == 32 && DcmXfer(ds->getOriginalXfer()).isBigEndian() &&
                             gLocalByteOrder == EBO_LittleEndian;
  const size_t plane = static_cast<size_t>(rows) * static_cast<size_t>(columns);
  if (!volume) volume.emplace(volumeShape(series), series.channels, series.geometry);
  DcmFileCache cache;
  for (const auto& [frame, z] : frames) {
    const OFCondition status = element->getPartialValue(buffer.data(), static_cast<Uint32>(static_cast<size_t>(frame) * frameBytes),
                                                        static_cast<Uint32>(frameBytes), &cache);
    if (status.bad())
      throw Error("cannot read the pixel data of DICOM file " + quoted(path) + " (frame " + std::to_string(frame + 1) +
                  "): " + status.text() + " (truncated or damaged file?)");
    if (swapWordPairs) {
      // Pixel Data is OB or OW, never OL: a 32-bit sample of a big endian file is two 16-bit words
      // in the wrong order once each word is in local byte order.
      Uint16* words = buffer.data();
      for (size_t i = 0; i + 1 < frameBytes / 2; i += 2) std::swap(words[i], words[i + 1]);
    }
    const SliceRef& slice = series.slices[z];
    for (int c = 0; c < static_cast<int>(samples); ++c) {
      // Interleaved (RGB, planar configuration 0): sample c of pixel i at i * samples + c.
      const size_t first = planar ? static_cast<size_t>(c) * plane : static_cast<size_t>(c);
      const size_t stride = planar ? 1 : static_cast<size_t>(samples);
      const SampleLayout layout{first, stride, static_cast<int>(bitsStored), isSigned};
      float* out = volume->channel(c) + z * plane;
      if (bitsAllocated == 8)
        convertSamples(reinterpret_cast<const Uint8*>(buffer.data()), layout, plane, slice, out);
      else if (bitsAllocated == 16)
        convertSamples(reinterpret_cast<const Uint16*>(buffer.data()), layout, plane, slice, out);
      else
        convertSamples(reinterpret_cast<const Uint32*>(buffer.data()), layout, plane, slice, out);
    }
  }
}

SeriesInfo chooseSeries(const std::string& directory, const ReadOptions& options) {
  std::error_code ec;
  if (!fs::exists(directory, ec)) throw Error("DICOM directory " + quoted(directory) + " does not exist");
  ScanResult scan;
  if (!fs::is_directory(directory, ec)) {
    scan = groupFiles({directory}, true);  // a single file
  } else {
    const std::vector<std::string> paths = filesUnder(directory);
    scan = groupFiles(paths, false);
  }
  if (options.warn && (scan.nonDicom > 0 || !scan.nonImages.empty()))
    options.warn("skipped " + std::to_string(scan.nonDicom) + " non-DICOM file(s) and " +
                 std::to_string(scan.nonImages.size()) + " non-image DICOM object(s) (no pixel data, or segmentations) in " + quoted(directory));
  if (scan.series.empty()) {
    std::string detail;
    if (!scan.nonImages.empty())
      detail = "; non-image DICOM objects (no Pixel Data, or segmentations): " + scan.nonImages.front() +
               (scan.nonImages.size() > 1 ? " and " + std::to_string(scan.nonImages.size() - 1) + " more" : "");
    throw Error("no DICOM image series in " + quoted(directory) + detail);
  }
  std::sort(scan.series.begin(), scan.series.end(),
            [](const SeriesInfo& a, const SeriesInfo& b) { return a.id < b.id; });
  if (options.series.empty()) {
    if (scan.series.size() == 1) return scan.series.front();
    bool split = true;
    for (const auto& s : scan.series) split = split && s.seriesInstanceUid == scan.series.front().seriesInstanceUid;
    if (split)
      throw Error("DICOM series " + scan.series.front().seriesInstanceUid + " in " + quoted(directory) +
                  " mixes slices of different orientations or sizes, which cannot form one volume; it was split "
                  "into " + std::to_string(scan.series.size()) + " parts; choose one with --series:" +
                  listSeries(scan.series));
    throw Error(quoted(directory) + " holds " + std::to_string(scan.series.size()) +
                " DICOM series; choose one with --series:" + listSeries(scan.series));
  }
  std::vector<SeriesInfo> parts;
  for (const auto& s : scan.series) {
    if (s.id == options.series) return s;
    if (s.seriesInstanceUid == options.series) parts.push_back(s);
  }
  if (parts.size() == 1) return parts.front();
  if (parts.size() > 1)
    throw Error("DICOM series " + options.series + " in " + quoted(directory) +
                " mixes slices of different orientations or sizes, which cannot form one volume; choose one part "
                "with --series:" + listSeries(parts));
  throw Error("DICOM series " + options.series + " is not in " + quoted(directory) + "; it holds:" +
              listSeries(scan.series));
}

}  // namespace

std::vector<std::string> SeriesInfo::files() const {
  std::vector<std::string> result;
  for (const auto& s : slices)
    if (std::find(result.begin(), result.end(), s.file) == result.end()) result.push_back(s.file);
  return result;
}

std::string SeriesInfo::describe() const {
  std::ostringstream s;
  s << id << " (" << (modality.empty() ? "?" : modality);
  if (!description.empty()) s << ", '" << description << "'";
  s << ", " << columns << "x" << rows << "x" << slices.size() << ")";
  return s.str();
}

std::vector<SeriesInfo> scanDirectory(const std::string& directory, std::vector<ScanFailure>* failures) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) throw Error("DICOM directory " + quoted(directory) + " does not exist");
  const std::vector<std::string> paths = filesUnder(directory);
  auto series = groupFiles(paths, false, failures).series;
  std::sort(series.begin(), series.end(), [](const SeriesInfo& a, const SeriesInfo& b) { return a.id < b.id; });
  return series;
}

SeriesInfo describeFiles(const std::vector<std::string>& files) {
  if (files.empty()) throw Error("no DICOM files given");
  ScanResult scan = groupFiles(files, true);
  if (!scan.nonImages.empty())
    throw Error("DICOM file " + scan.nonImages.front() + " is not an image (no Pixel Data, or a Segmentation)");
  if (scan.series.size() != 1)
    throw Error("the " + std::to_string(files.size()) + " DICOM files given (" + quoted(files.front()) +
                ", ...) do not form one series: they hold " + std::to_string(scan.series.size()) +
                " series or parts of different orientations or sizes:" + listSeries(scan.series));
  return scan.series.front();
}

Volume readSeries(const SeriesInfo& series, const ReadOptions& options, const std::string& what) {
  checkGeometry(series, options, what);
  const Shape shape = volumeShape(series);
  requireAvailableMemory(4.0 * static_cast<double>(shape.voxels()) * series.channels,
                         "reading the " + shape.str() + " series " + series.id +
                             (what.empty() ? "" : " in " + quoted(what)));
  std::optional<Volume> volume;
  std::map<std::string, std::vector<std::pair<int, size_t>>> byFile;
  for (size_t z = 0; z < series.slices.size(); ++z) byFile[series.slices[z].file].push_back({series.slices[z].frame, z});
  std::vector<Uint16> buffer;  // 16-bit words: aligned for 8-, 16- and 32-bit samples
  for (const auto& [file, frames] : byFile) readFileInto(file, frames, series, volume, buffer);
  return std::move(*volume);
}

SeriesInfo findSeries(const std::string& directory, const ReadOptions& options) {
  SeriesInfo series = chooseSeries(directory, options);
  checkGeometry(series, options, directory);
  return series;
}

Volume readDirectory(const std::string& directory, const ReadOptions& options) {
  const SeriesInfo series = findSeries(directory, options);
  ReadOptions quiet = options;
  quiet.warn = nullptr;  // warned once above
  return readSeries(series, quiet, directory);
}

void silenceDcmtkLogging() { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); }

bool isSeriesDirectory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

}  // namespace ima::dicom
