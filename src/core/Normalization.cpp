#include "ima/Normalization.h"

#include <cmath>

#include "ima/Error.h"

namespace ima {

std::string Normalization::kindName() const { return kind == Kind::ZScore ? "zscore" : "ct"; }

Normalization::Kind Normalization::parseKind(const std::string& name) {
  if (name == "zscore") return Kind::ZScore;
  if (name == "ct") return Kind::CTWindow;
  throw Error("unknown normalisation '" + name + "' (expected zscore or ct)");
}

std::vector<ChannelTransform> normalizationFor(const Normalization& n, const Volume& v) {
  std::vector<ChannelTransform> transforms(static_cast<size_t>(v.channels));
  const int64_t voxels = v.shape.voxels();
  for (int c = 0; c < v.channels; ++c) {
    ChannelTransform& t = transforms[static_cast<size_t>(c)];
    if (n.kind == Normalization::Kind::CTWindow) {
      if (!(n.windowHigh > n.windowLow))
        throw Error("CT window must have high > low, got [" + std::to_string(n.windowLow) + ", " +
                    std::to_string(n.windowHigh) + "]");
      t.clip = true;
      t.low = n.windowLow;
      t.high = n.windowHigh;
      t.shift = 0.5f * (n.windowLow + n.windowHigh);
      t.scale = 2.f / (n.windowHigh - n.windowLow);
      continue;
    }
    // Two-pass mean and variance in double: volumes reach 10^8 voxels.
    const float* x = v.channel(c);
    double sum = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < voxels; ++i)
      if (!n.nonzeroMask || x[i] != 0.f) { sum += x[i]; ++count; }
    if (count == 0) { t.shift = 0; t.scale = 1; continue; }
    const double mean = sum / static_cast<double>(count);
    double sq = 0;
    for (int64_t i = 0; i < voxels; ++i)
      if (!n.nonzeroMask || x[i] != 0.f) sq += (x[i] - mean) * (x[i] - mean);
    const double sd = std::sqrt(sq / static_cast<double>(count));
    t.shift = static_cast<float>(mean);
    t.scale = static_cast<float>(1.0 / std::max(sd, 1e-8));
  }
  return transforms;
}

Volume normalize(const Normalization& n, const Volume& v) {
  Volume out = v;
  const auto transforms = normalizationFor(n, v);
  const int64_t voxels = v.shape.voxels();
  for (int c = 0; c < v.channels; ++c) {
    float* x = out.channel(c);
    const ChannelTransform t = transforms[static_cast<size_t>(c)];
    for (int64_t i = 0; i < voxels; ++i) x[i] = t(x[i]);
  }
  return out;
}

}  // namespace ima
