// Inference over whole volumes (docs/architecture.md §7): overlapping patches weighted by a Gaussian
// (sigma = patch/8), batched, optional mirror test-time augmentation, argmax.
//
// Memory: the accumulator holds class probabilities only for the slab of slices that patches
// still reach (patch depth), so memory is bounded by one slab, not by the volume or the number
// of patches, unless full probabilities are requested.
#pragma once
#include <cstdint>
#include <vector>

#include "ima/Model.h"
#include "ima/Runtime.h"
#include "ima/Volume.h"

namespace ima {

struct InferenceOptions {
  std::vector<int64_t> patchSize;  // voxels, ITK order; empty = the model's patch size
  double overlap = 0.5;            // fraction of the patch shared by neighbouring windows, [0, 1)
  bool gaussian = true;            // Gaussian importance weighting; false = uniform
  int batchSize = 2;               // patches per forward pass
  bool mirror = false;             // average over all axis flips (2^dims forwards per patch)
  bool wholeImage = false;         // one forward over the padded image instead of windows
  RuntimeOptions runtime;
};

struct Segmentation {
  LabelMap labels;         // same shape and geometry as the input
  Volume probabilities;    // filled when requested: channels = classes, softmax averaged
};

// Segments a raw (unnormalised) volume with the model's normalisation. A 2D model applied to a
// 3D volume segments it slice by slice (slices along z). Throws ima::Error on channel-count or
// dimension mismatch and ima::Cancelled when progress asks to stop.
Segmentation segment(const Model& model, const Volume& volume, const InferenceOptions& options,
                     const ProgressCallback& progress = {}, bool wantProbabilities = false);

// Number of window positions along one axis of length `size` for a patch `patch` and overlap.
std::vector<int64_t> windowStarts(int64_t size, int64_t patch, double overlap);

}  // namespace ima
