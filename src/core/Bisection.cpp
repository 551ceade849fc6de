#include "ima/Bisection.h"

#include <cmath>

#include "ima/Error.h"

namespace ima {
namespace {

void checkEnds(int steps, const torch::Tensor& inside, const torch::Tensor& outside) {
  if (steps < 0) throw Error("bisection steps must be >= 0");
  if (inside.sizes() != outside.sizes()) throw Error("bisection end points differ in shape");
}

std::vector<int64_t> perSampleView(const torch::Tensor& t) {
  std::vector<int64_t> view(static_cast<size_t>(t.dim()), 1);
  view[0] = t.size(0);
  return view;
}

torch::Tensor ending(const torch::Tensor& inside, const torch::Tensor& outside, BisectionReturn result) {
  switch (result) {
    case BisectionReturn::Inside: return inside;
    case BisectionReturn::Outside: return outside;
    case BisectionReturn::Midpoint: break;
  }
  return 0.5 * (inside + outside);
}

}  // namespace

torch::Tensor bisectToBoundary(const std::function<torch::Tensor(const torch::Tensor&)>& correct,
                               torch::Tensor inside, torch::Tensor outside, int steps, BisectionReturn result) {
  checkEnds(steps, inside, outside);
  torch::NoGradGuard noGrad;
  const std::vector<int64_t> view = perSampleView(inside);
  for (int s = 0; s < steps; ++s) {
    const torch::Tensor middle = 0.5 * (inside + outside);
    const torch::Tensor ok = correct(middle).reshape(view);
    inside = torch::where(ok, middle, inside);
    outside = torch::where(ok, outside, middle);
  }
  return ending(inside, outside, result);
}

torch::Tensor bisectToBoundary(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& correctRows,
                               torch::Tensor inside, torch::Tensor outside, int steps, BisectionReturn result,
                               const torch::Tensor& tolerance, Norm norm) {
  checkEnds(steps, inside, outside);
  const int64_t n = inside.size(0);
  if (!tolerance.defined() || tolerance.dim() != 1 || tolerance.size(0) != n)
    throw Error("bisection: the tolerance must have one value per sample (" + std::to_string(n) + ")");
  torch::NoGradGuard noGrad;
  if (n == 0) return ending(inside, outside, result);
  const torch::Tensor flat = (outside - inside).reshape({n, -1}).to(torch::kDouble);
  const torch::Tensor bracket = norm == Norm::Linf ? flat.abs().amax(1) : flat.norm(2, 1);
  const torch::Tensor tol = tolerance.to(inside.device(), torch::kDouble);
  // Halvings until bracket * 2^-h <= tol; a zero tolerance (or a zero bracket above it) takes all.
  torch::Tensor halvings = torch::ceil(torch::log2(bracket / tol)).clamp(0, steps);
  halvings = torch::where(tol > 0, halvings, torch::full_like(halvings, steps)).nan_to_num(steps);
  // The one host synchronisation: the order of the rows by their number of halvings (most first),
  // so that the rows still halving at step s are a prefix of that order.
  const torch::Tensor counts = halvings.to(torch::kCPU, torch::kLong);
  const torch::Tensor order = counts.argsort(0, /*descending=*/true);
  const torch::Tensor sorted = counts.index_select(0, order);
  const int64_t* c = sorted.data_ptr<int64_t>();
  const torch::Tensor rows = order.to(inside.device());
  torch::Tensor in = inside.index_select(0, rows), out = outside.index_select(0, rows);
  const std::vector<int64_t> view = perSampleView(in);
  int64_t active = n;
  for (int s = 0; s < steps; ++s) {
    while (active > 0 && c[active - 1] <= s) --active;
    if (active == 0) break;
    const torch::Tensor a = in.narrow(0, 0, active), b = out.narrow(0, 0, active);
    const torch::Tensor middle = 0.5 * (a + b);
    std::vector<int64_t> activeView = view;
    activeView[0] = active;
    const torch::Tensor ok = correctRows(middle, rows.narrow(0, 0, active)).reshape(activeView);
    in.narrow(0, 0, active).copy_(torch::where(ok, middle, a));
    out.narrow(0, 0, active).copy_(torch::where(ok, b, middle));
  }
  const torch::Tensor found = ending(in, out, result);
  return torch::empty_like(found).index_copy_(0, rows, found);
}

}  // namespace ima
