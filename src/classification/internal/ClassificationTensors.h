// A ClassificationSet as tensors (copies that own their memory).
#pragma once
#include <torch/torch.h>

#include "ima/classification/IdxReader.h"

namespace ima {

// [N, channels, height, width] float32.
inline torch::Tensor imageTensor(const ClassificationSet& s) {
  return torch::from_blob(const_cast<float*>(s.images.data()), {s.size(), s.channels, s.height, s.width}).clone();
}

// [N] int64.
inline torch::Tensor labelTensor(const ClassificationSet& s) {
  return torch::from_blob(const_cast<int64_t*>(s.labels.data()), {s.size()}, torch::kInt64).clone();
}

}  // namespace ima
