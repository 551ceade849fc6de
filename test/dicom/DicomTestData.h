// DICOM files written by the tests with DCMTK (no data files, no network): a CT phantom series
// with a known grid and known values, and an enhanced multi-frame object with per-frame positions.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk/dcmjpeg/djrplol.h"
#include "dcmtk/dcmjpls/djencode.h"

namespace ima::dicomtest {

using Vec3 = std::array<double, 3>;

inline std::string newUid() {
  char buffer[100];
  return dcmGenerateUniqueIdentifier(buffer, SITE_INSTANCE_UID_ROOT);
}

// Decimal strings of at most 16 characters (the DS limit), so what is written is what is read.
inline std::string ds(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}
inline double rounded(double v) { return std::stod(ds(v)); }
inline std::string ds(const double* v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? "\\" : "") + ds(v[i]);
  return s;
}

inline void check(const OFCondition& c, const std::string& what) {
  if (c.bad()) throw std::runtime_error(what + ": " + c.text());
}

// Encoders for writing compressed test series (JPEG lossless, JPEG-LS, RLE), registered once.
inline void registerEncoders() {
  static const bool registered = [] {
    DJEncoderRegistration::registerCodecs();
    DJLSEncoderRegistration::registerCodecs();
    DcmRLEEncoderRegistration::registerCodecs();
    return true;
  }();
  (void)registered;
}

// A CT series: `slices` slices of columns x rows, row/column directions from a rotation, stored
// values int16 stored(x, y, z), modality value = stored * slope + intercept.
struct CtPhantom {
  int columns = 16, rows = 12, slices = 10;
  double spacingX = 0.7, spacingY = 0.9, sliceDistance = 2.5;  // mm
  double slope = 0.5, intercept = -1024;
  Vec3 origin{-12.5, 30.25, 101.0};
  Vec3 rowDir, colDir, normal;  // rounded as written, then normalised (what a reader must find)
  Vec3 tiltStep{0, 0, 0};       // added to the position step (gantry tilt tests)
  std::string seriesUid = newUid(), studyUid = newUid(), frameUid = newUid();  // frameUid "": none written
  std::string description = "phantom";
  std::string patientName = "Phantom^CT", patientId = "PHANTOM";
  E_TransferSyntax transferSyntax = EXS_LittleEndianExplicit;

  CtPhantom() {
    // Rotation Rz(30 deg) * Rx(20 deg): oblique in every axis.
    const double a = M_PI / 6, b = M_PI / 9;
    const Vec3 r{std::cos(a), std::sin(a), 0};
    const Vec3 c{-std::sin(a) * std::cos(b), std::cos(a) * std::cos(b), std::sin(b)};
    setOrientation(r, c);
  }

  void setOrientation(const Vec3& r, const Vec3& c) {
    auto unit = [](Vec3 v) {
      for (auto& x : v) x = rounded(x);
      const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      for (auto& x : v) x /= n;
      return v;
    };
    rowDir = unit(r);
    colDir = unit(c);
    normal = {rowDir[1] * colDir[2] - rowDir[2] * colDir[1], rowDir[2] * colDir[0] - rowDir[0] * colDir[2],
              rowDir[0] * colDir[1] - rowDir[1] * colDir[0]};
  }

  static int16_t stored(int x, int y, int z) { return static_cast<int16_t>((x * 7 + y * 13 + z * 101) % 4000 - 1000); }
  float value(int x, int y, int z) const { return static_cast<float>(stored(x, y, z) * slope + intercept); }

  Vec3 position(int z) const {
    Vec3 p;
    for (int i = 0; i < 3; ++i)
      p[static_cast<size_t>(i)] = rounded(origin[static_cast<size_t>(i)] +
                                          z * (sliceDistance * normal[static_cast<size_t>(i)] + tiltStep[static_cast<size_t>(i)]));
    return p;
  }

  // Writes slice z to `path` (directories created).
  void writeSlice(int z, const std::filesystem::path& path) const {
    std::filesystem::create_directories(path.parent_path());
    DcmFileFormat file;
    DcmDataset* d = file.getDataset();
    check(d->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage), "SOPClassUID");
    check(d->putAndInsertString(DCM_SOPInstanceUID, newUid().c_str()), "SOPInstanceUID");
    d->putAndInsertString(DCM_StudyInstanceUID, studyUid.c_str());
    d->putAndInsertString(DCM_SeriesInstanceUID, seriesUid.c_str());
    if (!frameUid.empty()) d->putAndInsertString(DCM_FrameOfReferenceUID, frameUid.c_str());
    d->putAndInsertString(DCM_Modality, "CT");
    d->putAndInsertString(DCM_SeriesDescription, description.c_str());
    d->putAndInsertString(DCM_PatientName, patientName.c_str());
    d->putAndInsertString(DCM_PatientID, patientId.c_str());
    d->putAndInsertString(DCM_InstanceNumber, std::to_string(z + 1).c_str());
    const Vec3 p = position(z);
    d->putAndInsertString(DCM_ImagePositionPatient, ds(p.data(), 3).c_str());
    const double iop[6] = {rowDir[0], rowDir[1], rowDir[2], colDir[0], colDir[1], colDir[2]};
    d->putAndInsertString(DCM_ImageOrientationPatient, ds(iop, 6).c_str());
    const double ps[2] = {spacingY, spacingX};
    d->putAndInsertString(DCM_PixelSpacing, ds(ps, 2).c_str());
    d->putAndInsertString(DCM_SliceThickness, ds(sliceDistance).c_str());
    d->putAndInsertString(DCM_RescaleSlope, ds(slope).c_str());
    d->putAndInsertString(DCM_RescaleIntercept, ds(intercept).c_str());
    d->putAndInsertString(DCM_RescaleType, "HU");
    d->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(rows));
    d->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(columns));
    d->putAndInsertUint16(DCM_SamplesPerPixel, 1);
    d->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
    d->putAndInsertUint16(DCM_BitsAllocated, 16);
    d->putAndInsertUint16(DCM_BitsStored, 16);
    d->putAndInsertUint16(DCM_HighBit, 15);
    d->putAndInsertUint16(DCM_PixelRepresentation, 1);
    std::vector<Uint16> pixels(static_cast<size_t>(rows * columns));
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < columns; ++x) pixels[static_cast<size_t>(y * columns + x)] = static_cast<Uint16>(stored(x, y, z));
    check(d->putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size())), "PixelData");
    if (DcmXfer(transferSyntax).isEncapsulated()) {
      registerEncoders();
      const DJ_RPLossless losslessParameters;  // JPEG lossless: predictor 1, no point transform
      check(d->chooseRepresentation(transferSyntax, transferSyntax == EXS_JPEGProcess14SV1 ? &losslessParameters : nullptr),
            "compress to " + std::string(DcmXfer(transferSyntax).getXferName()));
      if (!d->canWriteXfer(transferSyntax)) throw std::runtime_error("cannot compress the phantom");
    }
    check(file.saveFile(path.string().c_str(), transferSyntax), "save " + path.string());
  }

  // Every slice, in a shuffled order of file names and nested folders; returns the paths by z.
  std::vector<std::filesystem::path> write(const std::filesystem::path& directory) const {
    std::vector<std::filesystem::path> paths(static_cast<size_t>(slices));
    for (int z = 0; z < slices; ++z) {
      const int name = (z * 7 + 3) % slices;  // a permutation: file names do not follow z
      const std::filesystem::path folder = z % 3 == 0 ? directory / "a" / "b" : z % 3 == 1 ? directory / "c" : directory;
      paths[static_cast<size_t>(z)] = folder / ("IM" + std::to_string(1000 + name));
      writeSlice(z, paths[static_cast<size_t>(z)]);
    }
    return paths;
  }

  // The same phantom as one enhanced CT multi-frame object: per-frame Plane Position, shared
  // Plane Orientation, Pixel Measures and Pixel Value Transformation; frames stored in reverse order.
  void writeMultiFrame(const std::filesystem::path& path) const {
    std::filesystem::create_directories(path.parent_path());
    DcmFileFormat file;
    DcmDataset* d = file.getDataset();
    d->putAndInsertString(DCM_SOPClassUID, UID_EnhancedCTImageStorage);
    d->putAndInsertString(DCM_SOPInstanceUID, newUid().c_str());
    d->putAndInsertString(DCM_StudyInstanceUID, studyUid.c_str());
    d->putAndInsertString(DCM_SeriesInstanceUID, seriesUid.c_str());
    d->putAndInsertString(DCM_FrameOfReferenceUID, frameUid.c_str());
    d->putAndInsertString(DCM_Modality, "CT");
    d->putAndInsertString(DCM_NumberOfFrames, std::to_string(slices).c_str());
    d->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(rows));
    d->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(columns));
    d->putAndInsertUint16(DCM_SamplesPerPixel, 1);
    d->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
    d->putAndInsertUint16(DCM_BitsAllocated, 16);
    d->putAndInsertUint16(DCM_BitsStored, 16);
    d->putAndInsertUint16(DCM_HighBit, 15);
    d->putAndInsertUint16(DCM_PixelRepresentation, 1);
    DcmItem *shared = nullptr, *item = nullptr;
    check(d->findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, -2), "shared groups");
    check(shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, item, -2), "pixel measures");
    const double ps[2] = {spacingY, spacingX};
    item->putAndInsertString(DCM_PixelSpacing, ds(ps, 2).c_str());
    item->putAndInsertString(DCM_SliceThickness, ds(sliceDistance).c_str());
    check(shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, item, -2), "plane orientation");
    const double iop[6] = {rowDir[0], rowDir[1], rowDir[2], colDir[0], colDir[1], colDir[2]};
    item->putAndInsertString(DCM_ImageOrientationPatient, ds(iop, 6).c_str());
    check(shared->findOrCreateSequenceItem(DCM_PixelValueTransformationSequence, item, -2), "value transformation");
    item->putAndInsertString(DCM_RescaleSlope, ds(slope).c_str());
    item->putAndInsertString(DCM_RescaleIntercept, ds(intercept).c_str());
    item->putAndInsertString(DCM_RescaleType, "HU");
    std::vector<Uint16> pixels;
    for (int f = 0; f < slices; ++f) {
      const int z = slices - 1 - f;
      DcmItem *frame = nullptr, *position = nullptr;
      check(d->findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, -2), "per-frame groups");
      check(frame->findOrCreateSequenceItem(DCM_PlanePositionSequence, position, -2), "plane position");
      const Vec3 p = this->position(z);
      position->putAndInsertString(DCM_ImagePositionPatient, ds(p.data(), 3).c_str());
      for (int y = 0; y < rows; ++y)
        for (int x = 0; x < columns; ++x) pixels.push_back(static_cast<Uint16>(stored(x, y, z)));
    }
    check(d->putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size())), "PixelData");
    check(file.saveFile(path.string().c_str(), EXS_LittleEndianExplicit), "save " + path.string());
  }
};

// A DICOM object without pixel data (a basic text structured report header).
inline void writeNonImage(const std::filesystem::path& path) {
  std::filesystem::create_directories(path.parent_path());
  DcmFileFormat file;
  DcmDataset* d = file.getDataset();
  d->putAndInsertString(DCM_SOPClassUID, UID_BasicTextSRStorage);
  d->putAndInsertString(DCM_SOPInstanceUID, newUid().c_str());
  d->putAndInsertString(DCM_SeriesInstanceUID, newUid().c_str());
  d->putAndInsertString(DCM_Modality, "SR");
  check(file.saveFile(path.string().c_str(), EXS_LittleEndianExplicit), "save " + path.string());
}

}  // namespace ima::dicomtest
