#include "ima/Evaluation.h"

#include <algorithm>

#include "ima/Attacks.h"
#include "ima/Error.h"
#include "ima/Metrics.h"
#include "ima/Network.h"
#include "internal/Device.h"
#include "internal/EvalModeGuard.h"
#include "internal/Patches.h"
#include "internal/Precision.h"
#include "internal/Random.h"

namespace ima {
namespace {

// Non-overlapping tiles covering an axis; the last one is moved back inside when the axis is
// longer than the patch (it then overlaps its neighbour, whose prediction it overwrites).
std::vector<int64_t> tileStarts(int64_t size, int64_t patch) {
  std::vector<int64_t> starts;
  if (size <= patch) return {0};
  for (int64_t s = 0; s < size; s += patch) starts.push_back(std::min(s, size - patch));
  return starts;
}

// Runs `f(tiles, x, y, firstTile)` over the case's patch grid in batches: x [n, C, ...] normalised and y
// [n, ...] labels on the network's device, shaped for the network (depth squeezed in 2D).
// Reports the fraction of tiles done to `progress` before the first batch and after every batch
// (ima::Cancelled when it asks to stop).
template <typename F>
void forEachTileBatch(const Model& model, const TrainingCase& c, int batchSize, const torch::Device& device, F f,
                      const ProgressCallback& progress = {}) {
  if (batchSize < 1) throw Error("the batch size must be >= 1, got " + std::to_string(batchSize));
  const ModelMetadata& meta = model.metadata();
  const Box patch = patchExtent(meta.patchSize);
  const Box extent = volumeExtent(c.image.shape);
  const auto transforms = normalizationFor(meta.normalization, c.image);
  std::vector<Box> tiles;
  for (int64_t z : tileStarts(extent[0], patch[0]))
    for (int64_t y : tileStarts(extent[1], patch[1]))
      for (int64_t x : tileStarts(extent[2], patch[2])) tiles.push_back({z, y, x});
  reportProgress(progress, 0.0);
  for (size_t first = 0; first < tiles.size(); first += static_cast<size_t>(batchSize)) {
    const size_t n = std::min(tiles.size() - first, static_cast<size_t>(batchSize));
    const std::vector<Box> batch(tiles.begin() + static_cast<std::ptrdiff_t>(first),
                                 tiles.begin() + static_cast<std::ptrdiff_t>(first + n));
    torch::Tensor xb = torch::empty({static_cast<int64_t>(n), c.image.channels, patch[0], patch[1], patch[2]});
    torch::Tensor yb = torch::empty({static_cast<int64_t>(n), patch[0], patch[1], patch[2]}, torch::kLong);
    for (size_t b = 0; b < n; ++b) {
      extractPatch(c.image, transforms, batch[b], patch, xb[static_cast<int64_t>(b)].data_ptr<float>());
      extractLabels(c.labels, batch[b], patch, yb[static_cast<int64_t>(b)].data_ptr<int64_t>());
    }
    torch::Tensor x = xb.to(device), y = yb.to(device);
    if (meta.network.dims == 2) {
      x = x.squeeze(2);
      y = y.squeeze(1);
    }
    f(batch, x, y, first);
    reportProgress(progress, static_cast<double>(first + n) / static_cast<double>(tiles.size()));
  }
}

// Copies per-tile values [n, (d,) h, w] (one channel) back into a volume buffer, clipped to it.
template <typename T>
void writeTiles(const std::vector<Box>& tiles, const Box& patch, const Box& extent, torch::Tensor values, T* out) {
  values = values.reshape({static_cast<int64_t>(tiles.size()), patch[0], patch[1], patch[2]}).contiguous();
  for (size_t b = 0; b < tiles.size(); ++b) {
    const Box& t = tiles[b];
    const T* src = values[static_cast<int64_t>(b)].template data_ptr<T>();
    for (int64_t dz = 0; dz < patch[0] && t[0] + dz < extent[0]; ++dz)
      for (int64_t dy = 0; dy < patch[1] && t[1] + dy < extent[1]; ++dy) {
        const int64_t w = std::min(patch[2], extent[2] - t[2]);
        std::copy(src + (dz * patch[1] + dy) * patch[2], src + (dz * patch[1] + dy) * patch[2] + w,
                  out + ((t[0] + dz) * extent[1] + t[1] + dy) * extent[2] + t[2]);
      }
  }
}

AttackOptions attackOptionsFor(const std::string& method, const EvaluationOptions& o) {
  AttackOptions a = evaluationAttack(method, o.norm, o.pgdSteps, o.ifgsmSteps, o.restarts);
  a.seed = o.seed;
  return a;
}

}  // namespace

Volume adversarialVolume(const Model& model, const TrainingCase& c, const std::string& method, double eps,
                         const EvaluationOptions& o, const ProgressCallback& progress) {
  if (method != "fgsm" && method != "ifgsm" && method != "pgd" && method != "noise")
    throw Error("unknown attack '" + method + "' (expected fgsm, ifgsm, pgd or noise)");
  // Checked here too: with eps 0 the attack (which checks it) never runs.
  if (o.norm != "l2" && o.norm != "linf") throw Error("unknown norm '" + o.norm + "' (expected l2 or linf)");
  if (!(eps >= 0)) throw Error("the budget must be >= 0, got " + std::to_string(eps));
  checkTrainingCases({c}, model.metadata());
  const torch::Device device = resolveDevice(applyRuntime(o.runtime));
  MixedPrecisionNetwork net(*model.network(), resolvePrecision(o.runtime.precision, device));
  net.to(device);
  EvalModeGuard evalMode(net);
  const Box patch = patchExtent(model.metadata().patchSize), extent = volumeExtent(c.image.shape);
  const auto transforms = normalizationFor(model.metadata().normalization, c.image);
  // The perturbation in normalised units, per channel, assembled from the attacked tiles.
  Volume delta(c.image.shape, c.image.channels, c.image.geometry);
  AttackOptions a = attackOptionsFor(method, o);
  forEachTileBatch(model, c, o.batchSize, device, [&](const std::vector<Box>& tiles, const torch::Tensor& x,
                                                      const torch::Tensor& y, size_t firstTile) {
    a.seed = streamSeed(o.seed, firstTile);  // every batch its own random numbers
    const torch::Tensor d = (eps > 0 ? attack(net, x, y, eps, a) - x : torch::zeros_like(x)).to(torch::kCPU);
    for (int ch = 0; ch < c.image.channels; ++ch)
      writeTiles(tiles, patch, extent, d.select(1, ch).contiguous(), delta.channel(ch));
  }, progress);
  // Added to the raw intensities in raw units, so voxels outside a CT window keep their values.
  Volume out = c.image;
  for (int ch = 0; ch < c.image.channels; ++ch) {
    const float scale = transforms[static_cast<size_t>(ch)].scale;
    float* dst = out.channel(ch);
    const float* add = delta.channel(ch);
    for (int64_t i = 0; i < c.image.shape.voxels(); ++i) dst[i] += add[i] / scale;
  }
  return out;
}

RobustnessReport evaluateRobustness(const Model& model, const std::vector<TrainingCase>& cases,
                                    const EvaluationOptions& o, const ProgressCallback& progress) {
  const ModelMetadata& meta = model.metadata();
  const NetworkSpec& spec = meta.network;
  if (cases.empty()) throw Error("the evaluation set is empty");
  checkTrainingCases(cases, meta);
  if (o.attacks.empty()) throw Error("no attack given");
  for (const std::string& a : o.attacks)
    if (a != "fgsm" && a != "ifgsm" && a != "pgd" && a != "noise")
      throw Error("unknown attack '" + a + "' (expected fgsm, ifgsm, pgd or noise)");
  if (o.norm != "l2" && o.norm != "linf") throw Error("unknown norm '" + o.norm + "' (expected l2 or linf)");
  const std::vector<double> budgets = evaluationBudgets(o.budgets);

  const torch::Device device = resolveDevice(applyRuntime(o.runtime));
  MixedPrecisionNetwork net(*model.network(), resolvePrecision(o.runtime.precision, device));
  net.to(device);
  EvalModeGuard evalMode(net);

  RobustnessReport report;
  report.task = "segmentation";
  report.attacked = "patch";
  report.norm = o.norm;
  for (int k = 1; k < spec.classes; ++k) report.labelNames.push_back(meta.labelName(k));

  const Box patch = patchExtent(meta.patchSize);
  const double total = static_cast<double>(o.attacks.size() * budgets.size() * cases.size());
  double done = 0;
  for (const std::string& method : o.attacks) {
    AttackOptions a = attackOptionsFor(method, o);
    report.attack(method).description = describeAttack(a);
    for (double eps : budgets) {
      for (size_t caseIndex = 0; caseIndex < cases.size(); ++caseIndex) {
        const TrainingCase& c = cases[caseIndex];
        LabelMap predicted(c.labels.shape, 1, c.labels.geometry);
        forEachTileBatch(model, c, o.batchSize, device, [&](const std::vector<Box>& tiles, const torch::Tensor& x,
                                                             const torch::Tensor& y, size_t firstTile) {
          a.seed = streamSeed(o.seed, (caseIndex << 32) + firstTile);  // every batch its own
          const torch::Tensor attacked = eps > 0 ? attack(net, x, y, eps, a) : x;
          torch::NoGradGuard noGrad;
          writeTiles(tiles, patch, volumeExtent(c.labels.shape),
                     net.forward(attacked).argmax(1).to(torch::kCPU, torch::kByte), predicted.data.data());
        });
        report.attack(method).budget(eps).addCase(overlapCounts(predicted, c.labels, spec.classes));
        reportProgress(progress, ++done / total);
      }
    }
  }
  report.validate();
  return report;
}

}  // namespace ima
