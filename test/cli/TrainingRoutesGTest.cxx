// The same training inputs through every route that trains a new model (`ima train`, the C API's
// ima_train_files, itk::UNetTrainer) give the same model description and the same refusals: each
// host only translates its inputs for ima::trainSegmentation (issue 13, item 2). The oracle is
// each route against the others, plus the builders' documented values (names, colours, patch,
// default batch) where a route could agree with the others and still be wrong.
#include "CLITestSupport.h"

#include "ima.h"
#include "itkUNetTrainer.h"

#include "ima/NewModel.h"

namespace imatest::cli {
namespace TrainingRoutesGTest {  // this file's names apart from the others' in a unity build
namespace {

class TrainingRoutes : public ImaCLI {
protected:
  void SetUp() override {
    ImaCLI::SetUp();
    fs::create_directories(work_ / "images");
    fs::create_directories(work_ / "labels");
    for (const char* id : {"a", "b"}) {
      writeImage(discImage().GetPointer(), work_ / "images" / (std::string(id) + ".nii.gz"));
      writeImage(discLabels().GetPointer(), work_ / "labels" / (std::string(id) + ".nii.gz"));
    }
  }

  // Every route: one iteration of a tiny U-Net on the cases a and b.
  std::string trainWithCli(const std::string& extra, const std::string& out = "cli.imamodel") const {
    const RunResult r = run("train --images images --labels labels --out " + out +
                            " --epochs 1 --iterations 1 --features 2 --stages 2 --val-fraction 0 --device cpu "
                            "--threads 1 --quiet " + extra);
    return r.code == 0 ? "" : r.err;
  }

  std::string trainWithCApi(const std::function<void(ima_train_options&)>& adjust,
                            const std::string& out = "capi.imamodel") const {
    const std::string images[] = {(work_ / "images/a.nii.gz").string(), (work_ / "images/b.nii.gz").string()};
    const std::string labels[] = {(work_ / "labels/a.nii.gz").string(), (work_ / "labels/b.nii.gz").string()};
    const char* imagePaths[] = {images[0].c_str(), images[1].c_str()};
    const char* labelPaths[] = {labels[0].c_str(), labels[1].c_str()};
    ima_train_options o;
    ima_train_options_init(&o);
    o.epochs = 1;
    o.iterations_per_epoch = 1;
    o.features = 2;
    o.stages = 2;
    o.device = "cpu";
    o.threads = 1;
    adjust(o);
    const std::string output = (work_ / out).string();
    return ima_train_files(imagePaths, labelPaths, 2, &o, output.c_str()) == IMA_OK ? "" : ima_last_error();
  }

  using Trainer = itk::UNetTrainer<Image2F, Label2>;
  std::string trainWithItk(const std::function<void(Trainer&)>& adjust, ima::ModelMetadata* metadata = nullptr) const {
    auto trainer = Trainer::New();
    for (const char* id : {"a", "b"})
      trainer->AddTrainingPair(readImage<Image2F>(work_ / "images" / (std::string(id) + ".nii.gz")),
                               readImage<Label2>(work_ / "labels" / (std::string(id) + ".nii.gz")), id);
    trainer->SetEpochs(1);
    trainer->SetIterationsPerEpoch(1);
    trainer->SetBaseFeatures(2);
    trainer->SetStages(2);
    trainer->SetDevice("cpu");
    trainer->SetThreads(1);
    adjust(*trainer);
    try {
      trainer->Update();
    } catch (const itk::ExceptionObject& e) {
      return e.GetDescription();
    }
    if (metadata) *metadata = trainer->GetModel()->metadata();
    return "";
  }

  void writeBackgroundOnlyLabels() const {
    auto empty = discLabels();
    empty->FillBuffer(0);
    for (const char* id : {"a", "b"}) writeImage(empty.GetPointer(), work_ / "labels" / (std::string(id) + ".nii.gz"));
  }
};

// What a route decides about a new model: architecture, labels, normalisation, patch, batch, cases.
std::string description(const ima::ModelMetadata& m) {
  nlohmann::json labels = nlohmann::json::array();
  for (const auto& l : m.labels) labels.push_back({l.value, l.name, l.color});
  const auto& n = m.network;
  return nlohmann::json{{"network", {n.kind, n.dims, n.inChannels, n.classes, n.baseFeatures, n.maxFeatures, n.stages,
                                     n.norm}},
                        {"labels", labels},
                        {"normalization", m.normalization.kindName()},
                        {"patch", m.patchSize},
                        {"batch", nlohmann::json::parse(m.trainingSettingsJson).at("batch_size")},
                        {"cases", nlohmann::json::parse(m.provenanceJson).at("training_cases")}}
      .dump();
}

TEST_F(TrainingRoutes, EveryRouteDescribesANewModelAlike) {
  ASSERT_EQ(trainWithCli("--labels-names organ,lesion"), "");
  ASSERT_EQ(trainWithCApi([](ima_train_options&) {}), "");
  ima::ModelMetadata itk;
  ASSERT_EQ(trainWithItk([](Trainer& t) { t.SetLabelNames({"organ", "lesion"}); }, &itk), "");
  const ima::ModelMetadata cli = ima::readModelMetadata((work_ / "cli.imamodel").string());
  const ima::ModelMetadata capi = ima::readModelMetadata((work_ / "capi.imamodel").string());

  EXPECT_EQ(description(cli), description(itk));
  // The C API takes no label names: its labels are "label k", in the same colours.
  ima::ModelMetadata named = capi;
  ASSERT_EQ(named.labels.size(), 2u);
  EXPECT_EQ(named.labels[0].name, "label 1");
  named.labels[0].name = "organ";
  named.labels[1].name = "lesion";
  EXPECT_EQ(description(named), description(cli));

  // The builders' values: 2D from 2D images, 3 classes, distinct palette colours, the whole slice
  // (20x18, multiples of 2) as patch, 8 patches per batch in 2D, both cases.
  EXPECT_EQ(cli.network.dims, 2);
  EXPECT_EQ(cli.network.classes, 3);
  EXPECT_EQ(cli.labels[1].color, ima::labelColor(1));
  EXPECT_EQ(cli.patchSize, (std::vector<int64_t>{20, 18}));
  EXPECT_EQ(nlohmann::json::parse(cli.trainingSettingsJson).at("batch_size"), 8);
  EXPECT_EQ(nlohmann::json::parse(cli.provenanceJson).at("training_cases"), nlohmann::json({"a", "b"}));
}

// The adversarial settings a route leaves unset are the method's defaults on every route: IMA's 2
// PGD steps with the warm start and a bisection tolerance of 0.05, PGD-AT's 20 steps (the values of
// docs/cli.md's table are the oracle).
TEST_F(TrainingRoutes, EveryRouteGivesTheMethodsDefaultSteps) {
  for (const auto& [method, steps] : {std::pair<std::string, int>{"ima", 2}, {"pgd", 20}}) {
    ASSERT_EQ(trainWithCli("--method " + method, method + "-cli.imamodel"), "") << method;
    ASSERT_EQ(trainWithCApi([&method = method](ima_train_options& o) { o.method = method.c_str(); },
                            method + "-capi.imamodel"),
              "")
        << method;
    ima::ModelMetadata itk;
    ASSERT_EQ(trainWithItk([&method = method](Trainer& t) { t.SetMethod(method); }, &itk), "") << method;
    const auto adversarial = [](const ima::ModelMetadata& m) {
      const auto a = nlohmann::json::parse(m.trainingSettingsJson).at("adversarial");
      return nlohmann::json{{"pgd_steps", a.at("pgd_steps")}, {"bisection_steps", a.at("bisection_steps")},
                            {"bisection_tolerance", a.at("bisection_tolerance")}, {"warm_start", a.at("warm_start")}};
    };
    const nlohmann::json expected{{"pgd_steps", steps}, {"bisection_steps", 10}, {"bisection_tolerance", 0.05},
                                  {"warm_start", true}};
    EXPECT_EQ(adversarial(ima::readModelMetadata((work_ / (method + "-cli.imamodel")).string())), expected) << method;
    EXPECT_EQ(adversarial(ima::readModelMetadata((work_ / (method + "-capi.imamodel")).string())), expected) << method;
    EXPECT_EQ(adversarial(itk), expected) << method;
  }
}

TEST_F(TrainingRoutes, EveryRouteRefusesBackgroundOnlyLabelsAlike) {
  writeBackgroundOnlyLabels();
  const std::string expected = "the label maps contain no foreground";
  EXPECT_NE(trainWithCli("").find(expected), std::string::npos);
  EXPECT_NE(trainWithCApi([](ima_train_options&) {}).find(expected), std::string::npos);
  EXPECT_NE(trainWithItk([](Trainer&) {}).find(expected), std::string::npos);
}

TEST_F(TrainingRoutes, EveryRouteRefusesABadPatchAlike) {
  const std::string expected = " is 3,16 (expected positive multiples of 2^(stages-1) = 2, at most 4096)";
  EXPECT_NE(trainWithCli("--patch 3,16").find("--patch" + expected), std::string::npos);
  EXPECT_NE(trainWithCApi([](ima_train_options& o) {
              o.patch_size[0] = 3;
              o.patch_size[1] = 16;
            }).find("options.patch_size" + expected),
            std::string::npos);
  EXPECT_NE(trainWithItk([](Trainer& t) { t.SetPatchSize({3, 16}); }).find("PatchSize" + expected), std::string::npos);
}

// A negative batch is refused on every route (the ITK layer and IMAHarden took it for "default").
TEST_F(TrainingRoutes, EveryRouteRefusesANegativeBatch) {
  EXPECT_NE(trainWithCli("--batch -1"), "");
  EXPECT_NE(trainWithCApi([](ima_train_options& o) { o.batch_size = -1; }).find("options.batch_size is -1 (expected 1..4096)"),
            std::string::npos);
  EXPECT_NE(trainWithItk([](Trainer& t) { t.SetBatchSize(-1); }).find("BatchSize is -1 (expected 1..4096)"),
            std::string::npos);
}

}  // namespace
}  // namespace TrainingRoutesGTest
}  // namespace imatest::cli
