// The object behind the opaque ima_model handle.
#pragma once
#include <string>

#include "ima.h"
#include "ima/Model.h"

struct ima_model {
  ima::Model model;
  std::string path;  // the file it was loaded from (provenance in reports)
};

namespace ima::capi {

// The handle's model; InvalidArgument when `model` is NULL.
const ima_model& modelOf(const ima_model* model);

}  // namespace ima::capi
