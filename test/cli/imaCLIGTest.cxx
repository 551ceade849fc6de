// End-to-end tests of the `ima` executable: each test runs the binary in a fresh directory and
// checks the exit code (0 success, 1 failure, 2 usage), the error text on stderr, and that a
// failed run leaves no output or temporary file behind. Inputs are written here with ITK directly
// (not through the CLI's own IO code) and models are created through the core API, so the tests
// need no data files and stay fast. DICOM series are written with DCMTK (test/dicom/DicomTestData.h).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "itkImage.h"
#include "itkImageIOFactory.h"

#include "ima/DicomSeg.h"
#include "ima/DicomSeries.h"
#include "ima/Model.h"

#include "../common/ITKImageFiles.h"        // writeImage, readImage
#include "../common/ScratchDirectoryTest.h"  // the fixture's work directory
#include "../common/TinyModels.h"            // tinyUNet2DMetadata
#include "DicomTestData.h"             // test/dicom: DICOM series written with DCMTK

#ifndef IMA_EXECUTABLE
#error "IMA_EXECUTABLE must name the ima binary"
#endif

namespace fs = std::filesystem;

namespace {

using Image2F = itk::Image<float, 2>;
using Label2 = itk::Image<uint8_t, 2>;

struct RunResult {
  int code = -1;
  std::string out, err;
};

std::string readText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeText(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// An image filled by `value(x, y)` with a non-trivial grid, so geometry round trips are visible.
template <typename TImage>
typename TImage::Pointer makeImage(int w, int h, double spacingX, double spacingY,
                                   const std::function<typename TImage::PixelType(int, int)>& value) {
  auto image = TImage::New();
  typename TImage::RegionType region;
  region.SetSize(0, static_cast<itk::SizeValueType>(w));
  region.SetSize(1, static_cast<itk::SizeValueType>(h));
  image->SetRegions(region);
  const double spacing[2] = {spacingX, spacingY};
  const double origin[2] = {5.0, -3.0};
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->Allocate();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) image->SetPixel({{x, y}}, value(x, y));
  return image;
}

using ima::test::readImage;
using ima::test::writeImage;

struct FileHeader {
  itk::IOComponentEnum component;
  unsigned components, dims;
};

FileHeader readHeader(const fs::path& path) {
  auto io = itk::ImageIOFactory::CreateImageIO(path.string().c_str(), itk::IOFileModeEnum::ReadMode);
  if (!io) throw std::runtime_error("not an image: " + path.string());
  io->SetFileName(path.string());
  io->ReadImageInformation();
  return {io->GetComponentType(), io->GetNumberOfComponents(), io->GetNumberOfDimensions()};
}

// A smooth 2D test image: a bright disc on a ramp.
Image2F::Pointer discImage(int w = 20, int h = 18, double sx = 0.7, double sy = 1.3) {
  return makeImage<Image2F>(w, h, sx, sy, [](int x, int y) {
    const double r = std::hypot(x - 9.0, y - 8.0);
    return static_cast<float>((r < 5 ? 200.0 : 20.0) + 2.0 * x);
  });
}

Label2::Pointer discLabels(int w = 20, int h = 18, double sx = 0.7, double sy = 1.3) {
  return makeImage<Label2>(w, h, sx, sy, [](int x, int y) {
    const double r = std::hypot(x - 9.0, y - 8.0);
    return static_cast<uint8_t>(r < 2 ? 2 : (r < 5 ? 1 : 0));
  });
}

class ImaCLI : public ima::test::ScratchDirectoryTest {
protected:
  // Runs `ima ARGS` in the work directory; stdout/stderr go outside it so listings stay exact.
  RunResult run(const std::string& args) const {
    const fs::path out = root_ / "stdout.txt", err = root_ / "stderr.txt";
    const std::string command = "cd '" + work_.string() + "' && '" + std::string(IMA_EXECUTABLE) + "' " + args +
                                " >'" + out.string() + "' 2>'" + err.string() + "' </dev/null";
    const int status = std::system(command.c_str());
    RunResult r;
    EXPECT_TRUE(WIFEXITED(status)) << "ima " << args << " did not exit normally (status " << status << ")";
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = readText(out);
    r.err = readText(err);
    return r;
  }

  // A tiny 2D U-Net (4 features, 2 stages, 3 classes) saved through the core API.
  void makeModel(const std::string& name, bool ctWindow = false) const {
    ima::ModelMetadata m = ima::test::tinyUNet2DMetadata("liver", "tumour");
    // Label 1 with SNOMED CT codes, label 2 without (DICOM SEG output gives it the defaults).
    m.labels[0].category = {"123037004", "SCT", "Anatomical Structure"};
    m.labels[0].type = {"10200004", "SCT", "Liver"};
    if (ctWindow) {
      m.normalization.kind = ima::Normalization::Kind::CTWindow;
      m.normalization.windowLow = -200;
      m.normalization.windowHigh = 300;
    }
    m.provenanceJson = R"({"created":"2024-01-01T00:00:00Z"})";
    ima::Model::create(m, 7).save((work_ / name).string());
  }

};

// ---------------------------------------------------------------- usage

TEST_F(ImaCLI, HelpListsCommandsAndOptions) {
  RunResult r = run("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* command : {"phantoms", "train", "segment", "info", "dice"}) EXPECT_NE(r.out.find(command), std::string::npos) << command;

  r = run("help train");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--images"), std::string::npos);
  EXPECT_NE(r.out.find("--val-fraction"), std::string::npos);

  r = run("segment --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--force"), std::string::npos);
  EXPECT_TRUE(listing().empty());
}

TEST_F(ImaCLI, UsageErrorsExitWithTwo) {
  RunResult r = run("");
  EXPECT_EQ(r.code, 2);

  r = run("segment --model m.imamodel --input in.nii.gz --output out.nii.gz --bogus");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("ima: error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;

  r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << r.err;

  r = run("phantoms --out data --count abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--count"), std::string::npos) << r.err;

  r = run("segment --input in.nii.gz --output out.nii.gz");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;

  r = run("train --images a --labels b --out m.imamodel --norm weird");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("weird"), std::string::npos) << r.err;

  r = run("segment --model m.imamodel --input in.nii.gz --output out.nii.gz --device tpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("tpu"), std::string::npos) << r.err;

  EXPECT_TRUE(listing().empty());  // usage errors touch nothing
}

// ---------------------------------------------------------------- segment

TEST_F(ImaCLI, SegmentReportsMissingInput) {
  makeModel("m.imamodel");
  const RunResult r = run("segment --model m.imamodel --input missing.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("ima: error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel"}));
}

TEST_F(ImaCLI, SegmentReportsMissingModel) {
  writeImage(discImage().GetPointer(), work_ / "in.nii.gz");
  const RunResult r = run("segment --model none.imamodel --input in.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("none.imamodel"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), (std::set<std::string>{"in.nii.gz"}));
}

TEST_F(ImaCLI, SegmentRejectsGarbageImageFiles) {
  makeModel("m.imamodel");
  // Random bytes under names that select each reader by extension.
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919 + 13) % 251);
  for (const std::string name : {"bad.nii.gz", "bad.nrrd", "bad.mha"}) {
    writeText(work_ / name, garbage);
    const RunResult r = run("segment --model m.imamodel --input " + name + " --output out.nii.gz --quiet");
    EXPECT_EQ(r.code, 1) << name;
    EXPECT_NE(r.err.find("ima: error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", name})) << name;
    fs::remove(work_ / name);
  }
}

TEST_F(ImaCLI, SegmentRejectsNaN) {
  makeModel("m.imamodel");
  auto image = discImage();
  image->SetPixel({{3, 4}}, std::numeric_limits<float>::quiet_NaN());
  // NRRD keeps NaN as is; for NIfTI, niftilib turns NaN into 0 while reading, so the CLI has to
  // look at the file's raw values itself.
  for (const std::string name : {"nan.nrrd", "nan.nii.gz", "nan.nii"}) {
    writeImage(image.GetPointer(), work_ / name);
    const RunResult r = run("segment --model m.imamodel --input " + name + " --output out.nii.gz --quiet");
    EXPECT_EQ(r.code, 1) << name;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("NaN"), std::string::npos) << r.err;
    EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", name}));
    fs::remove(work_ / name);
  }
}

TEST_F(ImaCLI, SegmentWritesLabelsOnTheInputGrid) {
  makeModel("m.imamodel");
  writeImage(discImage().GetPointer(), work_ / "in.nrrd");
  const RunResult r =
      run("segment --model m.imamodel --input in.nrrd --output seg.nii.gz --probabilities prob.mha --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nrrd", "seg.nii.gz", "prob.mha"}));

  const FileHeader header = readHeader(work_ / "seg.nii.gz");
  EXPECT_EQ(header.component, itk::IOComponentEnum::UCHAR);
  EXPECT_EQ(header.components, 1u);
  const auto seg = readImage<Label2>(work_ / "seg.nii.gz");
  const auto input = discImage();
  EXPECT_EQ(seg->GetLargestPossibleRegion().GetSize(), input->GetLargestPossibleRegion().GetSize());
  for (unsigned d = 0; d < 2; ++d) {
    EXPECT_NEAR(seg->GetSpacing()[d], input->GetSpacing()[d], 1e-5);
    EXPECT_NEAR(seg->GetOrigin()[d], input->GetOrigin()[d], 1e-5);
  }
  const uint8_t* labels = seg->GetBufferPointer();
  for (size_t i = 0; i < seg->GetLargestPossibleRegion().GetNumberOfPixels(); ++i) ASSERT_LT(labels[i], 3);

  const FileHeader prob = readHeader(work_ / "prob.mha");
  EXPECT_EQ(prob.component, itk::IOComponentEnum::FLOAT);
  EXPECT_EQ(prob.components, 3u);  // one per class
}

// --whole-image and --patch reach the core: a window as large as the image is one forward
// pass, exactly what --whole-image does; a window the U-Net cannot take is named.
TEST_F(ImaCLI, SegmentWholeImageEqualsOneImageSizedWindow) {
  makeModel("m.imamodel");
  writeImage(discImage().GetPointer(), work_ / "in.nrrd");
  const auto size = discImage()->GetLargestPossibleRegion().GetSize();
  RunResult r = run("segment --model m.imamodel --input in.nrrd --output whole.nrrd --whole-image --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("segment --model m.imamodel --input in.nrrd --output window.nrrd --quiet --patch " +
          std::to_string((size[0] + 1) / 2 * 2) + "," + std::to_string((size[1] + 1) / 2 * 2));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto whole = readImage<Label2>(work_ / "whole.nrrd"), window = readImage<Label2>(work_ / "window.nrrd");
  const size_t n = whole->GetLargestPossibleRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(whole->GetBufferPointer(), whole->GetBufferPointer() + n, window->GetBufferPointer()));
  r = run("segment --model m.imamodel --input in.nrrd --output odd.nrrd --quiet --patch 7,7");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a multiple of"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "odd.nrrd"));
}

TEST_F(ImaCLI, SegmentKeepsAnExistingOutputWithoutForce) {
  makeModel("m.imamodel");
  writeImage(discImage().GetPointer(), work_ / "in.nii.gz");
  writeText(work_ / "out.nii.gz", "precious");
  RunResult r = run("segment --model m.imamodel --input in.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("out.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(readText(work_ / "out.nii.gz"), "precious");
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nii.gz", "out.nii.gz"}));

  r = run("segment --model m.imamodel --input in.nii.gz --output out.nii.gz --quiet --force");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(readHeader(work_ / "out.nii.gz").component, itk::IOComponentEnum::UCHAR);
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nii.gz", "out.nii.gz"}));
}

TEST_F(ImaCLI, SegmentRejectsWrongChannelCount) {
  makeModel("m.imamodel");
  using VectorImage = itk::Image<itk::Vector<float, 2>, 2>;
  auto image = makeImage<VectorImage>(16, 16, 1, 1, [](int x, int y) {
    VectorImage::PixelType p;
    p[0] = static_cast<float>(x);
    p[1] = static_cast<float>(y);
    return p;
  });
  writeImage(image.GetPointer(), work_ / "two.nii.gz");
  const RunResult r = run("segment --model m.imamodel --input two.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("two.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("channel"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "out.nii.gz"));
}

// ---------------------------------------------------------------- phantoms

TEST_F(ImaCLI, PhantomsWritesMatchingPairs) {
  const RunResult r = run("phantoms --out data --count 3 --size 24 --dims 2 --seed 5 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<std::string> images, labels;
  for (const auto& e : fs::directory_iterator(work_ / "data" / "images")) images.insert(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(work_ / "data" / "labels")) labels.insert(e.path().filename().string());
  EXPECT_EQ(images, (std::set<std::string>{"case_000.nii.gz", "case_001.nii.gz", "case_002.nii.gz"}));
  EXPECT_EQ(labels, images);

  for (const auto& name : images) {
    const fs::path imagePath = work_ / "data" / "images" / name, labelPath = work_ / "data" / "labels" / name;
    EXPECT_EQ(readHeader(imagePath).component, itk::IOComponentEnum::FLOAT);
    EXPECT_EQ(readHeader(labelPath).component, itk::IOComponentEnum::UCHAR);
    EXPECT_EQ(readHeader(imagePath).dims, 2u);
    const auto image = readImage<Image2F>(imagePath);
    const auto label = readImage<Label2>(labelPath);
    EXPECT_EQ(image->GetLargestPossibleRegion().GetSize()[0], 24u);
    EXPECT_EQ(image->GetLargestPossibleRegion().GetSize()[1], 24u);
    EXPECT_EQ(label->GetLargestPossibleRegion().GetSize(), image->GetLargestPossibleRegion().GetSize());
    EXPECT_EQ(label->GetSpacing(), image->GetSpacing());
    EXPECT_EQ(label->GetOrigin(), image->GetOrigin());
    EXPECT_EQ(label->GetDirection(), image->GetDirection());
    bool organ = false;
    for (size_t i = 0; i < label->GetLargestPossibleRegion().GetNumberOfPixels(); ++i) {
      ASSERT_LE(label->GetBufferPointer()[i], 2);
      organ = organ || label->GetBufferPointer()[i] == 1;
    }
    EXPECT_TRUE(organ) << name;
  }

  // A second run must not silently replace the data set.
  const RunResult again = run("phantoms --out data --count 3 --size 24 --dims 2 --quiet");
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
}

TEST_F(ImaCLI, PhantomsWrites3DVolumes) {
  const RunResult r = run("phantoms --out d3 --count 1 --size 16 --dims 3 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const FileHeader h = readHeader(work_ / "d3" / "images" / "case_000.nii.gz");
  EXPECT_EQ(h.dims, 3u);
  const auto label = readImage<itk::Image<uint8_t, 3>>(work_ / "d3" / "labels" / "case_000.nii.gz");
  EXPECT_EQ(label->GetLargestPossibleRegion().GetSize()[2], 16u);
}

// ---------------------------------------------------------------- train

TEST_F(ImaCLI, TrainRejectsMismatchedGeometry) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  writeImage(discImage().GetPointer(), work_ / "images" / "a.nii.gz");
  writeImage(discLabels(20, 18, 0.7, 2.6).GetPointer(), work_ / "labels" / "a.nii.gz");  // other spacing
  const auto before = listing();
  RunResult r = run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("images/a.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("labels/a.nii.gz"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);

  writeImage(discLabels(20, 12).GetPointer(), work_ / "labels" / "a.nii.gz");  // other size
  r = run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("differ in size"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("labels/a.nii.gz"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);
}

TEST_F(ImaCLI, TrainRejectsMissingPartner) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  writeImage(discImage().GetPointer(), work_ / "images" / "a.nii.gz");
  writeImage(discImage().GetPointer(), work_ / "images" / "b.nii.gz");
  writeImage(discLabels().GetPointer(), work_ / "labels" / "a.nii.gz");
  const RunResult r = run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("images/b.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("labels/b.nii.gz"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "m.imamodel"));
}

TEST_F(ImaCLI, TrainRejectsNaN) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  auto image = discImage();
  image->SetPixel({{0, 0}}, std::numeric_limits<float>::infinity());
  for (const std::string name : {"a.mha", "a.nii.gz"}) {
    writeImage(image.GetPointer(), work_ / "images" / name);
    writeImage(discLabels().GetPointer(), work_ / "labels" / name);
    const auto before = listing();
    const RunResult r =
        run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
    EXPECT_EQ(r.code, 1) << name;
    EXPECT_NE(r.err.find("images/" + name), std::string::npos) << r.err;
    EXPECT_EQ(listing(), before);  // no model, checkpoint or log
    fs::remove(work_ / "images" / name);
    fs::remove(work_ / "labels" / name);
  }
}

TEST_F(ImaCLI, TrainRejectsNonLabelValues) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  writeImage(discImage().GetPointer(), work_ / "images" / "a.nii.gz");
  auto labels = makeImage<itk::Image<int16_t, 2>>(20, 18, 0.7, 1.3, [](int x, int) { return static_cast<int16_t>(x == 3 ? 300 : 0); });
  writeImage(labels.GetPointer(), work_ / "labels" / "a.nii.gz");
  const RunResult r = run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("labels/a.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("300"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "m.imamodel"));
}

// The whole chain on a tiny problem: phantoms -> train -> info -> segment -> dice.
// Hardening a trained model with IMA (--init + --method ima): the margins reach the epoch line,
// the log and the model's settings; bad adversarial options are usage errors.
TEST_F(ImaCLI, HardensAModelWithIma) {
  ASSERT_EQ(run("phantoms --out data --count 2 --size 24 --dims 2 --quiet").code, 0);
  ASSERT_EQ(run("train --images data/images --labels data/labels --out base.imamodel --epochs 1 --iterations 2 "
                "--batch 2 --features 4 --stages 2 --device cpu --threads 1 --quiet").code, 0);
  RunResult r = run("train --images data/images --labels data/labels --out hard.imamodel --init base.imamodel "
                    "--method ima --eps-max 1 --delta 0.1 --pgd-steps 2 --bisection-steps 3 --epochs 2 --iterations 2 "
                    "--batch 2 --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("margins mean"), std::string::npos) << r.out;
  std::istringstream log(readText(work_ / "hard.imamodel.log.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("margins")) << line;
    EXPECT_LE(j.at("margins").at("max").get<double>(), 1.0);
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  const ima::ModelMetadata m = ima::readModelMetadata((work_ / "hard.imamodel").string());
  EXPECT_EQ(m.trainingMethod, "ima");
  const auto settings = nlohmann::json::parse(m.trainingSettingsJson);
  EXPECT_DOUBLE_EQ(settings.at("adversarial").at("eps_max").get<double>(), 1.0);
  EXPECT_EQ(settings.at("init").get<std::string>(), "base.imamodel");
  EXPECT_TRUE(settings.at("adversarial").at("clamp").is_null());  // no clamp unless asked

  // --attack-clamp reaches the trainer's options (recorded with the model); a bad range is a usage error.
  r = run("train --images data/images --labels data/labels --out clamped.imamodel --init base.imamodel "
          "--method pgd --eps 0.5 --pgd-steps 2 --attack-clamp -1.5,2.5 --epochs 1 --iterations 1 --batch 2 "
          "--device cpu --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto clamped = nlohmann::json::parse(ima::readModelMetadata((work_ / "clamped.imamodel").string()).trainingSettingsJson);
  EXPECT_EQ(clamped.at("adversarial").at("clamp"), nlohmann::json::array({-1.5, 2.5}));
  for (const char* bad : {"2,1", "0", "0,1,2"}) {
    r = run(std::string("train --images data/images --labels data/labels --out bad.imamodel --method pgd --attack-clamp ") + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find("--attack-clamp"), std::string::npos) << r.err;
  }

  r = run("train --images data/images --labels data/labels --out bad.imamodel --method ima --eps-max 0.1 --delta 0.5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--delta"), std::string::npos) << r.err;
  r = run("train --images data/images --labels data/labels --out bad.imamodel --method fgsm");
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(work_ / "bad.imamodel"));
}

TEST_F(ImaCLI, EvaluateWritesConsistentReportsAndRejectsBadInput) {
  makeModel("m.imamodel");
  ASSERT_EQ(run("phantoms --out data --count 2 --size 24 --dims 2 --quiet").code, 0);
  RunResult r = run("evaluate --model m.imamodel --images data/images --labels data/labels --attack pgd,noise "
                    "--eps 0.5,0 --pgd-steps 2 --out r.json --csv r.csv --plot r.svg --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("robustness AUC"), std::string::npos) << r.out;
  const auto report = nlohmann::json::parse(readText(work_ / "r.json"));
  const auto& attacks = report.at("attacks");
  ASSERT_EQ(attacks.size(), 2u);
  // The clean point (eps 0) is the same prediction whatever the attack.
  const auto clean = [&](size_t a) { return attacks[a].at("budgets")[0]; };
  EXPECT_EQ(clean(0).at("eps").get<double>(), 0.0);
  EXPECT_EQ(clean(0).dump(), clean(1).dump());
  EXPECT_EQ(attacks[0].at("budgets").size(), 2u);
  EXPECT_EQ(report.at("attacked").get<std::string>(), "patch");
  EXPECT_NE(readText(work_ / "r.svg").find("<svg"), std::string::npos);
  EXPECT_NE(readText(work_ / "r.csv").find("pgd"), std::string::npos);

  r = run("evaluate --model m.imamodel --images data/images --labels data/labels --out r.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  r = run("evaluate --model m.imamodel --images data/images --labels data/labels --attack cw --out x.json");
  EXPECT_EQ(r.code, 2);
  r = run("evaluate --model m.imamodel --images data/images --labels missing --out y.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "x.json"));
  EXPECT_FALSE(fs::exists(work_ / "y.json"));
  // A report in a folder that does not exist fails before the model is loaded (it is missing too).
  r = run("evaluate --model missing.imamodel --images data/images --labels data/labels --out r.json --plot "
          "nowhere/r.svg --force");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("plot 'nowhere/r.svg': directory 'nowhere' does not exist"), std::string::npos) << r.err;

  // ima compare: a report against itself differs by 0 in AUC; the combined report holds both.
  r = run("compare --reports r.json,r.json --names a,b --out both.json --plot both.svg");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("b vs a, pgd: AUC +0.0000"), std::string::npos) << r.out;
  const auto both = nlohmann::json::parse(readText(work_ / "both.json"));
  EXPECT_EQ(both.at("attacks").size(), 4u);
  EXPECT_EQ(both.at("attacks")[2].at("name").get<std::string>(), "b pgd");
  r = run("compare --reports r.json,r.csv --names a,b --out bad.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("r.csv"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "bad.json"));
  r = run("compare --reports r.json --names a,b");
  EXPECT_EQ(r.code, 2);
  r = run("compare --reports r.json,r.json --names a,b --out both.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("report 'both.json' already exists (use --force to overwrite)"), std::string::npos) << r.err;
}

// ima attack: eps 0 returns the image unchanged; L2 noise of budget eps gives every patch a
// perturbation of norm exactly eps in normalised units (raw difference times 1/std of the image
// for z-score). The last patch of the 16x16 grid over a 24x24 image (starting at 8,8) is written
// last, so it holds a whole patch's perturbation.
TEST_F(ImaCLI, AttackWritesAPerturbationOfTheRequestedSize) {
  makeModel("m.imamodel");
  ASSERT_EQ(run("phantoms --out data --count 1 --size 24 --dims 2 --quiet").code, 0);
  const std::string common = "attack --model m.imamodel --input data/images/case_000.nii.gz "
                             "--label data/labels/case_000.nii.gz --device cpu --threads 1 --quiet ";
  ASSERT_EQ(run(common + "--eps 0 --output same.nii.gz").code, 0);
  ASSERT_EQ(run(common + "--attack noise --eps 0.5 --output noisy.nii.gz").code, 0);
  RunResult r = run(common + "--attack pgd --steps 2 --eps 0.5 --output pgd.nii.gz");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto input = readImage<Image2F>(work_ / "data" / "images" / "case_000.nii.gz");
  const auto same = readImage<Image2F>(work_ / "same.nii.gz"), noisy = readImage<Image2F>(work_ / "noisy.nii.gz");
  const auto pgd = readImage<Image2F>(work_ / "pgd.nii.gz");
  const size_t n = 24 * 24;
  const float* x = input->GetBufferPointer();
  EXPECT_TRUE(std::equal(x, x + n, same->GetBufferPointer()));
  double mean = 0, var = 0;
  for (size_t i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  for (size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double sd = std::sqrt(var / n);
  double squared = 0;
  for (int yy = 8; yy < 24; ++yy)
    for (int xx = 8; xx < 24; ++xx) {
      const double d = (noisy->GetBufferPointer()[yy * 24 + xx] - x[yy * 24 + xx]) / sd;
      squared += d * d;
    }
  EXPECT_NEAR(std::sqrt(squared), 0.5, 1e-3);
  EXPECT_FALSE(std::equal(x, x + n, pgd->GetBufferPointer()));
  EXPECT_EQ(pgd->GetSpacing(), input->GetSpacing());
  EXPECT_EQ(pgd->GetOrigin(), input->GetOrigin());

  r = run(common + "--attack deepfool --output bad.nii.gz");
  EXPECT_EQ(r.code, 2);
  r = run("attack --model m.imamodel --input data/images/case_000.nii.gz --label missing.nii.gz --output bad.nii.gz");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.nii.gz"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "bad.nii.gz"));
}

TEST_F(ImaCLI, TrainsATinyModelThatSegments) {
  ASSERT_EQ(run("phantoms --out data --count 2 --size 24 --dims 2 --quiet").code, 0);
  RunResult r = run("train --images data/images --labels data/labels --out m.imamodel --epochs 1 --iterations 2 "
                    "--batch 2 --features 4 --stages 2 --labels-names organ,lesion --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 1/1"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(work_ / "m.imamodel"));
  EXPECT_TRUE(fs::exists(work_ / "m.imamodel.ckpt"));
  std::istringstream log(readText(work_ / "m.imamodel.log.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    EXPECT_EQ(nlohmann::json::parse(line).at("epoch").get<int>(), ++lines);
  }
  EXPECT_EQ(lines, 1);

  const ima::ModelMetadata m = ima::readModelMetadata((work_ / "m.imamodel").string());
  EXPECT_EQ(m.network.dims, 2);
  EXPECT_EQ(m.network.classes, 3);
  EXPECT_EQ(m.network.baseFeatures, 4);
  EXPECT_EQ(m.patchSize, (std::vector<int64_t>{24, 24}));  // whole slice, a multiple of 2
  ASSERT_EQ(m.labels.size(), 2u);
  EXPECT_EQ(m.labels[0].name, "organ");
  EXPECT_EQ(m.labels[1].name, "lesion");
  EXPECT_NE(m.labels[0].color, m.labels[1].color);
  EXPECT_EQ(m.trainingMethod, "standard");
  const auto provenance = nlohmann::json::parse(m.provenanceJson);
  EXPECT_EQ(provenance.at("training_cases").size() + provenance.at("validation_cases").size(), 2u);
  EXPECT_TRUE(provenance.contains("created"));

  r = run("segment --model m.imamodel --input data/images/case_000.nii.gz --output seg.nii.gz --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("dice --prediction seg.nii.gz --reference data/labels/case_000.nii.gz --classes 3 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("labels").size(), 2u);
}

// ---------------------------------------------------------------- info

TEST_F(ImaCLI, InfoPrintsModelMetadata) {
  makeModel("m.imamodel", /*ctWindow=*/true);
  RunResult r = run("info m.imamodel");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* text : {"liver", "tumour", "2D", "CT window", "-200", "300", "16x16", "standard", "2024-01-01",
                           "Liver (SCT 10200004) in Anatomical Structure (SCT 123037004)"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;

  r = run("info m.imamodel --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("network").at("dims").get<int>(), 2);
  EXPECT_EQ(j.at("labels").at(1).at("name").get<std::string>(), "tumour");

  r = run("info missing.imamodel");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.imamodel"), std::string::npos) << r.err;

  writeText(work_ / "junk.imamodel", "not a model at all");
  r = run("info junk.imamodel");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("junk.imamodel"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------- dice

TEST_F(ImaCLI, DiceMatchesAHandComputedValue) {
  // Reference: label 1 on x,y in [0,4) (16 voxels). Prediction: label 1 on x in [2,6), y in [0,4)
  // (16 voxels), overlap 8 -> Dice 2*8/(16+16) = 0.5. Label 2 is absent from both -> 1.
  auto ref = makeImage<Label2>(10, 10, 1, 1, [](int x, int y) { return static_cast<uint8_t>(x < 4 && y < 4); });
  auto pred = makeImage<Label2>(10, 10, 1, 1, [](int x, int y) { return static_cast<uint8_t>(x >= 2 && x < 6 && y < 4); });
  writeImage(ref.GetPointer(), work_ / "ref.nii.gz");
  writeImage(pred.GetPointer(), work_ / "pred.nrrd");
  RunResult r = run("dice --prediction pred.nrrd --reference ref.nii.gz --classes 3 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j.at("labels").at(0).at("dice").get<double>(), 0.5);
  EXPECT_EQ(j.at("labels").at(0).at("tp").get<int>(), 8);
  EXPECT_EQ(j.at("labels").at(0).at("fp").get<int>(), 8);
  EXPECT_EQ(j.at("labels").at(0).at("fn").get<int>(), 8);
  EXPECT_DOUBLE_EQ(j.at("labels").at(1).at("dice").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j.at("meanDice").get<double>(), 0.75);

  r = run("dice --prediction pred.nrrd --reference ref.nii.gz");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("0.5000"), std::string::npos) << r.out;

  auto small = makeImage<Label2>(8, 10, 1, 1, [](int, int) { return uint8_t{0}; });
  writeImage(small.GetPointer(), work_ / "small.nii.gz");
  r = run("dice --prediction small.nii.gz --reference ref.nii.gz");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("small.nii.gz"), std::string::npos) << r.err;
}

}  // namespace

// ---------------------------------------------------------------- DICOM input

namespace {

using Image3F = itk::Image<float, 3>;
using Label3 = itk::Image<uint8_t, 3>;

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
namespace {

// The rows of a batch manifest as Python's csv module reads them (an independent CSV parser):
// one {"series", "output", "status", "reason"} object per row.
nlohmann::json manifestRows(const fs::path& manifest) {
  const fs::path json = manifest.string() + ".json";
  const std::string command = "/usr/bin/python3 -c \"import csv, json, sys; "
                              "json.dump(list(csv.DictReader(open(sys.argv[1], newline=''))), open(sys.argv[2], 'w'))\" '" +
                              manifest.string() + "' '" + json.string() + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  const auto rows = nlohmann::json::parse(readText(json));
  fs::remove(json);
  return rows;
}

std::map<std::string, nlohmann::json> rowsBySeries(const nlohmann::json& rows) {
  std::map<std::string, nlohmann::json> bySeries;
  for (const auto& row : rows) {
    EXPECT_EQ(bySeries.count(row.at("series").get<std::string>()), 0u) << "two rows for " << row.dump();
    bySeries[row.at("series").get<std::string>()] = row;
  }
  return bySeries;
}

// A tiny archive: two good series (one with a patient name and ID that must never be printed),
// one with a missing slice (uneven spacing: fails), one file damaged before its UID.
struct Archive {
  ima::dicomtest::CtPhantom a, b, broken;
  fs::path damaged;
  explicit Archive(const fs::path& root) {
    a.patientName = "Zyxwvut^Quintessa";
    a.patientId = "PID-73519";
    b.slices = 4;
    broken.slices = 5;
    a.write(root / "patient1" / "ct");
    b.write(root / "patient2");
    const auto paths = broken.write(root / "patient3, \"b\"");  // a comma and quotes: CSV quoting
    fs::remove(paths[2]);
    damaged = root / "patient4" / "IM0001";
    ima::dicomtest::CtPhantom c;
    c.slices = 1;
    c.writeSlice(0, damaged);
    fs::resize_file(damaged, 200);  // inside the file meta header
  }
};

}  // namespace

TEST_F(ImaCLI, BatchSegmentRecordsEverySeriesAndGoesOnAfterFailures) {
  makeModel("m.imamodel", true);
  const Archive archive(work_ / "archive");
  RunResult r = run("batch segment --model m.imamodel --input archive --output out --device cpu --threads 1");
  EXPECT_EQ(r.code, 1) << r.out << r.err;  // a series failed
  const auto rows = manifestRows(work_ / "out" / "manifest.csv");
  ASSERT_EQ(rows.size(), 4u) << rows.dump();
  auto bySeries = rowsBySeries(rows);
  const std::string outA = "out/" + archive.a.seriesUid + ".nii.gz", outB = "out/" + archive.b.seriesUid + ".nii.gz";
  EXPECT_EQ(bySeries[archive.a.seriesUid].at("status"), "ok");
  EXPECT_EQ(bySeries[archive.a.seriesUid].at("output"), outA);
  EXPECT_EQ(bySeries[archive.b.seriesUid].at("status"), "ok");
  EXPECT_EQ(bySeries[archive.b.seriesUid].at("output"), outB);
  const auto& broken = bySeries[archive.broken.seriesUid];
  EXPECT_EQ(broken.at("status"), "failed");
  EXPECT_EQ(broken.at("output"), "");
  EXPECT_NE(broken.at("reason").get<std::string>().find("uneven slice distances"), std::string::npos) << broken;
  EXPECT_NE(broken.at("reason").get<std::string>().find("archive/patient3, \"b\"/"), std::string::npos) << broken;
  const auto& damaged = bySeries[""];  // the damaged file's UID is unknown
  EXPECT_EQ(damaged.at("status"), "failed");
  EXPECT_NE(damaged.at("reason").get<std::string>().find("patient4/IM0001"), std::string::npos) << damaged;
  EXPECT_NE(r.err.find(archive.broken.seriesUid + " failed"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "out" / (archive.broken.seriesUid + ".nii.gz")));

  // Each output is what `ima segment` gives for that series alone.
  ASSERT_EQ(run("segment --model m.imamodel --input archive/patient1 --output ref.nii.gz --device cpu --threads 1 "
                "--quiet").code, 0);
  const auto seg = readImage<Label3>(work_ / outA), reference = readImage<Label3>(work_ / "ref.nii.gz");
  ASSERT_EQ(seg->GetLargestPossibleRegion().GetSize(), reference->GetLargestPossibleRegion().GetSize());
  const size_t n = seg->GetLargestPossibleRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(seg->GetBufferPointer(), seg->GetBufferPointer() + n, reference->GetBufferPointer()));
  EXPECT_EQ(readImage<Label3>(work_ / outB)->GetLargestPossibleRegion().GetSize()[2], 4u);

  // Series are named by UID only: the patient's name and ID appear nowhere.
  const std::string manifest = readText(work_ / "out" / "manifest.csv");
  for (const std::string secret : {"Zyxwvut", "Quintessa", "PID-73519"})
    for (const std::string* text : std::vector<const std::string*>{&r.out, &r.err, &manifest})
      EXPECT_EQ(text->find(secret), std::string::npos) << secret << " in: " << *text;

  // A rerun skips what is done (outputs untouched) and retries the failures; one row per series.
  const auto writtenAt = fs::last_write_time(work_ / outA);
  r = run("batch segment --model m.imamodel --input archive --output out --device cpu --threads 1");
  EXPECT_EQ(r.code, 1) << r.err;
  bySeries = rowsBySeries(manifestRows(work_ / "out" / "manifest.csv"));
  EXPECT_EQ(bySeries.size(), 4u);
  EXPECT_EQ(bySeries[archive.a.seriesUid].at("status"), "skipped");
  EXPECT_EQ(bySeries[archive.a.seriesUid].at("output"), outA);
  EXPECT_EQ(bySeries[archive.b.seriesUid].at("status"), "skipped");
  EXPECT_EQ(bySeries[archive.broken.seriesUid].at("status"), "failed");
  EXPECT_EQ(fs::last_write_time(work_ / outA), writtenAt);

  // Once the broken series is repaired (--allow-uneven here), nothing fails: exit status 0.
  fs::remove_all(work_ / "archive" / "patient4");
  r = run("batch segment --model m.imamodel --input archive --output out --allow-uneven --device cpu --threads 1");
  EXPECT_EQ(r.code, 0) << r.err;
  bySeries = rowsBySeries(manifestRows(work_ / "out" / "manifest.csv"));
  EXPECT_EQ(bySeries[archive.broken.seriesUid].at("status"), "ok");
  EXPECT_TRUE(fs::exists(work_ / "out" / (archive.broken.seriesUid + ".nii.gz")));
}

// A run killed mid-way leaves a torn manifest line and a temporary directory: the next run drops
// both, keeps what was finished and redoes the rest.
TEST_F(ImaCLI, BatchSegmentResumesAfterAKill) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom a, b;
  a.slices = b.slices = 3;
  a.write(work_ / "archive" / "a");
  b.write(work_ / "archive" / "b");
  ASSERT_EQ(run("batch segment --model m.imamodel --input archive --output out --device cpu --threads 1 --quiet").code, 0);
  const std::string outA = "out/" + a.seriesUid + ".nii.gz", outB = "out/" + b.seriesUid + ".nii.gz";
  // The state a kill while writing b's row would leave: b's row torn, b's output not yet renamed.
  writeText(work_ / "out" / "manifest.csv", "series,output,status,reason\n" + a.seriesUid + "," + outA + ",ok,\n" +
                                                b.seriesUid + ",out/");
  fs::remove(work_ / outB);
  fs::create_directories(work_ / "out" / ".ima-write-Ab12Cd");
  writeText(work_ / "out" / ".ima-write-Ab12Cd" / (b.seriesUid + ".nii.gz"), "partial");
  const auto writtenAt = fs::last_write_time(work_ / outA);

  RunResult r = run("batch segment --model m.imamodel --input archive --output out --device cpu --threads 1");
  EXPECT_EQ(r.code, 0) << r.err;
  auto bySeries = rowsBySeries(manifestRows(work_ / "out" / "manifest.csv"));
  ASSERT_EQ(bySeries.size(), 2u);
  EXPECT_EQ(bySeries[a.seriesUid].at("status"), "skipped");
  EXPECT_EQ(bySeries[b.seriesUid].at("status"), "ok");
  EXPECT_EQ(fs::last_write_time(work_ / outA), writtenAt);
  EXPECT_EQ(readImage<Label3>(work_ / outB)->GetLargestPossibleRegion().GetSize()[2], 3u);
  std::set<std::string> expected = {"out", "out/manifest.csv", outA, outB};
  std::set<std::string> found;
  for (const auto& name : listing())
    if (name.rfind("out", 0) == 0) found.insert(name);
  EXPECT_EQ(found, expected);
  // OUTROOT spelled differently: still the same outputs, nothing redone.
  r = run("batch segment --model m.imamodel --input archive --output ./out/ --device cpu --threads 1 --quiet");
  EXPECT_EQ(r.code, 0) << r.err;
  for (const auto& row : manifestRows(work_ / "out" / "manifest.csv")) EXPECT_EQ(row.at("status"), "skipped") << row;
  EXPECT_EQ(fs::last_write_time(work_ / outA), writtenAt);

  // A file that is not a manifest is not overwritten.
  fs::create_directories(work_ / "other");
  writeText(work_ / "other" / "manifest.csv", "patient,notes\n");
  r = run("batch segment --model m.imamodel --input archive --output other --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not an ima batch manifest"), std::string::npos) << r.err;
  EXPECT_EQ(readText(work_ / "other" / "manifest.csv"), "patient,notes\n");
}

// --shard K/N: the shards' manifests together hold every series exactly once, and a shard always
// gets the same series.
TEST_F(ImaCLI, BatchSegmentShardsAreDisjointAndCoverTheArchive) {
  makeModel("m.imamodel", true);
  std::set<std::string> all;
  for (int i = 0; i < 7; ++i) {
    ima::dicomtest::CtPhantom p;
    p.slices = 2;
    p.columns = p.rows = 8;
    p.write(work_ / "archive" / ("s" + std::to_string(i)));
    all.insert(p.seriesUid);
  }
  std::set<std::string> covered;
  size_t rows = 0;
  for (int k = 1; k <= 3; ++k) {
    const std::string shard = std::to_string(k) + "/3";
    RunResult r = run("batch segment --model m.imamodel --input archive --output out --shard " + shard +
                      " --device cpu --threads 1 --quiet");
    ASSERT_EQ(r.code, 0) << r.err;
    const fs::path manifest = work_ / "out" / ("manifest-shard-" + std::to_string(k) + "-of-3.csv");
    const auto shardRows = manifestRows(manifest);
    std::set<std::string> mine;
    for (const auto& row : shardRows) {
      EXPECT_EQ(row.at("status"), "ok");
      mine.insert(row.at("series").get<std::string>());
      covered.insert(row.at("series").get<std::string>());
      EXPECT_TRUE(fs::exists(work_ / row.at("output").get<std::string>()));
    }
    rows += shardRows.size();
    // The same shard again: the same series, all skipped.
    r = run("batch segment --model m.imamodel --input archive --output out --shard " + shard + " --quiet");
    ASSERT_EQ(r.code, 0) << r.err;
    std::set<std::string> again;
    for (const auto& row : manifestRows(manifest)) {
      EXPECT_EQ(row.at("status"), "skipped");
      again.insert(row.at("series").get<std::string>());
    }
    EXPECT_EQ(again, mine);
  }
  EXPECT_EQ(covered, all);
  EXPECT_EQ(rows, all.size());  // disjoint
  EXPECT_FALSE(fs::exists(work_ / "out" / "manifest.csv"));
  for (const std::string bad : {"0/3", "4/3", "1/0", "x", "1/3/2", "-1/3"}) {
    RunResult r = run("batch segment --model m.imamodel --input archive --output out2 --shard " + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find("--shard"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(work_ / "out2"));
}

// ima batch harden: an archive of two series, one labelled by a SEG (written with the library's
// SEG writer), fine-tunes a pretrained model on the labelled one only.
TEST_F(ImaCLI, BatchHardenTrainsOnSeriesLabelledBySegs) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom labelled, unlabelled;
  labelled.columns = labelled.rows = unlabelled.columns = unlabelled.rows = 16;
  labelled.slices = unlabelled.slices = 3;
  labelled.patientName = "Zyxwvut^Quintessa";
  labelled.write(work_ / "archive" / "ct1");
  unlabelled.write(work_ / "archive" / "ct2");

  // No SEG at all: a clear error, no model.
  RunResult r = run("batch harden --model m.imamodel --input archive --out hard.imamodel --epochs 1 --iterations 1 "
                    "--device cpu --threads 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no image series under 'archive' is labelled by a DICOM SEG"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "hard.imamodel"));

  const auto series = ima::dicom::scanDirectory((work_ / "archive" / "ct1").string());
  ASSERT_EQ(series.size(), 1u);
  ima::LabelMap labels(ima::Shape{{16, 16, 3}}, 1, series[0].geometry);
  for (int z = 0; z < 3; ++z)
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x)
        labels.data[static_cast<size_t>((z * 16 + y) * 16 + x)] = static_cast<uint8_t>(x > 4 && x < 11 && y > 3 ? (y > 9 ? 2 : 1) : 0);
  fs::create_directories(work_ / "archive" / "seg");
  ima::dicom::writeSegmentation((work_ / "archive" / "seg" / "labels.dcm").string(), labels, series[0],
                                {{1, "liver", {}, {}, {200, 50, 50}}, {2, "tumour", {}, {}, {50, 200, 50}}});

  // A damaged file elsewhere in the archive is reported and does not stop the run.
  ima::dicomtest::CtPhantom other;
  other.writeSlice(0, work_ / "archive" / "junk" / "IM1");
  fs::resize_file(work_ / "archive" / "junk" / "IM1", 200);
  r = run("batch harden --model m.imamodel --input archive --out hard.imamodel --epochs 2 --iterations 2 --batch 2 "
          "--eps-max 1 --delta 0.1 --pgd-steps 2 --bisection-steps 2 --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("1 series without a SEG"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("junk/IM1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(unlabelled.seriesUid), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("margins mean"), std::string::npos) << r.out;
  for (const std::string* text : std::vector<const std::string*>{&r.out, &r.err})
    EXPECT_EQ(text->find("Zyxwvut"), std::string::npos) << *text;
  const ima::ModelMetadata m = ima::readModelMetadata((work_ / "hard.imamodel").string());
  EXPECT_EQ(m.trainingMethod, "ima");
  const auto provenance = nlohmann::json::parse(m.provenanceJson);
  EXPECT_EQ(provenance.at("training_series"), nlohmann::json::array({labelled.seriesUid}));
  EXPECT_EQ(provenance.at("initialized_from"), "m.imamodel");
  const auto settings = nlohmann::json::parse(m.trainingSettingsJson);
  EXPECT_EQ(settings.at("init"), "m.imamodel");
  EXPECT_DOUBLE_EQ(settings.at("adversarial").at("eps_max").get<double>(), 1.0);
  std::istringstream log(readText(work_ / "hard.imamodel.log.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) lines += nlohmann::json::parse(line).contains("margins");
  EXPECT_EQ(lines, 2);
  // The weights moved away from the pretrained ones.
  EXPECT_NE(readText(work_ / "hard.imamodel"), readText(work_ / "m.imamodel"));
}

// --format seg: one DICOM SEG per series, referencing it, with the labels `ima segment` gives.
TEST_F(ImaCLI, BatchSegmentWritesDicomSegs) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom a;
  a.slices = 4;
  a.write(work_ / "archive" / "a");
  const std::string outA = "out/" + a.seriesUid + ".dcm";
  // Left by a killed run: the SEG writer's temporary file.
  fs::create_directories(work_ / "out");
  writeText(work_ / "out" / (a.seriesUid + ".dcm.tmp4242_0"), "partial");
  RunResult r = run("batch segment --model m.imamodel --input archive --output out --format seg --device cpu "
                    "--threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "out" / (a.seriesUid + ".dcm.tmp4242_0")));
  const auto rows = manifestRows(work_ / "out" / "manifest.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("output"), outA);
  EXPECT_EQ(rows[0].at("status"), "ok");
  EXPECT_EQ(ima::dicom::describeSegmentation((work_ / outA).string()).referencedSeriesUid, a.seriesUid);

  ASSERT_EQ(run("segment --model m.imamodel --input archive --output ref.nii.gz --device cpu --threads 1 --quiet").code, 0);
  const auto reference = readImage<Label3>(work_ / "ref.nii.gz");
  const auto series = ima::dicom::scanDirectory((work_ / "archive").string());
  ASSERT_EQ(series.size(), 1u);
  const ima::LabelMap labels = ima::dicom::readSegmentation((work_ / outA).string(), series[0]);
  ASSERT_EQ(labels.data.size(), reference->GetLargestPossibleRegion().GetNumberOfPixels());
  EXPECT_TRUE(std::equal(labels.data.begin(), labels.data.end(), reference->GetBufferPointer()));
  EXPECT_GT(std::count_if(labels.data.begin(), labels.data.end(), [](uint8_t v) { return v > 0; }), 0);  // not trivial

  // The SEGs in the output are not image series: a run over an archive that holds them skips them.
  fs::rename(work_ / "out", work_ / "archive" / "out");
  r = run("batch segment --model m.imamodel --input archive --output out2 --device cpu --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(manifestRows(work_ / "out2" / "manifest.csv").size(), 1u);
}
