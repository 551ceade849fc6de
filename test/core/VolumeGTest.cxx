// The constant-image warning every host prints (docs/bad-input.md): an image is constant when every
// channel holds one value; one differing voxel in any channel makes it an image.
#include <algorithm>

#include <gtest/gtest.h>

#include "ima/Volume.h"

namespace VolumeGTest {  // this file's names apart from the others' in a unity build

namespace {

ima::Volume filled(int channels, float value) {
  ima::Volume v(ima::Shape{{3, 2, 2}}, channels);
  std::fill(v.data.begin(), v.data.end(), value);
  return v;
}

TEST(ConstantImage, AOneValueImageIsNamedWithItsValue) {
  EXPECT_EQ(ima::constantImageWarning(filled(1, 5.f), "image 'a.nii'"),
            "warning: image 'a.nii': the input image is constant (every voxel has one value, e.g. 5); its "
            "segmentation carries no information about the image");
}

TEST(ConstantImage, EveryChannelConstantIsConstantEvenWithDifferentValues) {
  ima::Volume v = filled(2, 1.f);
  std::fill(v.channel(1), v.channel(1) + v.shape.voxels(), 3.f);
  EXPECT_NE(ima::constantImageWarning(v, "x").find("every voxel of each channel has one value"), std::string::npos);
}

TEST(ConstantImage, OneDifferentVoxelInAnyChannelIsAnImage) {
  for (int channel = 0; channel < 2; ++channel) {
    ima::Volume v = filled(2, 1.f);
    v.channel(channel)[v.shape.voxels() - 1] = 1.5f;
    EXPECT_EQ(ima::constantImageWarning(v, "x"), "") << "channel " << channel;
  }
}

}  // namespace

}  // namespace VolumeGTest
