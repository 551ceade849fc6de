// The core's entry point for training (ima::trainSegmentation) that every host calls. Oracles: the
// builders it must agree with (newModelMetadata, trainingPatchSize, defaultBatchSize) called
// directly, a model's own weights before and after, and the documented refusals by key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "ima/Network.h"
#include "ima/PatchSize.h"
#include "ima/Phantoms.h"
#include "ima/TrainSegmentation.h"
#include "internal/TrainingCheckpoint.h"

namespace TrainSegmentationGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

namespace {

std::vector<ima::LabelledCase> phantoms(int count, int first) {
  std::vector<ima::LabelledCase> cases;
  ima::PhantomOptions o;
  o.size = 16;
  o.dims = 2;
  for (int i = first; i < first + count; ++i) {
    auto [image, labels] = ima::makePhantom(o, i);
    cases.push_back({"case" + std::to_string(i), std::move(image), std::move(labels)});
  }
  return cases;
}

// One short iteration on a tiny new U-Net.
ima::SegmentationTrainingRequest quickRequest(const std::vector<ima::LabelledCase>& training) {
  ima::SegmentationTrainingRequest r;
  r.training = &training;
  r.options.epochs = 1;
  r.options.iterationsPerEpoch = 1;
  r.options.runtime.device = "cpu";
  r.options.runtime.threads = 1;
  r.newModel.baseFeatures = 2;
  r.newModel.stages = 2;
  r.newModel.labelNames = {"organ", "lesion"};
  return r;
}

std::string refusalKey(const ima::SegmentationTrainingRequest& r) {
  try {
    ima::trainSegmentation(r);
  } catch (const ima::InvalidTrainingSetting& e) {
    return e.key() + ": " + e.what();
  }
  return "(no refusal)";
}

float firstWeight(const ima::Model& m) { return m.network()->parameters().front().flatten()[0].item<float>(); }

TEST(TrainSegmentation, ANewModelIsWhatTheBuildersGiveWithTheDefaultPatchAndBatch) {
  const auto training = phantoms(3, 0), validation = phantoms(1, 50);
  ima::SegmentationTrainingRequest r = quickRequest(training);
  r.validation = &validation;
  r.host = "test";
  r.provenanceJson = R"({"images": "dir"})";
  int starts = 0;
  r.onStart = [&](const ima::SegmentationTrainingStart& s) {
    ++starts;
    EXPECT_EQ(s.completedEpochs, 0);
    EXPECT_EQ(s.options.batchSize, ima::defaultBatchSize(2));
    EXPECT_EQ(s.options.patchSize, s.model.metadata().patchSize);
  };
  const ima::Model m = ima::trainSegmentation(r);
  EXPECT_EQ(starts, 1);

  ima::ModelMetadata expected = ima::newModelMetadata(r.newModel, training);
  EXPECT_EQ(m.metadata().network.dims, expected.network.dims);
  EXPECT_EQ(m.metadata().network.classes, 3);
  EXPECT_EQ(m.metadata().network.maxFeatures, expected.network.maxFeatures);
  ASSERT_EQ(m.metadata().labels.size(), 2u);
  EXPECT_EQ(m.metadata().labels[1].name, "lesion");
  EXPECT_EQ(m.metadata().labels[1].color, ima::labelColor(1));
  EXPECT_EQ(m.metadata().patchSize, ima::defaultPatchSize(training, 2, 2));
  EXPECT_EQ(nlohmann::json::parse(m.metadata().trainingSettingsJson).at("batch_size"), 8);

  const auto provenance = nlohmann::json::parse(m.metadata().provenanceJson);
  EXPECT_EQ(provenance.at("training_cases"), nlohmann::json({"case0", "case1", "case2"}));
  EXPECT_EQ(provenance.at("validation_cases"), nlohmann::json({"case50"}));
  EXPECT_EQ(provenance.at("images"), "dir");  // the host's own keys
  EXPECT_NE(provenance.at("software").get<std::string>().find("(test)"), std::string::npos);
  EXPECT_TRUE(provenance.contains("created"));
  EXPECT_FALSE(provenance.contains("initialized_from"));
}

TEST(TrainSegmentation, AStartingModelKeepsItsPatchAndIsTrainedInPlace) {
  const auto training = phantoms(2, 0);
  ima::ModelMetadata pretrainedMetadata = ima::newModelMetadata(quickRequest(training).newModel, training);
  pretrainedMetadata.patchSize = {8, 8};
  pretrainedMetadata.provenanceJson = R"({"validation_cases": ["old"], "created": "1999"})";
  const ima::Model pretrained = ima::Model::create(pretrainedMetadata, 3);
  const float before = firstWeight(pretrained.clone());

  ima::SegmentationTrainingRequest r = quickRequest(training);
  r.startFrom = pretrained;
  r.startedFrom = "pretrained.imamodel";
  r.batchSize = 2;
  const ima::Model m = ima::trainSegmentation(r);
  EXPECT_EQ(m.metadata().patchSize, (std::vector<int64_t>{8, 8}));
  EXPECT_EQ(m.metadata().labels.size(), pretrainedMetadata.labels.size());
  EXPECT_EQ(nlohmann::json::parse(m.metadata().trainingSettingsJson).at("batch_size"), 2);
  EXPECT_NE(firstWeight(pretrained), before);  // one network, trained in place
  EXPECT_EQ(firstWeight(pretrained), firstWeight(m));
  // The provenance describes this run, not the starting model's (whose cases were others).
  const auto provenance = nlohmann::json::parse(m.metadata().provenanceJson);
  EXPECT_EQ(provenance.at("initialized_from"), "pretrained.imamodel");
  EXPECT_EQ(provenance.at("validation_cases"), nlohmann::json::array());
  EXPECT_NE(provenance.at("created"), "1999");
}

TEST(TrainSegmentation, RefusesBadPatchBatchAndSettingsByTheHostsNames) {
  const auto training = phantoms(2, 0);
  ima::SegmentationTrainingRequest r = quickRequest(training);
  r.settingName = [](const std::string& key) { return "--" + ima::kebabCase(key); };
  r.batchSize = 5000;
  EXPECT_EQ(refusalKey(r), "batch_size: --batch-size is 5000 (expected 1..4096)");
  r.batchSize = -1;
  EXPECT_EQ(refusalKey(r).substr(0, 11), "batch_size:");
  r.batchSize = 0;
  r.patchSize = {3, 16};  // 3 is not a multiple of 2^(stages-1) = 2
  EXPECT_EQ(refusalKey(r).substr(0, 11), "patch_size:");
  r.patchSize = {};
  r.newModel.classes = 2;  // two names need three classes
  EXPECT_EQ(refusalKey(r).substr(0, 13), "labels_names:");
}

TEST(TrainSegmentation, RefusesAllBackgroundLabelsAndNoCases) {
  auto training = phantoms(2, 0);
  for (auto& c : training) std::fill(c.labels.data.begin(), c.labels.data.end(), 0);
  ima::SegmentationTrainingRequest r = quickRequest(training);
  r.newModel.labelNames.clear();
  EXPECT_THROW(ima::trainSegmentation(r), ima::Error);
  r.training = nullptr;
  EXPECT_THROW(ima::trainSegmentation(r), ima::Error);
}

TEST(TrainSegmentation, ResumesWhereTheCheckpointLeftOff) {
  const fs::path dir = fs::temp_directory_path() / ("ima_train_segmentation_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto training = phantoms(2, 0);
  ima::SegmentationTrainingRequest first = quickRequest(training);
  first.options.checkpointPath = (dir / "run.ckpt").string();
  ima::trainSegmentation(first);

  ima::SegmentationTrainingRequest second = first;
  second.options.epochs = 2;
  second.resumeFrom = first.options.checkpointPath;
  int resumedAfter = -1;
  std::vector<int> epochs;
  second.onStart = [&](const ima::SegmentationTrainingStart& s) { resumedAfter = s.completedEpochs; };
  second.onEpoch = [&](const ima::EpochReport& e) {
    epochs.push_back(e.epoch);
    return true;
  };
  const ima::Model m = ima::trainSegmentation(second);
  EXPECT_EQ(resumedAfter, 1);
  EXPECT_EQ(epochs, std::vector<int>{2});
  EXPECT_EQ(nlohmann::json::parse(m.metadata().provenanceJson).at("resumed_from"), second.resumeFrom);
  fs::remove_all(dir);
}

// Resuming with settings other than the checkpoint's would continue silently with other options
// (and record them as the model's): refused before any state is restored or the log touched,
// naming every differing setting as the host spells it and both values. More epochs are allowed.
TEST(TrainSegmentation, ResumeRefusesOtherSettingsNamingEachAsTheHostDoes) {
  const fs::path dir = fs::temp_directory_path() / ("ima_train_segmentation_settings_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto training = phantoms(2, 0);
  ima::SegmentationTrainingRequest first = quickRequest(training);
  first.options.checkpointPath = (dir / "run.ckpt").string();
  first.options.logPath = (dir / "run.log.jsonl").string();
  first.options.method = ima::TrainingMethodKind::Ima;  // the PGD steps matter to it
  first.options.adversarial.pgdSteps = 20;
  ima::trainSegmentation(first);
  const auto bytes = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string checkpoint = bytes(first.options.checkpointPath), log = bytes(first.options.logPath);
  ASSERT_FALSE(log.empty());

  ima::SegmentationTrainingRequest second = first;
  second.options.epochs = 2;
  second.resumeFrom = first.options.checkpointPath;
  second.options.checkpointPath = (dir / "second.ckpt").string();
  second.options.adversarial.pgdSteps = 2;    // e.g. an old checkpoint with K = 20, resumed with today's default
  second.options.learningRate = 0.5;
  second.settingName = [](const std::string& key) { return "--" + ima::kebabCase(key); };
  bool started = false;
  second.onStart = [&](const ima::SegmentationTrainingStart&) { started = true; };
  try {
    ima::trainSegmentation(second);
    ADD_FAILURE() << "resumed with other settings";
  } catch (const ima::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'" + second.resumeFrom + "'"), std::string::npos) << what;
    EXPECT_NE(what.find("--pgd-steps 20 (this run: 2)"), std::string::npos) << what;
    EXPECT_NE(what.find("--learning-rate " + nlohmann::json(first.options.learningRate).dump() + " (this run: 0.5)"),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find("epochs"), std::string::npos) << what;
  }
  EXPECT_FALSE(started);
  EXPECT_EQ(bytes(first.options.checkpointPath), checkpoint);
  EXPECT_EQ(bytes(first.options.logPath), log);
  EXPECT_FALSE(fs::exists(second.options.checkpointPath));

  // The same settings, two epochs instead of one: resumes after the first.
  second.options.adversarial.pgdSteps = 20;
  second.options.learningRate = first.options.learningRate;
  int resumedAfter = -1;
  second.onStart = [&](const ima::SegmentationTrainingStart& s) { resumedAfter = s.completedEpochs; };
  ima::trainSegmentation(second);
  EXPECT_EQ(resumedAfter, 1);
  fs::remove_all(dir);
}

// The comparison itself, on recorded settings as checkpoints hold them (oracle: the rules stated
// in TrainingCheckpoint.h, case by case).
TEST(TrainSegmentation, ResumeSettingsCompareValuesNotSpellingsAndKnowOlderCheckpoints) {
  const auto refusal = [](const std::string& checkpoint, const std::string& run) {
    try {
      ima::checkResumeSettings("c.ckpt", checkpoint, run, {});
    } catch (const ima::Error& e) {
      const std::string what = e.what();
      return what.substr(what.find(": ") + 2);
    }
    return std::string("(resumes)");
  };
  const std::string ima = R"({"method":"ima","batch_size":2,"adversarial":{"pgd_steps":2,"eps":0.5,"warm_start":true,"bisection_tolerance":0.05}})";
  // Key order and number spelling are not settings; the epochs may differ.
  EXPECT_EQ(refusal(ima, R"({"batch_size":2,"epochs":9,"adversarial":{"eps":0.50,"bisection_tolerance":5e-2,"warm_start":true,"pgd_steps":2},"method":"ima"})"),
            "(resumes)");
  // A checkpoint of two processes, resumed in one (which records no world_size).
  EXPECT_EQ(refusal(R"({"method":"ima","world_size":2,"backend":"gloo"})", R"({"method":"ima"})"),
            "the number of processes 2 (this run: 1); resume with the settings of the run that wrote it");
  // A checkpoint from before warm starts and the bisection tolerance were recorded ran without
  // them: it resumes only with warm starts off and tolerance 0.
  const std::string old = R"({"method":"ima","batch_size":2,"adversarial":{"pgd_steps":20,"eps":0.5}})";
  EXPECT_EQ(refusal(old, ima),
            "bisection_tolerance 0.0 (this run: 0.05), pgd_steps 20 (this run: 2), warm_start false (this run: true); "
            "resume with the settings of the run that wrote it");
  EXPECT_EQ(refusal(old, R"({"method":"ima","batch_size":2,"adversarial":{"pgd_steps":20,"eps":0.5,"warm_start":false,"bisection_tolerance":0}})"),
            "(resumes)");
  // A setting recorded only by the resuming run, and not known to older versions, is not compared.
  EXPECT_EQ(refusal(R"({"method":"ima"})", R"({"method":"ima","some_later_setting":3})"), "(resumes)");
  // Standard training ignores the adversarial settings: they do not matter to it.
  EXPECT_EQ(refusal(R"({"method":"standard","adversarial":{"pgd_steps":20}})", R"({"method":"standard","adversarial":{"pgd_steps":2}})"),
            "(resumes)");
  EXPECT_EQ(refusal(R"({"method":"standard","adversarial":{"pgd_steps":20}})", R"({"method":"ima","adversarial":{"pgd_steps":20}})"),
            "method \"standard\" (this run: \"ima\"); resume with the settings of the run that wrote it");
}

}  // namespace

}  // namespace TrainSegmentationGTest
