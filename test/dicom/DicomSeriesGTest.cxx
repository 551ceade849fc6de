// ima::dicom series reading (DCMTK): a phantom CT series written here with known geometry and
// values, multi-frame objects, the error cases, and the DICOM files shipped with Debian's
// python3-pydicom. Tolerances: values are exact (integers times 0.5 plus an integer are exact in
// float); geometry is compared to 1e-6 mm / 1e-6 (the decimal strings carry 9 digits).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "ima/DicomSeries.h"
#include "ima/Error.h"

#include "DicomTestData.h"
#include "ExpectError.h"

namespace DicomSeriesGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;
using ima::dicomtest::CtPhantom;
using ima::dicomtest::expectError;

namespace {

class DicomSeries : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() / ("ima-dicom-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

void expectPhantom(const ima::Volume& v, const CtPhantom& p) {
  ASSERT_EQ(v.shape.size, (std::vector<int64_t>{p.columns, p.rows, p.slices}));
  ASSERT_EQ(v.channels, 1);
  for (int i = 0; i < 3; ++i) {
    const auto r = static_cast<size_t>(i);
    EXPECT_NEAR(v.geometry.origin[r], p.position(0)[r], 1e-6);
    EXPECT_NEAR(v.geometry.direction[3 * r + 0], p.rowDir[r], 1e-6);
    EXPECT_NEAR(v.geometry.direction[3 * r + 1], p.colDir[r], 1e-6);
    EXPECT_NEAR(v.geometry.direction[3 * r + 2], p.normal[r], 1e-6);
  }
  EXPECT_NEAR(v.geometry.spacing[0], p.spacingX, 1e-9);
  EXPECT_NEAR(v.geometry.spacing[1], p.spacingY, 1e-9);
  EXPECT_NEAR(v.geometry.spacing[2], p.sliceDistance, 1e-6);
  size_t wrong = 0;
  for (int z = 0; z < p.slices; ++z)
    for (int y = 0; y < p.rows; ++y)
      for (int x = 0; x < p.columns; ++x)
        wrong += v.data[static_cast<size_t>((z * p.rows + y) * p.columns + x)] != p.value(x, y, z);
  EXPECT_EQ(wrong, 0u) << "voxels differing from the phantom";
}

TEST_F(DicomSeries, PhantomCtSeriesReadsWithKnownGeometryAndValues) {
  CtPhantom phantom;
  phantom.write(dir);
  const auto series = ima::dicom::scanDirectory(dir.string());
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].id, phantom.seriesUid);
  EXPECT_EQ(series[0].modality, "CT");
  EXPECT_EQ(series[0].files().size(), 10u);
  expectPhantom(ima::dicom::readDirectory(dir.string()), phantom);
  expectPhantom(ima::dicom::readSeries(series[0]), phantom);
}

TEST_F(DicomSeries, TransferSyntaxesOfWrittenSeries) {
  // Lossless compressed syntaxes are encoded here with DCMTK's encoders and must read back exactly.
  for (E_TransferSyntax xfer : {EXS_LittleEndianImplicit, EXS_BigEndianExplicit, EXS_DeflatedLittleEndianExplicit,
                                EXS_JPEGProcess14SV1, EXS_JPEGLSLossless, EXS_RLELossless}) {
    CtPhantom phantom;
    phantom.transferSyntax = xfer;
    const fs::path sub = dir / std::to_string(static_cast<int>(xfer));
    const auto paths = phantom.write(sub);
    SCOPED_TRACE(DcmXfer(xfer).getXferName());
    DcmFileFormat written;  // the files really are in that transfer syntax
    ASSERT_TRUE(written.loadFile(paths[0].string().c_str()).good());
    EXPECT_EQ(written.getDataset()->getOriginalXfer(), xfer);
    expectPhantom(ima::dicom::readDirectory(sub.string()), phantom);
  }
}

// Compressed pixel data cannot be checked against Rows x Columns before decoding, so a few small
// files can claim a giant volume: the reader refuses it against MemAvailable (read here
// independently) before decoding or allocating anything, with both figures.
TEST_F(DicomSeries, CompressedSeriesClaimingMoreThanTheAvailableMemoryIsRefusedWithTheFigures) {
  CtPhantom phantom;
  phantom.slices = 3;
  phantom.transferSyntax = EXS_RLELossless;
  const double need = 4.0 * 65535.0 * 65535.0 * phantom.slices;
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  double availableKiB = 0, kib = 0;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") availableKiB = kib;
  if (availableKiB <= 0 || availableKiB * 1024 >= need) GTEST_SKIP() << "MemAvailable unknown or above 48 GiB";
  for (const fs::path& path : phantom.write(dir)) {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(path.string().c_str()).good());
    ASSERT_TRUE(file.getDataset()->putAndInsertUint16(DCM_Rows, 65535).good());
    ASSERT_TRUE(file.getDataset()->putAndInsertUint16(DCM_Columns, 65535).good());
    ASSERT_TRUE(file.saveFile(path.string().c_str(), EXS_RLELossless).good());
  }
  const std::string figure = std::to_string(static_cast<int64_t>(std::ceil(need / (1 << 20)))) + " MiB";
  try {
    ima::dicom::readDirectory(dir.string());
    FAIL() << "a 65535x65535x3 compressed series was read";
  } catch (const ima::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("reading the 65535x65535x3 series " + phantom.seriesUid, 0), 0u) << message;
    EXPECT_NE(message.find(dir.string()), std::string::npos) << message;
    EXPECT_NE(message.find(" needs about " + figure + " of memory but only "), std::string::npos) << message;
    EXPECT_NE(message.find(" MiB are available"), std::string::npos) << message;
  }
}

TEST_F(DicomSeries, AxialSeriesHasIdentityDirection) {
  CtPhantom phantom;
  phantom.setOrientation({1, 0, 0}, {0, 1, 0});
  phantom.write(dir);
  const ima::Volume v = ima::dicom::readDirectory(dir.string());
  EXPECT_EQ(v.geometry.direction, (std::array<double, 9>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  expectPhantom(v, phantom);
}

TEST_F(DicomSeries, MultiFrameWithPerFramePositions) {
  CtPhantom phantom;
  phantom.writeMultiFrame(dir / "enhanced.dcm");
  const auto series = ima::dicom::scanDirectory(dir.string());
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].slices.size(), 10u);
  EXPECT_EQ(series[0].slices.front().frame, 9);  // stored in reverse order
  expectPhantom(ima::dicom::readDirectory(dir.string()), phantom);
  expectPhantom(ima::dicom::readDirectory((dir / "enhanced.dcm").string()), phantom);  // a file works too
}

TEST_F(DicomSeries, TwoSeriesSplitAndEachCanBeChosen) {
  CtPhantom a, b;
  b.slices = 6;
  b.description = "second";
  a.write(dir / "one");
  b.write(dir / "two");
  const auto series = ima::dicom::scanDirectory(dir.string());
  ASSERT_EQ(series.size(), 2u);
  expectError([&] { ima::dicom::readDirectory(dir.string()); }, {dir.string(), "2 DICOM series", a.seriesUid, b.seriesUid, "--series"});
  ima::dicom::ReadOptions options;
  options.series = b.seriesUid;
  expectPhantom(ima::dicom::readDirectory(dir.string(), options), b);
  options.series = a.seriesUid;
  expectPhantom(ima::dicom::readDirectory(dir.string(), options), a);
  options.series = "1.2.3";
  expectError([&] { ima::dicom::readDirectory(dir.string(), options); }, {"1.2.3", "is not in", a.seriesUid});
}

TEST_F(DicomSeries, SeriesWithTwoOrientationsIsSplitIntoParts) {
  CtPhantom axial;
  axial.setOrientation({1, 0, 0}, {0, 1, 0});
  axial.write(dir / "axial");
  CtPhantom localizer = axial;  // same UID, other orientation and size
  localizer.setOrientation({1, 0, 0}, {0, 0, -1});
  localizer.rows = 8;
  localizer.slices = 2;
  localizer.write(dir / "localizer");
  const auto series = ima::dicom::scanDirectory(dir.string());
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].id, axial.seriesUid + ".part1");
  EXPECT_EQ(series[1].id, axial.seriesUid + ".part2");
  EXPECT_EQ(series[0].slices.size(), 10u);
  expectError([&] { ima::dicom::readDirectory(dir.string()); },
              {axial.seriesUid, "mixes slices of different orientations or sizes", ".part1", ".part2"});
  ima::dicom::ReadOptions options;
  options.series = axial.seriesUid;  // asked for as one
  expectError([&] { ima::dicom::readDirectory(dir.string(), options); }, {axial.seriesUid, "mixes", ".part2"});
  options.series = axial.seriesUid + ".part1";
  expectPhantom(ima::dicom::readDirectory(dir.string(), options), axial);
  // Files of both parts given by hand as one series.
  std::vector<std::string> files;
  for (const auto& s : series)
    for (const auto& f : s.files()) files.push_back(f);
  expectError([&] { ima::dicom::describeFiles(files); }, {"do not form one series", ".part1"});
}

TEST_F(DicomSeries, MissingSliceIsAnErrorOrAWarningWhenAllowed) {
  CtPhantom phantom;
  const auto paths = phantom.write(dir);
  fs::remove(paths[4]);
  expectError([&] { ima::dicom::readDirectory(dir.string()); },
              {phantom.seriesUid, "uneven slice distances", paths[3].string(), paths[5].string(), "--allow-uneven"});
  ima::dicom::ReadOptions options;
  options.allowUneven = true;
  std::string warnings;
  options.warn = [&](const std::string& w) { warnings += w + "\n"; };
  const ima::Volume v = ima::dicom::readDirectory(dir.string(), options);
  EXPECT_EQ(v.shape.size[2], 9);
  EXPECT_NEAR(v.geometry.spacing[2], 2.5 * 9 / 8, 1e-6);  // mean distance
  EXPECT_NE(warnings.find("uneven slice distances"), std::string::npos) << warnings;
}

TEST_F(DicomSeries, GantryTiltIsAnError) {
  CtPhantom phantom;
  phantom.tiltStep = {phantom.colDir[0] * 0.4, phantom.colDir[1] * 0.4, phantom.colDir[2] * 0.4};
  phantom.write(dir);
  expectError([&] { ima::dicom::readDirectory(dir.string()); }, {phantom.seriesUid, "gantry tilt", "degrees"});
}

TEST_F(DicomSeries, DuplicatePositionsAreAnError) {
  CtPhantom phantom;
  phantom.write(dir / "echo1");
  phantom.write(dir / "echo2");
  expectError([&] { ima::dicom::readDirectory(dir.string()); }, {phantom.seriesUid, "same position", "echo"});
}

TEST_F(DicomSeries, NonImageObjectsAreSkippedOrReported) {
  ima::dicomtest::writeNonImage(dir / "report.dcm");
  { std::ofstream(dir / "README.txt") << "not DICOM\n"; }
  expectError([&] { ima::dicom::readDirectory(dir.string()); }, {"no DICOM image series", "report.dcm", "Pixel Data"});
  expectError([&] { ima::dicom::describeFiles({(dir / "report.dcm").string()}); }, {"report.dcm", "no Pixel Data"});
  CtPhantom phantom;
  phantom.write(dir / "ct");
  std::string warnings;
  ima::dicom::ReadOptions options;
  options.warn = [&](const std::string& w) { warnings += w; };
  expectPhantom(ima::dicom::readDirectory(dir.string(), options), phantom);
  EXPECT_NE(warnings.find("skipped 1 non-DICOM file(s) and 1 non-image DICOM object(s)"), std::string::npos)
      << warnings;
}

TEST_F(DicomSeries, TruncatedFileIsNamed) {
  CtPhantom phantom;
  const auto paths = phantom.write(dir);
  fs::resize_file(paths[6], fs::file_size(paths[6]) - 100);
  expectError([&] { ima::dicom::readDirectory(dir.string()); }, {paths[6].string()});
}

// Batch work over an archive: with a failure list, a damaged file is reported (with the series UID
// when DCMTK parsed that far) and every other series is still found.
TEST_F(DicomSeries, ScanReportsDamagedFilesAndGoesOn) {
  CtPhantom good, damaged;
  good.write(dir / "good");
  const auto paths = damaged.write(dir / "damaged");
  const auto cutAt = [](const fs::path& p, uintmax_t size) { fs::resize_file(p, size); };
  cutAt(paths[2], 200);                               // inside the file meta header: nothing to name
  cutAt(paths[5], fs::file_size(paths[5]) * 3 / 4);  // inside the pixel data, after the UIDs

  expectError([&] { ima::dicom::scanDirectory(dir.string()); }, {paths[2].string()});
  std::vector<ima::dicom::ScanFailure> failures;
  const auto series = ima::dicom::scanDirectory(dir.string(), &failures);
  std::vector<std::string> ids;
  for (const auto& s : series) ids.push_back(s.id);
  EXPECT_NE(std::find(ids.begin(), ids.end(), good.seriesUid), ids.end());
  for (const auto& s : series)
    if (s.id == good.seriesUid) EXPECT_EQ(s.slices.size(), static_cast<size_t>(good.slices));
  // The phantom's pixel data (384 bytes) is below the lazy-loading limit, so the scan reads it and
  // notices the cut in the second file, whose UIDs it had already parsed.
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].file, paths[2].string());
  EXPECT_EQ(failures[0].seriesInstanceUid, "");
  EXPECT_NE(failures[0].reason.find(paths[2].string()), std::string::npos) << failures[0].reason;
  EXPECT_EQ(failures[1].file, paths[5].string());
  EXPECT_EQ(failures[1].seriesInstanceUid, damaged.seriesUid);
  EXPECT_NE(failures[1].reason.find("truncated or damaged"), std::string::npos) << failures[1].reason;
}

TEST_F(DicomSeries, MissingDirectoryIsNamed) {
  expectError([&] { ima::dicom::readDirectory((dir / "nothing").string()); }, {"nothing", "does not exist"});
  expectError([&] { ima::dicom::readDirectory(dir.string()); }, {"no DICOM image series", dir.string()});
}

// --- DICOM files shipped with Debian's python3-pydicom -------------------------------------------

const fs::path kPydicomFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

class PydicomFiles : public ::testing::Test {
protected:
  void SetUp() override {
    if (!fs::exists(kPydicomFiles / "MR_small.dcm"))
      GTEST_SKIP() << "python3-pydicom's test files are not installed (" << kPydicomFiles
                   << "); apt-get install python3-pydicom to run these tests";
  }
  static ima::Volume read(const std::string& name) { return ima::dicom::readDirectory((kPydicomFiles / name).string()); }
};

TEST_F(PydicomFiles, CtSmallHasItsGeometryAndHounsfieldUnits) {
  const ima::Volume v = read("CT_small.dcm");
  ASSERT_EQ(v.shape.size, (std::vector<int64_t>{128, 128, 1}));
  // From the file's header: IPP -158.135803\-179.035797\-75.699997, PixelSpacing 0.661468\0.661468,
  // identity orientation, RescaleIntercept -1024, slope 1.
  EXPECT_NEAR(v.geometry.origin[0], -158.135803, 1e-6);
  EXPECT_NEAR(v.geometry.origin[1], -179.035797, 1e-6);
  EXPECT_NEAR(v.geometry.origin[2], -75.699997, 1e-6);
  EXPECT_NEAR(v.geometry.spacing[0], 0.661468, 1e-6);
  EXPECT_EQ(v.geometry.direction, (std::array<double, 9>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  // pydicom (python3-pydicom, numpy) gives stored value 185 at row 10, column 20: -839 HU.
  EXPECT_EQ(v.data[10 * 128 + 20], 185.0f - 1024.0f);
}

TEST_F(PydicomFiles, CompressedAndBigEndianVariantsDecodeToTheSameValues) {
  const ima::Volume reference = read("MR_small.dcm");
  ASSERT_EQ(reference.shape.size, (std::vector<int64_t>{64, 64, 1}));
  for (const char* name : {"MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm",
                           "MR_small_implicit.dcm", "MR_small_expb.dcm"}) {
    SCOPED_TRACE(name);
    const ima::Volume v = read(name);
    ASSERT_EQ(v.shape.size, reference.shape.size);
    EXPECT_EQ(v.data, reference.data) << "lossless variants must be identical";
    EXPECT_TRUE(v.geometry.approximatelyEquals(reference.geometry));
  }
}

TEST_F(PydicomFiles, LossyJpegAndDeflateDecode) {
  const ima::Volume jpeg = read("JPEG-lossy.dcm");  // 12-bit JPEG extended (process 2 & 4)
  EXPECT_EQ(jpeg.shape.size[2], 1);
  EXPECT_GT(*std::max_element(jpeg.data.begin(), jpeg.data.end()), 0.0f);
  const ima::Volume deflated = read("image_dfl.dcm");  // deflated explicit VR little endian
  ASSERT_EQ(deflated.shape.size, (std::vector<int64_t>{512, 512, 1}));
  double sum = 0;
  for (float v : deflated.data) sum += v;
  EXPECT_EQ(sum, 33322688.0);  // pydicom's pixel_array.sum() of the same file
}

TEST_F(PydicomFiles, RgbRleAndLossyJpegGiveThreeCloseChannels) {
  const ima::Volume rle = read("SC_rgb_rle.dcm");
  const ima::Volume jpeg = read("SC_rgb_jpeg_dcmtk.dcm");  // JPEG baseline (lossy) of the same image
  ASSERT_EQ(rle.channels, 3);
  ASSERT_EQ(jpeg.channels, 3);
  ASSERT_EQ(rle.shape.size, jpeg.shape.size);
  // Lossy: compare the mean absolute difference (0..255 values) instead of every value.
  double difference = 0;
  for (size_t i = 0; i < rle.data.size(); ++i) difference += std::abs(rle.data[i] - jpeg.data[i]);
  EXPECT_LT(difference / static_cast<double>(rle.data.size()), 4.0);
}

TEST_F(PydicomFiles, MultiFrameRtDoseUsesGridFrameOffsets) {
  const ima::Volume dose = read("rtdose.dcm");  // 32-bit, 15 frames, Grid Frame Offset Vector 0, 5, ...
  ASSERT_EQ(dose.shape.size, (std::vector<int64_t>{10, 10, 15}));
  EXPECT_NEAR(dose.geometry.spacing[2], 5.0, 1e-9);
  EXPECT_NEAR(dose.geometry.origin[2], -761.87, 1e-9);
  // pydicom: pixel_array[7, 3, 4] = 1074000 and max 1254000, times Dose Grid Scaling 1e-6 (Gy).
  EXPECT_FLOAT_EQ(dose.data[(7 * 10 + 3) * 10 + 4], 1.074f);
  EXPECT_FLOAT_EQ(*std::max_element(dose.data.begin(), dose.data.end()), 1.254f);
}

// rtdose_rle.dcm stores its position, orientation and spacing with VR UN; read through the
// dictionary they give the same volume as the uncompressed rtdose.dcm (the oracle).
TEST_F(PydicomFiles, RleRtDoseWithUnknownVRsMatchesTheUncompressedFile) {
  const ima::Volume rle = read("rtdose_rle.dcm"), plain = read("rtdose.dcm");
  ASSERT_EQ(rle.shape.size, plain.shape.size);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rle.geometry.spacing[i], plain.geometry.spacing[i]);
    EXPECT_EQ(rle.geometry.origin[i], plain.geometry.origin[i]);
  }
  EXPECT_EQ(rle.geometry.direction, plain.geometry.direction);
  EXPECT_EQ(rle.data, plain.data);
}

// badVR.dcm: Number of Frames "1A" (15 frames of pixel data); DCMTK alone would read it as 1.
TEST_F(PydicomFiles, BadNumberOfFramesIsRefused) {
  expectError([] { read("badVR.dcm"); }, {"badVR.dcm", "invalid Number of Frames (0028,0008) '1A'"});
}

TEST_F(PydicomFiles, TruncatedAndJpeg2000FilesGiveClearErrors) {
  expectError([] { read("MR_truncated.dcm"); }, {"MR_truncated.dcm", "truncated"});
  expectError([] { read("JPEG2000.dcm"); }, {"JPEG2000.dcm", "JPEG 2000", "DCMTK cannot decode"});
}

}  // namespace

}  // namespace DicomSeriesGTest
