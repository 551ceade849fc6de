#include "ModelInput.h"

namespace ima::slicer {

Model loadModelInput(const ModuleArguments& args) {
  const std::string model = args.path("model", true), sidecar = args.path("modelSidecar", false);
  return sidecar.empty() ? Model::load(model) : Model::importTorchScript(model, sidecar);
}

}  // namespace ima::slicer
