// The trainer's checkpoint: a torch archive with the model metadata, the weights (in the model
// file's format), the optimiser state, the completed epochs, the random stream and the training
// method's state (IMA's margins and warm starts), written atomically with a SHA-256 trailer, so that a resumed run
// continues exactly where the checkpoint was taken and a damaged file is refused.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "ima/ModelMetadata.h"
#include "ima/Network.h"
#include "ima/Training.h"

namespace ima {

struct CheckpointState {
  int epoch = 0;            // completed epochs
  std::string random;       // the trainer's random engine, serialised
  std::string methodState;  // TrainingMethod::stateJson(); "" when the method keeps none
  std::vector<std::pair<std::string, torch::Tensor>> warmStarts;  // WarmStarts::tensors(); empty: none
};

void writeCheckpoint(const std::string& path, const ModelMetadata& metadata, Network& network,
                     torch::optim::Optimizer& optimizer, const CheckpointState& state);

// Loads the weights into `network` (then moved to `device`) and the optimiser state after checking
// that the checkpoint holds a network like `expected` and, when given, calling `checkStored` with
// its stored metadata (which may throw); returns the rest. Errors name `path`.
CheckpointState readCheckpoint(const std::string& path, const NetworkSpec& expected, Network& network,
                               torch::optim::Optimizer& optimizer, torch::Device device,
                               const std::function<void(const ModelMetadata& stored)>& checkStored = {});

// Throws an Error naming `path` and every setting (spelt by `name`) in which the run that wrote the
// checkpoint (`checkpointSettings`) differs from the one resuming it (`runSettings`), both JSON as
// ModelMetadata::trainingSettingsJson. The epochs may differ (a run is resumed to train longer), and
// the communication backend (it follows the device); the adversarial settings do not matter when
// both runs are standard training. A setting that an older checkpoint lacks counts as the value
// the versions before it used (warm_start false, bisection_tolerance 0), or is not compared.
void checkResumeSettings(const std::string& path, const std::string& checkpointSettings,
                         const std::string& runSettings, const SettingName& name);

}  // namespace ima
