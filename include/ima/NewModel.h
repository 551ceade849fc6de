// The metadata of a new U-Net for a training set, from the plain settings a user gives (every
// host: `ima train`, the C API and Python, itk::UNetTrainer). One builder, so that every route
// names, colours and sizes a new model the same way and refuses the same data.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ima/ModelMetadata.h"
#include "ima/Normalization.h"
#include "ima/TrainingSettings.h"

namespace ima {

struct LabelledCase;

struct NewModelSettings {
  std::optional<int> dims;       // 2 | 3; unset: 3 when every case is a 3D image, else 2
  int baseFeatures = 32;         // 1..1024, doubled per stage
  // Cap on features per stage; unset: nnU-Net's rule, max(baseFeatures, 320 in 3D / 512 in 2D).
  std::optional<int> maxFeatures;
  int stages = 4;                // 1..8
  std::string norm = "instance"; // instance | batch | none
  // Foreground label names (label k is names[k-1]); when given they fix the class count.
  std::vector<std::string> labelNames;
  // Classes including background, 2..256; unset: from the names, else the largest label + 1.
  std::optional<int> classes;
  Normalization normalization;
};

// The label colours of a new model: a fixed palette of distinct colours, then hues spaced by the
// golden angle. index 0 is label 1.
std::array<uint8_t, 3> labelColor(int index);

// Metadata for a new U-Net trained on `cases` (patch size left empty: see PatchSize.h). Labels are
// named from `labelNames` or "label k". Throws InvalidTrainingSetting (keys dims, features,
// max_features, stages, norm, classes, labels_names; spelt by `name`) for a bad setting, and
// ima::Error naming the case for data that cannot train it: no cases, cases whose channel counts
// differ, a 2D case under dims 3, a label beyond the named or given classes, and label maps that
// are all background (a network learns nothing from them).
ModelMetadata newModelMetadata(const NewModelSettings& settings, const std::vector<LabelledCase>& cases,
                               const SettingName& name = {});

}  // namespace ima
