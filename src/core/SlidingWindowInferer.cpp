#include "ima/SlidingWindowInferer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "ima/AvailableMemory.h"
#include "ima/Error.h"
#include "ima/Network.h"
#include "internal/Device.h"
#include "internal/EvalModeGuard.h"
#include "internal/Patches.h"
#include "internal/Precision.h"
#include "internal/WindowGrid.h"

namespace ima {
namespace {

// Softmax probabilities [B, K, d, h, w] on the CPU, averaged over mirrored inputs if asked.
torch::Tensor probabilities(Network& net, const torch::Tensor& batch, int netDims, bool mirror) {
  torch::Tensor x = batch.to(net.device());
  if (netDims == 2) x = x.squeeze(2);
  // libtorch 1.13 on CPU sends single-sample 3D convolutions to its slow native kernel (about 30x
  // slower than oneDNN, which it picks from batch 2 on): run a lone 3D patch as a pair. (2D
  // convolutions of a single sample mostly stay on oneDNN, so there the copy would only cost.)
  const int64_t samples = x.size(0);
  if (samples == 1 && netDims == 3 && x.device().is_cpu()) x = torch::cat({x, x});
  auto run = [&](const torch::Tensor& in) { return torch::softmax(net.forward(in), 1); };
  torch::Tensor p = run(x);
  if (mirror) {
    const int64_t first = 2, last = x.dim() - 1;
    int count = 1;
    for (int mask = 1; mask < (1 << (last - first + 1)); ++mask) {
      std::vector<int64_t> axes;
      for (int64_t a = first; a <= last; ++a)
        if (mask & (1 << (a - first))) axes.push_back(a);
      p += run(x.flip(axes)).flip(axes);
      ++count;
    }
    p /= count;
  }
  p = p.narrow(0, 0, samples);
  if (netDims == 2) p = p.unsqueeze(2);
  return p.to(torch::kCPU, torch::kFloat).contiguous();
}

int64_t roundUp(int64_t v, int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

}  // namespace

std::vector<int64_t> windowStarts(int64_t size, int64_t patch, double overlap) {
  if (overlap < 0 || overlap >= 1) throw Error("overlap must be in [0, 1), got " + std::to_string(overlap));
  if (size <= patch) return {0};
  const double stride = std::max(1.0, static_cast<double>(patch) * (1.0 - overlap));
  const int64_t steps = static_cast<int64_t>(std::ceil(static_cast<double>(size - patch) / stride));
  std::vector<int64_t> starts;
  for (int64_t i = 0; i <= steps; ++i)
    starts.push_back(static_cast<int64_t>(std::llround(static_cast<double>(i) * static_cast<double>(size - patch) /
                                                       static_cast<double>(steps))));
  return starts;
}

Segmentation segment(const Model& model, const Volume& volume, const InferenceOptions& options,
                     const ProgressCallback& progress, bool wantProbabilities) {
  const ModelMetadata& meta = model.metadata();
  const NetworkSpec& spec = meta.network;
  if (volume.shape.dims() != 2 && volume.shape.dims() != 3)
    throw Error("input must be a 2D or 3D image, got " + std::to_string(volume.shape.dims()) + "D");
  if (spec.dims == 3 && volume.shape.dims() == 2)
    throw Error("a 3D model cannot segment a 2D image (" + volume.shape.str() + ")");
  if (volume.channels != spec.inChannels)
    throw Error("input has " + std::to_string(volume.channels) + " channel(s) but the model expects " +
                std::to_string(spec.inChannels));
  if (static_cast<int64_t>(volume.data.size()) != volume.channels * volume.shape.voxels())
    throw Error("input buffer holds " + std::to_string(volume.data.size()) + " values, expected " +
                std::to_string(volume.channels * volume.shape.voxels()));
  if (options.batchSize < 1) throw Error("batch size must be >= 1");
  checkFinite(volume, "input image");

  const torch::Device device = resolveDevice(applyRuntime(options.runtime));
  MixedPrecisionNetwork net(*model.network(), resolvePrecision(options.runtime.precision, device));
  net.to(device);
  EvalModeGuard evalMode(net);
  c10::InferenceMode inferenceMode;

  const Box extent = volumeExtent(volume.shape);
  const int64_t multiple = spec.kind == "unet" ? (int64_t{1} << (spec.stages - 1)) : 1;
  Box patch = patchExtent(options.patchSize.empty() ? meta.patchSize : options.patchSize);
  if (static_cast<int>((options.patchSize.empty() ? meta.patchSize : options.patchSize).size()) != spec.dims)
    throw Error("patch size must have " + std::to_string(spec.dims) + " entries for this model");
  if (options.wholeImage)
    patch = {spec.dims == 3 ? roundUp(extent[0], multiple) : 1, roundUp(extent[1], multiple), roundUp(extent[2], multiple)};
  for (int a = spec.dims == 3 ? 0 : 1; a < 3; ++a)
    if (patch[a] % multiple != 0)
      throw Error("patch size " + std::to_string(patch[a]) + " is not a multiple of " + std::to_string(multiple) +
                  " as this U-Net's " + std::to_string(spec.stages) + " stages require");

  const WindowGrid grid(extent, patch, options.overlap, options.gaussian && !options.wholeImage);
  const auto& starts = grid.starts;
  const auto& weights = grid.weights;
  const auto& cover = grid.cover;

  const int64_t K = spec.classes, plane = extent[1] * extent[2];
  const int64_t patchVoxels = patch[0] * patch[1] * patch[2];
  const int64_t slabDepth = std::min(patch[0], extent[0]);
  // The accumulators are the memory that grows with the image (docs/architecture.md §7): refuse
  // before any work when they cannot fit.
  const double needBytes =
      4.0 * static_cast<double>(K) * static_cast<double>(slabDepth * plane) +
      (wantProbabilities ? 4.0 * static_cast<double>(K) * static_cast<double>(extent[0] * plane) : 0.0) +
      static_cast<double>(extent[0] * plane);
  const double availableBytes = availableMemoryBytes();
  if (availableBytes > 0 && needBytes > availableBytes)
    throw Error("segmenting a " + volume.shape.str() + " image with " + std::to_string(K) + " classes needs about " +
                mebibytes(needBytes) + " of memory for its accumulators but only " + mebibytes(availableBytes) +
                " are available");
  std::vector<float> slab(static_cast<size_t>(K * slabDepth * plane), 0.f);

  Segmentation result;
  result.labels = LabelMap(volume.shape, 1, volume.geometry);
  if (wantProbabilities) result.probabilities = Volume(volume.shape, static_cast<int>(K), volume.geometry);

  const auto transforms = normalizationFor(meta.normalization, volume);
  const int64_t total = static_cast<int64_t>(starts[0].size() * starts[1].size() * starts[2].size());
  int64_t done = 0;
  reportProgress(progress, 0.0);

  for (size_t k = 0; k < starts[0].size(); ++k) {
    const int64_t base = starts[0][k];
    std::vector<Box> windows;
    for (int64_t y : starts[1])
      for (int64_t x : starts[2]) windows.push_back({base, y, x});
    for (size_t first = 0; first < windows.size(); first += static_cast<size_t>(options.batchSize)) {
      const size_t count = std::min(windows.size() - first, static_cast<size_t>(options.batchSize));
      torch::Tensor batch = torch::empty({static_cast<int64_t>(count), volume.channels, patch[0], patch[1], patch[2]});
      for (size_t b = 0; b < count; ++b)
        extractPatch(volume, transforms, windows[first + b], patch, batch[static_cast<int64_t>(b)].data_ptr<float>());
      const torch::Tensor p = probabilities(net, batch, spec.dims, options.mirror);
      // Weighted accumulation into the slab, clipped to the volume.
      for (size_t b = 0; b < count; ++b) {
        const Box& w = windows[first + b];
        const float* src = p[static_cast<int64_t>(b)].data_ptr<float>();
        for (int64_t c = 0; c < K; ++c)
          for (int64_t dz = 0; dz < patch[0] && w[0] + dz < extent[0]; ++dz)
            for (int64_t dy = 0; dy < patch[1] && w[1] + dy < extent[1]; ++dy) {
              const float wzy = weights[0][static_cast<size_t>(dz)] * weights[1][static_cast<size_t>(dy)];
              const float* row = src + c * patchVoxels + (dz * patch[1] + dy) * patch[2];
              float* dst = slab.data() + ((c * slabDepth + dz) * extent[1] + (w[1] + dy)) * extent[2] + w[2];
              const int64_t n = std::min(patch[2], extent[2] - w[2]);
              for (int64_t dx = 0; dx < n; ++dx) dst[dx] += wzy * weights[2][static_cast<size_t>(dx)] * row[dx];
            }
      }
      done += static_cast<int64_t>(count);
      reportProgress(progress, static_cast<double>(done) / static_cast<double>(total));
    }
    // Planes before the next window start receive no more contributions: finish them.
    const int64_t next = k + 1 < starts[0].size() ? starts[0][k + 1] : std::min(extent[0], base + slabDepth);
    for (int64_t z = base; z < next; ++z) {
      const int64_t zi = z - base;
      uint8_t* labels = result.labels.data.data() + z * plane;
      for (int64_t y = 0; y < extent[1]; ++y)
        for (int64_t x = 0; x < extent[2]; ++x) {
          const int64_t i = y * extent[2] + x;
          int64_t best = 0;
          float bestValue = slab[static_cast<size_t>(zi * plane + i)];
          for (int64_t c = 1; c < K; ++c) {
            const float v = slab[static_cast<size_t>((c * slabDepth + zi) * plane + i)];
            if (v > bestValue) { bestValue = v; best = c; }
          }
          labels[i] = static_cast<uint8_t>(best);
          if (wantProbabilities) {
            const double norm = cover[0][static_cast<size_t>(z)] * cover[1][static_cast<size_t>(y)] * cover[2][static_cast<size_t>(x)];
            for (int64_t c = 0; c < K; ++c)
              result.probabilities.channel(static_cast<int>(c))[z * plane + i] =
                  static_cast<float>(slab[static_cast<size_t>((c * slabDepth + zi) * plane + i)] / norm);
          }
        }
    }
    // Shift the slab so that plane `next` becomes plane 0.
    const int64_t shift = next - base;
    for (int64_t c = 0; c < K; ++c) {
      float* s = slab.data() + c * slabDepth * plane;
      std::memmove(s, s + shift * plane, static_cast<size_t>((slabDepth - shift) * plane) * sizeof(float));
      std::fill(s + (slabDepth - shift) * plane, s + slabDepth * plane, 0.f);
    }
  }
  return result;
}

}  // namespace ima
