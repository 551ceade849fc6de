// The autocast switches of libtorch, whose C++ names changed in 2.4 (one per device type instead of
// one function per device): the only place that knows the difference.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace ima {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline bool autocastEnabled(c10::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
inline void setAutocastEnabled(c10::DeviceType type, bool on) { at::autocast::set_autocast_enabled(type, on); }
inline at::ScalarType autocastDtype(c10::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
inline void setAutocastDtype(c10::DeviceType type, at::ScalarType t) { at::autocast::set_autocast_dtype(type, t); }
#else
// Before 2.4: CPU has its own functions; the unqualified ones are CUDA's.
inline bool autocastEnabled(c10::DeviceType type) {
  return type == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
}
inline void setAutocastEnabled(c10::DeviceType type, bool on) {
  if (type == c10::DeviceType::CPU) at::autocast::set_cpu_enabled(on);
  else at::autocast::set_enabled(on);
}
inline at::ScalarType autocastDtype(c10::DeviceType type) {
  return type == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
}
inline void setAutocastDtype(c10::DeviceType type, at::ScalarType t) {
  if (type == c10::DeviceType::CPU) at::autocast::set_autocast_cpu_dtype(t);
  else at::autocast::set_autocast_gpu_dtype(t);
}
#endif

}  // namespace ima
