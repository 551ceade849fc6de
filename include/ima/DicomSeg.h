// DICOM Segmentation objects (SEG, SOP class Segmentation Storage): writing a label map as a binary
// SEG that references its source series, finding SEGs under a directory, and reading a SEG back
// into a label map on the grid of the series it references (DCMTK's dcmseg underneath; no DCMTK,
// ITK or torch types in this header). See docs/dicom.md.
//
// Geometry: a label map here lies on the grid of readSeries(source) (x = columns, y = rows,
// z = the source's slices in SeriesInfo::slices order); SEG frame positions and orientation are
// the source slices' Image Position / Orientation (Patient).
//
// Every error is an ima::Error naming the file (or series) and the problem.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ima/CodedConcept.h"
#include "ima/DicomSeries.h"
#include "ima/Volume.h"

namespace ima::dicom {

// A code (Code Value, Coding Scheme Designator, Code Meaning), e.g. {"123037004", "SCT",
// "Anatomical Structure"}; the core's struct (model metadata carries them too).
using CodedConcept = ima::CodedConcept;

// What a segment without codes is written with: what 3D Slicer gives a new segment, category
// "Tissue" and type "Tissue" (SNOMED CT 85756007).
inline CodedConcept defaultSegmentCategory() { return {"85756007", "SCT", "Tissue"}; }
inline CodedConcept defaultSegmentType() { return {"85756007", "SCT", "Tissue"}; }

// One segment of a SEG: a label of the label map and how it is described.
struct SegmentInfo {
  int label = 0;                  // value in the label map (1..255)
  std::string name;               // Segment Label ("label N" when empty)
  CodedConcept category, type;    // Segmented Property Category / Type codes (defaults above when empty)
  std::array<uint8_t, 3> rgb{};   // recommended display colour, sRGB (written as CIELab)
};

struct SegWriteOptions {
  // Segment Algorithm Name and the Segmentation Algorithm Identification (family "Artificial
  // Intelligence", name, version; written only when the version is given).
  std::string algorithmName = "IMASegmentation", algorithmVersion, seriesDescription = "IMA segmentation";
  int seriesNumber = 300;  // Series Number of the new SEG series
  bool overwrite = false;  // replace an existing file at the output path
  // Receives warnings, e.g. "label 2 (lesion) is absent from the result"; default: none.
  std::function<void(const std::string&)> warn;
};

// Writes `labels` (on the grid of readSeries(source)) as a binary SEG that references `source`:
// patient, study and frame of reference taken over from the source's first file; one segment per
// SegmentInfo, numbered 1, 2, ... in ascending label order (so labels 1..K are segments 1..K);
// frames only on the slices where a segment is present, each with the position of its source slice
// and a derivation reference to it; the Referenced Series Sequence lists every source instance. A
// segment absent from `labels` is named through options.warn and gets one empty frame (on the
// first slice), so an all-background result still gives a valid SEG with every segment.
// Errors (nothing written): a label map not on the series' grid, a label value without a
// SegmentInfo, duplicate or out-of-range SegmentInfo labels, source files that changed since they
// were scanned, an existing output without options.overwrite. Written to a temporary name in the
// output's directory and renamed.
void writeSegmentation(const std::string& path, const LabelMap& labels, const SeriesInfo& source,
                       const std::vector<SegmentInfo>& segments, const SegWriteOptions& options = {});

// What a SEG file's header says.
struct SegInfo {
  std::string file, sopInstanceUid, seriesInstanceUid, referencedSeriesUid;
  std::vector<SegmentInfo> segments;  // label = Segment Number; rgb from the CIELab value (else 0, 0, 0)
  int frames = 0;
  int rows = 0, columns = 0;          // frame size in pixels
};

// True when `path` is a DICOM file of SOP class Segmentation Storage (false for a missing file or a
// file that is not DICOM; a damaged DICOM file throws).
bool isSegmentationFile(const std::string& path);
// Header only (no pixel data decoded). Throws when `path` is not a SEG.
SegInfo describeSegmentation(const std::string& path);
// Every SEG under a directory tree (recursively, hidden entries skipped), sorted by file name. A
// DICOM file that cannot be parsed throws, unless `failures` is given: then it is recorded there and
// the scan goes on (as scanDirectory does).
std::vector<SegInfo> scanSegmentations(const std::string& directory, std::vector<ScanFailure>* failures = nullptr);
// The SEG as a label map on the grid of its referenced series (which the caller has scanned):
// shape and geometry of readSeries(referenced); each frame placed on the slice at its Image
// Position (Patient); voxel value = segment number; where segments overlap the later (higher
// numbered) segment wins. Errors: a SEG referencing another series or none, a frame on no slice,
// frames of another size, orientation or pixel spacing, a FRACTIONAL SEG (only BINARY is read).
LabelMap readSegmentation(const std::string& path, const SeriesInfo& referenced);

}  // namespace ima::dicom
