#include "ima/TrainingChoices.h"

#include <initializer_list>

#include "ima/Error.h"

namespace ima {
namespace {

// The value of `all` whose name is `name`; otherwise an error naming `what`, the value and the
// expected names.
template <typename Enum, typename NameOf>
Enum named(const std::string& name, std::initializer_list<Enum> all, NameOf nameOf, const std::string& what) {
  std::string expected;
  size_t i = 0;
  for (Enum e : all) {
    if (name == nameOf(e)) return e;
    expected += (i == 0 ? "" : i + 1 == all.size() ? " or " : ", ") + std::string(nameOf(e));
    ++i;
  }
  throw Error("unknown " + what + " '" + name + "' (expected " + expected + ")");
}

}  // namespace

const char* trainingMethodName(TrainingMethodKind kind) {
  switch (kind) {
    case TrainingMethodKind::Standard: return "standard";
    case TrainingMethodKind::Pgd: return "pgd";
    case TrainingMethodKind::Trades: return "trades";
    case TrainingMethodKind::Ima: return "ima";
  }
  return "?";
}

TrainingMethodKind trainingMethodNamed(const std::string& name) {
  return named(name, {TrainingMethodKind::Standard, TrainingMethodKind::Pgd, TrainingMethodKind::Trades, TrainingMethodKind::Ima},
               trainingMethodName, "training method");
}

const char* criterionName(Criterion c) {
  switch (c) {
    case Criterion::MaxDice: return "max-dice";
    case Criterion::MeanDice: return "mean-dice";
    case Criterion::PixelAccuracy: return "pixel-accuracy";
  }
  return "?";
}

Criterion parseCriterion(const std::string& name) {
  return named(name, {Criterion::MaxDice, Criterion::MeanDice, Criterion::PixelAccuracy}, criterionName,
               "correctness criterion");
}

const char* bisectionReturnName(BisectionReturn r) {
  switch (r) {
    case BisectionReturn::Midpoint: return "midpoint";
    case BisectionReturn::Inside: return "inside";
    case BisectionReturn::Outside: return "outside";
  }
  return "?";
}

BisectionReturn parseBisectionReturn(const std::string& name) {
  return named(name, {BisectionReturn::Midpoint, BisectionReturn::Inside, BisectionReturn::Outside}, bisectionReturnName,
               "bisection result");
}

const char* adversarialSamplesName(AdversarialSamples s) {
  switch (s) {
    case AdversarialSamples::Auto: return "auto";
    case AdversarialSamples::All: return "all";
    case AdversarialSamples::Crossed: return "crossed";
  }
  return "?";
}

AdversarialSamples parseAdversarialSamples(const std::string& name) {
  return named(name, {AdversarialSamples::Auto, AdversarialSamples::All, AdversarialSamples::Crossed},
               adversarialSamplesName, "adversarial samples");
}

}  // namespace ima
