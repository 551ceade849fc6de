// The named choices of training (docs/architecture.md §5): the method and IMA's criterion, bisection
// end and adversarial samples. As with Norm, text becomes an enum once, where it enters (a host's
// setting, checked by TrainingSettings), and text again only where it leaves (model settings,
// logs); the trainer and the IMA step never compare strings. Torch-free, like the option structs.
#pragma once
#include <string>

namespace ima {

enum class TrainingMethodKind { Standard, Pgd, Trades, Ima };
// "standard" | "pgd" | "trades" | "ima"; anything else is an ima::Error naming the value.
TrainingMethodKind trainingMethodNamed(const std::string& name);
const char* trainingMethodName(TrainingMethodKind kind);

// How a segmentation sample's per-pixel predictions decide that it is correct, with threshold tau.
enum class Criterion {
  MaxDice,        // max over foreground classes of hard Dice >= tau (default, tau 0.6)
  MeanDice,       // mean foreground hard Dice >= tau
  PixelAccuracy,  // fraction of correctly labelled pixels >= tau
};
Criterion parseCriterion(const std::string& name);  // "max-dice" | "mean-dice" | "pixel-accuracy"
const char* criterionName(Criterion c);

// Which end of its final bracket a bisection returns.
enum class BisectionReturn { Midpoint, Inside, Outside };
BisectionReturn parseBisectionReturn(const std::string& name);  // "midpoint" | "inside" | "outside"
const char* bisectionReturnName(BisectionReturn r);

// Which samples enter IMA's adversarial loss: all of them (the segmentation default), only those
// whose attack found the boundary (the classification default), or the task's default (Auto).
enum class AdversarialSamples { Auto, All, Crossed };
AdversarialSamples parseAdversarialSamples(const std::string& name);  // "auto" | "all" | "crossed"
const char* adversarialSamplesName(AdversarialSamples s);

}  // namespace ima
