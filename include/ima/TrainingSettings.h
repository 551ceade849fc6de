// The training settings a user chooses, as every host takes them (the `ima` command line, the C API
// and Python over it, the Slicer module IMAHarden, itk::UNetTrainer): plain values, checked in one
// place and turned into the core's TrainingOptions. Defaults are docs/architecture.md §5's. Budgets and the
// clamp range are in normalised intensity units.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "ima/Error.h"
#include "ima/Training.h"

namespace ima {

// IMA's default PGD steps: with the warm start and the bisection tolerance, 2 steps are as robust
// as 20 under the strong attack ensemble (2D and 3D, three seeds each; docs/benchmarks.md) at a
// fraction of the cost. PGD-AT and TRADES start at random every time and keep 20.
inline constexpr int64_t kImaPgdSteps = 2;
inline constexpr int64_t kFixedBudgetPgdSteps = 20;

struct TrainingSettings {
  std::string method = "standard";  // standard | pgd | trades | ima
  int64_t epochs = 20;              // 1..1000000
  int64_t iterationsPerEpoch = 50;  // 1..100000000
  std::string optimizer = "sgd";    // sgd | adam
  std::optional<double> learningRate;  // (0, 10); unset: 0.01 for sgd, 0.001 for adam
  uint64_t seed = 1;
  double eps = 0.5;      // pgd, trades: the fixed budget, > 0
  double epsMax = 1.0;   // ima: largest margin, > 0
  std::optional<double> delta;  // ima: (0, epsMax]; unset: epsMax / 20
  double beta = 0.5;     // ima: [0, 1]
  double tradesBeta = 6.0;  // trades: >= 0
  std::optional<int64_t> pgdSteps;  // 1..10000; unset: the method's (kImaPgdSteps for ima, 20 for pgd, trades)
  double alpha = 4.0;       // > 0
  int64_t bisectionSteps = 10;  // 0..60
  std::string bisection = "midpoint";   // midpoint | inside | outside
  double bisectionTolerance = 0.05;     // [0, 1): bracket as a fraction of eps_i; 0 = B halvings
  bool warmStart = true;                // ima: start from the previous visit's adversarial point
  std::string attackNorm = "l2";        // l2 | linf
  std::string criterion = "max-dice";   // max-dice | mean-dice | pixel-accuracy
  double tau = 0.6;                     // [0, 1]
  std::string adversarialSamples = "auto";  // auto | all | crossed
  bool resetMisclassified = false;
  // The training attacks' intensity clamp [low, high], low < high, both finite; unset: no clamp
  // (as for z-scored input, which has no valid range).
  std::optional<std::array<double, 2>> attackClamp;
};

// A setting rejected by trainingOptionsOf. key() is the setting's key (the C API's field name:
// "eps_max", "attack_clamp", ...); the message names the setting as the host spells it and gives
// the bad value and what was expected.
class InvalidTrainingSetting : public Error {
public:
  InvalidTrainingSetting(std::string key, const std::string& message) : Error(message), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

private:
  std::string key_;
};

// The usual spellings of a key: "eps_max" -> "eps-max", "epsMax", "EpsMax".
std::string kebabCase(const std::string& key);
std::string camelCase(const std::string& key);
std::string pascalCase(const std::string& key);

// Checks every setting (whatever the method, so that a mistake never waits for a method change)
// and returns the options of a training with them: method, epochs, iterations, optimizer,
// learning rate, seed and the adversarial options; the rest keeps TrainingOptions' defaults for
// the host to fill in. Throws InvalidTrainingSetting naming the first bad setting with `name`
// (default: the key itself).
TrainingOptions trainingOptionsOf(const TrainingSettings& settings, const SettingName& name = {});

}  // namespace ima
