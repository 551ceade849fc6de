// The ITK layer's DICOM SEG writer on the phantom CT series of DicomTestData.h (oblique). The label
// image is built by the test on the grid IMADicomSeriesReader gives the series; oracles: that image
// (read back voxel for voxel through the independent SEG reader ima::dicom::readSegmentation), the
// names and codes the test gives (read back from the file's header by describeSegmentation), and
// the phantom's own UIDs.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "itkImage.h"
#include "itkOutputWindow.h"

#include "itkIMADicomSegWriter.h"
#include "itkIMADicomSeriesReader.h"

#include "DicomTestData.h"

namespace itkIMADicomSegWriterGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;
using ima::dicomtest::CtPhantom;

namespace {

using Labels8 = itk::Image<unsigned char, 3>;
using Labels16 = itk::Image<unsigned short, 3>;

class IMADicomSegWriter : public ::testing::Test {
protected:
  void SetUp() override {
    ima::dicom::silenceDcmtkLogging();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() / ("ima-itkseg-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    phantom.write(dir / "ct");
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string series() const { return (dir / "ct").string(); }
  std::string out() const { return (dir / "seg.dcm").string(); }

  // An empty label image on the grid the ITK reader gives the phantom series.
  template <typename TLabels>
  typename TLabels::Pointer emptyLabelsOnSeriesGrid() const {
    auto reader = itk::IMADicomSeriesReader<itk::Image<short, 3>>::New();
    reader->SetDirectory(series());
    reader->Update();
    auto labels = TLabels::New();
    labels->CopyInformation(reader->GetOutput());
    labels->SetRegions(reader->GetOutput()->GetLargestPossibleRegion());
    labels->Allocate(true);
    return labels;
  }

  // Label 1: a box on slices 2..5; label 2: a box on slices 4..7.
  template <typename TLabels>
  typename TLabels::Pointer boxLabels() const {
    auto labels = emptyLabelsOnSeriesGrid<TLabels>();
    for (int z = 0; z < phantom.slices; ++z)
      for (int y = 0; y < phantom.rows; ++y)
        for (int x = 0; x < phantom.columns; ++x) {
          typename TLabels::PixelType v = 0;
          if (z >= 2 && z <= 5 && x >= 2 && x < 7 && y >= 3 && y < 9) v = 1;
          if (z >= 4 && z <= 7 && x >= 9 && x < 14 && y >= 1 && y < 8) v = 2;
          labels->SetPixel({ { x, y, z } }, v);
        }
    return labels;
  }

  // Voxels where the SEG read back differs from `expected`.
  template <typename TLabels>
  size_t differingVoxels(const TLabels* expected) const {
    const ima::LabelMap back = ima::dicom::readSegmentation(out(), ima::dicom::findSeries(series()));
    const size_t n = expected->GetLargestPossibleRegion().GetNumberOfPixels();
    EXPECT_EQ(back.data.size(), n);
    size_t wrong = 0;
    for (size_t i = 0; i < n && i < back.data.size(); ++i)
      wrong += back.data[i] != static_cast<uint8_t>(expected->GetBufferPointer()[i]);
    return wrong;
  }

  CtPhantom phantom;
  fs::path dir;
};

// Collects what itkWarningMacro prints.
class CapturingOutputWindow : public itk::OutputWindow {
public:
  ITK_DISALLOW_COPY_AND_MOVE(CapturingOutputWindow);
  using Pointer = itk::SmartPointer<CapturingOutputWindow>;
  itkNewMacro(CapturingOutputWindow);
  void DisplayText(const char* text) override { captured += text; }
  std::string captured;

protected:
  CapturingOutputWindow() = default;
};

// The description of the itk::ExceptionObject `f` throws ("" and a test failure when none).
template <typename F>
std::string exceptionOf(F&& f) {
  try {
    f();
  } catch (const itk::ExceptionObject& e) {
    return e.GetDescription();
  }
  ADD_FAILURE() << "no exception";
  return "";
}

TEST_F(IMADicomSegWriter, RoundTripsVoxelForVoxelWithTheGivenSegments) {
  const auto labels = boxLabels<Labels8>();
  const ima::dicom::SegmentInfo liver{ 1, "liver", { "123037004", "SCT", "Anatomical Structure" },
                                       { "10200004", "SCT", "Liver" }, { 221, 130, 101 } };
  const ima::dicom::SegmentInfo kidney{ 2, "kidney", { "123037004", "SCT", "Anatomical Structure" },
                                        { "64033007", "SCT", "Kidney" }, { 185, 102, 83 } };
  auto writer = itk::IMADicomSegWriter<Labels8>::New();
  writer->SetInput(labels);
  writer->SetSeriesDirectory(series());
  writer->SetFileName(out());
  writer->SetSegments({ liver, kidney });
  writer->SetAlgorithmName("test-algorithm");
  writer->Update();

  EXPECT_EQ(differingVoxels(labels.GetPointer()), 0u);
  const ima::dicom::SegInfo info = ima::dicom::describeSegmentation(out());
  EXPECT_EQ(info.referencedSeriesUid, phantom.seriesUid);
  EXPECT_EQ(writer->GetSeriesInfo().seriesInstanceUid, phantom.seriesUid);
  ASSERT_EQ(info.segments.size(), 2u);
  EXPECT_EQ(info.segments[0].name, "liver");
  EXPECT_EQ(info.segments[0].type, liver.type);
  EXPECT_EQ(info.segments[0].category, liver.category);
  EXPECT_EQ(info.segments[1].name, "kidney");
  EXPECT_EQ(info.segments[1].type, kidney.type);
  // One frame per slice a segment is on: slices 2..5 and 4..7.
  EXPECT_EQ(info.frames, 8);
}

TEST_F(IMADicomSegWriter, SegmentsFromModelMetadataAndWarningsForAbsentLabels) {
  const auto labels = boxLabels<Labels16>();
  ima::ModelMetadata metadata;
  metadata.network.classes = 4;  // labels 1..3; the image has no 3
  ima::LabelInfo liver;
  liver.value = 1;
  liver.name = "liver";
  liver.category = { "123037004", "SCT", "Anatomical Structure" };
  liver.type = { "10200004", "SCT", "Liver" };
  metadata.labels = { liver };

  auto window = CapturingOutputWindow::New();
  itk::OutputWindow::Pointer previous = itk::OutputWindow::GetInstance();
  itk::OutputWindow::SetInstance(window);
  auto writer = itk::IMADicomSegWriter<Labels16>::New();
  writer->SetInput(labels);
  writer->SetSeriesDirectory(series());
  writer->SetFileName(out());
  writer->SetModelMetadata(metadata);
  writer->Update();
  itk::OutputWindow::SetInstance(previous);

  EXPECT_EQ(differingVoxels(labels.GetPointer()), 0u);
  const ima::dicom::SegInfo info = ima::dicom::describeSegmentation(out());
  ASSERT_EQ(info.segments.size(), 3u);
  EXPECT_EQ(info.segments[0].name, "liver");
  EXPECT_EQ(info.segments[0].type, liver.type);
  EXPECT_EQ(info.segments[1].name, "label 2");
  EXPECT_EQ(info.segments[1].type, ima::dicom::defaultSegmentType());
  EXPECT_EQ(info.segments[2].name, "label 3");
  EXPECT_NE(window->captured.find("label 3"), std::string::npos) << window->captured;
  EXPECT_EQ(window->captured.find("label 2"), std::string::npos) << window->captured;
}

TEST_F(IMADicomSegWriter, WithoutSegmentsOneDefaultSegmentPerLabel) {
  const auto labels = boxLabels<Labels8>();
  auto writer = itk::IMADicomSegWriter<Labels8>::New();
  writer->SetInput(labels);
  writer->SetSeriesDirectory(series());
  writer->SetFileName(out());
  writer->Write();

  EXPECT_EQ(differingVoxels(labels.GetPointer()), 0u);
  const ima::dicom::SegInfo info = ima::dicom::describeSegmentation(out());
  ASSERT_EQ(info.segments.size(), 2u);
  EXPECT_EQ(info.segments[0].name, "label 1");
  EXPECT_EQ(info.segments[1].name, "label 2");
  EXPECT_EQ(info.segments[0].category, ima::dicom::defaultSegmentCategory());
  EXPECT_EQ(info.segments[1].type, ima::dicom::defaultSegmentType());
}

TEST_F(IMADicomSegWriter, LabelImageOffTheSeriesGridIsAnErrorAndWritesNothing) {
  // Shifted by 1 mm along x: same size, other origin.
  auto shifted = boxLabels<Labels8>();
  auto origin = shifted->GetOrigin();
  origin[0] += 1.0;
  shifted->SetOrigin(origin);
  auto writer = itk::IMADicomSegWriter<Labels8>::New();
  writer->SetInput(shifted);
  writer->SetSeriesDirectory(series());
  writer->SetFileName(out());
  std::ostringstream shiftedX;
  shiftedX << "origin (" << origin[0];
  const std::string message = exceptionOf([&] { writer->Update(); });
  EXPECT_NE(message.find(out()), std::string::npos) << message;
  EXPECT_NE(message.find(phantom.seriesUid), std::string::npos) << message;
  EXPECT_NE(message.find("label map " + shiftedX.str()), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(out()));

  // One slice short: the message names both sizes.
  auto shortImage = Labels8::New();
  Labels8::RegionType region = boxLabels<Labels8>()->GetLargestPossibleRegion();
  region.SetSize(2, region.GetSize(2) - 1);
  shortImage->CopyInformation(boxLabels<Labels8>());
  shortImage->SetRegions(region);
  shortImage->Allocate(true);
  writer->SetInput(shortImage);
  const std::string sizes = exceptionOf([&] { writer->Update(); });
  EXPECT_NE(sizes.find("16x12x9"), std::string::npos) << sizes;
  EXPECT_NE(sizes.find("16x12x10"), std::string::npos) << sizes;
  EXPECT_FALSE(fs::exists(out()));
  for (const auto& entry : fs::directory_iterator(dir)) EXPECT_EQ(entry.path().filename(), "ct") << "left behind";
}

TEST_F(IMADicomSegWriter, ExistingFileNeedsOverwrite) {
  { std::ofstream(out()) << "not a SEG"; }
  auto writer = itk::IMADicomSegWriter<Labels8>::New();
  writer->SetInput(boxLabels<Labels8>());
  writer->SetSeriesDirectory(series());
  writer->SetFileName(out());
  const std::string message = exceptionOf([&] { writer->Update(); });
  EXPECT_NE(message.find(out()), std::string::npos) << message;
  EXPECT_NE(message.find("already exists"), std::string::npos) << message;
  std::ifstream kept(out());
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "not a SEG");

  writer->SetOverwrite(true);
  writer->Update();
  EXPECT_TRUE(ima::dicom::isSegmentationFile(out()));
}

TEST_F(IMADicomSegWriter, BadLabelsAndMissingSettingsAreErrors) {
  auto labels = boxLabels<Labels16>();
  labels->SetPixel({ { 1, 1, 1 } }, 300);
  auto writer = itk::IMADicomSegWriter<Labels16>::New();
  writer->SetInput(labels);
  writer->SetSeriesDirectory(series());
  writer->SetFileName(out());
  const std::string value = exceptionOf([&] { writer->Update(); });
  EXPECT_NE(value.find("300"), std::string::npos) << value;
  EXPECT_FALSE(fs::exists(out()));

  // A label without a segment.
  labels->SetPixel({ { 1, 1, 1 } }, 2);
  writer->SetSegments({ { 1, "liver", {}, {}, { 255, 0, 0 } } });
  const std::string unnamed = exceptionOf([&] { writer->Update(); });
  EXPECT_NE(unnamed.find(out()), std::string::npos) << unnamed;
  EXPECT_FALSE(fs::exists(out()));

  auto noSeries = itk::IMADicomSegWriter<Labels16>::New();
  noSeries->SetInput(labels);
  noSeries->SetFileName(out());
  EXPECT_NE(exceptionOf([&] { noSeries->Update(); }).find("SetSeriesDirectory"), std::string::npos);
}

TEST_F(IMADicomSegWriter, ChoosesTheSeriesWhenThereAreSeveral) {
  const auto labels = boxLabels<Labels8>();  // on the grid of both phantoms (same geometry)
  CtPhantom other;
  other.write(dir / "ct" / "other");
  auto writer = itk::IMADicomSegWriter<Labels8>::New();
  writer->SetInput(labels);
  writer->SetSeriesDirectory(series());
  writer->SetFileName(out());
  const std::string several = exceptionOf([&] { writer->Update(); });
  EXPECT_NE(several.find(phantom.seriesUid), std::string::npos) << several;
  EXPECT_NE(several.find(other.seriesUid), std::string::npos) << several;
  writer->SetSeries(other.seriesUid);
  writer->Update();
  EXPECT_EQ(ima::dicom::describeSegmentation(out()).referencedSeriesUid, other.seriesUid);
}

}  // namespace

}  // namespace itkIMADicomSegWriterGTest
