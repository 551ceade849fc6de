// IMA's warm starts (docs/architecture.md §5, "Warm start"): each training sample's last adversarial
// perturbation, kept between visits so that the next visit's search starts where the last one ended
// instead of at a random point, as ATTA does (Zheng et al., CVPR 2020). Few PGD steps then suffice.
//
// A segmentation sample is a patch drawn at a random place of its slice or grid cell and flipped at
// random, so a perturbation is kept in its case's frame (unflipped, at the patch's position): the
// next visit takes the part that overlaps its own patch, flipped as that patch is, and starts at
// random where nothing overlaps. Classification samples are whole images: the default placement.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace ima {

// Where a sample lies in its case: the first voxel (d, h, w) of its patch (which may lie outside
// the image) and the axes (d, h, w) the patch was flipped along after extraction.
struct PatchPlacement {
  std::array<int64_t, 3> start{};
  std::array<bool, 3> flipped{};
};

class WarmStarts {
public:
  // Keeps delta's rows (a sample's perturbation, [N, C, H, W] or [N, C, D, H, W] as the network
  // sees it) for samples `ids`, placed at `at` (empty: the default placement for every sample),
  // replacing what was kept for these ids. Copied to the CPU in fp32.
  void store(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& at, const torch::Tensor& delta);

  struct Recalled {
    torch::Tensor delta;  // like `like`: the kept perturbation seen from the new placement, 0 elsewhere
    torch::Tensor found;  // bool [N]: the sample has a kept perturbation overlapping its patch
  };
  // The perturbations kept for `ids`, seen from placements `at` (empty: default), on like's device
  // and dtype. A kept perturbation of another channel count or patch size is an ima::Error.
  Recalled recall(const std::vector<int64_t>& ids, const std::vector<PatchPlacement>& at, const torch::Tensor& like) const;

  int64_t size() const { return static_cast<int64_t>(kept_.size()); }
  void clear() { kept_.clear(); }
  // Drops every sample whose id `keep` rejects and copies the others out of any tensor they share
  // (a checkpoint's), so that the memory of the dropped ones is freed.
  void keepOnly(const std::function<bool(int64_t)>& keep);
  // Ids at or above `samples` are an ima::Error (a checkpoint of other training data).
  void checkIds(int64_t samples) const;

  // Checkpoints: every kept perturbation as tensors (ids [M], placements [M, 6] as start then
  // flipped, deltas [M, C, D, H, W]), in ascending id order, and back. Empty when none is kept.
  std::vector<std::pair<std::string, torch::Tensor>> tensors() const;
  // Any row order is read (a data-parallel checkpoint holds its ranks' tables one after the other).
  // Throws ima::Error naming `source` when the tensors are inconsistent.
  static WarmStarts fromTensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                const std::string& source);

private:
  struct Kept {
    PatchPlacement at;
    torch::Tensor delta;  // [C, D, H, W], CPU fp32, in the case's frame
  };
  std::unordered_map<int64_t, Kept> kept_;
};

}  // namespace ima
