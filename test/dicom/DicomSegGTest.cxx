// ima::dicom SEG writing and reading (DCMTK dcmseg) on the phantom CT series of DicomTestData.h
// (oblique orientation). Oracles: the label map the test builds (which slices hold which label,
// voxel counts), the phantom's own slice positions and UIDs, DCMTK's dcmdata reading the file
// attribute by attribute, pydicom (python3-pydicom) reading it independently, dciodvfy (Debian
// dicom3tools) validating it against the standard, and hand-computed CIELab values.
// Geometry tolerance 1e-6 mm: positions are written as 16-character decimal strings.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgseg.h"
#include "dcmtk/dcmfg/fgfracon.h"
#include "dcmtk/oflog/oflog.h"

#include "ima/DicomSeg.h"
#include "ima/DicomSeries.h"
#include "ima/Error.h"

#include "DicomTestData.h"
#include "ExpectError.h"

namespace DicomSegGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;
using ima::dicomtest::CtPhantom;
using ima::dicomtest::expectError;

namespace {

class DicomSeg : public ::testing::Test {
protected:
  void SetUp() override {
    ima::dicom::silenceDcmtkLogging();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() / ("ima-dicomseg-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  // Writes the phantom as a series under dir/name and scans it.
  ima::dicom::SeriesInfo writeSeries(const CtPhantom& phantom, const std::string& name = "ct") {
    phantom.write(dir / name);
    return ima::dicom::findSeries((dir / name).string());
  }

  fs::path dir;
};

// Label 1: a box on slices 2..5; label 2: a box on slices 4..7 (beside label 1); label 3 (lesion) nowhere.
ima::LabelMap phantomLabels(const ima::dicom::SeriesInfo& series) {
  ima::LabelMap labels(ima::Shape{{series.columns, series.rows, static_cast<int64_t>(series.slices.size())}}, 1,
                       series.geometry);
  for (int z = 0; z < labels.shape.size[2]; ++z)
    for (int y = 0; y < labels.shape.size[1]; ++y)
      for (int x = 0; x < labels.shape.size[0]; ++x) {
        uint8_t v = 0;
        if (z >= 2 && z <= 5 && x >= 2 && x < 7 && y >= 3 && y < 9) v = 1;
        if (z >= 4 && z <= 7 && x >= 9 && x < 14 && y >= 1 + z - 4 && y < 6 + z - 4) v = 2;
        labels.data[static_cast<size_t>((z * labels.shape.size[1] + y) * labels.shape.size[0] + x)] = v;
      }
  return labels;
}

std::vector<ima::dicom::SegmentInfo> phantomSegments() {
  return {{1, "liver", {"123037004", "SCT", "Anatomical Structure"}, {"10200004", "SCT", "Liver"}, {221, 130, 101}},
          {2, "kidney", {"123037004", "SCT", "Anatomical Structure"}, {"64033007", "SCT", "Kidney"}, {185, 102, 83}},
          {3, "lesion", {}, {}, {255, 0, 0}}};
}

// Voxels of `label` on slice z.
int64_t countOnSlice(const ima::LabelMap& labels, int label, size_t z) {
  const size_t plane = static_cast<size_t>(labels.shape.size[0] * labels.shape.size[1]);
  int64_t n = 0;
  for (size_t i = 0; i < plane; ++i) n += labels.data[z * plane + i] == label;
  return n;
}

std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return "cannot run " + command;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

std::string getString(DcmItem* item, const DcmTagKey& tag) {
  OFString v;
  if (item && item->findAndGetOFStringArray(tag, v).good()) return v.c_str();
  return "";
}
DcmItem* itemOf(DcmItem* item, const DcmTagKey& sequence, long i = 0) {
  DcmItem* result = nullptr;
  if (item && item->findAndGetSequenceItem(sequence, result, i).good()) return result;
  return nullptr;
}

// dciodvfy (Debian dicom3tools) lines starting with "Error"; empty = valid. Skips when absent.
void expectDciodvfyAccepts(const fs::path& file) {
  if (!fs::exists("/usr/bin/dciodvfy")) {
    std::cout << "[  SKIPPED ] dciodvfy check: /usr/bin/dciodvfy is absent (apt-get install dicom3tools)\n";
    return;
  }
  const std::string output = run("/usr/bin/dciodvfy '" + file.string() + "'");
  std::istringstream lines(output);
  std::string line, errors;
  while (std::getline(lines, line))
    if (line.rfind("Error", 0) == 0) errors += line + "\n";
  EXPECT_TRUE(errors.empty()) << "dciodvfy reports:\n" << output;
  if (std::getenv("IMA_SHOW_DCIODVFY")) std::cout << output;  // its warnings, for a person to read
  EXPECT_NE(output.find("Segmentation"), std::string::npos) << output;  // it did recognise the IOD
}

TEST_F(DicomSeg, WrittenSegHasSourceReferencesGeometryAndSegmentsAsDcmtkReadsThem) {
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  const ima::LabelMap labels = phantomLabels(series);
  std::vector<std::string> warnings;
  ima::dicom::SegWriteOptions options;
  options.algorithmVersion = "1.2.3";
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  const fs::path out = dir / "seg.dcm";
  ima::dicom::writeSegmentation(out.string(), labels, series, phantomSegments(), options);

  // The absent label is named once.
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("label 3 (lesion) is absent"), std::string::npos) << warnings[0];

  // Source slices by SOP Instance UID: which z each one is, and the source's identity.
  std::map<std::string, size_t> zOfInstance;
  std::string sopClass;
  for (size_t z = 0; z < series.slices.size(); ++z) {
    DcmFileFormat f;
    ASSERT_TRUE(f.loadFile(series.slices[z].file.c_str()).good());
    zOfInstance[getString(f.getDataset(), DCM_SOPInstanceUID)] = z;
    sopClass = getString(f.getDataset(), DCM_SOPClassUID);
  }

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.string().c_str()).good());
  DcmDataset* ds = file.getDataset();
  EXPECT_EQ(getString(ds, DCM_SOPClassUID), UID_SegmentationStorage);
  EXPECT_EQ(getString(ds, DCM_Modality), "SEG");
  EXPECT_EQ(getString(ds, DCM_SegmentationType), "BINARY");
  EXPECT_EQ(getString(ds, DCM_StudyInstanceUID), phantom.studyUid);
  EXPECT_EQ(getString(ds, DCM_FrameOfReferenceUID), phantom.frameUid);
  EXPECT_EQ(getString(ds, DCM_PatientID), "PHANTOM");
  EXPECT_EQ(getString(ds, DCM_PatientName), "Phantom^CT");
  EXPECT_NE(getString(ds, DCM_SeriesInstanceUID), phantom.seriesUid);
  EXPECT_FALSE(getString(ds, DCM_SeriesNumber).empty());
  EXPECT_EQ(getString(ds, DCM_SegmentsOverlap), "NO");

  // Referenced Series Sequence: the source series with every one of its instances.
  DcmItem* referenced = itemOf(ds, DCM_ReferencedSeriesSequence);
  ASSERT_NE(referenced, nullptr);
  EXPECT_EQ(getString(referenced, DCM_SeriesInstanceUID), phantom.seriesUid);
  std::set<std::string> listed;
  for (long i = 0; DcmItem* item = itemOf(referenced, DCM_ReferencedInstanceSequence, i); ++i) {
    listed.insert(getString(item, DCM_ReferencedSOPInstanceUID));
    EXPECT_EQ(getString(item, DCM_ReferencedSOPClassUID), sopClass);
  }
  EXPECT_EQ(listed.size(), series.slices.size());
  for (const auto& [uid, z] : zOfInstance) EXPECT_EQ(listed.count(uid), 1u) << "slice " << z;

  // Segments: names, codes (defaults for the lesion), AUTOMATIC with the algorithm's name and version.
  const auto expectedSegments = phantomSegments();
  for (long i = 0; i < 3; ++i) {
    DcmItem* s = itemOf(ds, DCM_SegmentSequence, i);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(getString(s, DCM_SegmentNumber), std::to_string(i + 1));
    EXPECT_EQ(getString(s, DCM_SegmentLabel), expectedSegments[static_cast<size_t>(i)].name);
    EXPECT_EQ(getString(s, DCM_SegmentAlgorithmType), "AUTOMATIC");
    EXPECT_EQ(getString(s, DCM_SegmentAlgorithmName), "IMASegmentation");
    DcmItem* algorithm = itemOf(s, DCM_SegmentationAlgorithmIdentificationSequence);
    EXPECT_EQ(getString(algorithm, DCM_AlgorithmVersion), "1.2.3");
    EXPECT_EQ(getString(algorithm, DCM_AlgorithmName), "IMASegmentation");
    EXPECT_EQ(getString(itemOf(algorithm, DCM_AlgorithmFamilyCodeSequence), DCM_CodeValue), "123110");
    DcmItem* category = itemOf(s, DCM_SegmentedPropertyCategoryCodeSequence);
    DcmItem* type = itemOf(s, DCM_SegmentedPropertyTypeCodeSequence);
    const auto& e = expectedSegments[static_cast<size_t>(i)];
    EXPECT_EQ(getString(category, DCM_CodeValue), i < 2 ? e.category.value : "85756007");
    EXPECT_EQ(getString(category, DCM_CodingSchemeDesignator), "SCT");
    EXPECT_EQ(getString(type, DCM_CodeValue), i < 2 ? e.type.value : "85756007");
    EXPECT_EQ(getString(type, DCM_CodeMeaning), i < 2 ? e.type.meaning : "Tissue");
  }
  // Red (255, 0, 0) is CIELab (53.24, 80.09, 67.20) (sRGB, D65); DICOM scales L by 65535/100 and
  // a, b by 65535/255 after adding 128. Tolerance: one Lab unit.
  Uint16 lab[3];
  for (int c = 0; c < 3; ++c)
    ASSERT_TRUE(itemOf(ds, DCM_SegmentSequence, 2)->findAndGetUint16(DCM_RecommendedDisplayCIELabValue, lab[c], c).good());
  EXPECT_NEAR(lab[0], 53.24 * 65535 / 100, 655);
  EXPECT_NEAR(lab[1], (80.09 + 128) * 65535 / 255, 257);
  EXPECT_NEAR(lab[2], (67.20 + 128) * 65535 / 255, 257);

  // Shared groups: the source's orientation and pixel spacing.
  DcmItem* shared = itemOf(ds, DCM_SharedFunctionalGroupsSequence);
  Float64 v;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(itemOf(shared, DCM_PlaneOrientationSequence)->findAndGetFloat64(DCM_ImageOrientationPatient, v, i).good());
    EXPECT_NEAR(v, phantom.rowDir[static_cast<size_t>(i)], 1e-6);
    ASSERT_TRUE(itemOf(shared, DCM_PlaneOrientationSequence)->findAndGetFloat64(DCM_ImageOrientationPatient, v, i + 3).good());
    EXPECT_NEAR(v, phantom.colDir[static_cast<size_t>(i)], 1e-6);
  }
  ASSERT_TRUE(itemOf(shared, DCM_PixelMeasuresSequence)->findAndGetFloat64(DCM_PixelSpacing, v, 0).good());
  EXPECT_NEAR(v, phantom.spacingY, 1e-9);
  ASSERT_TRUE(itemOf(shared, DCM_PixelMeasuresSequence)->findAndGetFloat64(DCM_PixelSpacing, v, 1).good());
  EXPECT_NEAR(v, phantom.spacingX, 1e-9);

  // Frames: only slices holding a segment (4 + 4), plus one empty frame for the absent lesion;
  // each at the position of the source slice it references.
  std::map<int, std::set<size_t>> slicesOfSegment;
  long frames = 0;
  for (long f = 0; DcmItem* frame = itemOf(ds, DCM_PerFrameFunctionalGroupsSequence, f); ++f, ++frames) {
    const int segment = std::stoi(getString(itemOf(frame, DCM_SegmentIdentificationSequence), DCM_ReferencedSegmentNumber));
    DcmItem* source = itemOf(itemOf(frame, DCM_DerivationImageSequence), DCM_SourceImageSequence);
    ASSERT_NE(source, nullptr) << "frame " << f + 1;
    const std::string uid = getString(source, DCM_ReferencedSOPInstanceUID);
    ASSERT_EQ(zOfInstance.count(uid), 1u) << "frame " << f + 1 << " references an unknown instance";
    const size_t z = zOfInstance[uid];
    slicesOfSegment[segment].insert(z);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(itemOf(frame, DCM_PlanePositionSequence)->findAndGetFloat64(DCM_ImagePositionPatient, v, i).good());
      EXPECT_NEAR(v, phantom.position(static_cast<int>(z))[static_cast<size_t>(i)], 1e-6) << "frame " << f + 1;
    }
  }
  EXPECT_EQ(frames, 9);
  EXPECT_EQ(getString(ds, DCM_NumberOfFrames), "9");
  EXPECT_EQ(slicesOfSegment[1], (std::set<size_t>{2, 3, 4, 5}));
  EXPECT_EQ(slicesOfSegment[2], (std::set<size_t>{4, 5, 6, 7}));
  EXPECT_EQ(slicesOfSegment[3], (std::set<size_t>{0}));

  // dcmseg's own reader loads it: 3 segments, 9 frames, every frame of segment k holding exactly the
  // voxels of label k on its slice.
  DcmSegmentation* loaded = nullptr;
  ASSERT_TRUE(DcmSegmentation::loadFile(out.string().c_str(), loaded).good());
  std::unique_ptr<DcmSegmentation> seg(loaded);
  EXPECT_EQ(seg->getNumberOfSegments(), 3u);
  EXPECT_EQ(seg->getNumberOfFrames(), 9u);
  OFString label;
  ASSERT_NE(seg->getSegment(2), nullptr);
  seg->getSegment(2)->getSegmentLabel(label);
  EXPECT_EQ(std::string(label.c_str()), "kidney");
}

// pydicom (Debian's python3-pydicom with numpy) reads the SEG on its own and reports its frames,
// their referenced instances and their pixel counts.
TEST_F(DicomSeg, PydicomReadsFramesAndReferences) {
  if (run("/usr/bin/python3 -c 'import pydicom, numpy'") != "")
    GTEST_SKIP() << "/usr/bin/python3 with pydicom and numpy is not available (apt-get install python3-pydicom)";
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  const ima::LabelMap labels = phantomLabels(series);
  const fs::path out = dir / "seg.dcm";
  ima::dicom::writeSegmentation(out.string(), labels, series, phantomSegments());

  const fs::path script = dir / "summary.py";
  std::ofstream(script) << R"(import sys, pydicom
d = pydicom.dcmread(sys.argv[1])
pixels = d.pixel_array.reshape(int(d.NumberOfFrames), d.Rows, d.Columns)
print("frames", d.NumberOfFrames, pixels.shape[0])
print("referenced", len(d.ReferencedSeriesSequence[0].ReferencedInstanceSequence))
for i, f in enumerate(d.PerFrameFunctionalGroupsSequence):
    uid = f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
    print("frame", f.SegmentIdentificationSequence[0].ReferencedSegmentNumber, uid, int(pixels[i].sum()))
)";
  const std::string output = run("/usr/bin/python3 " + script.string() + " " + out.string());

  std::map<std::string, size_t> zOfInstance;
  for (size_t z = 0; z < series.slices.size(); ++z) {
    DcmFileFormat f;
    ASSERT_TRUE(f.loadFile(series.slices[z].file.c_str()).good());
    zOfInstance[getString(f.getDataset(), DCM_SOPInstanceUID)] = z;
  }
  std::istringstream lines(output);
  std::string kind;
  int framesSeen = 0;
  bool sawFrames = false, sawReferenced = false;
  while (lines >> kind) {
    if (kind == "frames") {
      int declared = 0, decoded = 0;
      lines >> declared >> decoded;
      EXPECT_EQ(declared, 9);
      EXPECT_EQ(decoded, 9);
      sawFrames = true;
    } else if (kind == "referenced") {
      size_t n = 0;
      lines >> n;
      EXPECT_EQ(n, series.slices.size());
      sawReferenced = true;
    } else if (kind == "frame") {
      int segment = 0;
      std::string uid;
      int64_t sum = 0;
      lines >> segment >> uid >> sum;
      ASSERT_EQ(zOfInstance.count(uid), 1u) << output;
      EXPECT_EQ(sum, countOnSlice(labels, segment, zOfInstance[uid])) << "segment " << segment << " slice " << zOfInstance[uid];
      ++framesSeen;
    } else {
      FAIL() << "pydicom said: " << output;
    }
  }
  EXPECT_TRUE(sawFrames && sawReferenced) << output;
  EXPECT_EQ(framesSeen, 9) << output;
}

TEST_F(DicomSeg, DciodvfyAcceptsTheSeg) {
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  const fs::path out = dir / "seg.dcm";
  ima::dicom::SegWriteOptions options;
  options.algorithmVersion = "0.1";
  ima::dicom::writeSegmentation(out.string(), phantomLabels(series), series, phantomSegments(), options);
  expectDciodvfyAccepts(out);
}

TEST_F(DicomSeg, WriterReaderRoundTripGivesTheLabelMap) {
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  const ima::LabelMap labels = phantomLabels(series);
  const fs::path out = dir / "seg.dcm";
  ima::dicom::writeSegmentation(out.string(), labels, series, phantomSegments());
  const ima::LabelMap back = ima::dicom::readSegmentation(out.string(), series);
  EXPECT_EQ(back.shape, labels.shape);
  EXPECT_TRUE(back.geometry == series.geometry);
  EXPECT_EQ(back.data, labels.data);

  const ima::dicom::SegInfo info = ima::dicom::describeSegmentation(out.string());
  EXPECT_EQ(info.referencedSeriesUid, phantom.seriesUid);
  EXPECT_EQ(info.frames, 9);
  ASSERT_EQ(info.segments.size(), 3u);
  EXPECT_EQ(info.segments[1].label, 2);
  EXPECT_EQ(info.segments[1].name, "kidney");
  EXPECT_EQ(info.segments[1].type, (ima::dicom::CodedConcept{"64033007", "SCT", "Kidney"}));
  EXPECT_EQ(info.segments[2].category, ima::dicom::defaultSegmentCategory());
  for (size_t s = 0; s < 3; ++s)  // sRGB -> CIELab -> sRGB within one step of rounding
    for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(info.segments[s].rgb[c], phantomSegments()[s].rgb[c], 1) << s << c;
}

TEST_F(DicomSeg, MultiFrameSourceIsReferencedByFrameNumber) {
  CtPhantom phantom;
  phantom.writeMultiFrame(dir / "enhanced" / "ct.dcm");
  const auto series = ima::dicom::findSeries((dir / "enhanced").string());
  const ima::LabelMap labels = phantomLabels(series);
  const fs::path out = dir / "seg.dcm";
  ima::dicom::writeSegmentation(out.string(), labels, series, phantomSegments());
  EXPECT_EQ(ima::dicom::readSegmentation(out.string(), series).data, labels.data);

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(out.string().c_str()).good());
  // The multi-frame file stores z in reverse order: slice z is its frame slices - z.
  for (long f = 0; DcmItem* frame = itemOf(file.getDataset(), DCM_PerFrameFunctionalGroupsSequence, f); ++f) {
    DcmItem* source = itemOf(itemOf(frame, DCM_DerivationImageSequence), DCM_SourceImageSequence);
    Sint32 referencedFrame = 0;  // IS
    ASSERT_TRUE(source->findAndGetSint32(DCM_ReferencedFrameNumber, referencedFrame).good());
    Float64 position[3];
    for (int i = 0; i < 3; ++i)
      itemOf(frame, DCM_PlanePositionSequence)->findAndGetFloat64(DCM_ImagePositionPatient, position[i], i);
    const int z = phantom.slices - referencedFrame;
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(position[i], phantom.position(z)[static_cast<size_t>(i)], 1e-6);
  }
  expectDciodvfyAccepts(out);
}

TEST_F(DicomSeg, EmptyResultGivesOneEmptyFramePerSegmentAndWarnings) {
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  ima::LabelMap labels(ima::Shape{{series.columns, series.rows, static_cast<int64_t>(series.slices.size())}}, 1,
                       series.geometry);
  std::vector<std::string> warnings;
  ima::dicom::SegWriteOptions options;
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  const fs::path out = dir / "empty.dcm";
  ima::dicom::writeSegmentation(out.string(), labels, series, phantomSegments(), options);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("label 1 (liver) is absent"), std::string::npos);
  EXPECT_NE(warnings[2].find("label 3 (lesion) is absent"), std::string::npos);
  const auto info = ima::dicom::describeSegmentation(out.string());
  EXPECT_EQ(info.frames, 3);
  EXPECT_EQ(info.segments.size(), 3u);
  const ima::LabelMap back = ima::dicom::readSegmentation(out.string(), series);
  EXPECT_EQ(back.data, labels.data);
  expectDciodvfyAccepts(out);
}

TEST_F(DicomSeg, SeriesScansSkipSegsAndSegScansFindThem) {
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  const fs::path out = dir / "ct" / "derived" / "seg.dcm";
  fs::create_directories(out.parent_path());
  ima::dicom::writeSegmentation(out.string(), phantomLabels(series), series, phantomSegments());
  std::ofstream(dir / "ct" / "notes.txt") << "not DICOM";

  const auto scanned = ima::dicom::scanDirectory((dir / "ct").string());
  ASSERT_EQ(scanned.size(), 1u);
  EXPECT_EQ(scanned[0].seriesInstanceUid, phantom.seriesUid);
  EXPECT_EQ(scanned[0].slices.size(), static_cast<size_t>(phantom.slices));
  EXPECT_EQ(ima::dicom::readDirectory((dir / "ct").string()).shape.size[2], phantom.slices);

  const auto segs = ima::dicom::scanSegmentations(dir.string());
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].file, out.string());
  EXPECT_EQ(segs[0].referencedSeriesUid, phantom.seriesUid);
  EXPECT_TRUE(ima::dicom::isSegmentationFile(out.string()));
  EXPECT_FALSE(ima::dicom::isSegmentationFile(series.slices[0].file));
  EXPECT_FALSE(ima::dicom::isSegmentationFile((dir / "ct" / "notes.txt").string()));
  EXPECT_FALSE(ima::dicom::isSegmentationFile((dir / "missing.dcm").string()));
  expectError([&] { ima::dicom::describeSegmentation(series.slices[0].file); },
              {series.slices[0].file, "is not a Segmentation", UID_CTImageStorage});
}

TEST_F(DicomSeg, BadWriterInputsAreNamedAndWriteNothing) {
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  const ima::LabelMap labels = phantomLabels(series);
  const fs::path out = dir / "out" / "seg.dcm";
  fs::create_directories(out.parent_path());
  const std::string path = out.string();

  // A label map on another grid: other size, other origin.
  ima::LabelMap small(ima::Shape{{series.columns, series.rows, 3}}, 1, series.geometry);
  expectError([&] { ima::dicom::writeSegmentation(path, small, series, phantomSegments()); },
              {path, "16x12x3", "16x12x10", phantom.seriesUid});
  ima::LabelMap shifted = labels;
  shifted.geometry.origin[0] += 5;
  expectError([&] { ima::dicom::writeSegmentation(path, shifted, series, phantomSegments()); },
              {path, "origin, spacing or direction", phantom.seriesUid});
  // A label value without a segment.
  auto twoSegments = phantomSegments();
  twoSegments.erase(twoSegments.begin() + 1);  // no segment for label 2
  expectError([&] { ima::dicom::writeSegmentation(path, labels, series, twoSegments); },
              {path, "label value 2", "no segment description", "labels 1, 3"});
  // Duplicate and out-of-range segment labels, no segments.
  auto duplicate = phantomSegments();
  duplicate[2].label = 2;
  expectError([&] { ima::dicom::writeSegmentation(path, labels, series, duplicate); }, {"two segments have label 2"});
  auto zero = phantomSegments();
  zero[2].label = 0;
  expectError([&] { ima::dicom::writeSegmentation(path, labels, series, zero); }, {"label 0", "1..255"});
  expectError([&] { ima::dicom::writeSegmentation(path, labels, series, {}); }, {"no segments"});
  auto longName = phantomSegments();
  longName[0].name = std::string(65, 'x');
  expectError([&] { ima::dicom::writeSegmentation(path, labels, series, longName); },
              {"segment 1", "longer than the 64 characters"});
  auto badCode = phantomSegments();
  badCode[1].type.meaning = "";
  expectError([&] { ima::dicom::writeSegmentation(path, labels, series, badCode); },
              {"segment 'kidney'", "'64033007' without a coding scheme or meaning"});
  // Nothing was written, not even a temporary file.
  EXPECT_TRUE(fs::is_empty(out.parent_path()));

  // An existing output is kept unless overwriting is asked for.
  std::ofstream(out) << "keep me";
  expectError([&] { ima::dicom::writeSegmentation(path, labels, series, phantomSegments()); }, {path, "already exists"});
  EXPECT_EQ(fs::file_size(out), 7u);
  ima::dicom::SegWriteOptions overwrite;
  overwrite.overwrite = true;
  ima::dicom::writeSegmentation(path, labels, series, phantomSegments(), overwrite);
  EXPECT_TRUE(ima::dicom::isSegmentationFile(path));
  // A source without a frame of reference (its SEG could not place its frames).
  CtPhantom unreferenced;
  unreferenced.frameUid = "";
  const auto unreferencedSeries = writeSeries(unreferenced, "noframe");
  expectError([&] { ima::dicom::writeSegmentation((dir / "noframe.dcm").string(), labels, unreferencedSeries, phantomSegments()); },
              {"noframe.dcm", "has no Frame of Reference UID"});
  EXPECT_FALSE(fs::exists(dir / "noframe.dcm"));
  // A missing output directory.
  expectError([&] { ima::dicom::writeSegmentation((dir / "nowhere" / "seg.dcm").string(), labels, series, phantomSegments()); },
              {"nowhere", "does not exist"});
}

TEST_F(DicomSeg, BadReaderInputsAreNamed) {
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  const fs::path out = dir / "seg.dcm";
  ima::dicom::writeSegmentation(out.string(), phantomLabels(series), series, phantomSegments());

  // The SEG references another series.
  CtPhantom other;
  const auto otherSeries = writeSeries(other, "other");
  expectError([&] { ima::dicom::readSegmentation(out.string(), otherSeries); },
              {out.string(), "references series " + phantom.seriesUid, other.seriesUid});

  // Frames that match no slice: the series' slices moved by 40 % of the slice distance.
  auto moved = series;
  for (auto& slice : moved.slices)
    for (size_t i = 0; i < 3; ++i) slice.position[i] += 0.4 * phantom.sliceDistance * phantom.normal[i];
  expectError([&] { ima::dicom::readSegmentation(out.string(), moved); }, {out.string(), "lies on no slice", "1 mm away"});

  // Another in-plane grid.
  auto wider = series;
  wider.columns += 1;
  expectError([&] { ima::dicom::readSegmentation(out.string(), wider); }, {"16x12 pixels", "17x12"});

  // Not a SEG at all.
  expectError([&] { ima::dicom::readSegmentation(series.slices[0].file, series); }, {"is not a Segmentation"});
}

// A fractional SEG (probabilities), written here with dcmseg, is refused with a clear message.
TEST_F(DicomSeg, FractionalSegIsRefused) {
  CtPhantom phantom;
  const auto series = writeSeries(phantom);
  DcmSegmentation* created = nullptr;
  ASSERT_TRUE(DcmSegmentation::createFractionalSegmentation(
                  created, static_cast<Uint16>(series.rows), static_cast<Uint16>(series.columns),
                  DcmSegTypes::SFT_PROBABILITY, 255, IODGeneralEquipmentModule::EquipmentInfo("test", "test", "1", "1"),
                  ContentIdentificationMacro("1", "TEST", "", ""))
                  .good());
  std::unique_ptr<DcmSegmentation> seg(created);
  DcmFileFormat source;
  ASSERT_TRUE(source.loadFile(series.slices[0].file.c_str()).good());
  ASSERT_TRUE(seg->importHierarchy(*source.getDataset(), OFTrue, OFTrue, OFTrue, OFFalse).good());
  seg->getSeries().setSeriesNumber("1");
  DcmSegment* segment = nullptr;
  ASSERT_TRUE(DcmSegment::create(segment, "p", CodeSequenceMacro("85756007", "SCT", "Tissue"),
                                 CodeSequenceMacro("85756007", "SCT", "Tissue"), DcmSegTypes::SAT_AUTOMATIC, "x")
                  .good());
  Uint16 number = 0;
  ASSERT_TRUE(seg->addSegment(segment, number).good());
  FGPlaneOrientationPatient* orientation = FGPlaneOrientationPatient::createMinimal("1", "0", "0", "0", "1", "0");
  seg->addForAllFrames(*orientation);
  delete orientation;
  FGPixelMeasures measures;
  measures.setPixelSpacing("1\\1");
  seg->addForAllFrames(measures);
  FGPlanePosPatient* position = FGPlanePosPatient::createMinimal("0", "0", "0");
  FGFrameContent content;
  content.setDimensionIndexValues(1, 0);
  FGSegmentation fgSeg;
  fgSeg.setReferencedSegmentNumber(number);
  std::vector<Uint8> pixels(static_cast<size_t>(series.rows * series.columns), 128);
  OFVector<FGBase*> groups;
  groups.push_back(position);
  groups.push_back(&content);
  groups.push_back(&fgSeg);
  ASSERT_TRUE(seg->addFrame(pixels.data(), number, groups).good());
  delete position;
  auto* referencedSeries = new IODSeriesAndInstanceReferenceMacro::ReferencedSeriesItem;
  referencedSeries->setSeriesInstanceUID(phantom.seriesUid.c_str());
  auto* instance = new SOPInstanceReferenceMacro;
  instance->setReferencedSOPClassUID(UID_CTImageStorage);
  instance->setReferencedSOPInstanceUID(getString(source.getDataset(), DCM_SOPInstanceUID).c_str());
  referencedSeries->getReferencedInstanceItems().push_back(instance);
  seg->getCommonInstanceReference().getReferencedSeriesItems().push_back(referencedSeries);
  const fs::path out = dir / "fractional.dcm";
  seg->getDimensions().addDimensionIndex(DCM_ReferencedSegmentNumber, "1.2.3", DCM_SegmentIdentificationSequence);
  ASSERT_TRUE(seg->saveFile(out.string().c_str()).good());
  expectError([&] { ima::dicom::readSegmentation(out.string(), series); }, {out.string(), "FRACTIONAL", "only BINARY"});
}

}  // namespace

}  // namespace DicomSegGTest
