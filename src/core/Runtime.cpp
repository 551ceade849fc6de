#include "ima/Runtime.h"

#include <thread>

#include <torch/torch.h>

#include "ima/Error.h"
#include "internal/Device.h"
#include "internal/Precision.h"

namespace ima {

torch::Device resolveDevice(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (name.size() > 5) {
      const std::string digits = name.substr(5);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 3)
        throw Error("device '" + name + "': expected cuda:N with N a device number");
      index = std::stoi(digits);
    }
    if (!torch::cuda::is_available())
      throw Error("device '" + name + "' requested but CUDA is not available (this libtorch build " +
                  std::string("has no CUDA support or no GPU is visible); use --device cpu or auto"));
    if (index >= static_cast<int>(torch::cuda::device_count()))
      throw Error("device '" + name + "' requested but only " + std::to_string(torch::cuda::device_count()) +
                  " CUDA device(s) are visible");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("unknown device '" + name + "' (expected cpu, cuda, cuda:N or auto)");
}

std::string applyRuntime(const RuntimeOptions& options) {
  const torch::Device device = resolveDevice(options.device);
  resolvePrecision(options.precision, device);  // validates
  if (options.threads < 0) throw Error("thread count must be >= 0, got " + std::to_string(options.threads));
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(cores);
  if (torch::get_num_threads() != threads) torch::set_num_threads(threads);
  return device.str();
}

void reportProgress(const ProgressCallback& callback, double fraction) {
  if (callback && !callback(std::min(1.0, std::max(0.0, fraction)))) throw Cancelled();
}

}  // namespace ima
