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

#include "ima/DicomSeries.h"
#include "ima/Volume.h"

namespace ima::dicom {

// A code (Code Value, Coding Scheme Designator, Code Meaning), e.g. {"123037004", "SCT",
// "Anatomical Structure"}.
struct CodedConcept {
  std::string value, scheme = "SCT", meaning;
};

// One segment of a SEG: a label of the label map and how it is described.
struct SegmentInfo {
  int label = 0;                  // value in the label map (1..K)
  std::string name;               // Segment Label
  CodedConcept category, type;    // Segmented Property Category / Type codes
  std::array<uint8_t, 3> rgb{};   // recommended display colour (written as CIELab)
};

struct SegWriteOptions {
  std::string algorithmName = "IMASegmentation", algorithmVersion, seriesDescription = "IMA segmentation";
  // Receives warnings, e.g. "label 2 (lesion) is absent from the result"; default: none.
  std::function<void(const std::string&)> warn;
};

// Writes `labels` (on the grid of readSeries(source)) as a binary SEG that references `source`.
void writeSegmentation(const std::string& path, const LabelMap& labels, const SeriesInfo& source,
                       const std::vector<SegmentInfo>& segments, const SegWriteOptions& options = {});

// What a SEG file's header says.
struct SegInfo {
  std::string file, sopInstanceUid, seriesInstanceUid, referencedSeriesUid;
  std::vector<SegmentInfo> segments;
  int frames = 0;
};

// True when `path` is a DICOM file of SOP class Segmentation Storage.
bool isSegmentationFile(const std::string& path);
// Header only (no pixel data decoded).
SegInfo describeSegmentation(const std::string& path);
// Every SEG under a directory tree (recursively, hidden entries skipped), sorted by file name.
std::vector<SegInfo> scanSegmentations(const std::string& directory);
// The SEG as a label map on the grid of its referenced series (which the caller has scanned).
LabelMap readSegmentation(const std::string& path, const SeriesInfo& referenced);

}  // namespace ima::dicom
