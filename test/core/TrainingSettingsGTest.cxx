// The one builder of training options (ima::trainingOptionsOf) that every host uses. The oracle
// for the defaults is docs/architecture.md §5 (and the command line's documented defaults), written out here
// by hand; every bad value must be rejected with the setting's key, the host's name for it and
// the value in the message.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "ima/TrainingSettings.h"

namespace TrainingSettingsGTest {  // this file's names apart from the others' in a unity build

namespace {

using ima::TrainingSettings;

TEST(TrainingSettings, DefaultsAreThoseOfTheDesign) {
  const ima::TrainingOptions o = ima::trainingOptionsOf(TrainingSettings{});
  EXPECT_EQ(o.method, ima::TrainingMethodKind::Standard);
  EXPECT_EQ(o.epochs, 20);
  EXPECT_EQ(o.iterationsPerEpoch, 50);
  EXPECT_EQ(o.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(o.learningRate, 0.01);  // nnU-Net's SGD rate
  EXPECT_EQ(o.seed, 1u);
  const ima::AdversarialOptions& a = o.adversarial;
  EXPECT_DOUBLE_EQ(a.eps, 0.5);
  EXPECT_DOUBLE_EQ(a.epsMax, 1.0);
  EXPECT_DOUBLE_EQ(a.delta, 1.0 / 20);  // eps_max / 20
  EXPECT_DOUBLE_EQ(a.beta, 0.5);        // §5 step 4
  EXPECT_DOUBLE_EQ(a.tradesBeta, 6.0);  // TRADES beta 6
  EXPECT_EQ(a.pgdSteps, 20);            // K = 20 for pgd and trades (ima's: below)
  EXPECT_DOUBLE_EQ(a.alpha, 4.0);       // step alpha * eps_i / K, alpha 4
  EXPECT_EQ(a.bisectionSteps, 10);      // B = 10
  EXPECT_DOUBLE_EQ(a.bisectionTolerance, 0.05);  // a bracket of 5% of eps_i ends a bisection
  EXPECT_TRUE(a.warmStart);
  EXPECT_EQ(a.bisection, ima::BisectionReturn::Midpoint);
  EXPECT_EQ(a.norm, ima::Norm::L2);
  EXPECT_EQ(a.criterion, ima::Criterion::MaxDice);  // max over foreground classes of hard Dice >= tau
  EXPECT_DOUBLE_EQ(a.tau, 0.6);
  EXPECT_EQ(a.adversarialSamples, ima::AdversarialSamples::Auto);  // crossed for classification, all for segmentation
  EXPECT_FALSE(a.resetMisclassified);       // misclassified: margin unchanged
  EXPECT_FALSE(a.clamp);                    // off for z-scored input
}

TEST(TrainingSettings, DerivedDefaultsFollowTheirSettings) {
  TrainingSettings s;
  s.optimizer = "adam";
  s.epsMax = 3.0;
  ima::TrainingOptions o = ima::trainingOptionsOf(s);
  EXPECT_DOUBLE_EQ(o.learningRate, 1e-3);
  EXPECT_DOUBLE_EQ(o.adversarial.delta, 0.15);
  s.learningRate = 0.2;
  s.delta = 3.0;  // the largest allowed
  o = ima::trainingOptionsOf(s);
  EXPECT_DOUBLE_EQ(o.learningRate, 0.2);
  EXPECT_DOUBLE_EQ(o.adversarial.delta, 3.0);
}

TEST(TrainingSettings, PgdStepsDefaultToTheMethods) {
  TrainingSettings s;
  for (const auto& [method, steps] : {std::pair<std::string, int>{"standard", 20}, {"pgd", 20}, {"trades", 20}, {"ima", 2}}) {
    s.method = method;
    EXPECT_EQ(ima::trainingOptionsOf(s).adversarial.pgdSteps, steps) << method;
  }
  s.pgdSteps = 7;  // a chosen value wins for every method
  for (const char* method : {"pgd", "ima"}) {
    s.method = method;
    EXPECT_EQ(ima::trainingOptionsOf(s).adversarial.pgdSteps, 7) << method;
  }
}

TEST(TrainingSettings, EveryValueReachesTheOptions) {
  TrainingSettings s;
  s.method = "ima";
  s.epochs = 3;
  s.iterationsPerEpoch = 7;
  s.seed = 42;
  s.eps = 0.25;
  s.epsMax = 2;
  s.delta = 0.5;
  s.beta = 0.75;
  s.tradesBeta = 1.5;
  s.pgdSteps = 5;
  s.alpha = 2.5;
  s.bisectionSteps = 0;
  s.bisection = "inside";
  s.attackNorm = "linf";
  s.criterion = "pixel-accuracy";
  s.tau = 1;
  s.adversarialSamples = "crossed";
  s.resetMisclassified = true;
  s.attackClamp = {{-1.5, 2.5}};
  const ima::TrainingOptions o = ima::trainingOptionsOf(s);
  EXPECT_EQ(o.method, ima::TrainingMethodKind::Ima);
  EXPECT_EQ(o.epochs, 3);
  EXPECT_EQ(o.iterationsPerEpoch, 7);
  EXPECT_EQ(o.seed, 42u);
  const ima::AdversarialOptions& a = o.adversarial;
  EXPECT_EQ(a.eps, 0.25);
  EXPECT_EQ(a.epsMax, 2);
  EXPECT_EQ(a.delta, 0.5);
  EXPECT_EQ(a.beta, 0.75);
  EXPECT_EQ(a.tradesBeta, 1.5);
  EXPECT_EQ(a.pgdSteps, 5);
  EXPECT_EQ(a.alpha, 2.5);
  EXPECT_EQ(a.bisectionSteps, 0);
  EXPECT_EQ(a.bisection, ima::BisectionReturn::Inside);
  EXPECT_EQ(a.norm, ima::Norm::Linf);
  EXPECT_EQ(a.criterion, ima::Criterion::PixelAccuracy);
  EXPECT_EQ(a.tau, 1);
  EXPECT_EQ(a.adversarialSamples, ima::AdversarialSamples::Crossed);
  EXPECT_TRUE(a.resetMisclassified);
  EXPECT_TRUE(a.clamp);
  EXPECT_EQ(a.clampLow, -1.5);
  EXPECT_EQ(a.clampHigh, 2.5);
}

TEST(TrainingSettings, EachBadValueIsRejectedNamingTheSettingAndTheValue) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::string key;    // the setting that must be blamed
    std::string value;  // how the bad value appears in the message
    std::function<void(TrainingSettings&)> spoil;
  };
  const std::vector<Case> cases = {
      {"method", "'fgsm'", [](TrainingSettings& s) { s.method = "fgsm"; }},
      {"epochs", "0", [](TrainingSettings& s) { s.epochs = 0; }},
      {"epochs", "1000001", [](TrainingSettings& s) { s.epochs = 1000001; }},
      {"epochs", "4294967297", [](TrainingSettings& s) { s.epochs = (int64_t{1} << 32) + 1; }},  // no wrap-around
      {"iterations_per_epoch", "-3", [](TrainingSettings& s) { s.iterationsPerEpoch = -3; }},
      {"optimizer", "'rmsprop'", [](TrainingSettings& s) { s.optimizer = "rmsprop"; }},
      {"learning_rate", "0", [](TrainingSettings& s) { s.learningRate = 0.0; }},
      {"learning_rate", "10", [](TrainingSettings& s) { s.learningRate = 10.0; }},
      {"learning_rate", "nan", [=](TrainingSettings& s) { s.learningRate = nan; }},
      {"eps", "-0.5", [](TrainingSettings& s) { s.eps = -0.5; }},
      {"eps", "inf", [=](TrainingSettings& s) { s.eps = inf; }},
      {"eps_max", "0", [](TrainingSettings& s) { s.epsMax = 0; }},
      {"delta", "0", [](TrainingSettings& s) { s.delta = 0.0; }},
      {"delta", "1.5", [](TrainingSettings& s) { s.delta = 1.5; }},  // above eps_max = 1
      {"delta", "0.5", [](TrainingSettings& s) { s.epsMax = 0.1; s.delta = 0.5; }},
      {"beta", "1.5", [](TrainingSettings& s) { s.beta = 1.5; }},
      {"beta", "nan", [=](TrainingSettings& s) { s.beta = nan; }},
      {"trades_beta", "-1", [](TrainingSettings& s) { s.tradesBeta = -1; }},
      {"pgd_steps", "0", [](TrainingSettings& s) { s.pgdSteps = 0; }},
      {"pgd_steps", "10001", [](TrainingSettings& s) { s.pgdSteps = 10001; }},
      {"alpha", "0", [](TrainingSettings& s) { s.alpha = 0; }},
      {"bisection_steps", "-1", [](TrainingSettings& s) { s.bisectionSteps = -1; }},
      {"bisection_steps", "61", [](TrainingSettings& s) { s.bisectionSteps = 61; }},
      {"bisection", "'edge'", [](TrainingSettings& s) { s.bisection = "edge"; }},
      {"attack_norm", "'l1'", [](TrainingSettings& s) { s.attackNorm = "l1"; }},
      {"criterion", "'dice'", [](TrainingSettings& s) { s.criterion = "dice"; }},
      {"tau", "-0.1", [](TrainingSettings& s) { s.tau = -0.1; }},
      {"adversarial_samples", "'some'", [](TrainingSettings& s) { s.adversarialSamples = "some"; }},
      {"attack_clamp", "[2, 1]", [](TrainingSettings& s) { s.attackClamp = {{2, 1}}; }},  // empty range
      {"attack_clamp", "[1, 1]", [](TrainingSettings& s) { s.attackClamp = {{1, 1}}; }},
      {"attack_clamp", "[0, inf]", [=](TrainingSettings& s) { s.attackClamp = {{0, inf}}; }},
      {"attack_clamp", "[nan, 1]", [=](TrainingSettings& s) { s.attackClamp = {{nan, 1}}; }},
  };
  // A host's spelling, to see that messages use it: "eps_max" -> "--eps-max".
  const ima::SettingName cli = [](const std::string& key) { return "--" + ima::kebabCase(key); };
  for (const Case& c : cases) {
    TrainingSettings s;
    c.spoil(s);
    for (const bool spelled : {false, true}) {
      try {
        spelled ? ima::trainingOptionsOf(s, cli) : ima::trainingOptionsOf(s);
        ADD_FAILURE() << c.key << " " << c.value << " was accepted";
      } catch (const ima::InvalidTrainingSetting& e) {
        const std::string message = e.what();
        const std::string name = spelled ? cli(c.key) : c.key;
        EXPECT_EQ(e.key(), c.key) << message;
        EXPECT_EQ(message.rfind(name + " is " + c.value + " (expected ", 0), 0u) << message;
      }
    }
  }
}

TEST(TrainingSettings, DeltaMessageNamesTheLimitSetByEpsMax) {
  TrainingSettings s;
  s.epsMax = 0.1;
  s.delta = 0.5;
  try {
    ima::trainingOptionsOf(s, [](const std::string& key) { return "--" + ima::camelCase(key); });
    FAIL() << "delta above eps_max was accepted";
  } catch (const ima::InvalidTrainingSetting& e) {
    EXPECT_STREQ(e.what(), "--delta is 0.5 (expected > 0 and at most --epsMax = 0.1)");
  }
}

TEST(TrainingSettings, SpellingsOfTheKeys) {
  EXPECT_EQ(ima::kebabCase("adversarial_samples"), "adversarial-samples");
  EXPECT_EQ(ima::camelCase("iterations_per_epoch"), "iterationsPerEpoch");
  EXPECT_EQ(ima::pascalCase("attack_clamp"), "AttackClamp");
  EXPECT_EQ(ima::pascalCase("tau"), "Tau");
  EXPECT_EQ(ima::kebabCase("eps"), "eps");
}

}  // namespace

}  // namespace TrainingSettingsGTest
