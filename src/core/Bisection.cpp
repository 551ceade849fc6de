#include "ima/Bisection.h"

#include "ima/Error.h"

namespace ima {

BisectionReturn parseBisectionReturn(const std::string& name) {
  if (name == "midpoint") return BisectionReturn::Midpoint;
  if (name == "inside") return BisectionReturn::Inside;
  if (name == "outside") return BisectionReturn::Outside;
  throw Error("unknown bisection result '" + name + "' (expected midpoint, inside or outside)");
}

torch::Tensor bisectToBoundary(const std::function<torch::Tensor(const torch::Tensor&)>& correct,
                               torch::Tensor inside, torch::Tensor outside, int steps, BisectionReturn result) {
  if (steps < 0) throw Error("bisection steps must be >= 0");
  if (inside.sizes() != outside.sizes()) throw Error("bisection end points differ in shape");
  torch::NoGradGuard noGrad;
  std::vector<int64_t> view(static_cast<size_t>(inside.dim()), 1);
  view[0] = inside.size(0);
  for (int s = 0; s < steps; ++s) {
    const torch::Tensor middle = 0.5 * (inside + outside);
    const torch::Tensor ok = correct(middle).reshape(view);
    inside = torch::where(ok, middle, inside);
    outside = torch::where(ok, outside, middle);
  }
  switch (result) {
    case BisectionReturn::Inside: return inside;
    case BisectionReturn::Outside: return outside;
    case BisectionReturn::Midpoint: break;
  }
  return 0.5 * (inside + outside);
}

}  // namespace ima
