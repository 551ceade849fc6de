// The sliding-window grid of one volume (docs/architecture.md §7): window starts per axis, the
// Gaussian importance of a window (a product of per-axis weights) and the summed weight at every
// position. Shared by the inferer and by the whole-volume attack, which must see exactly the
// deployed prediction.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "Patches.h"

namespace ima {

struct WindowGrid {
  // Boxes are (d, h, w); overlap in [0, 1); gaussian false = uniform weights.
  WindowGrid(const Box& extent, const Box& patch, double overlap, bool gaussian);

  Box extent, patch;
  std::array<std::vector<int64_t>, 3> starts;
  std::array<std::vector<float>, 3> weights;  // per axis, patch[a] values
  // Per axis and position, the sum of the weights of the windows covering it: the total weight at a
  // voxel is the product of the three, so no weight volume is stored.
  std::array<std::vector<double>, 3> cover;

  // Every window's start, slab by slab (z outermost), x fastest.
  std::vector<Box> windows() const;
};

}  // namespace ima
