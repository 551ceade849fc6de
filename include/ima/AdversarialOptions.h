// The options of the adversarial training methods (docs/architecture.md §5), torch-free so that the ITK
// layer and the command line can fill them in. Budgets are in normalised intensity units.
#pragma once
#include "ima/Norm.h"
#include "ima/TrainingChoices.h"

namespace ima {

struct AdversarialOptions {
  double eps = 0.5;          // "pgd", "trades": the fixed budget
  double epsMax = 1.0;       // "ima": margins are clamped to [0, epsMax]
  double delta = 0.05;       // "ima": initial margin and growth per epoch (default epsMax/20)
  double beta = 0.5;         // "ima": loss = (1 - beta) * clean + beta * adversarial
  double tradesBeta = 6.0;   // "trades": loss = clean + tradesBeta * KL(clean || adversarial)
  int pgdSteps = 20;         // K
  double alpha = 4.0;        // PGD step = alpha * eps / K
  int bisectionSteps = 10;   // B
  double bisectionTolerance = 0;  // stop a bisection at a bracket of this fraction of eps_i (0: B steps)
  // Start each sample's search from its previous visit's adversarial point (ima/WarmStarts.h).
  bool warmStart = true;
  BisectionReturn bisection = BisectionReturn::Midpoint;
  Norm norm = Norm::L2;
  Criterion criterion = Criterion::MaxDice;
  double tau = 0.6;
  AdversarialSamples adversarialSamples = AdversarialSamples::Auto;
  bool resetMisclassified = false;  // misclassified samples: margin back to delta
  // Clamp the training attacks' points to a valid intensity range, e.g. [0, 1] pixels
  // (classification); off for z-scored inputs, which have no such range.
  bool clamp = false;
  double clampLow = 0, clampHigh = 1;
};

}  // namespace ima
