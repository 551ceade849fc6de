// Moving patches between raw volumes and tensors, shared by inference and training.
// Volumes are viewed as [C, D, H, W] (D = 1 for 2D images); patch boxes are in that order.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ima/Error.h"
#include "ima/Limits.h"
#include "ima/Normalization.h"
#include "ima/Volume.h"

namespace ima {

using Box = std::array<int64_t, 3>;  // (d, h, w)

inline Box volumeExtent(const Shape& s) {
  return {s.dims() == 3 ? s.size[2] : 1, s.size[1], s.size[0]};
}

// Patch size in (d, h, w) from an ITK-order size (x, y[, z]).
// Checked before any work: a zero entry or a window of billions of voxels would otherwise end in
// a raw libtorch error or a giant allocation after minutes of work.
inline Box patchExtent(const std::vector<int64_t>& itkOrder) {
  std::string text;
  for (int64_t p : itkOrder) text += (text.empty() ? "" : ",") + std::to_string(p);
  if (itkOrder.size() != 2 && itkOrder.size() != 3)
    throw Error("patch size " + text + " must have 2 or 3 entries");
  int64_t voxels = 1;
  for (int64_t p : itkOrder) {
    if (p < 1) throw Error("patch size " + text + " has an entry below 1");
    if (p > kMaxPatchVoxels || (voxels *= p) > kMaxPatchVoxels)
      throw Error("patch size " + text + " exceeds the limit of " + std::to_string(kMaxPatchVoxels) +
                  " voxels per patch (256x256x256)");
  }
  return {itkOrder.size() == 3 ? itkOrder[2] : 1, itkOrder[1], itkOrder[0]};
}

// Copies the normalised box starting at `start` (may reach outside the volume: zero padding,
// i.e. the normalised mean) into out[C, d, h, w], a contiguous CPU float tensor.
void extractPatch(const Volume& v, const std::vector<ChannelTransform>& t, const Box& start, const Box& size,
                  float* out);
// Same for labels into out[d, h, w] int64 (padding = background).
void extractLabels(const LabelMap& v, const Box& start, const Box& size, int64_t* out);

}  // namespace ima
