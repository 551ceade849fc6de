// Reading DICOM image series into the core's Volume (DCMTK underneath; no DCMTK, ITK or torch
// types in this header, so every layer can include it cheaply).
//
// What is read: every file under a directory tree (hidden entries skipped), grouped into series by
// Series Instance UID; a series whose slices differ in orientation, matrix size or pixel spacing
// is split into parts, each reported as a series of its own. Slices (single-frame files, or the
// frames of multi-frame files with per-frame Plane Position / Plane Orientation functional
// groups) are sorted by their position along the slice normal.
//
// Geometry (millimetres, LPS patient coordinates, exactly what ITK's GDCM reader gives):
//   x axis = row direction (ImageOrientationPatient[0..2]), spacing PixelSpacing[1];
//   y axis = column direction (ImageOrientationPatient[3..5]), spacing PixelSpacing[0];
//   z axis = slice normal (x cross y), spacing = distance between neighbouring slices;
//   origin = ImagePositionPatient of the first slice along the normal.
// Values are the modality values: stored value * RescaleSlope + RescaleIntercept (e.g. Hounsfield
// units), as float. Monochrome images give 1 channel, RGB images 3.
//
// Every error is an ima::Error naming the file or the series (UID and directory).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ima/Volume.h"

namespace ima::dicom {

// One 2D image of a series: a single-frame file (frame 0) or one frame of a multi-frame file.
struct SliceRef {
  std::string file;
  int frame = 0;                         // 0-based frame index in `file`
  std::array<double, 3> position{};      // ImagePositionPatient, mm
  double rescaleSlope = 1, rescaleIntercept = 0;
};

// A series as found by scanning: its identity, the grid it will be read on, and its slices in
// order along the slice normal. No pixel data has been decoded yet.
struct SeriesInfo {
  std::string seriesInstanceUid;
  // The name to ask for it by: the UID, or "UID.partK" (K = 1, 2, ...) when the UID's slices had to
  // be split because they differ in orientation, matrix size or pixel spacing.
  std::string id;
  std::string modality, description;
  int64_t columns = 0, rows = 0;     // x and y size in voxels
  int channels = 1;                  // samples per pixel: 1 (MONOCHROME1/2) or 3 (RGB)
  Geometry geometry;                 // see the file comment
  std::vector<SliceRef> slices;      // sorted along the slice normal; z size = slices.size()
  // Largest relative deviation of a neighbouring-slice distance from the mean (0 = even).
  double spacingDeviation = 0;
  std::vector<std::string> files() const;  // distinct files, in slice order
  std::string describe() const;            // "UID (CT, 'desc', 512x512x300)" for messages
};

struct ReadOptions {
  // Series to read when the directory holds several: its SeriesInfo::id (or, when the UID was
  // not split, its Series Instance UID). Empty: the directory must hold exactly one series.
  std::string series;
  // Uneven slice distances (beyond kSpacingTolerance of the mean), e.g. missing slices, are an
  // error by default; with allowUneven they are a warning and the mean distance is used.
  bool allowUneven = false;
  // Receives warnings (uneven spacing when allowed, skipped non-image files and SEGs); default: none.
  std::function<void(const std::string&)> warn;
};

// Relative tolerance on slice distances (1 %) and on the alignment of the stacking direction with
// the slice normal (sine of the tilt angle, 1e-3), beyond which a series is uneven or tilted.
constexpr double kSpacingTolerance = 1e-2;
constexpr double kTiltTolerance = 1e-3;

// A DICOM file that could not be scanned (damaged or truncated header, invalid image attributes).
struct ScanFailure {
  std::string file;
  std::string seriesInstanceUid;  // when it could still be read from the damaged file, else ""
  std::string reason;             // the error message, naming the file
};

// Every image series under `directory` (recursively), sorted by id. Files that are not DICOM or are
// not images (no pixel data: structured reports, RT structures, DICOMDIR, ...; and DICOM SEG
// objects, which are label maps) are skipped. Geometry problems (tilt, uneven spacing, duplicate
// positions) are not checked here but when a series is read, so a listing works on any directory.
// Throws when the directory does not exist. A DICOM file that cannot be parsed throws too, unless
// `failures` is given: then it is appended there and the scan goes on without it (for batch work
// over an archive, where one damaged file must not stop the rest).
std::vector<SeriesInfo> scanDirectory(const std::string& directory, std::vector<ScanFailure>* failures = nullptr);

// The series described by `files` (e.g. the files of one SeriesInfo, or files chosen by hand):
// they must form exactly one series with one orientation and matrix size (else an error naming
// the series found), and hold pixel data (else an error naming the file).
SeriesInfo describeFiles(const std::vector<std::string>& files);

// Reads a series into a 3D volume (x = columns, y = rows, z = slices). Checks: at least one
// slice, no two slices at one position, stacking direction along the slice normal (no gantry
// tilt), even slice distances (see ReadOptions::allowUneven), decodable transfer syntax, complete
// pixel data. `what` names the input in messages (e.g. the directory).
Volume readSeries(const SeriesInfo& series, const ReadOptions& options = {}, const std::string& what = "");

// scanDirectory + choice of a series (ReadOptions::series) + readSeries. With several series in
// the directory and none chosen, the error lists every series id and asks for one.
Volume readDirectory(const std::string& directory, const ReadOptions& options = {});

// The series readDirectory would read (same choice rules), without decoding pixel data.
SeriesInfo findSeries(const std::string& directory, const ReadOptions& options = {});

// True when `path` is a directory (the CLI then reads it as a DICOM series).
bool isSeriesDirectory(const std::string& path);

// DCMTK logs its own warnings and errors to stderr (e.g. "E: DcmElement: PixelData ... premature
// end of stream"); the errors of this API already carry the reason. A host that wants only those
// calls this (it sets DCMTK's process-wide log level to FATAL; the library never does so itself).
void silenceDcmtkLogging();

}  // namespace ima::dicom
