#include "ima/classification/ClassifierEvaluation.h"

#include <algorithm>
#include <map>
#include <set>

#include "ima/Attacks.h"
#include "ima/Error.h"
#include "internal/Random.h"
#include "internal/ClassificationTensors.h"
#include "internal/EvalModeGuard.h"

namespace ima {

RobustnessReport evaluateClassifierRobustness(Network& net, const ClassificationSet& test,
                                              const ClassifierEvaluationOptions& o) {
  if (test.size() == 0) throw Error("the classification test set is empty");
  if (o.attacks.empty()) throw Error("no attack given");
  for (const std::string& a : o.attacks)
    if (a != "fgsm" && a != "ifgsm" && a != "pgd" && a != "noise")
      throw Error("unknown attack '" + a + "' (expected fgsm, ifgsm, pgd or noise)");
  if (std::set<std::string>(o.attacks.begin(), o.attacks.end()).size() != o.attacks.size())
    throw Error("an attack is listed twice");
  if (o.batchSize < 1) throw Error("the batch size must be >= 1");
  const std::vector<double> budgets = evaluationBudgets(o.budgets);

  EvalModeGuard evalMode(net);
  const torch::Tensor images = imageTensor(test).to(net.device()), labels = labelTensor(test).to(net.device());
  std::map<std::string, AttackOptions> attacks;
  RobustnessReport report;
  report.task = "classification";
  report.attacked = "image";
  report.norm = o.norm;
  for (const std::string& method : o.attacks) {
    AttackOptions a = evaluationAttack(method, o.norm, o.pgdSteps, o.ifgsmSteps, o.restarts);
    a.clamp = o.clamp;
    a.clampLow = o.clampLow;
    a.clampHigh = o.clampHigh;
    report.attack(method).description = describeAttack(a);
    for (double eps : budgets) report.attack(method).budget(eps);
    attacks[method] = a;
  }
  auto correctOn = [&](const torch::Tensor& x, const torch::Tensor& y) {
    torch::NoGradGuard noGrad;
    return net.forward(x).argmax(1).eq(y).to(torch::kCPU);
  };
  for (int64_t first = 0; first < test.size(); first += o.batchSize) {
    const int64_t last = std::min(first + o.batchSize, test.size());
    const torch::Tensor x = images.slice(0, first, last), y = labels.slice(0, first, last);
    const torch::Tensor clean = correctOn(x, y);
    const bool* c = clean.data_ptr<bool>();
    for (const std::string& method : o.attacks) {
      AttackResult& result = report.attack(method);
      for (size_t b = 0; b < budgets.size(); ++b) {
        AttackOptions& a = attacks[method];
        a.seed = streamSeed(o.seed, static_cast<uint64_t>(first));  // every batch its own random numbers
        const torch::Tensor attacked = budgets[b] > 0 ? correctOn(attack(net, x, y, budgets[b], a), y) : clean;
        const bool* r = attacked.data_ptr<bool>();
        for (int64_t i = 0; i < last - first; ++i) result.budgets[b].addPrediction(c[i], r[i]);
      }
    }
  }
  report.validate();
  return report;
}

}  // namespace ima
