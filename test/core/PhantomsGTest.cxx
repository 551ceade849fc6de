#include <gtest/gtest.h>

#include <algorithm>

#include "ima/Error.h"
#include "ima/Metrics.h"
#include "ima/Phantoms.h"

namespace PhantomsGTest {  // this file's names apart from the others' in a unity build

namespace {

TEST(Phantoms, AreDeterministicPerSeedAndIndex) {
  ima::PhantomOptions o;
  o.size = 24;
  const auto a = ima::makePhantom(o, 3), b = ima::makePhantom(o, 3), c = ima::makePhantom(o, 4);
  EXPECT_EQ(a.first.data, b.first.data);
  EXPECT_EQ(a.second.data, b.second.data);
  EXPECT_NE(a.second.data, c.second.data);
  o.seed = 2;
  EXPECT_NE(ima::makePhantom(o, 3).second.data, a.second.data);
}

TEST(Phantoms, HaveBothStructuresWithVaryingSizes) {
  ima::PhantomOptions o;
  o.size = 32;
  std::vector<double> organFractions;
  for (int i = 0; i < 8; ++i) {
    const auto [image, labels] = ima::makePhantom(o, i);
    EXPECT_EQ(image.shape.str(), "32x32x32");
    const auto organ = std::count(labels.data.begin(), labels.data.end(), 1);
    const auto lesion = std::count(labels.data.begin(), labels.data.end(), 2);
    EXPECT_GT(organ, 0) << i;
    EXPECT_GT(lesion, 0) << i;
    EXPECT_LT(lesion, organ) << i;
    organFractions.push_back(static_cast<double>(organ) / static_cast<double>(labels.data.size()));
  }
  const auto [lo, hi] = std::minmax_element(organFractions.begin(), organFractions.end());
  EXPECT_GT(*hi, 1.5 * *lo);  // sizes vary
}

TEST(Phantoms, TwoDimensionalPhantomsAreSlices) {
  ima::PhantomOptions o;
  o.dims = 2;
  o.size = 40;
  const auto [image, labels] = ima::makePhantom(o, 0);
  EXPECT_EQ(image.shape.str(), "40x40");
  EXPECT_GT(std::count(labels.data.begin(), labels.data.end(), 1), 0);
}

// The data set must be hard for naive methods: the best single global threshold (chosen with
// the reference labels, i.e. an optimistic naive method) does not separate the structures.
TEST(Phantoms, BestGlobalThresholdFailsOnTheLesion) {
  ima::PhantomOptions o;
  o.size = 32;
  double sum = 0;
  const int cases = 6;
  for (int i = 0; i < cases; ++i) {
    const auto [image, labels] = ima::makePhantom(o, i);
    std::vector<float> sorted = image.data;
    std::sort(sorted.begin(), sorted.end());
    double best = 0;
    for (int q = 1; q < 100; ++q) {
      const float t = sorted[sorted.size() * static_cast<size_t>(q) / 100];
      for (bool above : {true, false}) {
        ima::LabelMap prediction = labels;
        for (size_t v = 0; v < image.data.size(); ++v) prediction.data[v] = (image.data[v] > t) == above ? 2 : 0;
        best = std::max(best, ima::overlapCounts(prediction, labels, 3)[1].dice());
      }
    }
    sum += best;
  }
  EXPECT_LT(sum / cases, 0.6);
}

TEST(Phantoms, InvalidOptionsAreErrors) {
  ima::PhantomOptions o;
  o.dims = 4;
  EXPECT_THROW(ima::makePhantom(o, 0), ima::Error);
  o.dims = 3;
  o.size = 4;
  EXPECT_THROW(ima::makePhantom(o, 0), ima::Error);
}

}  // namespace

}  // namespace PhantomsGTest
