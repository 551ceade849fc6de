#include "internal/PatchSampler.h"

#include <algorithm>

namespace ima {
namespace {
constexpr int64_t kMaxForegroundSamples = 20000;  // per class and case: enough to pick centres
}  // namespace

PreparedCase prepareCase(const LabelledCase& c, const ModelMetadata& m) {
  PreparedCase p;
  p.source = &c;
  p.transforms = normalizationFor(m.normalization, c.image);
  p.foreground.resize(static_cast<size_t>(m.network.classes - 1));
  std::vector<int64_t> counts(static_cast<size_t>(m.network.classes), 0);
  for (uint8_t l : c.labels.data) ++counts[l];
  for (int k = 1; k < m.network.classes; ++k) {
    const int64_t step = std::max<int64_t>(1, counts[static_cast<size_t>(k)] / kMaxForegroundSamples);
    int64_t seen = 0;
    for (size_t i = 0; i < c.labels.data.size(); ++i)
      if (c.labels.data[i] == k && seen++ % step == 0) p.foreground[static_cast<size_t>(k - 1)].push_back(static_cast<int64_t>(i));
  }
  return p;
}

PatchSampler::PatchSampler(const std::vector<PreparedCase>& cases, const NetworkSpec& spec, const Box& patch,
                           int batchSize, int foregroundPerBatch)
    : cases_(cases), dims_(spec.dims), patch_(patch), batchSize_(batchSize), foregroundPerBatch_(foregroundPerBatch),
      firstId_(cases.size() + 1, 0) {
  for (size_t i = 0; i < cases.size(); ++i) firstId_[i + 1] = firstId_[i] + cellsOf(cases[i]);
}

int64_t PatchSampler::cellsOf(const PreparedCase& pc) const {
  const Box e = volumeExtent(pc.source->image.shape);
  if (dims_ == 2) return e[0];
  int64_t cells = 1;
  for (int a = 0; a < 3; ++a) cells *= (e[a] + patch_[a] - 1) / patch_[a];
  return cells;
}

PatchSampler::Draw PatchSampler::draw(Random& random, int slot) const {
  Draw d;
  d.caseIndex = static_cast<size_t>(random.integer(static_cast<int64_t>(cases_.size())));
  const PreparedCase& pc = cases_[d.caseIndex];
  const Box extent = volumeExtent(pc.source->image.shape);
  std::vector<size_t> present;
  for (size_t k = 0; k < pc.foreground.size(); ++k)
    if (!pc.foreground[k].empty()) present.push_back(k);
  if (slot >= batchSize_ - foregroundPerBatch_ && !present.empty()) {
    const auto& voxels = pc.foreground[present[static_cast<size_t>(random.integer(static_cast<int64_t>(present.size())))]];
    const int64_t v = voxels[static_cast<size_t>(random.integer(static_cast<int64_t>(voxels.size())))];
    const Box at{v / (extent[1] * extent[2]), (v / extent[2]) % extent[1], v % extent[2]};
    for (int a = 0; a < 3; ++a) {
      // Centre on the voxel, jittered, then kept inside the image where the image is larger.
      const int64_t jitter = patch_[a] > 1 ? random.integer(patch_[a] / 2 + 1) - patch_[a] / 4 : 0;
      d.start[a] = at[a] - patch_[a] / 2 + jitter;
      if (extent[a] >= patch_[a]) d.start[a] = std::min(std::max<int64_t>(d.start[a], 0), extent[a] - patch_[a]);
    }
  } else {
    for (int a = 0; a < 3; ++a)
      d.start[a] = extent[a] >= patch_[a] ? random.integer(extent[a] - patch_[a] + 1) : -random.integer(patch_[a] - extent[a] + 1);
  }
  int64_t cell = 0;
  for (int a = 0; a < (dims_ == 2 ? 1 : 3); ++a) {
    const int64_t cellsAlong = dims_ == 2 ? extent[0] : (extent[a] + patch_[a] - 1) / patch_[a];
    const int64_t centre = std::min(std::max<int64_t>(d.start[a] + patch_[a] / 2, 0), extent[a] - 1);
    cell = cell * cellsAlong + (dims_ == 2 ? centre : centre / patch_[a]);
  }
  d.id = firstId_[d.caseIndex] + cell;
  return d;
}

void PatchSampler::extract(const Draw& d, float* image, int64_t* labels) const {
  const PreparedCase& pc = cases_[d.caseIndex];
  extractPatch(pc.source->image, pc.transforms, d.start, patch_, image);
  extractLabels(pc.source->labels, d.start, patch_, labels);
}

}  // namespace ima
