// End-to-end tests of the `ima` executable on DICOM: series directories as input, DICOM SEG as
// output. Series are written with DCMTK (test/dicom/DicomTestData.h).
#include "CLITestSupport.h"

namespace imaCLIDicomGTest {  // this file's names apart from the others' in a unity build

using namespace imatest::cli;

// ---------------------------------------------------------------- DICOM input

namespace {

// An ITK image on the phantom series' grid (oblique direction), filled by `value(x, y, z)`.
template <typename TImage>
typename TImage::Pointer onPhantomGrid(const ima::dicomtest::CtPhantom& p,
                                       const std::function<typename TImage::PixelType(int, int, int)>& value) {
  auto image = TImage::New();
  typename TImage::RegionType region;
  region.SetSize({{static_cast<itk::SizeValueType>(p.columns), static_cast<itk::SizeValueType>(p.rows),
                   static_cast<itk::SizeValueType>(p.slices)}});
  image->SetRegions(region);
  typename TImage::DirectionType direction;
  typename TImage::PointType origin;
  for (unsigned r = 0; r < 3; ++r) {
    direction(r, 0) = p.rowDir[r];
    direction(r, 1) = p.colDir[r];
    direction(r, 2) = p.normal[r];
    origin[r] = p.position(0)[r];
  }
  const double spacing[3] = {p.spacingX, p.spacingY, p.sliceDistance};
  image->SetDirection(direction);
  image->SetOrigin(origin);
  image->SetSpacing(spacing);
  image->Allocate();
  for (int z = 0; z < p.slices; ++z)
    for (int y = 0; y < p.rows; ++y)
      for (int x = 0; x < p.columns; ++x) image->SetPixel({{x, y, z}}, value(x, y, z));
  return image;
}

}  // namespace

// The same image read from a DICOM series directory and from an NRRD file (written here with ITK
// on the series' grid) gives the same segmentation, on the series' grid.
TEST_F(ImaCLI, SegmentsADicomSeriesDirectoryLikeTheSameImageAsAFile) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom phantom;
  phantom.write(work_ / "series");
  writeImage(onPhantomGrid<Image3F>(phantom, [&](int x, int y, int z) { return phantom.value(x, y, z); }).GetPointer(),
             work_ / "same.nrrd");
  RunResult r = run("segment --model m.imamodel --input series --output seg.nii.gz --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("segment --model m.imamodel --input same.nrrd --output seg_nrrd.nii.gz --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto seg = readImage<Label3>(work_ / "seg.nii.gz");
  const auto reference = readImage<Label3>(work_ / "seg_nrrd.nii.gz");
  ASSERT_EQ(seg->GetLargestPossibleRegion().GetSize(), reference->GetLargestPossibleRegion().GetSize());
  EXPECT_EQ(seg->GetLargestPossibleRegion().GetSize()[2], 10u);
  for (unsigned r3 = 0; r3 < 3; ++r3) {
    // NIfTI stores the grid in single precision.
    EXPECT_NEAR(seg->GetOrigin()[r3], phantom.position(0)[r3], 1e-4);
    EXPECT_NEAR(seg->GetDirection()(r3, 2), phantom.normal[r3], 1e-5);
  }
  EXPECT_NEAR(seg->GetSpacing()[2], phantom.sliceDistance, 1e-5);
  const size_t n = seg->GetLargestPossibleRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(seg->GetBufferPointer(), seg->GetBufferPointer() + n, reference->GetBufferPointer()));
}

TEST_F(ImaCLI, BadDicomSeriesFailsWithoutOutput) {
  makeModel("m.imamodel");
  ima::dicomtest::CtPhantom phantom;
  const auto paths = phantom.write(work_ / "series");
  fs::remove(paths[4]);  // a missing slice
  const std::set<std::string> before = listing();
  RunResult r = run("segment --model m.imamodel --input series --output seg.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("ima: error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(phantom.seriesUid), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("uneven slice distances"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--allow-uneven"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);

  r = run("segment --model m.imamodel --input series --output seg.nii.gz --quiet --allow-uneven");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(readImage<Label3>(work_ / "seg.nii.gz")->GetLargestPossibleRegion().GetSize()[2], 9u);
}

TEST_F(ImaCLI, SeveralDicomSeriesNeedSeries) {
  makeModel("m.imamodel");
  ima::dicomtest::CtPhantom a, b;
  b.slices = 4;
  a.write(work_ / "study" / "a");
  b.write(work_ / "study" / "b");
  RunResult r = run("segment --model m.imamodel --input study --output seg.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(a.seriesUid), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(b.seriesUid), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--series"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "seg.nii.gz"));
  r = run("segment --model m.imamodel --input study --series " + b.seriesUid + " --output seg.nii.gz --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(readImage<Label3>(work_ / "seg.nii.gz")->GetLargestPossibleRegion().GetSize()[2], 4u);
}

// A DICOM SEG output (.dcm) holds the same label map as the NIfTI output of the same run, on the
// series' slices, with the model's label names and codes; `ima info` lists its segments.
TEST_F(ImaCLI, SegmentWritesADicomSegForADicomSeries) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom phantom;
  phantom.write(work_ / "series");
  RunResult r = run("segment --model m.imamodel --input series --output seg.nii.gz --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("segment --model m.imamodel --input series --output seg.dcm --quiet");
  ASSERT_EQ(r.code, 0) << r.err;

  const auto reference = readImage<Label3>(work_ / "seg.nii.gz");
  const auto series = ima::dicom::findSeries((work_ / "series").string());
  const ima::LabelMap seg = ima::dicom::readSegmentation((work_ / "seg.dcm").string(), series);
  const size_t n = reference->GetLargestPossibleRegion().GetNumberOfPixels();
  ASSERT_EQ(seg.data.size(), n);
  EXPECT_TRUE(std::equal(seg.data.begin(), seg.data.end(), reference->GetBufferPointer()));
  // Labels the model did not predict are named on stderr.
  for (int label : {1, 2}) {
    const bool present = std::find(seg.data.begin(), seg.data.end(), label) != seg.data.end();
    const std::string warning = "label " + std::to_string(label) + (label == 1 ? " (liver)" : " (tumour)") + " is absent";
    EXPECT_EQ(r.err.find(warning) != std::string::npos, !present) << r.err;
  }

  const auto info = ima::dicom::describeSegmentation((work_ / "seg.dcm").string());
  EXPECT_EQ(info.referencedSeriesUid, phantom.seriesUid);
  ASSERT_EQ(info.segments.size(), 2u);
  EXPECT_EQ(info.segments[0].name, "liver");
  EXPECT_EQ(info.segments[0].type, (ima::CodedConcept{"10200004", "SCT", "Liver"}));
  EXPECT_EQ(info.segments[1].name, "tumour");
  EXPECT_EQ(info.segments[1].type, ima::dicom::defaultSegmentType());

  r = run("info seg.dcm");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string text : {phantom.seriesUid, std::string("liver"), std::string("Liver (SCT 10200004)"),
                                 std::string("tumour  #"), std::string("Tissue (SCT 85756007)")})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;

  // An existing SEG is kept without --force; a SEG inside the series folder does not disturb reading it.
  const auto size = fs::file_size(work_ / "seg.dcm");
  r = run("segment --model m.imamodel --input series --output seg.dcm --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_EQ(fs::file_size(work_ / "seg.dcm"), size);
  r = run("segment --model m.imamodel --input series --output series/seg.dcm --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("segment --model m.imamodel --input series --output again.nii.gz --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
}

TEST_F(ImaCLI, DicomSegOutputNeedsADicomInput) {
  makeModel("m.imamodel");
  writeImage(discImage().GetPointer(), work_ / "image.nrrd");
  const std::set<std::string> before = listing();
  RunResult r = run("segment --model m.imamodel --input image.nrrd --output seg.dcm --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'seg.dcm' is a DICOM SEG"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'image.nrrd' is not DICOM"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);
}

// A series directory in --images pairs with the label file named after it.
TEST_F(ImaCLI, EvaluatesAndAttacksDicomSeries) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom phantom;
  phantom.write(work_ / "images" / "case_a");
  fs::create_directories(work_ / "labels");
  const auto labels = onPhantomGrid<Label3>(phantom, [](int x, int y, int) { return static_cast<uint8_t>(x > 8 && y > 5); });
  writeImage(labels.GetPointer(), work_ / "labels" / "case_a.nrrd");
  RunResult r = run("evaluate --model m.imamodel --images images --labels labels --attack noise --eps 0,0.5 "
                    "--out r.json --device cpu --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(readText(work_ / "r.json"));
  EXPECT_EQ(report.at("attacks").size(), 1u);

  r = run("attack --model m.imamodel --input images/case_a --label labels/case_a.nrrd --attack noise --eps 0.5 "
          "--output adv.nrrd --device cpu --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(readImage<Image3F>(work_ / "adv.nrrd")->GetLargestPossibleRegion().GetSize()[2], 10u);

  // A series without its label file is named.
  fs::remove(work_ / "labels" / "case_a.nrrd");
  writeImage(labels.GetPointer(), work_ / "labels" / "case_b.nrrd");
  r = run("evaluate --model m.imamodel --images images --labels labels --out r2.json --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("case_a"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "r2.json"));
}

// ---------------------------------------------------------------- ima batch

}  // namespace imaCLIDicomGTest
