// The training patch and minibatch of a run, resolved the same way by every host.
#pragma once
#include <cstdint>
#include <vector>

#include "ima/ModelMetadata.h"
#include "ima/TrainingSettings.h"

namespace ima {

struct LabelledCase;

// The default training patch (voxels, ITK order): the whole slice (2D) or up to 64 per axis (3D)
// of the smallest case, rounded down to a multiple of 2^(stages-1) that the U-Net can pool.
std::vector<int64_t> defaultPatchSize(const std::vector<LabelledCase>& cases, int dims, int stages);

// The patch a run trains on: `requested` when given (one size per network dimension, each a
// positive multiple of 2^(stages-1), at most 4096), else the model's own patch when it has one
// of the right dimension (fine-tuning), else defaultPatchSize. Throws InvalidTrainingSetting with
// key "patch_size" (spelt by `name`) for a bad request.
std::vector<int64_t> trainingPatchSize(const std::vector<int64_t>& requested, const NetworkSpec& network,
                                       const std::vector<int64_t>& modelPatch,
                                       const std::vector<LabelledCase>& cases, const SettingName& name = {});

// Patches per minibatch when the user gives none: 2 for 3D networks (memory), 8 for 2D.
int defaultBatchSize(int dims);

}  // namespace ima
