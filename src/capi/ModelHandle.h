// The object behind the opaque ima_model handle.
#pragma once
#include <mutex>
#include <string>

#include "ima.h"
#include "ima/Model.h"

struct ima_model {
  ima::Model model;
  std::string path;  // the file it was loaded from (provenance in reports)
  // Inference and attacks move the network to their device and switch it to evaluation mode, so
  // calls on one handle from several threads take turns.
  mutable std::mutex inUse;
};

namespace ima::capi {

// The handle's model; InvalidArgument when `model` is NULL.
const ima_model& modelOf(const ima_model* model);
// Holds the handle for the duration of a call (see ima_model::inUse).
std::unique_lock<std::mutex> useOf(const ima_model& model);

}  // namespace ima::capi
