// APGD, the step-size-free projected gradient attack of Croce & Hein 2020 ("Reliable evaluation of
// adversarial robustness with an ensemble of diverse parameter-free attacks"), for classification
// and segmentation networks (docs/architecture.md §6). Like ima::attack it is shape-agnostic and
// batch independent: every sample has its own budget, step size, checkpoint statistics and best
// point, so attacking a batch gives the same result as attacking each sample alone.
//
// Shapes and units as in ima/Attacks.h: x [N, C, (D,) H, W] in normalised intensity units, target
// int64 [N] or [N, (D,) H, W], eps 0-d or [N] (>= 0) in the norm's units.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ima/AttackLoss.h"
#include "ima/Network.h"
#include "ima/Norm.h"

namespace ima {

// One iterate of APGD, handed to ApgdOptions::onIterate (all tensors detached, all N samples).
struct ApgdIterate {
  int stage = 0;           // radius annealing: 0, 1, 2 for 2, 1.5 and 1 times eps; otherwise 0
  int iterate = 0;         // 0 = the start point (of the stage); its step count = the last
  torch::Tensor xadv;      // [N, C, ...] the iterate
  torch::Tensor loss;      // [N] per-sample attack loss at xadv
  torch::Tensor stepSize;  // [N] the step size used to leave this iterate
  torch::Tensor restarted; // bool [N]: this iterate was replaced by the best point (step halved)
  torch::Tensor finished;  // bool [N]: the sample's attack stopped early (no foreground voxel right)
};

struct ApgdOptions {
  Norm norm = Norm::Linf;
  int steps = 100;            // gradient iterations after the start point
  AttackLoss loss = AttackLoss::Auto;  // what is maximised (ima/AttackLoss.h; not kl)
  bool randomStart = false;   // start uniformly inside the ball (as ima::attack's PGD) instead of at x
  double momentum = 0.75;     // weight of the new step; 1 - momentum goes to the previous move
  // Clamp x_adv to [clampLow, clampHigh] (leave off for z-scored inputs).
  bool clamp = false;
  double clampLow = 0;
  double clampHigh = 1;
  // Stop attacking a sample once it is beaten: segmentation, no foreground voxel of a non-empty
  // label is still right; classification, the prediction is wrong. Its result is that point.
  bool earlyStop = true;
  // Radius annealing (Croce, Singh & Hein 2024): the iterations run in three stages with radius
  // 2, 1.5 and 1 times eps (radiusAnnealingStages), each a full APGD run whose start is the
  // previous stage's result projected into the smaller ball. Only the last stage's result, inside
  // the eps ball, is returned.
  bool radiusAnnealing = false;
  uint64_t seed = 0;  // random start only; a private generator
  std::function<void(const ApgdIterate&)> onIterate;
};

// The checkpoints of APGD's step-size schedule for `steps` iterations: ceil(p_j * steps) with
// p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), up to steps (ascending,
// distinct, the last one below or at steps).
std::vector<int> apgdCheckpoints(int steps);

// One stage of radius annealing: `steps` iterations in the ball of radius radius * eps.
struct RadiusStage {
  double radius = 1;
  int steps = 0;
};
// The stages for `steps` iterations: floor(0.3 steps) at 2 eps, floor(0.3 steps) at 1.5 eps and
// the rest at eps (100 -> 30, 30, 40); stages without iterations are left out, so a very short
// attack runs at eps alone.
std::vector<RadiusStage> radiusAnnealingStages(int steps);

// Returns the point of each sample's highest attack loss seen (or its early-stop point), detached,
// with x's shape, dtype and device. Step size starts at 2 * eps; at each checkpoint a sample's step
// is halved, and the sample restarts from its best point, when at most 75% of the window's steps
// raised its loss or (its step not halved at the previous checkpoint) its best loss did not improve
// since then. Throws ima::Error on bad options or inputs, as ima::attack does.
torch::Tensor apgd(Network& net, const torch::Tensor& x, const torch::Tensor& target, const torch::Tensor& eps,
                   const ApgdOptions& options = {});

// A one-line description for reports, e.g. "APGD-100 (linf), loss js, momentum 0.75, radius annealing".
std::string describeApgd(const ApgdOptions& options);

}  // namespace ima
