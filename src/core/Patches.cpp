#include "internal/Patches.h"

#include <algorithm>

namespace ima {
namespace {

// Calls row(srcOffset, dstOffset, first, count) for every in-bounds row segment of the box;
// everything else in the destination stays as initialised.
template <typename Row>
void forEachRow(const Box& extent, const Box& start, const Box& size, Row row) {
  const int64_t x0 = std::max<int64_t>(0, start[2]), x1 = std::min(extent[2], start[2] + size[2]);
  if (x1 <= x0) return;
  for (int64_t dz = 0; dz < size[0]; ++dz) {
    const int64_t z = start[0] + dz;
    if (z < 0 || z >= extent[0]) continue;
    for (int64_t dy = 0; dy < size[1]; ++dy) {
      const int64_t y = start[1] + dy;
      if (y < 0 || y >= extent[1]) continue;
      row((z * extent[1] + y) * extent[2] + x0, (dz * size[1] + dy) * size[2] + (x0 - start[2]), x1 - x0);
    }
  }
}

}  // namespace

void extractPatch(const Volume& v, const std::vector<ChannelTransform>& t, const Box& start, const Box& size,
                  float* out) {
  const Box extent = volumeExtent(v.shape);
  const int64_t patchVoxels = size[0] * size[1] * size[2];
  std::fill(out, out + patchVoxels * v.channels, 0.f);
  for (int c = 0; c < v.channels; ++c) {
    const float* src = v.channel(c);
    float* dst = out + c * patchVoxels;
    const ChannelTransform f = t[static_cast<size_t>(c)];
    forEachRow(extent, start, size, [&](int64_t s, int64_t d, int64_t n) {
      for (int64_t i = 0; i < n; ++i) dst[d + i] = f(src[s + i]);
    });
  }
}

void extractLabels(const LabelMap& v, const Box& start, const Box& size, int64_t* out) {
  const Box extent = volumeExtent(v.shape);
  std::fill(out, out + size[0] * size[1] * size[2], 0);
  const uint8_t* src = v.data.data();
  forEachRow(extent, start, size, [&](int64_t s, int64_t d, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[d + i] = src[s + i];
  });
}

}  // namespace ima
