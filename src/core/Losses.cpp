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

}  // namespace ima
