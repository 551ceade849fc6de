// Limits checked before any work starts (docs/bad-input.md), so that an absurd request fails at
// once with a clear message instead of after minutes of work in a giant allocation.
#pragma once
#include <cstdint>

namespace ima {

// Label maps hold 0..255, so a model has at most 256 classes (background included).
constexpr int kMaxClasses = 256;
// A patch (sliding window or training patch) holds at most 2^24 voxels (256x256x256).
constexpr int64_t kMaxPatchVoxels = int64_t{1} << 24;

}  // namespace ima
