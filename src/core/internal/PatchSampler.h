// The trainer's random patches, nnU-Net style: a case drawn uniformly, the last share of each batch
// centred on a foreground voxel (jittered), the rest anywhere in the image; and each patch's IMA
// sample id, stable across epochs: its slice (2D network) or the cell of a patch-sized grid holding
// its centre (3D).
#pragma once
#include <cstdint>
#include <vector>

#include "ima/LabelledCase.h"
#include "ima/ModelMetadata.h"
#include "ima/Normalization.h"
#include "Patches.h"
#include "Random.h"

namespace ima {

// A training case prepared once: its normalisation and a bounded sample of foreground positions
// per class (every n-th voxel, deterministic).
struct PreparedCase {
  const LabelledCase* source = nullptr;
  std::vector<ChannelTransform> transforms;
  std::vector<std::vector<int64_t>> foreground;  // [class-1] -> flat voxel indices
};
PreparedCase prepareCase(const LabelledCase& c, const ModelMetadata& m);

class PatchSampler {
public:
  // `cases` must outlive the sampler. `foregroundPerBatch` of the `batchSize` slots (the last
  // ones) are centred on foreground.
  PatchSampler(const std::vector<PreparedCase>& cases, const NetworkSpec& spec, const Box& patch, int batchSize,
               int foregroundPerBatch);

  // The number of sample ids over all cases (ids 0..count-1, case by case).
  int64_t sampleCount() const { return firstId_.back(); }

  struct Draw {
    size_t caseIndex = 0;
    Box start{};     // may lie outside the image where the image is smaller than the patch
    int64_t id = 0;  // the sample id
  };
  // The patch of global batch slot `slot`, from `random` (the draws of every slot, in slot order,
  // make the stream that a resumed or data-parallel run reproduces).
  Draw draw(Random& random, int slot) const;
  // Copies the drawn patch, normalised, and its labels (zero/background outside the image).
  void extract(const Draw& d, float* image, int64_t* labels) const;

private:
  int64_t cellsOf(const PreparedCase& pc) const;

  const std::vector<PreparedCase>& cases_;
  int dims_;
  Box patch_;
  int batchSize_, foregroundPerBatch_;
  std::vector<int64_t> firstId_;  // [case] -> its first sample id; back() = the count
};

}  // namespace ima
