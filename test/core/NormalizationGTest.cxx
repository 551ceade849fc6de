#include <gtest/gtest.h>

#include <cmath>

#include "ima/Error.h"
#include "ima/Normalization.h"

namespace NormalizationGTest {  // this file's names apart from the others' in a unity build

namespace {

ima::Volume volumeOf(std::vector<float> values, int channels = 1) {
  ima::Volume v(ima::Shape{{static_cast<int64_t>(values.size()) / channels, 1}}, channels);
  v.data = std::move(values);
  return v;
}

TEST(Normalization, ZScoreMatchesHandComputedMeanAndStd) {
  // Channel 0: {2, 4, 4, 4, 5, 5, 7, 9}: mean 5, population std 2.
  const auto v = volumeOf({2, 4, 4, 4, 5, 5, 7, 9});
  const auto out = ima::normalize(ima::Normalization{}, v);
  EXPECT_FLOAT_EQ(out.data[0], -1.5f);
  EXPECT_FLOAT_EQ(out.data[7], 2.0f);
}

TEST(Normalization, ZScorePerChannel) {
  const auto v = volumeOf({0, 2, 10, 30}, 2);  // channel 0: {0,2} mean 1 std 1; channel 1: {10,30} mean 20 std 10
  const auto out = ima::normalize(ima::Normalization{}, v);
  EXPECT_FLOAT_EQ(out.data[0], -1.f);
  EXPECT_FLOAT_EQ(out.data[1], 1.f);
  EXPECT_FLOAT_EQ(out.data[2], -1.f);
  EXPECT_FLOAT_EQ(out.data[3], 1.f);
}

TEST(Normalization, NonzeroMaskIgnoresZeros) {
  ima::Normalization n;
  n.nonzeroMask = true;
  const auto out = ima::normalize(n, volumeOf({0, 0, 1, 3}));  // over {1, 3}: mean 2, std 1
  EXPECT_FLOAT_EQ(out.data[2], -1.f);
  EXPECT_FLOAT_EQ(out.data[3], 1.f);
  EXPECT_FLOAT_EQ(out.data[0], -2.f);
}

TEST(Normalization, CTWindowClipsAndScalesToUnitRange) {
  ima::Normalization n;
  n.kind = ima::Normalization::Kind::CTWindow;
  n.windowLow = -100;
  n.windowHigh = 300;
  const auto out = ima::normalize(n, volumeOf({-1000, -100, 100, 300, 3000}));
  EXPECT_FLOAT_EQ(out.data[0], -1.f);
  EXPECT_FLOAT_EQ(out.data[1], -1.f);
  EXPECT_FLOAT_EQ(out.data[2], 0.f);
  EXPECT_FLOAT_EQ(out.data[3], 1.f);
  EXPECT_FLOAT_EQ(out.data[4], 1.f);
}

TEST(Normalization, ConstantImageDoesNotDivideByZero) {
  const auto out = ima::normalize(ima::Normalization{}, volumeOf({5, 5, 5}));
  for (float x : out.data) EXPECT_TRUE(std::isfinite(x));
}

TEST(Normalization, UnknownKindIsAnError) { EXPECT_THROW(ima::Normalization::parseKind("minmax"), ima::Error); }

}  // namespace

}  // namespace NormalizationGTest
