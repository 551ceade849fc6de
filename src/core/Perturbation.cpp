#include "internal/Perturbation.h"

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

torch::Tensor ascentDirection(const torch::Tensor& g, const std::string& norm) {
  if (norm == "linf") return g.sign();
  return g / sampleNorms(g).clamp_min(kTinyNorm);
}

torch::Tensor projectOntoBall(const torch::Tensor& delta, const torch::Tensor& eps, const std::string& norm) {
  if (norm == "linf") return torch::maximum(torch::minimum(delta, eps), -eps);
  // Factor 1 inside the ball, eps / ||delta|| outside; eps 0 gives 0 (also for delta 0).
  return delta * (eps / sampleNorms(delta).clamp_min(kTinyNorm)).clamp_max(1.0);
}

torch::Tensor uniformInCube(const torch::Tensor& x, const torch::Tensor& eps, at::Generator& gen) {
  const torch::Tensor u = torch::rand(x.sizes(), gen, randomOptions(x)).to(x.device(), x.scalar_type());
  return (2 * u - 1) * eps;
}

torch::Tensor uniformDirection(const torch::Tensor& x, at::Generator& gen) {
  const torch::Tensor g = torch::randn(x.sizes(), gen, randomOptions(x));
  return (g / sampleNorms(g).clamp_min(kTinyNorm)).to(x.device(), x.scalar_type());
}

torch::Tensor uniformInL2Ball(const torch::Tensor& x, const torch::Tensor& eps, at::Generator& gen) {
  const torch::Tensor direction = uniformDirection(x, gen);
  const double d = static_cast<double>(x.numel() / x.size(0));
  const torch::Tensor u = torch::rand({x.size(0)}, gen, randomOptions(x).dtype(torch::kDouble));
  const torch::Tensor radius = u.pow(1.0 / d).to(x.device(), x.scalar_type()).reshape(perSampleShape(x));
  return direction * radius * eps;
}

torch::Tensor randomStart(const torch::Tensor& x, const torch::Tensor& eps, const std::string& norm,
                          at::Generator& gen) {
  return norm == "linf" ? uniformInCube(x, eps, gen) : uniformInL2Ball(x, eps, gen);
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
