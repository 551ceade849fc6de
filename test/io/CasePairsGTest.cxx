// ima::io's case pairing and loading, the path every host (command line, Slicer modules, C API)
// loads training and evaluation cases through. Files are written with ITK directly, not through
// ima::io, so the values read are checked against what ITK wrote.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "itkImage.h"

#include "../common/ITKImageFiles.h"
#include "../common/ScratchDirectoryTest.h"
#include "ima/Error.h"
#include "ima/io/CasePairs.h"

namespace CasePairsGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

namespace {

class CasePairs : public ima::test::ScratchDirectoryTest {
protected:
  // Case `id`: a 3x2 image whose voxel i holds base + i, and labels i % 2.
  void writeCase(const std::string& id, float base) {
    using ImageType = itk::Image<float, 2>;
    using LabelType = itk::Image<unsigned char, 2>;
    const ImageType::SizeType size{{3, 2}};
    auto image = ImageType::New();
    image->SetRegions(size);
    image->Allocate();
    auto labels = LabelType::New();
    labels->SetRegions(size);
    labels->Allocate();
    for (unsigned i = 0; i < 6; ++i) {
      image->GetBufferPointer()[i] = base + static_cast<float>(i);
      labels->GetBufferPointer()[i] = static_cast<unsigned char>(i % 2);
    }
    fs::create_directories(work_ / "images");
    fs::create_directories(work_ / "labels");
    ima::test::writeImage(image.GetPointer(), work_ / "images" / (id + ".nii.gz"));
    ima::test::writeImage(labels.GetPointer(), work_ / "labels" / (id + ".nii.gz"));
  }
  std::vector<ima::io::CasePair> pairs() const {
    return ima::io::pairCases((work_ / "images").string(), (work_ / "labels").string());
  }
};

TEST_F(CasePairs, LoadsEveryPairInNameOrderWithItsVoxelsAndReportsProgressPerCase) {
  writeCase("case_b", 100);
  writeCase("case_a", 10);
  std::vector<double> heard;
  const auto cases = ima::io::loadCases(pairs(), {}, [&](double f) {
    heard.push_back(f);
    return true;
  });
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].id, "case_a");
  EXPECT_EQ(cases[1].id, "case_b");
  for (size_t c = 0; c < 2; ++c) {
    const float base = c == 0 ? 10.0f : 100.0f;
    ASSERT_EQ(cases[c].image.data.size(), 6u);
    ASSERT_EQ(cases[c].labels.data.size(), 6u);
    for (size_t i = 0; i < 6; ++i) {
      EXPECT_EQ(cases[c].image.data[i], base + static_cast<float>(i));
      EXPECT_EQ(cases[c].labels.data[i], i % 2);
    }
  }
  // Before each of the two cases, then the end.
  EXPECT_EQ(heard, (std::vector<double>{0.0, 0.5, 1.0}));
}

TEST_F(CasePairs, AProgressCallbackThatSaysStopCancelsBeforeTheNextCase) {
  writeCase("case_a", 0);
  writeCase("case_b", 0);
  std::vector<double> heard;
  EXPECT_THROW(ima::io::loadCases(pairs(), {}, [&](double f) {
    heard.push_back(f);
    return f < 0.5;
  }), ima::Cancelled);
  EXPECT_EQ(heard, (std::vector<double>{0.0, 0.5}));
}

TEST_F(CasePairs, AnImageWithoutItsLabelFileIsAnErrorNamingIt) {
  writeCase("case_a", 0);
  fs::remove(work_ / "labels" / "case_a.nii.gz");
  try {
    pairs();
    FAIL() << "no error";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("case_a.nii.gz"), std::string::npos) << e.what();
  }
}

}  // namespace

}  // namespace CasePairsGTest
