// Device resolution shared by the core's torch code (not a public header: hosts use Runtime.h).
#pragma once
#include <string>

#include <torch/torch.h>

namespace ima {
// "cpu" | "cuda" | "cuda:N" | "auto"; throws ima::Error when unknown or unavailable.
torch::Device resolveDevice(const std::string& name);
}  // namespace ima
