#include "ima/AvailableMemory.h"

#include <cmath>
#include <cstdint>
#include <fstream>

#include "ima/Error.h"

namespace ima {

double availableMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  double kib = 0;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024.0;
  return 0;
}

std::string mebibytes(double bytes) {
  return std::to_string(static_cast<int64_t>(std::ceil(bytes / (1 << 20)))) + " MiB";
}

void requireAvailableMemory(double needBytes, const std::string& what) {
  const double availableBytes = availableMemoryBytes();
  if (availableBytes > 0 && needBytes > availableBytes)
    throw Error(what + " needs about " + mebibytes(needBytes) + " of memory but only " + mebibytes(availableBytes) +
                " are available");
}

}  // namespace ima
