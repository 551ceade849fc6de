#include <gtest/gtest.h>

#include "ima/Error.h"
#include "ima/Metrics.h"

namespace MetricsGTest {  // this file's names apart from the others' in a unity build

namespace {

ima::LabelMap labelsOf(std::vector<uint8_t> values) {
  ima::LabelMap m(ima::Shape{{static_cast<int64_t>(values.size()), 1}}, 1);
  m.data = std::move(values);
  return m;
}

TEST(Metrics, DiceMatchesHandCountedCase) {
  // prediction vs reference, voxel by voxel:
  //   label 1: TP at 0,1; FP at 2 (ref 0); FN at 3 (pred 2) -> Dice 4/(4+1+1) = 2/3
  //   label 2: TP at 4; FP at 3; FN at 5 (pred 0)           -> Dice 2/(2+1+1) = 1/2
  const auto pred = labelsOf({1, 1, 1, 2, 2, 0, 0});
  const auto ref = labelsOf({1, 1, 0, 1, 2, 2, 0});
  const auto c = ima::overlapCounts(pred, ref, 3);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].tp, 2); EXPECT_EQ(c[0].fp, 1); EXPECT_EQ(c[0].fn, 1);
  EXPECT_DOUBLE_EQ(c[0].dice(), 2.0 / 3.0);
  EXPECT_EQ(c[1].tp, 1); EXPECT_EQ(c[1].fp, 1); EXPECT_EQ(c[1].fn, 1);
  EXPECT_DOUBLE_EQ(c[1].dice(), 0.5);
}

TEST(Metrics, EmptyReferenceAndEmptyPredictionIsPerfect) {
  const auto c = ima::overlapCounts(labelsOf({0, 0, 1}), labelsOf({0, 0, 1}), 3);
  EXPECT_DOUBLE_EQ(c[1].dice(), 1.0);
  EXPECT_DOUBLE_EQ(c[0].dice(), 1.0);
}

TEST(Metrics, SizeMismatchIsAnError) {
  EXPECT_THROW(ima::overlapCounts(labelsOf({0, 1}), labelsOf({0, 1, 1}), 2), ima::Error);
}

}  // namespace

}  // namespace MetricsGTest
