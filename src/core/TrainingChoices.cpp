#include "ima/TrainingChoices.h"

#include <utility>

#include "ima/Error.h"

namespace ima {
namespace {

// Each choice's names, in the order the error messages list them.
const std::pair<TrainingMethodKind, const char*> kMethods[] = {
    {TrainingMethodKind::Standard, "standard"},
    {TrainingMethodKind::Pgd, "pgd"},
    {TrainingMethodKind::Trades, "trades"},
    {TrainingMethodKind::Ima, "ima"},
};
const std::pair<Criterion, const char*> kCriteria[] = {
    {Criterion::MaxDice, "max-dice"},
    {Criterion::MeanDice, "mean-dice"},
    {Criterion::PixelAccuracy, "pixel-accuracy"},
};
const std::pair<BisectionReturn, const char*> kBisectionReturns[] = {
    {BisectionReturn::Midpoint, "midpoint"},
    {BisectionReturn::Inside, "inside"},
    {BisectionReturn::Outside, "outside"},
};
const std::pair<AdversarialSamples, const char*> kAdversarialSamples[] = {
    {AdversarialSamples::Auto, "auto"},
    {AdversarialSamples::All, "all"},
    {AdversarialSamples::Crossed, "crossed"},
};

template <typename Enum, size_t N>
const char* nameIn(const std::pair<Enum, const char*> (&table)[N], Enum value) {
  for (const auto& [e, name] : table)
    if (e == value) return name;
  return "?";
}

// The value named `name`; otherwise an ima::Error naming `what`, the value and the names expected.
template <typename Enum, size_t N>
Enum namedIn(const std::pair<Enum, const char*> (&table)[N], const std::string& name, const char* what) {
  std::string expected;
  for (size_t i = 0; i < N; ++i) {
    if (name == table[i].second) return table[i].first;
    expected += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(table[i].second);
  }
  throw Error("unknown " + std::string(what) + " '" + name + "' (expected " + expected + ")");
}

}  // namespace

const char* trainingMethodName(TrainingMethodKind kind) { return nameIn(kMethods, kind); }
TrainingMethodKind trainingMethodNamed(const std::string& name) { return namedIn(kMethods, name, "training method"); }

const char* criterionName(Criterion c) { return nameIn(kCriteria, c); }
Criterion parseCriterion(const std::string& name) { return namedIn(kCriteria, name, "correctness criterion"); }

const char* bisectionReturnName(BisectionReturn r) { return nameIn(kBisectionReturns, r); }
BisectionReturn parseBisectionReturn(const std::string& name) {
  return namedIn(kBisectionReturns, name, "bisection result");
}

const char* adversarialSamplesName(AdversarialSamples s) { return nameIn(kAdversarialSamples, s); }
AdversarialSamples parseAdversarialSamples(const std::string& name) {
  return namedIn(kAdversarialSamples, name, "adversarial samples");
}

}  // namespace ima
