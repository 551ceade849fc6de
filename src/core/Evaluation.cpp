#include "ima/Evaluation.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "ima/Error.h"
#include "ima/GradientMasking.h"
#include "ima/Metrics.h"
#include "ima/Network.h"
#include "internal/PredictedClasses.h"
#include "internal/Device.h"
#include "internal/EvalModeGuard.h"
#include "internal/EvaluationAttacks.h"
#include "internal/Patches.h"
#include "internal/Precision.h"
#include "internal/Random.h"
#include "internal/WholeVolumeNetwork.h"

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
void forEachTileBatch(const Model& model, const LabelledCase& c, int batchSize, const torch::Device& device, F f,
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

// The whole case as one normalised sample on `device`: x [1, C, D, H, W], y [1, D, H, W].
std::pair<torch::Tensor, torch::Tensor> wholeCase(const Model& model, const LabelledCase& c, const torch::Device& device) {
  const Box extent = volumeExtent(c.image.shape);
  torch::Tensor x = torch::empty({1, c.image.channels, extent[0], extent[1], extent[2]});
  torch::Tensor y = torch::empty({1, extent[0], extent[1], extent[2]}, torch::kLong);
  extractPatch(c.image, normalizationFor(model.metadata().normalization, c.image), {0, 0, 0}, extent,
               x.data_ptr<float>());
  extractLabels(c.labels, {0, 0, 0}, extent, y.data_ptr<int64_t>());
  return {x.to(device), y.to(device)};
}

// The deployed prediction of `net` (the model's patch network) over whole cases.
WholeVolumeNetwork wholeVolumeNetwork(Network& net, const Model& model, const EvaluationOptions& o) {
  const NetworkSpec& spec = model.metadata().network;
  return WholeVolumeNetwork(net, spec.dims, spec.classes, patchExtent(model.metadata().patchSize), o.overlap,
                            o.batchSize);
}

// Attacks the whole case through `volumeNet` at the volume's budget for per-patch eps; returns
// the attacked input [1, C, D, H, W] (x itself when eps is 0).
torch::Tensor attackWholeCase(const EvaluationAttack& a, WholeVolumeNetwork& volumeNet, const Model& model,
                              const torch::Tensor& x, const torch::Tensor& y, double eps, Norm norm,
                              uint64_t seed) {
  if (eps == 0) return x;
  const Box patch = patchExtent(model.metadata().patchSize);
  return a.run(volumeNet, x, y, volumeBudget(eps, norm, y.numel(), patch[0] * patch[1] * patch[2]), seed);
}

// The very large budget of the masking checks, as a multiple of the largest evaluated budget.
constexpr double kLargeBudgetFactor = 100;

// The mean foreground Dice of one case, as BudgetResult::addCase counts it.
double caseDice(const std::vector<OverlapCounts>& counts) {
  double sum = 0;
  for (const OverlapCounts& c : counts) sum += c.dice();
  return sum / static_cast<double>(counts.size());
}

}  // namespace

std::string attackedName(EvaluationOptions::Attacked attacked) {
  return attacked == EvaluationOptions::Attacked::Volume ? "volume" : "patch";
}

EvaluationOptions::Attacked parseAttacked(const std::string& name) {
  if (name == "patch") return EvaluationOptions::Attacked::Patch;
  if (name == "volume") return EvaluationOptions::Attacked::Volume;
  throw Error("unknown attacked level '" + name + "' (expected patch or volume)");
}

double volumeBudget(double eps, Norm norm, int64_t volumeVoxels, int64_t patchVoxels) {
  if (norm == Norm::Linf) return eps;
  return eps * std::sqrt(static_cast<double>(volumeVoxels) / static_cast<double>(patchVoxels));
}

Volume adversarialVolume(const Model& model, const LabelledCase& c, const std::string& method, double eps,
                         const EvaluationOptions& o, const ProgressCallback& progress) {
  const std::vector<EvaluationAttack> attacks = evaluationAttacksOf(method, o);
  if (attacks.size() != 1)
    throw Error("attack '" + method + "' is an ensemble, which makes no single adversarial image; choose one attack");
  // Checked here too: with eps 0 the attack (which checks it) never runs.
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
  const EvaluationAttack& a = attacks.front();
  if (o.attacked == EvaluationOptions::Attacked::Volume) {
    reportProgress(progress, 0.0);
    WholeVolumeNetwork volumeNet = wholeVolumeNetwork(net, model, o);
    const auto [x, y] = wholeCase(model, c, device);
    const torch::Tensor adversarial = attackWholeCase(a, volumeNet, model, x, y, eps, o.norm, streamSeed(o.seed, 0));
    const torch::Tensor d = (adversarial - x)[0].to(torch::kCPU).contiguous();
    std::copy(d.data_ptr<float>(), d.data_ptr<float>() + d.numel(), delta.data.begin());
    reportProgress(progress, 1.0);
  } else {
    forEachTileBatch(model, c, o.batchSize, device, [&](const std::vector<Box>& tiles, const torch::Tensor& x,
                                                        const torch::Tensor& y, size_t firstTile) {
      // Every batch its own random numbers.
      const torch::Tensor d = (eps > 0 ? a.run(net, x, y, eps, streamSeed(o.seed, firstTile)) - x : torch::zeros_like(x))
                                  .to(torch::kCPU);
      for (int ch = 0; ch < c.image.channels; ++ch)
        writeTiles(tiles, patch, extent, d.select(1, ch).contiguous(), delta.channel(ch));
    }, progress);
  }
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

RobustnessReport evaluateRobustness(const Model& model, const std::vector<LabelledCase>& cases,
                                    const EvaluationOptions& o, const ProgressCallback& progress) {
  const ModelMetadata& meta = model.metadata();
  const NetworkSpec& spec = meta.network;
  if (cases.empty()) throw Error("the evaluation set is empty");
  checkTrainingCases(cases, meta);
  if (o.attacks.empty()) throw Error("no attack given");
  std::vector<std::vector<EvaluationAttack>> plans;  // per requested attack: itself or its members
  for (size_t i = 0; i < o.attacks.size(); ++i) {
    if (std::find(o.attacks.begin(), o.attacks.begin() + static_cast<std::ptrdiff_t>(i), o.attacks[i]) !=
        o.attacks.begin() + static_cast<std::ptrdiff_t>(i))
      throw Error("the attack '" + o.attacks[i] + "' is given twice");
    plans.push_back(evaluationAttacksOf(o.attacks[i], o));
  }
  const std::vector<double> budgets = evaluationBudgets(o.budgets);

  const torch::Device device = resolveDevice(applyRuntime(o.runtime));
  MixedPrecisionNetwork net(*model.network(), resolvePrecision(o.runtime.precision, device));
  net.to(device);
  EvalModeGuard evalMode(net);

  RobustnessReport report;
  report.task = "segmentation";
  report.attacked = attackedName(o.attacked);
  report.norm = o.norm;
  for (int k = 1; k < spec.classes; ++k) report.labelNames.push_back(meta.labelName(k));

  const Box patch = patchExtent(meta.patchSize);
  WholeVolumeNetwork volumeNet = wholeVolumeNetwork(net, model, o);
  // The assembled prediction of one case under attack `a` at budget eps, scored.
  const auto countsOf = [&](const EvaluationAttack& a, double eps, size_t caseIndex) {
    const LabelledCase& c = cases[caseIndex];
    LabelMap predicted(c.labels.shape, 1, c.labels.geometry);
    if (o.attacked == EvaluationOptions::Attacked::Volume) {
      const auto [x, y] = wholeCase(model, c, device);
      const torch::Tensor attacked =
          attackWholeCase(a, volumeNet, model, x, y, eps, o.norm, streamSeed(o.seed, caseIndex << 32));
      torch::NoGradGuard noGrad;
      const torch::Tensor labels = predictedClasses(volumeNet.forward(attacked)).to(torch::kCPU, torch::kByte).contiguous();
      std::copy(labels.data_ptr<uint8_t>(), labels.data_ptr<uint8_t>() + labels.numel(), predicted.data.begin());
      return overlapCounts(predicted, c.labels, spec.classes);
    }
    forEachTileBatch(model, c, o.batchSize, device, [&](const std::vector<Box>& tiles, const torch::Tensor& x,
                                                         const torch::Tensor& y, size_t firstTile) {
      // Every batch its own random numbers.
      const uint64_t seed = streamSeed(o.seed, (caseIndex << 32) + firstTile);
      const torch::Tensor attacked = eps > 0 ? a.run(net, x, y, eps, seed) : x;
      torch::NoGradGuard noGrad;
      writeTiles(tiles, patch, volumeExtent(c.labels.shape),
                 predictedClasses(net.forward(attacked)).to(torch::kCPU, torch::kByte), predicted.data.data());
    });
    return overlapCounts(predicted, c.labels, spec.classes);
  };

  // Gradient-masking probes (docs/evaluation.md): FGSM and noise at the largest budget, and for PGD
  // and IFGSM (alone or in an ensemble) twice the iterations there and a very large budget.
  const double largest = budgets.back();
  const bool probe = o.maskingChecks && largest > 0;
  struct Probed {
    std::string reportName;
    size_t plan;
    EvaluationAttack attack;
  };
  std::vector<Probed> probed;
  for (size_t p = 0; p < plans.size() && probe; ++p)
    for (const EvaluationAttack& a : plans[p])
      if (a.name == "pgd" || a.name == "ifgsm")
        probed.push_back({plans[p].size() > 1 ? o.attacks[p] + ":" + a.name : a.name, p, a});

  size_t units = 0;
  for (const auto& plan : plans) units += plan.size() * budgets.size();
  if (probe) units += 2 + 2 * probed.size();
  const double total = static_cast<double>(units * cases.size());
  double done = 0;
  for (size_t p = 0; p < plans.size(); ++p) {
    const std::string& requested = o.attacks[p];
    const std::vector<EvaluationAttack>& plan = plans[p];
    // An ensemble is listed before its members, which carry its name as a prefix ("strong:pgd").
    const bool ensemble = plan.size() > 1;
    const auto reportName = [&](const EvaluationAttack& a) { return ensemble ? requested + ":" + a.name : a.name; };
    if (ensemble) {
      AttackResult& e = report.attack(requested);
      e.description = "per case and budget the lowest Dice of its " + std::to_string(plan.size()) + " members";
      for (const EvaluationAttack& a : plan) e.members.push_back(reportName(a));
    }
    for (const EvaluationAttack& a : plan) report.attack(reportName(a)).description = a.description;
    for (double eps : budgets) {
      for (size_t caseIndex = 0; caseIndex < cases.size(); ++caseIndex) {
        std::vector<OverlapCounts> worstCounts;
        std::string worstName;
        double worstDice = 2;
        for (const EvaluationAttack& a : plan) {
          // The clean result is the same for every member.
          const std::vector<OverlapCounts> counts =
              eps == 0 && !worstCounts.empty() ? worstCounts : countsOf(a, eps, caseIndex);
          report.attack(reportName(a)).budget(eps).addCase(counts);
          // Ties keep the earlier member.
          if (const double d = caseDice(counts); d < worstDice) {
            worstDice = d;
            worstCounts = counts;
            worstName = reportName(a);
          }
          reportProgress(progress, ++done / total);
        }
        if (ensemble) {
          BudgetResult& b = report.attack(requested).budget(eps);
          b.addCase(worstCounts);
          b.caseWorstAttack.push_back(worstName);
        }
      }
    }
  }

  MaskingProbes probes;
  probes.eps = largest;
  probes.largeEps = kLargeBudgetFactor * largest;
  if (probe) {
    const auto metricOf = [&](const EvaluationAttack& a, double eps) {
      BudgetResult r(eps);
      for (size_t caseIndex = 0; caseIndex < cases.size(); ++caseIndex) {
        r.addCase(countsOf(a, eps, caseIndex));
        reportProgress(progress, ++done / total);
      }
      return r.meanVoxelDice();
    };
    probes.oneStep = metricOf(evaluationAttacksOf("fgsm", o).front(), largest);
    probes.noise = metricOf(evaluationAttacksOf("noise", o).front(), largest);
    EvaluationOptions twice = o;
    twice.pgdSteps *= 2;
    twice.ifgsmSteps *= 2;
    for (const Probed& p : probed) {
      // The same attack (or ensemble member) with twice the iterations.
      for (const EvaluationAttack& more : evaluationAttacksOf(o.attacks[p.plan], twice))
        if (more.name == p.attack.name) probes.moreSteps[p.reportName] = metricOf(more, largest);
      probes.largeBudget[p.reportName] = metricOf(p.attack, probes.largeEps);
    }
  }
  report.maskingWarnings = maskingWarnings(report, probes);
  report.validate();
  return report;
}

}  // namespace ima
