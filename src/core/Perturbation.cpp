#include "internal/Perturbation.h"

#include "ima/Error.h"

namespace ima {
namespace {

// Random numbers are drawn in float (double for double inputs) on the CPU, then moved.
torch::TensorOptions randomOptions(const torch::Tensor& x) {
  return torch::TensorOptions().dtype(x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
}

}  // namespace

std::vector<int64_t> perSampleShape(const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  return shape;
}

torch::Tensor sampleNorms(const torch::Tensor& t) {
  return t.reshape({t.size(0), -1}).pow(2).sum(1).sqrt().reshape(perSampleShape(t));
}

torch::Tensor ascentDirection(const torch::Tensor& g, Norm norm) {
  if (norm == Norm::Linf) return g.sign();
  return g / sampleNorms(g).clamp_min(kTinyNorm);
}

torch::Tensor projectOntoBall(const torch::Tensor& delta, const torch::Tensor& eps, Norm norm) {
  if (norm == Norm::Linf) return torch::maximum(torch::minimum(delta, eps), -eps);
  // Factor 1 inside the ball, eps / ||delta|| outside; eps 0 gives 0 (also for delta 0).
  return delta * (eps / sampleNorms(delta).clamp_min(kTinyNorm)).clamp_max(1.0);
}

SlotRandom::SlotRandom(uint64_t seed, int64_t samples, int64_t batch_, int64_t offset_)
    : generator(at::detail::createCPUGenerator(seed)), batch(batch_ > 0 ? batch_ : samples),
      offset(batch_ > 0 ? offset_ : 0) {
  if (offset < 0 || offset + samples > batch)
    throw Error("attack: slots " + std::to_string(offset) + ".." + std::to_string(offset + samples - 1) +
                " lie outside the random batch of " + std::to_string(batch));
}

torch::Tensor SlotRandom::draw(c10::IntArrayRef sizes, bool gaussian, torch::ScalarType dtype) {
  std::vector<int64_t> all = sizes.vec();
  all[0] = batch;
  const auto options = torch::TensorOptions().dtype(dtype);
  const torch::Tensor t = gaussian ? torch::randn(all, generator, options) : torch::rand(all, generator, options);
  return t.narrow(0, offset, sizes[0]);
}

torch::Tensor uniformInCube(const torch::Tensor& x, const torch::Tensor& eps, SlotRandom& random) {
  const torch::Tensor u = random.draw(x.sizes(), false, randomOptions(x).dtype().toScalarType())
                              .to(x.device(), x.scalar_type());
  return (2 * u - 1) * eps;
}

torch::Tensor uniformDirection(const torch::Tensor& x, SlotRandom& random) {
  const torch::Tensor g = random.draw(x.sizes(), true, randomOptions(x).dtype().toScalarType());
  return (g / sampleNorms(g).clamp_min(kTinyNorm)).to(x.device(), x.scalar_type());
}

torch::Tensor uniformInL2Ball(const torch::Tensor& x, const torch::Tensor& eps, SlotRandom& random) {
  const torch::Tensor direction = uniformDirection(x, random);
  const double d = static_cast<double>(x.numel() / x.size(0));
  const torch::Tensor u = random.draw({x.size(0)}, false, torch::kDouble);
  const torch::Tensor radius = u.pow(1.0 / d).to(x.device(), x.scalar_type()).reshape(perSampleShape(x));
  return direction * radius * eps;
}

torch::Tensor randomStart(const torch::Tensor& x, const torch::Tensor& eps, Norm norm,
                          SlotRandom& random) {
  return norm == Norm::Linf ? uniformInCube(x, eps, random) : uniformInL2Ball(x, eps, random);
}

torch::Tensor PerturbationBall::point(const torch::Tensor& delta) const {
  const torch::Tensor p = x0_ + delta;
  return clamp_ ? p.clamp(low_, high_) : p;
}

torch::Tensor PerturbationBall::constrain(const torch::Tensor& delta) const {
  const torch::Tensor d = projectOntoBall(delta, eps_, norm_);
  return clamp_ ? point(d) - x0_ : d;
}

}  // namespace ima
