#include "internal/Losses.h"

namespace ima {

torch::Tensor softDice(const torch::Tensor& logits, const torch::Tensor& target, bool perSample, double smooth) {
  const int64_t K = logits.size(1);
  const torch::Tensor p = torch::softmax(logits, 1);
  // One-hot target in the logits' layout: [N, K, ...].
  torch::Tensor onehot = torch::zeros_like(p).scatter_(1, target.unsqueeze(1), 1.0);
  std::vector<int64_t> reduce;
  if (!perSample) reduce.push_back(0);
  for (int64_t d = 2; d < logits.dim(); ++d) reduce.push_back(d);
  const torch::Tensor fg = torch::arange(1, K, torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
  const torch::Tensor pf = p.index_select(1, fg), tf = onehot.index_select(1, fg);
  const torch::Tensor intersection = (pf * tf).sum(reduce);
  const torch::Tensor denominator = pf.sum(reduce) + tf.sum(reduce);
  return (2 * intersection + smooth) / (denominator + smooth);
}

torch::Tensor diceCrossEntropy(const torch::Tensor& logits, const torch::Tensor& target) {
  const torch::Tensor ce = torch::nn::functional::cross_entropy(logits, target);
  return ce + (1 - softDice(logits, target, /*perSample=*/false).mean());
}

torch::Tensor diceCrossEntropyOfGlobalBatch(const torch::Tensor& logits, const torch::Tensor& target, double share,
                                            const SumOverProcesses& sumOverProcesses) {
  constexpr double smooth = 1e-5;  // softDice's
  const torch::Tensor ce = torch::nn::functional::cross_entropy(logits, target);
  const int64_t K = logits.size(1);
  const torch::Tensor p = torch::softmax(logits, 1);
  const torch::Tensor onehot = torch::zeros_like(p).scatter_(1, target.unsqueeze(1), 1.0);
  std::vector<int64_t> reduce{0};
  for (int64_t d = 2; d < logits.dim(); ++d) reduce.push_back(d);
  const torch::Tensor fg = torch::arange(1, K, torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
  const torch::Tensor pf = p.index_select(1, fg), tf = onehot.index_select(1, fg);
  const torch::Tensor intersection = (pf * tf).sum(reduce);
  const torch::Tensor denominator = pf.sum(reduce) + tf.sum(reduce);
  const torch::Tensor global = sumOverProcesses(torch::stack({intersection, denominator}).detach());
  // The other processes' sums enter as constants: the gradient flows through this process's
  // predictions, which is its part of the global Dice's gradient.
  const torch::Tensor globalIntersection = global[0] + (intersection - intersection.detach());
  const torch::Tensor globalDenominator = global[1] + (denominator - denominator.detach());
  const torch::Tensor diceLoss = 1 - ((2 * globalIntersection + smooth) / (globalDenominator + smooth)).mean();
  // The caller weights every process's gradient by its share before summing them; that part is
  // already whole, hence the division (the value stays the Dice loss).
  return ce + diceLoss.detach() + (diceLoss - diceLoss.detach()) / share;
}

}  // namespace ima
