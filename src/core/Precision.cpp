#include "internal/Precision.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "ima/Error.h"
#include "internal/AutocastCompat.h"

namespace ima {
namespace {

// Restores the thread's autocast state on exit (also when the forward throws), and drops the
// casted weight copies: after the optimiser's step they would be stale.
class AutocastScope {
public:
  AutocastScope(c10::DeviceType device, at::ScalarType type)
      : device_(device), wasEnabled_(autocastEnabled(device)), previousType_(autocastDtype(device)) {
    setAutocastDtype(device, type);
    setAutocastEnabled(device, true);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    setAutocastEnabled(device_, wasEnabled_);
    setAutocastDtype(device_, previousType_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

private:
  c10::DeviceType device_;
  bool wasEnabled_;
  at::ScalarType previousType_;
};

}  // namespace

bool cpuHasNativeBf16() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  const bool amxBf16 = (d >> 22) & 1u;
  const unsigned subleaves = a;
  bool avx512Bf16 = false;
  if (subleaves >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    avx512Bf16 = (a >> 5) & 1u;
  }
  return avx512Bf16 || amxBf16;
#else
  return false;
#endif
}

torch::ScalarType resolvePrecision(const std::string& precision, const torch::Device& device) {
  if (precision == "fp32") return torch::kFloat;
  if (precision == "bf16") return torch::kBFloat16;
  if (precision == "fp16") {
    if (device.is_cpu()) throw Error("precision fp16 runs on CUDA only; use bf16 or fp32 on a CPU");
    return torch::kHalf;
  }
  if (precision == "auto") return device.is_cpu() && !cpuHasNativeBf16() ? torch::kFloat : torch::kBFloat16;
  throw Error("unknown precision '" + precision + "' (expected fp32, bf16, fp16 or auto)");
}

torch::Tensor MixedPrecisionNetwork::forward(const torch::Tensor& input) {
  if (type_ == torch::kFloat) return inner_.forward(input);
  torch::Tensor logits;
  {
    AutocastScope scope(inner_.device().type(), type_);
    logits = inner_.forward(input);
  }
  return logits.to(torch::kFloat);
}

}  // namespace ima
