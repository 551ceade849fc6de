// Intensity normalisation: part of a model's metadata and applied identically in training,
// inference and attacks (docs/architecture.md §3). Noise budgets are expressed in the normalised units.
#pragma once
#include <string>
#include <vector>

#include "ima/Volume.h"

namespace ima {

struct Normalization {
  enum class Kind { ZScore, CTWindow };
  Kind kind = Kind::ZScore;
  // ZScore: mean/std per channel over the whole volume, or over voxels != 0 when nonzeroMask.
  bool nonzeroMask = false;
  // CTWindow: clip to [windowLow, windowHigh] (HU), then map linearly onto [-1, 1].
  float windowLow = -1000.f;
  float windowHigh = 1000.f;

  std::string kindName() const;  // "zscore" | "ct"
  static Kind parseKind(const std::string& name);  // throws ima::Error on unknown names
};

// An affine map per channel, x -> (clamp(x) - shift) * scale, computed from one volume.
struct ChannelTransform {
  float shift = 0.f, scale = 1.f;
  bool clip = false;
  float low = 0.f, high = 0.f;
  float operator()(float x) const {
    if (clip) x = x < low ? low : (x > high ? high : x);
    return (x - shift) * scale;
  }
};

std::vector<ChannelTransform> normalizationFor(const Normalization& n, const Volume& v);
// Returns a normalised copy.
Volume normalize(const Normalization& n, const Volume& v);

}  // namespace ima
