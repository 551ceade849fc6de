#include <gtest/gtest.h>

#include <vector>

#include "internal/PredictedClasses.h"

namespace PredictedClassesGTest {  // this file's names apart from the others' in a unity build

namespace {

// predictedClasses (max(1)'s indices, the fast reduction) against argmax(1), on logits full of
// ties, in 2D and 3D shapes.
TEST(PredictedClasses, EqualArgmaxIncludingTies) {
  torch::manual_seed(4);
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{16, 3, 16, 16}, std::vector<int64_t>{2, 4, 8, 8, 8}}) {
    const torch::Tensor logits = torch::randint(0, 3, shape).to(torch::kFloat);  // many equal maxima
    EXPECT_TRUE(torch::equal(ima::predictedClasses(logits), logits.argmax(1)));
    const torch::Tensor distinct = torch::randn(shape);
    EXPECT_TRUE(torch::equal(ima::predictedClasses(distinct), distinct.argmax(1)));
  }
}

}  // namespace

}  // namespace PredictedClassesGTest
