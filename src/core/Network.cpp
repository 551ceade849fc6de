#include "ima/Network.h"

#include "ima/Error.h"

namespace ima {

std::vector<std::pair<std::string, torch::Tensor>> Network::namedTensors() {
  throw Error("this network kind has no PyTorch state_dict names (only U-Net and imported TorchScript networks)");
}

}  // namespace ima
