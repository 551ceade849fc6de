// The smallest useful segmentation model for tests that run programs: a 2D U-Net with 4 features,
// 2 stages, 1 input channel and 3 classes (labels 1 and 2 named by the caller), 16x16 patches.
#pragma once
#include <string>

#include "ima/ModelMetadata.h"

namespace ima::test {

inline ModelMetadata tinyUNet2DMetadata(const std::string& label1, const std::string& label2) {
  ModelMetadata m;
  m.network.dims = 2;
  m.network.inChannels = 1;
  m.network.classes = 3;
  m.network.baseFeatures = 4;
  m.network.maxFeatures = 8;
  m.network.stages = 2;
  m.labels = {{1, label1, {200, 50, 50}}, {2, label2, {50, 200, 50}}};
  m.patchSize = {16, 16};
  m.trainingMethod = "standard";
  return m;
}

}  // namespace ima::test
