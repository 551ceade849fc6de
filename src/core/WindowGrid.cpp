#include "internal/WindowGrid.h"

#include <algorithm>
#include <cmath>

#include "ima/SlidingWindowInferer.h"

namespace ima {
namespace {

// Gaussian importance along one axis (sigma = patch/8, peak 1), floored so that border voxels
// covered by a single window still get a non-zero weight.
std::vector<float> gaussian1d(int64_t p, bool gaussian) {
  std::vector<float> g(static_cast<size_t>(p), 1.f);
  if (!gaussian || p == 1) return g;
  const double sigma = static_cast<double>(p) / 8.0, centre = (static_cast<double>(p) - 1.0) / 2.0;
  for (int64_t i = 0; i < p; ++i) {
    const double d = (static_cast<double>(i) - centre) / sigma;
    g[static_cast<size_t>(i)] = static_cast<float>(std::max(std::exp(-0.5 * d * d), 1e-3));
  }
  return g;
}

std::vector<double> coverage(int64_t size, const std::vector<int64_t>& starts, const std::vector<float>& g) {
  std::vector<double> s(static_cast<size_t>(size), 0.0);
  for (int64_t start : starts)
    for (size_t i = 0; i < g.size(); ++i) {
      const int64_t v = start + static_cast<int64_t>(i);
      if (v >= 0 && v < size) s[static_cast<size_t>(v)] += g[i];
    }
  return s;
}

}  // namespace

WindowGrid::WindowGrid(const Box& extent_, const Box& patch_, double overlap, bool gaussian)
    : extent(extent_), patch(patch_) {
  for (size_t a = 0; a < 3; ++a) {
    starts[a] = windowStarts(extent[a], patch[a], overlap);
    weights[a] = gaussian1d(patch[a], gaussian);
    cover[a] = coverage(extent[a], starts[a], weights[a]);
  }
}

std::vector<Box> WindowGrid::windows() const {
  std::vector<Box> all;
  for (int64_t z : starts[0])
    for (int64_t y : starts[1])
      for (int64_t x : starts[2]) all.push_back({z, y, x});
  return all;
}

}  // namespace ima
