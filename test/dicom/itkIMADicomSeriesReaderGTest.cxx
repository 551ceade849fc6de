// The ITK layer's DICOM series reader, and ITK's own GDCM reader as an independent oracle for the
// core reader's geometry and values on the phantom CT series written by DCMTK.
// Tolerances: positions in the files carry 9 significant digits; GDCM and our reader normalise
// the direction cosines independently, hence 1e-6 on geometry. Values are exact.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "itkGDCMImageIO.h"
#include "itkGDCMSeriesFileNames.h"
#include "itkImage.h"
#include "itkImageSeriesReader.h"
#include "itkVectorImage.h"

#include "itkIMADicomSeriesReader.h"
#include "itkIMAImageConversion.h"

#include "DicomTestData.h"

namespace itkIMADicomSeriesReaderGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;
using ima::dicomtest::CtPhantom;

namespace {

using ImageF = itk::Image<float, 3>;

class IMADicomSeriesReader : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() / ("ima-itkdicom-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

// ITK's GDCM reader over the only series in `directory` (recursive), rescale applied by GDCM.
ImageF::Pointer readWithGdcm(const fs::path& directory) {
  auto names = itk::GDCMSeriesFileNames::New();
  names->SetRecursive(true);
  names->SetUseSeriesDetails(false);
  names->SetInputDirectory(directory.string());
  const auto uids = names->GetSeriesUIDs();
  if (uids.size() != 1) throw std::runtime_error("GDCM found " + std::to_string(uids.size()) + " series");
  auto reader = itk::ImageSeriesReader<ImageF>::New();
  reader->SetImageIO(itk::GDCMImageIO::New());
  reader->SetFileNames(names->GetFileNames(uids.front()));
  reader->Update();
  return reader->GetOutput();
}

void expectSameImage(const ImageF* expected, const ImageF* actual) {
  ASSERT_EQ(expected->GetLargestPossibleRegion().GetSize(), actual->GetLargestPossibleRegion().GetSize());
  for (unsigned r = 0; r < 3; ++r) {
    EXPECT_NEAR(expected->GetOrigin()[r], actual->GetOrigin()[r], 1e-6) << "origin " << r;
    EXPECT_NEAR(expected->GetSpacing()[r], actual->GetSpacing()[r], 1e-6) << "spacing " << r;
    for (unsigned c = 0; c < 3; ++c)
      EXPECT_NEAR(expected->GetDirection()(r, c), actual->GetDirection()(r, c), 1e-6) << "direction " << r << c;
  }
  const size_t n = expected->GetLargestPossibleRegion().GetNumberOfPixels();
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) wrong += expected->GetBufferPointer()[i] != actual->GetBufferPointer()[i];
  EXPECT_EQ(wrong, 0u) << "voxels that differ";
}

TEST_F(IMADicomSeriesReader, CoreReaderAgreesWithITKsGDCMReader) {
  CtPhantom phantom;  // oblique, shuffled file names, nested folders
  phantom.write(dir);
  const ImageF::Pointer gdcm = readWithGdcm(dir);
  const ima::Volume core = ima::dicom::readDirectory(dir.string());
  const auto ours = itk::IMAVolumeToImage<ImageF>(core);
  expectSameImage(gdcm, ours);
  // And GDCM saw the phantom (guards against both readers being wrong the same way).
  EXPECT_NEAR(gdcm->GetSpacing()[2], phantom.sliceDistance, 1e-6);
  EXPECT_NEAR(gdcm->GetDirection()(2, 0), phantom.rowDir[2], 1e-6);
  EXPECT_FLOAT_EQ(gdcm->GetPixel({{3, 2, 5}}), phantom.value(3, 2, 5));
}

TEST_F(IMADicomSeriesReader, GivesTheCoreReadersImage) {
  CtPhantom phantom;
  phantom.write(dir);
  auto reader = itk::IMADicomSeriesReader<ImageF>::New();
  reader->SetDirectory(dir.string());
  reader->Update();
  const auto expected = itk::IMAVolumeToImage<ImageF>(ima::dicom::readDirectory(dir.string()));
  expectSameImage(expected, reader->GetOutput());
  EXPECT_EQ(reader->GetSeriesInfo().seriesInstanceUid, phantom.seriesUid);
  // Geometry is known before the pixels are read.
  auto info = itk::IMADicomSeriesReader<ImageF>::New();
  info->SetDirectory(dir.string());
  info->UpdateOutputInformation();
  EXPECT_EQ(info->GetOutput()->GetLargestPossibleRegion().GetSize()[2], 10u);
  EXPECT_EQ(info->GetOutput()->GetOrigin(), expected->GetOrigin());
}

TEST_F(IMADicomSeriesReader, IntegerAndVectorOutputTypes) {
  CtPhantom phantom;
  phantom.write(dir);
  auto shorts = itk::IMADicomSeriesReader<itk::Image<short, 3>>::New();
  shorts->SetDirectory(dir.string());
  shorts->Update();
  EXPECT_EQ(shorts->GetOutput()->GetPixel({{4, 5, 6}}), static_cast<short>(phantom.value(4, 5, 6)));
  auto vectors = itk::IMADicomSeriesReader<itk::VectorImage<float, 3>>::New();
  vectors->SetDirectory(dir.string());
  vectors->Update();
  EXPECT_EQ(vectors->GetOutput()->GetNumberOfComponentsPerPixel(), 1u);
  EXPECT_EQ(vectors->GetOutput()->GetPixel({{4, 5, 6}})[0], phantom.value(4, 5, 6));
}

TEST_F(IMADicomSeriesReader, ErrorsAreITKExceptionsNamingTheSeries) {
  CtPhantom a, b;
  a.write(dir / "a");
  b.write(dir / "b");
  auto reader = itk::IMADicomSeriesReader<ImageF>::New();
  reader->SetDirectory(dir.string());
  try {
    reader->Update();
    ADD_FAILURE() << "no exception";
  } catch (const itk::ExceptionObject& e) {
    const std::string message = e.GetDescription();
    EXPECT_NE(message.find(a.seriesUid), std::string::npos) << message;
    EXPECT_NE(message.find(b.seriesUid), std::string::npos) << message;
  }
  reader->SetSeries(b.seriesUid);
  reader->Update();
  EXPECT_EQ(reader->GetOutput()->GetPixel({{1, 2, 3}}), b.value(1, 2, 3));
}

}  // namespace

}  // namespace itkIMADicomSeriesReaderGTest
