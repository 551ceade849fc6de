#include "ima/Volume.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "ima/Error.h"

namespace ima {

bool Geometry::approximatelyEquals(const Geometry& o, double tolerance) const {
  for (int i = 0; i < 3; ++i) {
    const double scale = std::max(std::abs(spacing[i]), 1e-12);
    if (std::abs(spacing[i] - o.spacing[i]) > tolerance * scale) return false;
    if (std::abs(origin[i] - o.origin[i]) > tolerance * scale) return false;
  }
  for (int i = 0; i < 9; ++i)
    if (std::abs(direction[i] - o.direction[i]) > tolerance) return false;
  return true;
}

int64_t Shape::voxels() const {
  int64_t n = size.empty() ? 0 : 1;
  for (int64_t s : size) n *= s;
  return n;
}

std::string Shape::str() const {
  std::ostringstream out;
  for (size_t i = 0; i < size.size(); ++i) out << (i ? "x" : "") << size[i];
  return out.str();
}

void checkFinite(const Volume& volume, const std::string& what) {
  for (size_t i = 0; i < volume.data.size(); ++i) {
    if (!std::isfinite(volume.data[i])) {
      const int64_t n = volume.shape.voxels();
      std::ostringstream m;
      m << what << ": voxel " << (n ? static_cast<int64_t>(i) % n : 0) << " of channel "
        << (n ? static_cast<int64_t>(i) / n : 0) << " is " << volume.data[i]
        << " (NaN or infinite values cannot be segmented)";
      throw Error(m.str());
    }
  }
}

std::string constantImageWarning(const Volume& volume, const std::string& what) {
  if (volume.data.empty()) return "";
  const int64_t voxels = volume.shape.voxels();
  for (int c = 0; c < volume.channels; ++c) {
    const float* v = volume.channel(c);
    if (std::any_of(v, v + voxels, [&](float x) { return x != v[0]; })) return "";
  }
  std::ostringstream m;
  m << "warning: " << what << ": the input image is constant (every voxel"
    << (volume.channels > 1 ? " of each channel" : "") << " has one value, e.g. " << volume.data[0]
    << "); its segmentation carries no information about the image";
  return m.str();
}

}  // namespace ima
