#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

#include <gtest/gtest.h>

#include "TestModels.h"
#include "ima/Error.h"
#include "ima/SlidingWindowInferer.h"

namespace SlidingWindowGTest {  // this file's names apart from the others' in a unity build

namespace {

using imatest::PointwiseNetwork;

ima::Model pointwiseModel(int dims, int in, int classes, std::vector<int64_t> patch) {
  ima::ModelMetadata m = imatest::tinyUNetMetadata(dims, in, classes);
  m.network.kind = "test";
  m.patchSize = std::move(patch);
  return ima::Model(m, std::make_shared<PointwiseNetwork>(dims, in, classes));
}

ima::InferenceOptions cpuOptions() {
  ima::InferenceOptions o;
  o.runtime.device = "cpu";
  o.runtime.threads = 1;
  return o;
}

TEST(WindowStarts, CoverTheAxisWithTheRequestedStride) {
  EXPECT_EQ(ima::windowStarts(10, 16, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(ima::windowStarts(16, 16, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(ima::windowStarts(32, 16, 0.5), (std::vector<int64_t>{0, 8, 16}));
  const auto s = ima::windowStarts(37, 16, 0.5);  // stride <= 8, last window ends at 37
  EXPECT_EQ(s.front(), 0);
  EXPECT_EQ(s.back(), 21);
  for (size_t i = 1; i < s.size(); ++i) EXPECT_LE(s[i] - s[i - 1], 8);
  EXPECT_THROW(ima::windowStarts(37, 16, 1.0), ima::Error);
}

// For a per-voxel network every window predicts the same probabilities at a voxel, so the
// Gaussian-weighted average must return them exactly: this checks that the weights of all
// windows covering a voxel, including at borders and corners, are normalised to 1.
TEST(SlidingWindow, PointwiseModelMatchesWholeImage3D) {
  const auto model = pointwiseModel(3, 2, 3, {8, 8, 4});
  const auto volume = imatest::randomVolume({21, 13, 11}, 2, 5);
  auto options = cpuOptions();
  const auto windows = ima::segment(model, volume, options, {}, true);
  options.wholeImage = true;
  const auto whole = ima::segment(model, volume, options, {}, true);
  ASSERT_EQ(windows.probabilities.data.size(), whole.probabilities.data.size());
  for (size_t i = 0; i < whole.probabilities.data.size(); ++i)
    ASSERT_NEAR(windows.probabilities.data[i], whole.probabilities.data[i], 1e-5) << "value " << i;
  EXPECT_EQ(windows.labels.data, whole.labels.data);
}

TEST(SlidingWindow, PointwiseModelMatchesWholeImage2DModelOn3DVolume) {
  const auto model = pointwiseModel(2, 1, 2, {8, 8});
  const auto volume = imatest::randomVolume({19, 10, 3}, 1, 6);
  auto options = cpuOptions();
  options.overlap = 0.7;
  options.mirror = true;
  const auto windows = ima::segment(model, volume, options, {}, true);
  options.wholeImage = true;
  const auto whole = ima::segment(model, volume, options, {}, true);
  for (size_t i = 0; i < whole.probabilities.data.size(); ++i)
    ASSERT_NEAR(windows.probabilities.data[i], whole.probabilities.data[i], 1e-5) << "value " << i;
}

TEST(SlidingWindow, ProbabilitiesSumToOneAndLabelsAreTheirArgmax) {
  const auto model = ima::Model::create(imatest::tinyUNetMetadata(3), 3);
  const auto volume = imatest::randomVolume({20, 18, 10}, 1, 7);
  const auto r = ima::segment(model, volume, cpuOptions(), {}, true);
  const int64_t n = volume.shape.voxels();
  for (int64_t i = 0; i < n; ++i) {
    float sum = 0, best = -1;
    int arg = 0;
    for (int c = 0; c < 3; ++c) {
      const float p = r.probabilities.channel(c)[i];
      sum += p;
      if (p > best) { best = p; arg = c; }
    }
    ASSERT_NEAR(sum, 1.f, 1e-4);
    ASSERT_EQ(r.labels.data[static_cast<size_t>(i)], arg);
  }
}

// A U-Net is not exactly translation-equivariant (zero padding at window borders, instance norm
// statistics per window), so windows and whole image agree only approximately. With norm "none"
// the difference comes from border padding only, which the Gaussian weights down-weight.
TEST(SlidingWindow, UNetWithoutNormAgreesWithWholeImageAwayFromWindowBorders) {
  auto meta = imatest::tinyUNetMetadata(2);
  meta.network.norm = "none";
  meta.patchSize = {32, 32};
  const auto model = ima::Model::create(meta, 9);
  const auto volume = imatest::randomVolume({64, 64}, 1, 8);
  auto options = cpuOptions();
  const auto windows = ima::segment(model, volume, options, {}, true);
  options.wholeImage = true;
  const auto whole = ima::segment(model, volume, options, {}, true);
  double maxDiff = 0, meanDiff = 0;
  for (size_t i = 0; i < whole.probabilities.data.size(); ++i) {
    const double d = std::abs(windows.probabilities.data[i] - whole.probabilities.data[i]);
    maxDiff = std::max(maxDiff, d);
    meanDiff += d;
  }
  meanDiff /= static_cast<double>(whole.probabilities.data.size());
  EXPECT_LT(meanDiff, 0.02) << "max " << maxDiff;
}

TEST(SlidingWindow, ReportsMonotoneProgressEndingAtOne) {
  const auto model = pointwiseModel(3, 1, 2, {8, 8, 8});
  std::vector<double> seen;
  ima::segment(model, imatest::randomVolume({20, 20, 20}, 1, 1), cpuOptions(), [&](double f) {
    seen.push_back(f);
    return true;
  });
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.front(), 0.0);
  EXPECT_EQ(seen.back(), 1.0);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]);
}

TEST(SlidingWindow, CancelStopsAtTheNextPatch) {
  const auto model = pointwiseModel(3, 1, 2, {8, 8, 8});
  int calls = 0;
  EXPECT_THROW(ima::segment(model, imatest::randomVolume({20, 20, 20}, 1, 1), cpuOptions(),
                            [&](double) { return ++calls < 3; }),
               ima::Cancelled);
  EXPECT_EQ(calls, 3);
}

TEST(SlidingWindow, BadInputsAreClearErrors) {
  const auto model = pointwiseModel(3, 2, 2, {8, 8, 8});
  auto expectError = [&](const ima::Volume& v, const std::string& fragment) {
    try {
      ima::segment(model, v, cpuOptions());
      FAIL() << "expected an error containing '" << fragment << "'";
    } catch (const ima::Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expectError(imatest::randomVolume({9, 9, 9}, 1, 1), "channel");
  expectError(imatest::randomVolume({9, 9}, 2, 1), "3D model cannot segment a 2D image");
  auto nan = imatest::randomVolume({9, 9, 9}, 2, 1);
  nan.data[17] = std::nanf("");
  expectError(nan, "NaN");
  auto o = cpuOptions();
  o.runtime.device = "cuda:0";
  if (!torch::cuda::is_available()) {
    try {
      ima::segment(model, imatest::randomVolume({9, 9, 9}, 2, 1), o);
      FAIL();
    } catch (const ima::Error& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos) << e.what();
    }
  }
  o.runtime.device = "tpu";
  EXPECT_THROW(ima::segment(model, imatest::randomVolume({9, 9, 9}, 2, 1), o), ima::Error);
}

TEST(SlidingWindow, GeometryIsCarriedToTheOutput) {
  const auto model = pointwiseModel(3, 1, 2, {8, 8, 8});
  auto v = imatest::randomVolume({9, 10, 11}, 1, 1);
  v.geometry.origin = {1, -2, 3.5};
  v.geometry.spacing = {0.5, 0.7, 2.0};
  v.geometry.direction = {0, 1, 0, -1, 0, 0, 0, 0, 1};
  const auto r = ima::segment(model, v, cpuOptions());
  EXPECT_EQ(r.labels.geometry, v.geometry);
  EXPECT_EQ(r.labels.shape, v.shape);
}

// Memory is checked before any work (docs/bad-input.md, Limits): with probabilities requested, the
// accumulators need 4 bytes x classes x voxels for the probabilities, 4 x classes x the slab (one
// slice for a 2D model) and one byte per voxel for the labels. An image whose need is 1.5 times
// this machine's MemAvailable is refused with that figure and the available one.
TEST(SlidingWindow, AccumulatorsBeyondTheAvailableMemoryAreRefusedWithTheFigures) {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  double availableKiB = 0, kib = 0;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") availableKiB = kib;
  if (availableKiB <= 0 || availableKiB > 64.0 * 1024 * 1024) GTEST_SKIP() << "MemAvailable unknown or above 64 GiB";
  const int64_t classes = 256, side = 1024, plane = side * side;
  const double perVoxel = 4.0 * classes + 1.0;
  const int64_t depth = static_cast<int64_t>(std::ceil(1.5 * availableKiB * 1024 / (perVoxel * plane)));
  const auto model = pointwiseModel(2, 1, static_cast<int>(classes), {8, 8});
  const ima::Volume volume(ima::Shape{{side, side, depth}}, 1);  // zeros: no voxel is ever read
  const double need = 4.0 * classes * plane + perVoxel * static_cast<double>(plane * depth);
  const std::string expected = "segmenting a " + volume.shape.str() + " image with 256 classes needs about " +
                               std::to_string(static_cast<int64_t>(std::ceil(need / (1 << 20)))) +
                               " MiB of memory for its accumulators but only ";
  try {
    ima::segment(model, volume, cpuOptions(), {}, true);
    FAIL() << "a " << volume.shape.str() << " image with 256 classes was not refused";
  } catch (const ima::Error& e) {
    std::cout << "refused: " << e.what() << "\n";  // the example in docs/bad-input.md
    EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find(" MiB are available"), std::string::npos) << e.what();
  }
}

}  // namespace

}  // namespace SlidingWindowGTest
