// The model input of the Slicer modules: a .imamodel file, or a TorchScript file (trusted code)
// with its metadata sidecar, imported as `ima import` does (docs/import.md).
#pragma once
#include "ima/Model.h"

#include "ModuleArguments.h"

namespace ima::slicer {

// Reads parameter "model"; with "modelSidecar" given, imports it as TorchScript.
Model loadModelInput(const ModuleArguments& args);

}  // namespace ima::slicer
