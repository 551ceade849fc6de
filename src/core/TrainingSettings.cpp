#include "ima/TrainingSettings.h"

#include <cctype>
#include <cmath>
#include <initializer_list>
#include <sstream>

#include "internal/SettingChecker.h"

namespace ima {
using internal::Checker;
namespace {

std::string joinedWords(const std::string& key, bool capitaliseFirst, char separator) {
  std::string out;
  bool upper = capitaliseFirst;
  for (char c : key) {
    if (c == '_') {
      if (separator) out += separator;
      upper = !separator;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

}  // namespace

std::string kebabCase(const std::string& key) { return joinedWords(key, false, '-'); }
std::string camelCase(const std::string& key) { return joinedWords(key, false, '\0'); }
std::string pascalCase(const std::string& key) { return joinedWords(key, true, '\0'); }

TrainingOptions trainingOptionsOf(const TrainingSettings& s, const SettingName& name) {
  const Checker check(name);
  TrainingOptions o;
  o.method = trainingMethodNamed(check.choice("method", s.method, {"standard", "pgd", "trades", "ima"}));
  o.epochs = check.count("epochs", s.epochs, 1, 1000000);
  o.iterationsPerEpoch = check.count("iterations_per_epoch", s.iterationsPerEpoch, 1, 100000000);
  o.optimizer = check.choice("optimizer", s.optimizer, {"sgd", "adam"});
  const double lr = s.learningRate.value_or(o.optimizer == "adam" ? 1e-3 : 0.01);
  o.learningRate = check.number("learning_rate", lr, lr > 0 && lr < 10, "a value in (0, 10)");
  o.seed = s.seed;

  AdversarialOptions& a = o.adversarial;
  a.eps = check.number("eps", s.eps, s.eps > 0, "> 0");
  a.epsMax = check.number("eps_max", s.epsMax, s.epsMax > 0, "> 0");
  const double delta = s.delta.value_or(a.epsMax / 20);
  a.delta = check.number("delta", delta, delta > 0 && delta <= a.epsMax,
                         "> 0 and at most " + check.name("eps_max") + " = " + Checker::text(a.epsMax));
  a.beta = check.number("beta", s.beta, s.beta >= 0 && s.beta <= 1, "a value in [0, 1]");
  a.tradesBeta = check.number("trades_beta", s.tradesBeta, s.tradesBeta >= 0, ">= 0");
  const int64_t steps = s.pgdSteps.value_or(o.method == TrainingMethodKind::Ima ? kImaPgdSteps : kFixedBudgetPgdSteps);
  a.pgdSteps = check.count("pgd_steps", steps, 1, 10000);
  a.alpha = check.number("alpha", s.alpha, s.alpha > 0, "> 0");
  a.bisectionSteps = check.count("bisection_steps", s.bisectionSteps, 0, 60);
  a.bisection = parseBisectionReturn(check.choice("bisection", s.bisection, {"midpoint", "inside", "outside"}));
  a.bisectionTolerance = check.number("bisection_tolerance", s.bisectionTolerance,
                                      s.bisectionTolerance >= 0 && s.bisectionTolerance < 1, "a value in [0, 1)");
  a.norm = parseNorm(check.choice("attack_norm", s.attackNorm, {"l2", "linf"}));
  a.criterion = parseCriterion(check.choice("criterion", s.criterion, {"max-dice", "mean-dice", "pixel-accuracy"}));
  a.tau = check.number("tau", s.tau, s.tau >= 0 && s.tau <= 1, "a value in [0, 1]");
  a.adversarialSamples =
      parseAdversarialSamples(check.choice("adversarial_samples", s.adversarialSamples, {"auto", "all", "crossed"}));
  a.resetMisclassified = s.resetMisclassified;
  a.warmStart = s.warmStart;
  if (s.attackClamp) {
    const auto [low, high] = *s.attackClamp;
    if (!(std::isfinite(low) && std::isfinite(high) && low < high))
      check.fail("attack_clamp", "[" + Checker::text(low) + ", " + Checker::text(high) + "]",
                 "a range [LOW, HIGH] with LOW < HIGH, both finite");
    a.clamp = true;
    a.clampLow = low;
    a.clampHigh = high;
  }
  return o;
}

}  // namespace ima
