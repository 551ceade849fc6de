#include "ima/Correctness.h"

#include "internal/PredictedClasses.h"

namespace ima {

torch::Tensor hardDice(const torch::Tensor& predicted, const torch::Tensor& target, int64_t classes) {
  const int64_t n = predicted.size(0);
  const torch::Tensor p = predicted.reshape({n, -1}), t = target.reshape({n, -1});
  std::vector<torch::Tensor> columns;
  for (int64_t k = 1; k < classes; ++k) {
    const torch::Tensor pk = (p == k), tk = (t == k);
    const torch::Tensor tp = (pk & tk).sum(1).to(torch::kFloat);
    const torch::Tensor denominator = (pk.sum(1) + tk.sum(1)).to(torch::kFloat);
    columns.push_back(torch::where(denominator > 0, 2 * tp / denominator.clamp_min(1),
                                   torch::full_like(denominator, std::numeric_limits<float>::quiet_NaN())));
  }
  return torch::stack(columns, 1);
}

torch::Tensor isCorrect(const torch::Tensor& logits, const torch::Tensor& target, Criterion criterion, double tau) {
  torch::NoGradGuard noGrad;
  const torch::Tensor predicted = predictedClasses(logits);
  if (logits.dim() == 2) return predicted == target;
  if (criterion == Criterion::PixelAccuracy)
    return (predicted == target).reshape({predicted.size(0), -1}).to(torch::kFloat).mean(1) >= tau;
  const torch::Tensor dice = hardDice(predicted, target, logits.size(1));
  const torch::Tensor present = ~torch::isnan(dice);
  const torch::Tensor anyPresent = present.any(1);
  torch::Tensor aggregate;
  if (criterion == Criterion::MaxDice) {
    aggregate = torch::where(present, dice, torch::zeros_like(dice)).amax(1);
  } else {
    aggregate = torch::where(present, dice, torch::zeros_like(dice)).sum(1) /
                present.sum(1).to(torch::kFloat).clamp_min(1);
  }
  return torch::where(anyPresent, aggregate >= tau, torch::ones_like(anyPresent));
}

}  // namespace ima
