// The embedded default data set: synthetic volumes with two labelled structures.
//
// Label 1 ("organ"): a large smooth blob (ellipsoid deformed by low-frequency harmonics) whose
// contrast against the background varies per case and may be weak. Label 2 ("lesion"): a small
// sphere-like blob inside the organ that is darker or brighter than the organ, per case. Every
// case adds a multiplicative bias field, Rician-like noise and randomised geometry so that a
// global threshold fails.
#pragma once
#include <cstdint>
#include <utility>

#include "ima/Volume.h"

namespace ima {

struct PhantomOptions {
  int64_t size = 64;  // voxels per side
  int dims = 3;       // 2 gives single slices
  uint64_t seed = 1;
  double noise = 0.12;  // noise standard deviation relative to the organ contrast scale
};

// Case `index` of the phantom series determined by options.seed (deterministic).
std::pair<Volume, LabelMap> makePhantom(const PhantomOptions& options, int index);

}  // namespace ima
