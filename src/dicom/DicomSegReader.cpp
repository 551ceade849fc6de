// Finding and reading DICOM Segmentations (see include/ima/DicomSeg.h): headers with dcmdata,
// frames with DCMTK's dcmseg.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <tuple>
#include <sstream>

#include "dcmtk/config/osconfig.h"  // must come first
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmfg/fginterface.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmfg/fgseg.h"
#include "dcmtk/dcmiod/cielabutil.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segutils.h"

#include "ima/DicomSeg.h"
#include "ima/Error.h"
#include "internal/DcmtkFiles.h"

namespace ima::dicom {
namespace {

using namespace internal;

// A frame lies on a slice when its position is within this fraction of the slice distance along
// the normal, and of the pixel spacing within the plane (positions are rounded to 16 characters
// in the file; 5 % leaves room for any writer's rounding and nothing for an off-grid frame).
constexpr double kPositionTolerance = 0.05;

CodedConcept codeIn(DcmItem* item, const DcmTagKey& sequence) {
  DcmItem* code = sequenceItem(item, sequence, 0);
  return {getString(code, DCM_CodeValue), getString(code, DCM_CodingSchemeDesignator), getString(code, DCM_CodeMeaning)};
}

std::string format(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

std::string format(const double* v, int n) {
  std::string s = "(";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + format(v[i]);
  return s + ")";
}

SegInfo describeDataset(const std::string& path, DcmDataset* ds) {
  const std::string sopClass = getString(ds, DCM_SOPClassUID);
  if (sopClass != UID_SegmentationStorage)
    throw Error("DICOM file " + quoted(path) + " is not a Segmentation (SOP Class " +
                (sopClass.empty() ? std::string("missing") : sopClass) + ")");
  SegInfo info;
  info.file = path;
  info.sopInstanceUid = getString(ds, DCM_SOPInstanceUID);
  info.seriesInstanceUid = getString(ds, DCM_SeriesInstanceUID);
  info.referencedSeriesUid = getString(sequenceItem(ds, DCM_ReferencedSeriesSequence, 0), DCM_SeriesInstanceUID);
  info.frames = static_cast<int>(getInteger(ds, DCM_NumberOfFrames, 0));
  info.rows = static_cast<int>(getInteger(ds, DCM_Rows, 0));
  info.columns = static_cast<int>(getInteger(ds, DCM_Columns, 0));
  for (unsigned long i = 0; DcmItem* item = sequenceItem(ds, DCM_SegmentSequence, i); ++i) {
    SegmentInfo s;
    s.label = static_cast<int>(getInteger(item, DCM_SegmentNumber, 0));
    s.name = getString(item, DCM_SegmentLabel);
    s.category = codeIn(item, DCM_SegmentedPropertyCategoryCodeSequence);
    s.type = codeIn(item, DCM_SegmentedPropertyTypeCodeSequence);
    Uint16 stored[3];
    if (item->findAndGetUint16(DCM_RecommendedDisplayCIELabValue, stored[0], 0).good() &&
        item->findAndGetUint16(DCM_RecommendedDisplayCIELabValue, stored[1], 1).good() &&
        item->findAndGetUint16(DCM_RecommendedDisplayCIELabValue, stored[2], 2).good()) {
      const double lab[3] = {double(stored[0]), double(stored[1]), double(stored[2])};
      double rgb[3];
      IODCIELabUtil::dicomLab2RGB(rgb[0], rgb[1], rgb[2], lab[0], lab[1], lab[2]);
      for (size_t c = 0; c < 3; ++c)
        s.rgb[c] = static_cast<uint8_t>(std::clamp(std::lround(rgb[c] * 255.0), 0L, 255L));
    }
    info.segments.push_back(s);
  }
  return info;
}

// The frames of a loaded SEG placed on the slices of `series` (see readSegmentation).
class SegFramePlacer {
 public:
  SegFramePlacer(const SegInfo& info, const SeriesInfo& series) : path_(info.file), info_(info), series_(series) {
    for (int i = 0; i < 3; ++i) {
      const auto r = static_cast<size_t>(i);
      rowDir_[r] = series.geometry.direction[3 * r + 0];
      colDir_[r] = series.geometry.direction[3 * r + 1];
      normal_[r] = series.geometry.direction[3 * r + 2];
    }
  }

  LabelMap read() {
    registerCodecs();  // a SEG may be stored RLE- or deflate-compressed
    DcmSegmentation* loaded = nullptr;
    const OFCondition status = DcmSegmentation::loadFile(path_.c_str(), loaded);
    std::unique_ptr<DcmSegmentation> seg(loaded);
    if (status.bad() || !seg)
      throw Error("cannot read DICOM SEG " + quoted(path_) + ": " + status.text());
    if (seg->getSegmentationType() != DcmSegTypes::ST_BINARY)
      throw Error("DICOM SEG " + quoted(path_) + " is of type " +
                  DcmSegTypes::segtype2OFString(seg->getSegmentationType()).c_str() +
                  "; only BINARY segmentations can be read (fractional ones hold probabilities or occupancies, "
                  "not a label map)");
    const auto rows = static_cast<Uint16>(info_.rows), columns = static_cast<Uint16>(info_.columns);
    if (rows != series_.rows || columns != series_.columns)
      throw Error("DICOM SEG " + quoted(path_) + " has frames of " + std::to_string(columns) + "x" +
                  std::to_string(rows) + " pixels, but series " + series_.describe() +
                  " has slices of " + std::to_string(series_.columns) + "x" + std::to_string(series_.rows) +
                  "; only SEGs on their series' pixel grid can be read");

    FGInterface& groups = seg->getFunctionalGroups();
    const size_t frames = groups.getNumberOfFrames();
    // (segment number, frame, slice) sorted by segment number: a later segment wins where segments overlap.
    std::vector<std::tuple<Uint16, size_t, size_t>> placed;
    for (size_t f = 0; f < frames; ++f) {
      const auto frame32 = static_cast<Uint32>(f);
      checkFrameGrid(groups, frame32);
      auto* segmentation = dynamic_cast<FGSegmentation*>(groups.get(frame32, DcmFGTypes::EFG_SEGMENTATION));
      Uint16 number = 0;
      if (!segmentation || segmentation->getReferencedSegmentNumber(number).bad() || number == 0)
        throw Error("DICOM SEG " + quoted(path_) + ": frame " + std::to_string(f + 1) +
                    " has no Referenced Segment Number");
      if (number > 255)
        throw Error("DICOM SEG " + quoted(path_) + " has segment number " + std::to_string(number) +
                    "; label maps hold segments 1..255");
      placed.emplace_back(number, f, sliceOf(groups, frame32));
    }
    std::stable_sort(placed.begin(), placed.end(),
                     [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });

    LabelMap labels(Shape{{series_.columns, series_.rows, static_cast<int64_t>(series_.slices.size())}}, 1,
                    series_.geometry);
    const size_t plane = static_cast<size_t>(rows) * columns;
    for (const auto& [number, f, z] : placed) {
      const DcmIODTypes::Frame* packed = seg->getFrame(f);
      if (!packed || !packed->pixData)
        throw Error("DICOM SEG " + quoted(path_) + ": frame " + std::to_string(f + 1) + " has no pixel data");
      // dcmseg keeps binary frames packed (8 pixels per byte).
      std::unique_ptr<DcmIODTypes::Frame> frame(DcmSegUtils::unpackBinaryFrame(packed, rows, columns));
      if (!frame || frame->length < plane)
        throw Error("DICOM SEG " + quoted(path_) + ": frame " + std::to_string(f + 1) + " is incomplete");
      uint8_t* out = labels.data.data() + z * plane;
      for (size_t i = 0; i < plane; ++i)
        if (frame->pixData[i]) out[i] = static_cast<uint8_t>(number);
    }
    return labels;
  }

 private:
  std::string frameName(Uint32 frame) const {
    return "frame " + std::to_string(frame + 1) + " of DICOM SEG " + quoted(path_);
  }

  // Orientation and pixel spacing of a frame must be those of the series.
  void checkFrameGrid(FGInterface& groups, Uint32 frame) const {
    auto* orientation = dynamic_cast<FGPlaneOrientationPatient*>(groups.get(frame, DcmFGTypes::EFG_PLANEORIENTPATIENT));
    Float64 o[6];
    if (!orientation || orientation->getImageOrientationPatient(o[0], o[1], o[2], o[3], o[4], o[5]).bad())
      throw Error(frameName(frame) + " has no Image Orientation (Patient)");
    const Vec3 r{o[0], o[1], o[2]}, c{o[3], o[4], o[5]};
    if (norm(cross(r, rowDir_)) > 1e-3 * norm(r) || norm(cross(c, colDir_)) > 1e-3 * norm(c) || dot(r, rowDir_) <= 0 ||
        dot(c, colDir_) <= 0)
      throw Error(frameName(frame) + " has orientation " + format(o, 6) + ", which differs from series " +
                  series_.describe() + "; only SEGs on their series' grid can be read");
    auto* measures = dynamic_cast<FGPixelMeasures*>(groups.get(frame, DcmFGTypes::EFG_PIXELMEASURES));
    Float64 spacing[2];
    if (measures && measures->getPixelSpacing(spacing[0], 0).good() && measures->getPixelSpacing(spacing[1], 1).good()) {
      const auto& s = series_.geometry.spacing;
      if (std::abs(spacing[0] - s[1]) > 1e-3 * s[1] || std::abs(spacing[1] - s[0]) > 1e-3 * s[0])
        throw Error(frameName(frame) + " has pixel spacing " + format(spacing, 2) + " mm, which differs from series " +
                    series_.describe() + "; only SEGs on their series' grid can be read");
    }
  }

  // The slice of the series at the frame's Image Position (Patient).
  size_t sliceOf(FGInterface& groups, Uint32 frame) const {
    auto* position = dynamic_cast<FGPlanePosPatient*>(groups.get(frame, DcmFGTypes::EFG_PLANEPOSPATIENT));
    Float64 p[3];
    if (!position || position->getImagePositionPatient(p[0], p[1], p[2]).bad())
      throw Error(frameName(frame) + " has no Image Position (Patient)");
    const Vec3 pos{p[0], p[1], p[2]};
    size_t nearest = 0;
    double nearestAlong = 1e300, nearestAcross = 0;
    for (size_t z = 0; z < series_.slices.size(); ++z) {
      const Vec3& s = series_.slices[z].position;
      const Vec3 d{pos[0] - s[0], pos[1] - s[1], pos[2] - s[2]};
      const double along = std::abs(dot(d, normal_));
      if (along < nearestAlong) {
        nearest = z;
        nearestAlong = along;
        nearestAcross = std::hypot(dot(d, rowDir_), dot(d, colDir_));
      }
    }
    const auto& spacing = series_.geometry.spacing;
    if (nearestAlong > kPositionTolerance * spacing[2] ||
        nearestAcross > kPositionTolerance * std::min(spacing[0], spacing[1]))
      throw Error(frameName(frame) + " at " + format(p, 3) + " mm lies on no slice of series " + series_.describe() +
                  " (the nearest slice, " + std::to_string(nearest + 1) + ", is " + format(nearestAlong) +
                  " mm away along the normal and " + format(nearestAcross) + " mm within the plane)");
    return nearest;
  }

  const std::string& path_;
  const SegInfo& info_;
  const SeriesInfo& series_;
  Vec3 rowDir_{}, colDir_{}, normal_{};
};

}  // namespace

bool isSegmentationFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  DcmFileFormat file;
  if (!loadHeader(path, file, false)) return false;
  return getString(file.getDataset(), DCM_SOPClassUID) == UID_SegmentationStorage;
}

SegInfo describeSegmentation(const std::string& path) {
  DcmFileFormat file;
  loadHeader(path, file, true);
  return describeDataset(path, file.getDataset());
}

std::vector<SegInfo> scanSegmentations(const std::string& directory, std::vector<ScanFailure>* failures) {
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec))
    throw Error("DICOM directory " + quoted(directory) + " does not exist");
  std::vector<SegInfo> found;
  for (const std::string& path : filesUnder(directory)) {
    DcmFileFormat file;
    try {
      if (!loadHeader(path, file, false)) continue;
      if (getString(file.getDataset(), DCM_SOPClassUID) == UID_SegmentationStorage)
        found.push_back(describeDataset(path, file.getDataset()));
    } catch (const Error& e) {
      if (!failures) throw;
      failures->push_back({path, getString(file.getDataset(), DCM_SeriesInstanceUID), e.what()});
    }
  }
  return found;
}

LabelMap readSegmentation(const std::string& path, const SeriesInfo& referenced) {
  const SegInfo info = describeSegmentation(path);
  if (info.referencedSeriesUid.empty())
    throw Error("DICOM SEG " + quoted(path) + " does not name the series it segments (no Referenced Series Sequence)");
  if (info.referencedSeriesUid != referenced.seriesInstanceUid)
    throw Error("DICOM SEG " + quoted(path) + " references series " + info.referencedSeriesUid + ", not series " +
                referenced.describe());
  if (referenced.slices.empty()) throw Error("series " + referenced.describe() + " has no slices");
  return SegFramePlacer(info, referenced).read();
}

}  // namespace ima::dicom
