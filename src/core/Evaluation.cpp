#include "ima/Evaluation.h"

#include <algorithm>

#include "ima/Attacks.h"
#include "ima/Error.h"
#include "ima/Metrics.h"
#include "ima/Network.h"
#include "internal/Device.h"
#include "internal/EvalModeGuard.h"
#include "internal/Patches.h"

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

AttackOptions attackOptionsFor(const std::string& method, const EvaluationOptions& o) {
  AttackOptions a;
  a.method = method;
  a.norm = o.norm;
  a.steps = method == "ifgsm" ? o.ifgsmSteps : o.pgdSteps;
  a.restarts = method == "pgd" ? o.restarts : 1;
  a.seed = o.seed;
  return a;
}

std::string describe(const std::string& method, const AttackOptions& a) {
  if (method == "pgd")
    return "PGD-" + std::to_string(a.steps) + ", random start, step 4*eps/" + std::to_string(a.steps) + ", " +
           std::to_string(a.restarts) + " restart(s)";
  if (method == "ifgsm") return "IFGSM-" + std::to_string(a.steps) + ", step eps/4";
  if (method == "fgsm") return "FGSM, one step of eps";
  return "white noise of norm eps";
}

}  // namespace

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
  std::vector<double> budgets = o.budgets;
  for (double b : budgets)
    if (!(b >= 0)) throw Error("budgets must be >= 0, got " + std::to_string(b));
  budgets.push_back(0);
  std::sort(budgets.begin(), budgets.end());
  budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());

  const torch::Device device = resolveDevice(applyRuntime(o.runtime));
  Network& net = *model.network();
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
    const AttackOptions a = attackOptionsFor(method, o);
    report.attack(method).description = describe(method, a);
    for (double eps : budgets) {
      for (const TrainingCase& c : cases) {
        const Box extent = volumeExtent(c.image.shape);
        const auto transforms = normalizationFor(meta.normalization, c.image);
        std::vector<Box> tiles;
        for (int64_t z : tileStarts(extent[0], patch[0]))
          for (int64_t y : tileStarts(extent[1], patch[1]))
            for (int64_t x : tileStarts(extent[2], patch[2])) tiles.push_back({z, y, x});
        LabelMap predicted(c.labels.shape, 1, c.labels.geometry);
        for (size_t first = 0; first < tiles.size(); first += static_cast<size_t>(o.batchSize)) {
          const int64_t n = static_cast<int64_t>(std::min(tiles.size() - first, static_cast<size_t>(o.batchSize)));
          torch::Tensor xb = torch::empty({n, c.image.channels, patch[0], patch[1], patch[2]});
          torch::Tensor yb = torch::empty({n, patch[0], patch[1], patch[2]}, torch::kLong);
          for (int64_t b = 0; b < n; ++b) {
            extractPatch(c.image, transforms, tiles[first + static_cast<size_t>(b)], patch, xb[b].data_ptr<float>());
            extractLabels(c.labels, tiles[first + static_cast<size_t>(b)], patch, yb[b].data_ptr<int64_t>());
          }
          torch::Tensor x = xb.to(device), y = yb.to(device);
          if (spec.dims == 2) {
            x = x.squeeze(2);
            y = y.squeeze(1);
          }
          const torch::Tensor attacked = eps > 0 ? attack(net, x, y, eps, a) : x;
          torch::Tensor labels;
          {
            torch::NoGradGuard noGrad;
            labels = net.forward(attacked).argmax(1).to(torch::kCPU, torch::kByte);
          }
          if (spec.dims == 2) labels = labels.unsqueeze(1);
          labels = labels.contiguous();
          // Write the tiles back, clipped to the volume.
          for (int64_t b = 0; b < n; ++b) {
            const Box& t = tiles[first + static_cast<size_t>(b)];
            const uint8_t* src = labels[b].data_ptr<uint8_t>();
            for (int64_t dz = 0; dz < patch[0] && t[0] + dz < extent[0]; ++dz)
              for (int64_t dy = 0; dy < patch[1] && t[1] + dy < extent[1]; ++dy) {
                const int64_t w = std::min(patch[2], extent[2] - t[2]);
                std::copy(src + (dz * patch[1] + dy) * patch[2], src + (dz * patch[1] + dy) * patch[2] + w,
                          predicted.data.begin() + ((t[0] + dz) * extent[1] + t[1] + dy) * extent[2] + t[2]);
              }
          }
        }
        report.attack(method).budget(eps).addCase(overlapCounts(predicted, c.labels, spec.classes));
        reportProgress(progress, ++done / total);
      }
    }
  }
  report.validate();
  return report;
}

}  // namespace ima
