// Where and how the core computes: device and thread count, as plain strings and ints so that
// hosts (ITK layer, CLI, C API) need no torch headers.
#pragma once
#include <functional>
#include <string>

namespace ima {

struct RuntimeOptions {
  std::string device = "auto";  // "cpu" | "cuda" | "cuda:N" | "auto" (CUDA when available)
  int threads = 0;              // 0 = all cores (libtorch's own default was 1 on 2-core machines)
  // Floating type of the network's forward passes (autocast; weights, inputs, perturbations and
  // margins stay float32): "fp32" | "bf16" | "fp16" (CUDA only) | "auto" (bf16 on CUDA and on CPUs
  // with AVX512-BF16 or AMX-BF16, else fp32). See docs/cli.md "Precision".
  std::string precision = "fp32";
};

// Validates the device and precision strings and applies the thread count; returns the resolved device name.
// Throws ima::Error for unknown devices and for CUDA requested but unavailable.
std::string applyRuntime(const RuntimeOptions& options);

// Progress in [0, 1]; return false to cancel (the work stops at the next patch or iteration and
// ima::Cancelled is thrown). An empty callback never cancels.
using ProgressCallback = std::function<bool(double fraction)>;
// Throws ima::Cancelled when the callback asks to stop.
void reportProgress(const ProgressCallback& callback, double fraction);

}  // namespace ima
