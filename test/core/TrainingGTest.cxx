#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "TestModels.h"
#include "ima/Error.h"
#include "ima/Metrics.h"
#include "ima/Network.h"
#include "ima/Phantoms.h"
#include "ima/SlidingWindowInferer.h"
#include "ima/Training.h"
#include "ima/WarmStarts.h"
#include "internal/TrainingCheckpoint.h"

namespace TrainingGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

namespace {

std::vector<ima::LabelledCase> phantoms(int count, int first, int64_t size = 32) {
  std::vector<ima::LabelledCase> cases;
  ima::PhantomOptions o;
  o.size = size;
  for (int i = first; i < first + count; ++i) {
    auto [image, labels] = ima::makePhantom(o, i);
    cases.push_back({"case" + std::to_string(i), std::move(image), std::move(labels)});
  }
  return cases;
}

ima::ModelMetadata slice2DMetadata(int64_t size) {
  auto m = imatest::tinyUNetMetadata(2, 1, 3);
  m.network.baseFeatures = 8;
  m.network.stages = 3;
  m.patchSize = {size, size};
  return m;
}

ima::TrainingOptions quickOptions() {
  ima::TrainingOptions o;
  o.batchSize = 8;
  o.runtime.device = "cpu";
  o.runtime.threads = 1;  // bit-exact repeatability for the resume test
  return o;
}

class Training : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ima_training_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// Dice of predicting label 1 everywhere (the best constant prediction for the organ), averaged
// with label 2's Dice of 0: what a model that learnt nothing but the majority structure gets.
double trivialMeanDice(const std::vector<ima::LabelledCase>& cases) {
  ima::OverlapCounts organ, lesion;
  for (const auto& c : cases) {
    ima::LabelMap all = c.labels;
    std::fill(all.data.begin(), all.data.end(), 1);
    const auto counts = ima::overlapCounts(all, c.labels, 3);
    organ.tp += counts[0].tp; organ.fp += counts[0].fp; organ.fn += counts[0].fn;
    lesion.fn += counts[1].fn;
  }
  return (organ.dice() + lesion.dice()) / 2;
}

TEST_F(Training, LowersTheLossAndBeatsATrivialPredictor) {
  const auto train = phantoms(6, 0), validation = phantoms(2, 100);
  auto options = quickOptions();
  options.epochs = 6;
  options.iterationsPerEpoch = 12;
  options.runtime.threads = 0;
  options.logPath = path("log.jsonl");
  ima::SegmentationTrainer trainer(ima::Model::create(slice2DMetadata(32), 1), options);
  std::vector<ima::EpochReport> reports;
  const auto model = trainer.run(train, validation, [&](const ima::EpochReport& r) {
    reports.push_back(r);
    return true;
  });
  ASSERT_EQ(reports.size(), 6u);
  EXPECT_LT(reports.back().loss, 0.7 * reports.front().loss);
  const double trivial = trivialMeanDice(validation);
  EXPECT_GT(reports.back().meanValidationDice, trivial + 0.1) << "trivial predictor: " << trivial;
  // The reported validation Dice is the Dice of the returned model (independent recomputation).
  ima::InferenceOptions inference;
  inference.runtime.device = "cpu";
  ima::OverlapCounts organ;
  for (const auto& c : validation) {
    const auto k = ima::overlapCounts(ima::segment(model, c.image, inference).labels, c.labels, 3);
    organ.tp += k[0].tp; organ.fp += k[0].fp; organ.fn += k[0].fn;
  }
  EXPECT_NEAR(organ.dice(), reports.back().validationDice[0], 1e-12);
  // One JSON line per epoch.
  std::ifstream log(options.logPath);
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) EXPECT_NE(line.find("\"epoch\":" + std::to_string(++lines)), std::string::npos) << line;
  EXPECT_EQ(lines, 6);
}

TEST_F(Training, ResumeAfterCheckpointContinuesWithTheSameState) {
  const auto train = phantoms(3, 0, 24);
  auto options = quickOptions();
  options.epochs = 3;
  options.iterationsPerEpoch = 3;
  options.batchSize = 4;
  const auto meta = slice2DMetadata(16);

  // Uninterrupted run.
  ima::SegmentationTrainer straight(ima::Model::create(meta, 5), options);
  const auto expected = straight.run(train, {});

  // Interrupted after epoch 1 (the callback cancels), then resumed by a fresh trainer.
  options.checkpointPath = path("run.ckpt");
  options.logPath = path("run.log");
  ima::SegmentationTrainer first(ima::Model::create(meta, 5), options);
  EXPECT_THROW(first.run(train, {}, [](const ima::EpochReport& r) { return r.epoch < 1; }), ima::Cancelled);
  ima::SegmentationTrainer second(ima::Model::create(meta, 99), options);  // different init: must be overwritten
  second.resumeFrom(options.checkpointPath);
  EXPECT_EQ(second.completedEpochs(), 1);
  const auto resumed = second.run(train, {});

  const auto a = expected.network()->parameters(), b = resumed.network()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  std::ifstream log(options.logPath);
  int lines = 0;
  for (std::string line; std::getline(log, line);) ++lines;
  EXPECT_EQ(lines, 3);
}

TEST_F(Training, ResumeFromAForeignOrDifferentCheckpointIsAClearError) {
  auto options = quickOptions();
  std::ofstream(path("junk.ckpt")) << "junk";
  ima::SegmentationTrainer trainer(ima::Model::create(slice2DMetadata(16), 5), options);
  EXPECT_THROW(trainer.resumeFrom(path("junk.ckpt")), ima::Error);
  EXPECT_THROW(trainer.resumeFrom(path("missing.ckpt")), ima::Error);
  // A checkpoint of a network with other features.
  options.checkpointPath = path("other.ckpt");
  options.epochs = 1;
  options.iterationsPerEpoch = 1;
  auto other = slice2DMetadata(16);
  other.network.baseFeatures = 4;
  ima::SegmentationTrainer(ima::Model::create(other, 1), options).run(phantoms(1, 0, 16), {});
  try {
    trainer.resumeFrom(path("other.ckpt"));
    FAIL();
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("different network"), std::string::npos) << e.what();
  }
}

// A checkpoint carries its SHA-256: one changed byte anywhere (weights, optimiser state, random
// state, the checksum itself) or a missing byte is refused, naming the file; the intact file resumes.
TEST_F(Training, ACorruptedCheckpointIsRefused) {
  auto options = quickOptions();
  options.epochs = 1;
  options.iterationsPerEpoch = 1;
  options.batchSize = 2;
  options.checkpointPath = path("run.ckpt");
  const auto meta = slice2DMetadata(16);
  ima::SegmentationTrainer(ima::Model::create(meta, 5), options).run(phantoms(1, 0, 16), {});
  std::string bytes;
  {
    std::ifstream in(options.checkpointPath, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 1000u);
  auto refusal = [&](const std::string& content) -> std::string {
    std::ofstream(path("bad.ckpt"), std::ios::binary) << content;
    ima::SegmentationTrainer trainer(ima::Model::create(meta, 5), options);
    try {
      trainer.resumeFrom(path("bad.ckpt"));
      return "";
    } catch (const ima::Error& e) {
      return e.what();
    }
  };
  for (size_t at : {size_t{0}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 80, bytes.size() - 1}) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
    const std::string message = refusal(flipped);
    EXPECT_NE(message.find("checkpoint '" + path("bad.ckpt") + "'"), std::string::npos) << "byte " << at << ": " << message;
    EXPECT_NE(message.find("corrupt"), std::string::npos) << "byte " << at << ": " << message;
  }
  const std::string truncated = refusal(bytes.substr(0, bytes.size() - 1));
  EXPECT_NE(truncated.find("no checksum"), std::string::npos) << truncated;
  EXPECT_EQ(refusal(bytes), "");
}

TEST_F(Training, BadTrainingSetsAreClearErrors) {
  auto options = quickOptions();
  ima::SegmentationTrainer trainer(ima::Model::create(slice2DMetadata(16), 5), options);
  auto expectError = [&](std::vector<ima::LabelledCase> cases, const std::string& fragment) {
    try {
      trainer.run(cases, {});
      FAIL() << fragment;
    } catch (const ima::Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expectError({}, "training set is empty");
  auto labels = phantoms(1, 0, 16);
  labels[0].labels.data[5] = 7;
  expectError(labels, "contains label 7");
  auto shapes = phantoms(1, 0, 16);
  shapes[0].labels = phantoms(1, 0, 24)[0].labels;
  expectError(shapes, "differ in size");
  auto nan = phantoms(1, 0, 16);
  nan[0].image.data[3] = std::numeric_limits<float>::infinity();
  expectError(nan, "case0");
}

}  // namespace

namespace {

ima::TrainingOptions imaOptions() {
  auto o = quickOptions();
  o.method = ima::TrainingMethodKind::Ima;
  o.epochs = 2;
  o.iterationsPerEpoch = 3;
  o.batchSize = 4;
  o.adversarial.pgdSteps = 3;
  o.adversarial.bisectionSteps = 4;
  o.adversarial.delta = 0.1;
  o.adversarial.epsMax = 2.0;
  o.adversarial.tau = 0.0;  // every clean sample counts as correct: margins must move every visit
  return o;
}

TEST_F(Training, ImaUpdatesMarginsEachEpochAndLogsTheirStatistics) {
  auto options = imaOptions();
  options.logPath = path("ima.log");
  std::vector<ima::EpochReport> reports;
  ima::SegmentationTrainer trainer(ima::Model::create(slice2DMetadata(16), 5), options);
  const auto model = trainer.run(phantoms(2, 0, 16), {}, [&](const ima::EpochReport& r) {
    reports.push_back(r);
    return true;
  });
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(model.metadata().trainingMethod, "ima");
  for (const auto& r : reports) {
    ASSERT_TRUE(r.margins.has_value());
    const ima::MarginStatistics& m = *r.margins;
    // 2 cases x 16 slices = 32 samples; 12 visits per epoch touch at most 12 of them.
    EXPECT_GT(m.visited, 0);
    EXPECT_LE(m.visited, 12);
    EXPECT_NEAR(m.fractionExpanded + m.fractionToBoundary + m.fractionUnchanged, 1.0, 1e-12);
    // With tau 0 every visited sample is correct, so every visited sample changed its margin.
    EXPECT_NEAR(m.fractionExpanded + m.fractionToBoundary, m.visited / 32.0, 1e-12);
    EXPECT_LE(m.maximum, 2.0);
  }
  std::ifstream log(options.logPath);
  std::string line;
  std::getline(log, line);
  EXPECT_NE(line.find("\"margins\""), std::string::npos) << line;
}

TEST_F(Training, ImaResumeRestoresTheMarginsExactly) {
  const auto train = phantoms(2, 0, 16);
  auto options = imaOptions();
  const auto meta = slice2DMetadata(16);
  ima::SegmentationTrainer straight(ima::Model::create(meta, 5), options);
  const auto expected = straight.run(train, {});

  options.checkpointPath = path("ima.ckpt");
  ima::SegmentationTrainer first(ima::Model::create(meta, 5), options);
  EXPECT_THROW(first.run(train, {}, [](const ima::EpochReport& r) { return r.epoch < 1; }), ima::Cancelled);
  ima::SegmentationTrainer second(ima::Model::create(meta, 5), options);
  second.resumeFrom(options.checkpointPath);
  const auto resumed = second.run(train, {});
  // Epoch 2's attacks use the margins and warm starts of epoch 1: identical weights need both.
  const auto a = expected.network()->parameters(), b = resumed.network()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
}

// Warm starts: the checkpoint keeps one perturbation per visited sample id (fewer than the draws, so
// some samples were visited twice and started warm), each inside the largest ball; and they change
// the run (the weights differ from a run without them). ImaResumeRestoresTheMarginsExactly shows
// that a resumed run continues with them exactly.
TEST_F(Training, ImaWarmStartsAreKeptInTheCheckpointAndChangeTheRun) {
  const auto train = phantoms(2, 0, 16);
  const auto meta = slice2DMetadata(16);
  auto options = imaOptions();
  options.checkpointPath = path("warm.ckpt");
  ima::SegmentationTrainer warm(ima::Model::create(meta, 5), options);
  const auto warmModel = warm.run(train, {});

  auto reader = ima::Model::create(meta, 5);
  torch::optim::SGD optimizer(reader.network()->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const ima::CheckpointState state =
      ima::readCheckpoint(options.checkpointPath, meta.network, *reader.network(), optimizer, torch::kCPU);
  const ima::WarmStarts kept = ima::WarmStarts::fromTensors(state.warmStarts, "checkpoint");
  const int64_t draws = static_cast<int64_t>(options.epochs) * options.iterationsPerEpoch * options.batchSize;
  EXPECT_GT(kept.size(), 0);
  EXPECT_LT(kept.size(), draws);
  for (const auto& [name, tensor] : state.warmStarts)
    if (name == "deltas") {
      ASSERT_EQ(tensor.sizes(), (std::vector<int64_t>{kept.size(), 1, 1, 16, 16}));
      const torch::Tensor norms = tensor.reshape({kept.size(), -1}).norm(2, 1);
      EXPECT_LE(norms.max().item<double>(), options.adversarial.epsMax * (1 + 1e-5));
      EXPECT_GT(norms.max().item<double>(), 0);
    }

  options.adversarial.warmStart = false;
  options.checkpointPath = path("cold.ckpt");
  ima::SegmentationTrainer cold(ima::Model::create(meta, 5), options);
  const auto coldModel = cold.run(train, {});
  const auto a = warmModel.network()->parameters(), b = coldModel.network()->parameters();
  bool differ = false;
  for (size_t i = 0; i < a.size(); ++i) differ |= !torch::equal(a[i], b[i]);
  EXPECT_TRUE(differ);
}

TEST_F(Training, PgdAndTradesTrainingRunAndBadAdversarialOptionsAreErrors) {
  auto options = imaOptions();
  options.method = ima::TrainingMethodKind::Pgd;
  options.adversarial.eps = 0.3;
  options.epochs = 1;
  ima::SegmentationTrainer trainer(ima::Model::create(slice2DMetadata(16), 5), options);
  EXPECT_EQ(trainer.run(phantoms(1, 0, 16), {}).metadata().trainingMethod, "pgd");
  options.method = ima::TrainingMethodKind::Trades;
  std::vector<double> losses;
  ima::SegmentationTrainer trades(ima::Model::create(slice2DMetadata(16), 5), options);
  const auto tradesModel = trades.run(phantoms(1, 0, 16), {}, [&](const ima::EpochReport& r) {
    losses.push_back(r.loss);
    return true;
  });
  EXPECT_EQ(tradesModel.metadata().trainingMethod, "trades");
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_TRUE(std::isfinite(losses[0]) && losses[0] > 0);
  EXPECT_NE(tradesModel.metadata().trainingSettingsJson.find("\"trades_beta\":6"), std::string::npos);
  // An unknown method or criterion is refused where its name enters (TrainingChoices.h).
  EXPECT_THROW(ima::trainingMethodNamed("fgsm-at"), ima::Error);
  EXPECT_THROW(ima::parseCriterion("iou"), ima::Error);
  auto bad = imaOptions();
  bad.adversarial.epsMax = 0.01;  // below delta
  EXPECT_THROW(ima::SegmentationTrainer(ima::Model::create(slice2DMetadata(16), 5), bad), ima::Error);
}

}  // namespace

}  // namespace TrainingGTest
