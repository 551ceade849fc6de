// Plain image containers of the core: no ITK, no torch.
//
// Layout: voxel data is planar per channel and x-fastest, i.e. exactly the memory of a tensor
// [C, (D,) H, W] where W = size[0] (x), H = size[1] (y), D = size[2] (z). The tensor axis order is
// the reverse of ITK's index order (docs/architecture.md §3). Geometry (millimetres, LPS as in ITK) is carried
// around the network and never enters it.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ima {

struct Geometry {
  std::array<double, 3> origin{0, 0, 0};                      // mm
  std::array<double, 3> spacing{1, 1, 1};                     // mm
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major 3x3, columns = axis dirs
  bool operator==(const Geometry& o) const {
    return origin == o.origin && spacing == o.spacing && direction == o.direction;
  }
  // True when both describe the same grid within a tolerance relative to the spacing.
  bool approximatelyEquals(const Geometry& o, double tolerance = 1e-4) const;
};

// Spatial size in ITK order (x, y[, z]); dims() is 2 or 3.
struct Shape {
  std::vector<int64_t> size;
  int dims() const { return static_cast<int>(size.size()); }
  int64_t voxels() const;
  bool operator==(const Shape& o) const { return size == o.size; }
  std::string str() const;  // "64x64x32"
};

template <typename T>
struct ImageBuffer {
  Shape shape;
  int channels = 1;
  Geometry geometry;
  std::vector<T> data;  // channels * shape.voxels() values, planar channels, x fastest

  ImageBuffer() = default;
  ImageBuffer(Shape s, int c, Geometry g = {})
      : shape(std::move(s)), channels(c), geometry(g),
        data(static_cast<size_t>(c) * static_cast<size_t>(shape.voxels())) {}
  T* channel(int c) { return data.data() + static_cast<size_t>(c) * shape.voxels(); }
  const T* channel(int c) const { return data.data() + static_cast<size_t>(c) * shape.voxels(); }
};

using Volume = ImageBuffer<float>;      // intensities (raw, before normalisation)
using LabelMap = ImageBuffer<uint8_t>;  // 0 = background, 1..K = structures; channels == 1

// Throws ima::Error naming `what` if any value is NaN or infinite.
void checkFinite(const Volume& volume, const std::string& what);

// A constant channel z-scores to all zeros (or clips to one value): the network then answers with
// whatever its biases favour, which looks like a segmentation but says nothing about the image.
// Returns the warning every host prints for such an image named `what`, or "" for a usable one.
std::string constantImageWarning(const Volume& volume, const std::string& what);

}  // namespace ima
