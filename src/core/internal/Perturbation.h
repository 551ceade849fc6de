// The geometry every gradient attack shares (ima::attack's FGSM/IFGSM/PGD/noise and ima::apgd):
// per-sample norms, the ascent direction, the projection onto each sample's ball, the optional
// intensity clamp and the random starts. Samples are flattened and treated on their own
// (docs/architecture.md §6), so one sample never influences another.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include "ima/Norm.h"

namespace ima {

// Guards divisions by per-sample norms: a zero gradient gives a zero direction, not NaN.
constexpr double kTinyNorm = 1e-30;

// [N, 1, ..., 1] with x's number of dimensions: per-sample values broadcast over a sample.
std::vector<int64_t> perSampleShape(const torch::Tensor& x);
// Per-sample L2 norms as [N, 1, ..., 1].
torch::Tensor sampleNorms(const torch::Tensor& t);
// The steepest-ascent direction of unit size in the norm: L2 -> g / ||g|| per sample; Linf -> sign.
torch::Tensor ascentDirection(const torch::Tensor& g, Norm norm);
// Projection onto each sample's ball of radius eps ([N, 1, ..., 1]) around 0: Linf clips every
// value to [-eps, eps]; L2 rescales a perturbation whose norm exceeds eps (eps 0 gives 0).
torch::Tensor projectOntoBall(const torch::Tensor& delta, const torch::Tensor& eps, Norm norm);

// Random numbers from a private CPU generator (deterministic in the seed whatever the device),
// drawn for the whole batch of which x holds the slots offset .. offset + N - 1, so that a sample's
// numbers do not depend on how a batch is split across processes (docs/distributed.md). batch 0 =
// x is the whole batch.
struct SlotRandom {
  at::Generator generator;
  int64_t batch, offset;
  SlotRandom(uint64_t seed, int64_t samples, int64_t batch = 0, int64_t offset = 0);
  // Uniform in [0, 1) or standard normal, of `sizes` ([N, ...], N this process's samples).
  torch::Tensor draw(c10::IntArrayRef sizes, bool gaussian, torch::ScalarType dtype);
};

// Random perturbations moved to x's device and dtype; eps is [N, 1, ..., 1].
torch::Tensor uniformInCube(const torch::Tensor& x, const torch::Tensor& eps, SlotRandom& random);
// A direction uniform on each sample's unit sphere (a normalised Gaussian).
torch::Tensor uniformDirection(const torch::Tensor& x, SlotRandom& random);
// Uniform in each sample's L2 ball: uniform direction, radius eps * u^(1/d), d values per sample.
torch::Tensor uniformInL2Ball(const torch::Tensor& x, const torch::Tensor& eps, SlotRandom& random);
// The random start of PGD and APGD: uniform in the Linf cube or the L2 ball.
torch::Tensor randomStart(const torch::Tensor& x, const torch::Tensor& eps, Norm norm,
                          SlotRandom& random);

// Points around x0 within each sample's ball (eps [N, 1, ..., 1]), optionally clamped to an
// intensity range. Holds references: x0 and eps must outlive it.
class PerturbationBall {
public:
  PerturbationBall(Norm norm, bool clamp, double clampLow, double clampHigh, const torch::Tensor& x0,
                   const torch::Tensor& eps)
      : norm_(norm), clamp_(clamp), low_(clampLow), high_(clampHigh), x0_(x0), eps_(eps) {}
  // x0 + delta, clamped to the intensity range when asked.
  torch::Tensor point(const torch::Tensor& delta) const;
  // The perturbation after projection onto the ball and the intensity range (x0 inside the range
  // keeps it inside the ball: clamping moves each value towards x0).
  torch::Tensor constrain(const torch::Tensor& delta) const;

private:
  Norm norm_;
  bool clamp_;
  double low_, high_;
  const torch::Tensor& x0_;
  const torch::Tensor& eps_;
};

}  // namespace ima
