#include "ima/WarmStarts.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "ima/Error.h"

namespace ima {
namespace {

// [C, D, H, W] views of one sample: 2D samples get D = 1.
torch::Tensor asVolume(const torch::Tensor& sample) { return sample.dim() == 3 ? sample.unsqueeze(1) : sample; }

// The tensor axes (of [C, D, H, W]) a placement flips.
std::vector<int64_t> flippedAxes(const PatchPlacement& p) {
  std::vector<int64_t> axes;
  for (int a = 0; a < 3; ++a)
    if (p.flipped[static_cast<size_t>(a)]) axes.push_back(a + 1);
  return axes;
}

torch::Tensor flipped(const torch::Tensor& t, const PatchPlacement& p) {
  const std::vector<int64_t> axes = flippedAxes(p);
  return axes.empty() ? t : t.flip(axes);
}

}  // namespace

void WarmStarts::store(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& at, const torch::Tensor& delta) {
  if (static_cast<int64_t>(ids.size()) != delta.size(0) || (!at.empty() && at.size() != ids.size()))
    throw Error("warm starts: one id and one placement per sample are needed");
  const torch::Tensor cpu = delta.detach().to(torch::kCPU, torch::kFloat);
  for (size_t i = 0; i < ids.size(); ++i) {
    const PatchPlacement p = at.empty() ? PatchPlacement{} : at[i];
    // Unflipped into the case's frame; a flip is its own inverse.
    const torch::Tensor value = flipped(asVolume(cpu[static_cast<int64_t>(i)]), p);
    const auto kept = kept_.find(ids[i]);
    // A revisit overwrites its slot in place: after a resume the slots are views of the
    // checkpoint's one tensor, which would otherwise stay alive beside their replacements.
    if (kept != kept_.end() && kept->second.delta.sizes() == value.sizes()) {
      kept->second.delta.copy_(value);
      kept->second.at = p;
    } else {
      kept_[ids[i]] = Kept{p, value.clone()};
    }
  }
}

WarmStarts::Recalled WarmStarts::recall(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& at,
                                        const torch::Tensor& like) const {
  if (static_cast<int64_t>(ids.size()) != like.size(0) || (!at.empty() && at.size() != ids.size()))
    throw Error("warm starts: one id and one placement per sample are needed");
  torch::Tensor delta = torch::zeros(like.sizes(), torch::kFloat);
  std::vector<uint8_t> found(ids.size(), 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto kept = kept_.find(ids[i]);
    if (kept == kept_.end()) continue;
    const PatchPlacement p = at.empty() ? PatchPlacement{} : at[i];
    torch::Tensor target = asVolume(delta[static_cast<int64_t>(i)]);  // a view: writes land in delta
    const torch::Tensor& source = kept->second.delta;
    if (source.sizes() != target.sizes())
      throw Error("warm starts: the kept perturbation of sample " + std::to_string(ids[i]) +
                  " has another shape than this training's patches");
    // The overlap of the kept patch and the new one, axis by axis, in the case's frame.
    torch::Tensor from = source, region = torch::zeros_like(target);
    torch::Tensor to = region;
    bool overlaps = true;
    for (int a = 0; a < 3 && overlaps; ++a) {
      const int64_t size = target.size(a + 1);
      const int64_t oldStart = kept->second.at.start[static_cast<size_t>(a)], newStart = p.start[static_cast<size_t>(a)];
      const int64_t low = std::max(oldStart, newStart), high = std::min(oldStart, newStart) + size;
      overlaps = low < high;
      if (!overlaps) break;
      from = from.narrow(a + 1, low - oldStart, high - low);
      to = to.narrow(a + 1, low - newStart, high - low);
    }
    if (!overlaps) continue;
    to.copy_(from);
    target.copy_(flipped(region, p));
    found[i] = 1;
  }
  const torch::Tensor foundMask = torch::tensor(std::vector<int64_t>(found.begin(), found.end())).to(torch::kBool);
  return {delta.to(like.device(), like.scalar_type()), foundMask.to(like.device())};
}

void WarmStarts::keepOnly(const std::function<bool(int64_t)>& keep) {
  for (auto it = kept_.begin(); it != kept_.end();) it = keep(it->first) ? std::next(it) : kept_.erase(it);
  for (auto& [id, kept] : kept_) kept.delta = kept.delta.clone();
}

void WarmStarts::checkIds(int64_t samples) const {
  for (const auto& [id, kept] : kept_)
    if (id < 0 || id >= samples)
      throw Error("the checkpoint's warm starts include sample " + std::to_string(id) + " but this training set has " +
                  std::to_string(samples) + " samples; resume with the same training data");
}

std::vector<std::pair<std::string, torch::Tensor>> WarmStarts::tensors() const {
  if (kept_.empty()) return {};
  std::vector<int64_t> ids;
  for (const auto& entry : kept_) ids.push_back(entry.first);
  std::sort(ids.begin(), ids.end());
  torch::Tensor placements = torch::empty({static_cast<int64_t>(ids.size()), 6}, torch::kLong);
  std::vector<torch::Tensor> deltas;
  for (size_t i = 0; i < ids.size(); ++i) {
    const Kept& k = kept_.at(ids[i]);
    for (int a = 0; a < 3; ++a) {
      placements[static_cast<int64_t>(i)][a] = k.at.start[static_cast<size_t>(a)];
      placements[static_cast<int64_t>(i)][a + 3] = static_cast<int64_t>(k.at.flipped[static_cast<size_t>(a)]);
    }
    deltas.push_back(k.delta);
  }
  return {{"ids", torch::tensor(ids)}, {"placements", placements}, {"deltas", torch::stack(deltas)}};
}

WarmStarts WarmStarts::fromTensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                   const std::string& source) {
  WarmStarts w;
  if (tensors.empty()) return w;
  torch::Tensor ids, placements, deltas;
  for (const auto& [name, t] : tensors) (name == "ids" ? ids : name == "placements" ? placements : deltas) = t;
  const auto bad = [&] { return Error(source + ": its warm starts are inconsistent"); };
  if (!ids.defined() || !placements.defined() || !deltas.defined() || ids.dim() != 1 || placements.dim() != 2 ||
      placements.size(1) != 6 || deltas.dim() != 5 || placements.size(0) != ids.size(0) || deltas.size(0) != ids.size(0) ||
      ids.scalar_type() != torch::kLong || placements.scalar_type() != torch::kLong || !deltas.is_floating_point())
    throw bad();
  const torch::Tensor d = deltas.to(torch::kCPU, torch::kFloat).contiguous();
  const torch::Tensor p = placements.cpu();
  const auto* pv = p.data_ptr<int64_t>();
  const torch::Tensor i64 = ids.cpu();
  for (int64_t i = 0; i < ids.size(0); ++i) {
    Kept k;
    for (int a = 0; a < 3; ++a) {
      k.at.start[static_cast<size_t>(a)] = pv[i * 6 + a];
      k.at.flipped[static_cast<size_t>(a)] = pv[i * 6 + a + 3] != 0;
    }
    // A view: the checkpoint's tensor is the table's storage, not copied again. Checked in place:
    // torch::isfinite's temporaries would take up to twice the table.
    k.delta = d[i];
    const float* v = k.delta.data_ptr<float>();
    if (!std::all_of(v, v + k.delta.numel(), [](float e) { return std::isfinite(e); })) throw bad();
    if (!w.kept_.emplace(i64.data_ptr<int64_t>()[i], std::move(k)).second) throw bad();
  }
  return w;
}

}  // namespace ima
