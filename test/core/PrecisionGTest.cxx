#include <gtest/gtest.h>

#include <iostream>

#include <fstream>
#include <string>

#include "TestModels.h"
#include "ima/Attacks.h"
#include "ima/Error.h"
#include "ima/Model.h"
#include "ima/Phantoms.h"
#include "ima/Training.h"
#include "internal/AutocastCompat.h"
#include "internal/Precision.h"

namespace PrecisionGTest {  // this file's names apart from the others' in a unity build

namespace {

// The CPU flags as Linux reports them: an oracle for the CPUID reading, independent of it.
bool cpuinfoHasNativeBf16(bool& known) {
  std::ifstream in("/proc/cpuinfo");
  known = static_cast<bool>(in);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0)
      return line.find(" avx512_bf16") != std::string::npos || line.find(" amx_bf16") != std::string::npos;
  return false;
}

TEST(Precision, NamesResolveAndAutoFollowsTheCpuFlags) {
  const torch::Device cpu(torch::kCPU);
  EXPECT_EQ(ima::resolvePrecision("fp32", cpu), torch::kFloat);
  EXPECT_EQ(ima::resolvePrecision("bf16", cpu), torch::kBFloat16);
  EXPECT_THROW(ima::resolvePrecision("fp16", cpu), ima::Error);  // CUDA only
  EXPECT_THROW(ima::resolvePrecision("fp8", cpu), ima::Error);
  bool known = false;
  const bool flags = cpuinfoHasNativeBf16(known);
  if (!known) GTEST_SKIP() << "no /proc/cpuinfo to compare the CPUID reading with";
  EXPECT_EQ(ima::cpuHasNativeBf16(), flags);
  EXPECT_EQ(ima::resolvePrecision("auto", cpu), flags ? torch::kBFloat16 : torch::kFloat);
}

// bf16 rounds to 8 significant bits: the logits of a tiny U-Net differ from fp32's by a few per
// cent of their spread, the predictions almost nowhere; the outputs are float32 and the thread's
// autocast state is off again afterwards.
TEST(Precision, Bf16ForwardIsCloseToFp32AndRestoresTheAutocastState) {
  const ima::Model model = ima::Model::create(imatest::tinyUNetMetadata(2), 3);
  ima::Network& fp32 = *model.network();
  ima::MixedPrecisionNetwork bf16(fp32, torch::kBFloat16);
  fp32.setTraining(false);
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({2, 1, 32, 32});
  torch::NoGradGuard noGrad;
  const torch::Tensor a = fp32.forward(x), b = bf16.forward(x);
  EXPECT_EQ(b.scalar_type(), torch::kFloat);
  EXPECT_FALSE(ima::autocastEnabled(c10::DeviceType::CPU));
  const double spread = (a.max() - a.min()).item<double>();
  EXPECT_LT((a - b).abs().max().item<double>(), 0.05 * spread);
  EXPECT_GT((a.argmax(1) == b.argmax(1)).to(torch::kDouble).mean().item<double>(), 0.95);
  EXPECT_FALSE(torch::equal(a, b));  // bf16 did run (otherwise the test above proves nothing)
}

// An attack through the bf16 network finds points that are about as harmful, judged by the fp32
// network, as those found in fp32: same loss within 10 %.
TEST(Precision, Bf16AttackIsAsStrongAsFp32) {
  const ima::Model model = ima::Model::create(imatest::tinyUNetMetadata(2), 4);
  ima::Network& fp32 = *model.network();
  ima::MixedPrecisionNetwork bf16(fp32, torch::kBFloat16);
  fp32.setTraining(false);
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({4, 1, 32, 32});
  torch::Tensor y;
  {
    torch::NoGradGuard noGrad;
    y = fp32.forward(x).argmax(1);  // the clean prediction as the label: the attack must change it
  }
  ima::AttackOptions o;
  o.steps = 10;
  const torch::Tensor a = ima::attack(fp32, x, y, 8.0, o), b = ima::attack(bf16, x, y, 8.0, o);
  torch::NoGradGuard noGrad;
  const double lossA = ima::attackLoss(fp32.forward(a), y).mean().item<double>();
  const double lossB = ima::attackLoss(fp32.forward(b), y).mean().item<double>();
  const double clean = ima::attackLoss(fp32.forward(x), y).mean().item<double>();
  ASSERT_GT(lossA, clean * 1.2);  // the attack does something
  EXPECT_NEAR(lossB, lossA, 0.1 * lossA);
}

std::vector<ima::LabelledCase> phantoms(int count, int first) {
  std::vector<ima::LabelledCase> cases;
  ima::PhantomOptions o;
  o.size = 32;
  for (int i = first; i < first + count; ++i) {
    auto [image, labels] = ima::makePhantom(o, i);
    cases.push_back({"case" + std::to_string(i), std::move(image), std::move(labels)});
  }
  return cases;
}

// The same IMA training in fp32 and in bf16 (same seed, data and schedule) reaches the same
// validation Dice within 0.03: the tiny data set's Dice moves by more than the 0.005
// between runs that differ only in rounding (see docs/benchmarks.md for the larger comparison).
TEST(Precision, Bf16ImaTrainingMatchesFp32ValidationDice) {
  const auto train = phantoms(4, 0), validation = phantoms(2, 100);
  auto metadata = imatest::tinyUNetMetadata(2, 1, 3);
  metadata.network.baseFeatures = 8;
  metadata.network.stages = 3;
  metadata.patchSize = {32, 32};
  double dice[2] = {0, 0}, firstEpochDice = 0;
  for (int run = 0; run < 2; ++run) {
    ima::TrainingOptions o;
    o.batchSize = 8;
    o.epochs = 5;
    o.iterationsPerEpoch = 8;
    o.method = ima::TrainingMethodKind::Ima;
    o.adversarial.pgdSteps = 2;
    o.adversarial.bisectionSteps = 3;
    o.runtime.device = "cpu";
    o.runtime.threads = 1;
    o.runtime.precision = run == 0 ? "fp32" : "bf16";
    ima::SegmentationTrainer trainer(ima::Model::create(metadata, 1), o);
    trainer.run(train, validation, [&](const ima::EpochReport& r) {
      if (run == 0 && r.epoch == 1) firstEpochDice = r.meanValidationDice;
      dice[run] = r.meanValidationDice;
      std::cout << o.runtime.precision << " epoch " << r.epoch << ": validation Dice " << r.meanValidationDice << "\n";
      return true;
    });
  }
  // It learnt something, so that the comparison means something. (The figure it reaches depends on
  // the compiler's float order: 0.27 with clang 14, more with GCC 12.)
  EXPECT_GT(dice[0], firstEpochDice + 0.05);
  EXPECT_NEAR(dice[1], dice[0], 0.03);
}

}  // namespace

}  // namespace PrecisionGTest
