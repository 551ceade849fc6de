// Support for the end-to-end tests of the `ima` executable (imaCLIGTest, imaCLIDicomGTest,
// imaCLIBatchGTest): the ImaCLI fixture runs the binary in a fresh directory and returns its exit
// code and output; helpers write test images with ITK directly (not through the CLI's own IO code)
// and create models through the core API, so the tests need no data files.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
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
#include <unistd.h>

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

namespace imatest::cli {

using Image2F = itk::Image<float, 2>;
using Label2 = itk::Image<uint8_t, 2>;
using Image3F = itk::Image<float, 3>;
using Label3 = itk::Image<uint8_t, 3>;

struct RunResult {
  int code = -1;
  int signal = 0;  // the signal that killed the process (then code is -1)
  std::string out, err;
};

inline std::string readText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void writeText(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// SHA-256 of a file as coreutils' sha256sum prints it (an implementation independent of ours).
inline std::string sha256sum(const fs::path& p) {
  const std::string command = "sha256sum '" + p.string() + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return "";
  char digest[65] = {};
  const size_t got = std::fread(digest, 1, 64, pipe);
  pclose(pipe);
  return std::string(digest, got);
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

inline FileHeader readHeader(const fs::path& path) {
  auto io = itk::ImageIOFactory::CreateImageIO(path.string().c_str(), itk::IOFileModeEnum::ReadMode);
  if (!io) throw std::runtime_error("not an image: " + path.string());
  io->SetFileName(path.string());
  io->ReadImageInformation();
  return {io->GetComponentType(), io->GetNumberOfComponents(), io->GetNumberOfDimensions()};
}

// A smooth 2D test image: a bright disc on a ramp.
inline Image2F::Pointer discImage(int w = 20, int h = 18, double sx = 0.7, double sy = 1.3) {
  return makeImage<Image2F>(w, h, sx, sy, [](int x, int y) {
    const double r = std::hypot(x - 9.0, y - 8.0);
    return static_cast<float>((r < 5 ? 200.0 : 20.0) + 2.0 * x);
  });
}

inline Label2::Pointer discLabels(int w = 20, int h = 18, double sx = 0.7, double sy = 1.3) {
  return makeImage<Label2>(w, h, sx, sy, [](int x, int y) {
    const double r = std::hypot(x - 9.0, y - 8.0);
    return static_cast<uint8_t>(r < 2 ? 2 : (r < 5 ? 1 : 0));
  });
}

class ImaCLI : public ima::test::ScratchDirectoryTest {
protected:
  // The tests write DICOM SEGs in this process too; dcmseg's warnings about the phantoms' empty
  // type 2 attributes would only clutter the output.
  static void SetUpTestSuite() { ima::dicom::silenceDcmtkLogging(); }

  // Runs `ima ARGS` in the work directory; stdout/stderr go outside it so listings stay exact.
  // `shellPrefix` runs in the same shell first (e.g. "ulimit -f 8; trap '' XFSZ;").
  RunResult run(const std::string& args, const std::string& shellPrefix = "") const {
    const RunResult r = finish(start(args, shellPrefix));
    EXPECT_EQ(r.signal, 0) << "ima " << args << " was killed by signal " << r.signal;
    return r;
  }

  // Starts `ima ARGS` as run() does without waiting (sh execs ima, so the pid is ima's once it
  // runs), for tests that signal or kill it; finish() waits for it.
  pid_t start(const std::string& args, const std::string& shellPrefix = "") const {
    const std::string command = "cd '" + work_.string() + "' && " + shellPrefix + " exec '" +
                                std::string(IMA_EXECUTABLE) + "' " + args + " >'" + (root_ / "stdout.txt").string() +
                                "' 2>'" + (root_ / "stderr.txt").string() + "' </dev/null";
    // A previous run's output must not be mistaken for this one's by a test watching the files.
    fs::remove(root_ / "stdout.txt");
    fs::remove(root_ / "stderr.txt");
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    EXPECT_GT(pid, 0) << "cannot start ima " << args;
    return pid;
  }

  RunResult finish(pid_t pid) const {
    int status = 0;
    waitpid(pid, &status, 0);
    RunResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r.out = readText(root_ / "stdout.txt");
    r.err = readText(root_ / "stderr.txt");
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

}  // namespace imatest::cli
