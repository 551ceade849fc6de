// UNetTrainer on two 32^3 phantoms with a tiny network (4 base features, 2 stages, 16^3 patches),
// 2 epochs of 2 iterations: checks events, abort, outputs and errors, not learning quality.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "itkCommand.h"
#include "itkIMAImageConversion.h"
#include "itkImage.h"
#include <nlohmann/json.hpp>
#include "itkUNetSegmentationImageFilter.h"
#include "itkUNetTrainer.h"


#include "ima/Model.h"
#include "ima/Phantoms.h"

namespace
{
using ImageType = itk::Image<float, 3>;
using LabelImageType = itk::Image<unsigned char, 3>;
using TrainerType = itk::UNetTrainer<ImageType, LabelImageType>;

struct Case
{
  ImageType::Pointer      image;
  LabelImageType::Pointer labels;
};

Case
Phantom(int index)
{
  ima::PhantomOptions options;
  options.size = 32;
  options.seed = 5;
  const auto phantom = ima::makePhantom(options, index);
  return { itk::IMAVolumeToImage<ImageType>(phantom.first), itk::IMALabelMapToImage<LabelImageType>(phantom.second) };
}

// Records the epoch number of every IterationEvent; optionally aborts at the first one.
struct EpochLog
{
  std::vector<int> epochs;
  bool             abortAtFirst = false;

  void
  Attach(TrainerType * trainer)
  {
    auto command = itk::CStyleCommand::New();
    command->SetClientData(this);
    command->SetCallback([](itk::Object * caller, const itk::EventObject &, void * data) {
      auto * self = static_cast<EpochLog *>(data);
      auto * source = static_cast<TrainerType *>(caller);
      self->epochs.push_back(source->GetLastEpochReport().epoch);
      if (self->abortAtFirst)
      {
        source->AbortGenerateDataOn();
      }
    });
    trainer->AddObserver(itk::IterationEvent(), command);
  }
};

class UNetTrainerTest : public ::testing::Test
{
protected:
  static void
  SetUpTestSuite()
  {
    s_Cases = { Phantom(0), Phantom(1) };
  }
  static void
  TearDownTestSuite()
  {
    s_Cases.clear();
  }

  static TrainerType::Pointer
  MakeTrainer()
  {
    auto trainer = TrainerType::New();
    trainer->AddTrainingPair(s_Cases[0].image, s_Cases[0].labels, "phantom0");
    trainer->AddTrainingPair(s_Cases[1].image, s_Cases[1].labels, "phantom1");
    trainer->SetNetworkDimension(3);
    trainer->SetBaseFeatures(4);
    trainer->SetStages(2);
    trainer->SetLabelNames({ "organ", "lesion" });
    trainer->SetPatchSize({ 16, 16, 16 });
    trainer->SetEpochs(2);
    trainer->SetIterationsPerEpoch(2);
    trainer->SetBatchSize(2);
    trainer->SetOptimizer("adam");
    trainer->SetLearningRate(1e-3);
    trainer->SetDevice("cpu");
    trainer->SetThreads(2);
    trainer->SetSeed(9);
    return trainer;
  }

  static std::vector<Case> s_Cases;
};
std::vector<Case> UNetTrainerTest::s_Cases;

std::string
TempPath(const std::string & name)
{
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  return (std::filesystem::temp_directory_path() / ("imaITKGTests_" + std::to_string(stamp) + "_" + name)).string();
}
} // namespace

TEST_F(UNetTrainerTest, OneIterationEventPerEpochAndAUsableModel)
{
  auto     trainer = MakeTrainer();
  EpochLog log;
  log.Attach(trainer);
  ASSERT_NO_THROW(trainer->Update());
  EXPECT_EQ(log.epochs, (std::vector<int>{ 1, 2 }));
  EXPECT_EQ(trainer->GetLastEpochReport().epoch, 2);
  EXPECT_EQ(trainer->GetEpochReports().size(), 2u);

  const auto model = trainer->GetModel();
  ASSERT_TRUE(model);
  EXPECT_EQ(trainer->GetModelOutput()->GetModel(), model);
  EXPECT_EQ(model->metadata().network.classes, 3);
  EXPECT_EQ(model->metadata().network.inChannels, 1);
  EXPECT_EQ(model->metadata().labelName(2), "lesion");

  // An unchanged trainer does not train again.
  trainer->Update();
  EXPECT_EQ(log.epochs.size(), 2u);

  // The model feeds the segmentation filter directly and survives a save/load round trip.
  auto filter = itk::UNetSegmentationImageFilter<ImageType, LabelImageType>::New();
  filter->SetInput(s_Cases[0].image);
  filter->SetModel(model);
  filter->SetDevice("cpu");
  filter->SetThreads(2);
  ASSERT_NO_THROW(filter->Update());
  EXPECT_EQ(filter->GetOutput()->GetLargestPossibleRegion(), s_Cases[0].image->GetLargestPossibleRegion());

  const std::string path = TempPath("trained.imamodel");
  ASSERT_NO_THROW(trainer->SaveModel(path));
  EXPECT_EQ(ima::readModelMetadata(path).network.classes, 3);
  std::remove(path.c_str());
}

TEST_F(UNetTrainerTest, AbortInIterationEventThrowsProcessAborted)
{
  auto     trainer = MakeTrainer();
  EpochLog log;
  log.abortAtFirst = true;
  log.Attach(trainer);
  EXPECT_THROW(trainer->Update(), itk::ProcessAborted);
  EXPECT_EQ(log.epochs, (std::vector<int>{ 1 }));
  EXPECT_TRUE(trainer->GetModel()) << "the weights reached before the abort stay available";
}

TEST_F(UNetTrainerTest, NoTrainingPairsIsAnError)
{
  auto trainer = TrainerType::New();
  trainer->SetDevice("cpu");
  EXPECT_THROW(trainer->Update(), itk::ExceptionObject);
  EXPECT_THROW(trainer->SaveModel(TempPath("never.imamodel")), itk::ExceptionObject);
}

TEST_F(UNetTrainerTest, BadLabelNamesTheCase)
{
  using ShortLabelImageType = itk::Image<short, 3>;
  using ShortTrainerType = itk::UNetTrainer<ImageType, ShortLabelImageType>;
  const LabelImageType * labels = s_Cases[1].labels;
  auto                   bad = ShortLabelImageType::New();
  bad->CopyInformation(labels);
  bad->SetRegions(labels->GetLargestPossibleRegion());
  bad->Allocate();
  bad->FillBuffer(0);
  bad->SetPixel({ { 1, 2, 3 } }, 300);

  auto trainer = ShortTrainerType::New();
  trainer->AddTrainingPair(s_Cases[1].image, bad, "broken-case");
  trainer->SetDevice("cpu");
  try
  {
    trainer->Update();
    FAIL() << "expected itk::ExceptionObject";
  }
  catch (const itk::ExceptionObject & e)
  {
    const std::string message = e.GetDescription();
    EXPECT_NE(message.find("broken-case"), std::string::npos) << message;
    EXPECT_NE(message.find("300"), std::string::npos) << message;
  }
}

TEST_F(UNetTrainerTest, ParametersArePrinted)
{
  auto trainer = MakeTrainer();
  std::ostringstream out;
  trainer->Print(out);
  for (const char * name :
       { "TrainingPairs: 2 [phantom0, phantom1]", "Epochs: 2", "IterationsPerEpoch: 2", "BatchSize: 2",
         "Optimizer: adam", "LearningRate", "Seed: 9", "Device: cpu", "Threads: 2", "CheckpointFileName",
         "LogFileName", "PatchSize: [16, 16, 16]", "NetworkDimension: 3", "BaseFeatures: 4", "Stages: 2",
         "Norm: instance", "LabelNames: [organ, lesion]", "InitialModelFileName" })
  {
    EXPECT_NE(out.str().find(name), std::string::npos) << name;
  }
}

// The IMA method through the ITK trainer: every epoch report carries margin statistics whose
// shares add up to one and whose margins stay within [0, EpsMax]; an unknown method is an error.
TEST_F(UNetTrainerTest, ImaMethodReportsMarginsPerEpoch)
{
  auto trainer = MakeTrainer();
  trainer->SetMethod("ima");
  trainer->SetEpsMax(0.8);
  trainer->SetDelta(0.1);
  trainer->SetPgdSteps(2);
  trainer->SetBisectionSteps(3);
  ASSERT_NO_THROW(trainer->Update());
  ASSERT_EQ(trainer->GetEpochReports().size(), 2u);
  for (const auto & report : trainer->GetEpochReports())
  {
    ASSERT_TRUE(report.margins.has_value());
    const ima::MarginStatistics & margins = *report.margins;
    EXPECT_NEAR(margins.fractionExpanded + margins.fractionToBoundary + margins.fractionUnchanged,
                1.0,
                1e-12);
    EXPECT_GE(margins.minimum, 0.0);
    EXPECT_LE(margins.maximum, 0.8);
  }
  EXPECT_EQ(trainer->GetModel()->metadata().trainingMethod, "ima");

  auto bad = MakeTrainer();
  bad->SetMethod("trades-v2");
  EXPECT_THROW(bad->Update(), itk::ExceptionObject);
}

// TRADES through the ITK trainer: its settings reach the model's training settings; a negative
// TRADES beta is reported as an ITK exception.
TEST_F(UNetTrainerTest, TradesMethodCarriesItsSettingsIntoTheModel)
{
  auto trainer = MakeTrainer();
  trainer->SetMethod("trades");
  trainer->SetPgdEps(0.4);
  trainer->SetTradesBeta(2.5);
  trainer->SetPgdSteps(2);
  trainer->SetEpochs(1);
  ASSERT_NO_THROW(trainer->Update());
  const auto & metadata = trainer->GetModel()->metadata();
  EXPECT_EQ(metadata.trainingMethod, "trades");
  const auto settings = nlohmann::json::parse(metadata.trainingSettingsJson);
  EXPECT_DOUBLE_EQ(settings.at("adversarial").at("trades_beta").get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(settings.at("adversarial").at("eps").get<double>(), 0.4);
  std::ostringstream out;
  trainer->Print(out);
  EXPECT_NE(out.str().find("TradesBeta: 2.5"), std::string::npos) << out.str();

  auto bad = MakeTrainer();
  bad->SetMethod("trades");
  bad->SetTradesBeta(-1);
  EXPECT_THROW(bad->Update(), itk::ExceptionObject);
}

// Without a patch size a new model gets the command line's default: up to 64 voxels per axis in
// 3D, the whole slice in 2D (hand-computed for 72^3 phantoms and 2 stages: 64^3, and 72 x 72).
TEST_F(UNetTrainerTest, DefaultPatchSizeIsTheCommandLines)
{
  ima::PhantomOptions options;
  options.size = 72;
  options.seed = 5;
  const auto phantom = ima::makePhantom(options, 0);
  const auto image = itk::IMAVolumeToImage<ImageType>(phantom.first);
  const auto labels = itk::IMALabelMapToImage<LabelImageType>(phantom.second);
  for (const unsigned dims : { 3u, 2u })
  {
    auto trainer = TrainerType::New();
    trainer->AddTrainingPair(image, labels, "phantom");
    trainer->SetNetworkDimension(dims);
    trainer->SetBaseFeatures(2);
    trainer->SetStages(2);
    trainer->SetEpochs(1);
    trainer->SetIterationsPerEpoch(1);
    trainer->SetBatchSize(1);
    trainer->SetThreads(2);
    ASSERT_NO_THROW(trainer->Update());
    const std::vector<int64_t> expected = dims == 3 ? std::vector<int64_t>{ 64, 64, 64 } : std::vector<int64_t>{ 72, 72 };
    EXPECT_EQ(trainer->GetModel()->metadata().patchSize, expected) << dims << "D";
  }
}

// Delta left at 0 means EpsMax / 20, as on the command line and in the C API; a Delta set is used.
TEST_F(UNetTrainerTest, DeltaDefaultsToATwentiethOfEpsMax)
{
  for (const double delta : { 0.0, 0.3 })
  {
    auto trainer = MakeTrainer();
    trainer->SetMethod("ima");
    trainer->SetEpsMax(2.0);
    trainer->SetDelta(delta);
    trainer->SetPgdSteps(2);
    trainer->SetBisectionSteps(2);
    trainer->SetEpochs(1);
    trainer->SetIterationsPerEpoch(1);
    ASSERT_NO_THROW(trainer->Update());
    const auto settings = nlohmann::json::parse(trainer->GetModel()->metadata().trainingSettingsJson);
    EXPECT_DOUBLE_EQ(settings.at("adversarial").at("delta").get<double>(), delta == 0 ? 2.0 / 20 : delta);
  }
}

// The training attacks' intensity clamp: AttackClamp with its range reaches the core's options,
// recorded in the model's training settings as the command line records --attack-clamp (the
// values set here are the oracle); without it the settings say no clamp; an empty range is an ITK
// exception naming the parameters and the values, raised before any training.
TEST_F(UNetTrainerTest, AttackClampIsRecordedAndAnEmptyRangeRejected)
{
  auto trainer = MakeTrainer();
  trainer->SetMethod("pgd");
  trainer->SetPgdSteps(2);
  trainer->SetEpochs(1);
  trainer->SetIterationsPerEpoch(1);
  EXPECT_FALSE(trainer->GetAttackClamp());
  trainer->AttackClampOn();
  trainer->SetAttackClampLow(-1.5);
  trainer->SetAttackClampHigh(2.5);
  ASSERT_NO_THROW(trainer->Update());
  const auto settings = nlohmann::json::parse(trainer->GetModel()->metadata().trainingSettingsJson);
  EXPECT_EQ(settings.at("adversarial").at("clamp"), nlohmann::json::array({ -1.5, 2.5 }));
  std::ostringstream out;
  trainer->Print(out);
  EXPECT_NE(out.str().find("AttackClamp: On [-1.5, 2.5]"), std::string::npos) << out.str();

  trainer->AttackClampOff(); // modifies the trainer: Update() trains again
  ASSERT_NO_THROW(trainer->Update());
  EXPECT_TRUE(nlohmann::json::parse(trainer->GetModel()->metadata().trainingSettingsJson)
                .at("adversarial")
                .at("clamp")
                .is_null());

  auto bad = MakeTrainer();
  bad->SetMethod("pgd");
  bad->AttackClampOn();
  bad->SetAttackClampLow(2);
  bad->SetAttackClampHigh(1);
  EpochLog log;
  log.Attach(bad);
  try
  {
    bad->Update();
    FAIL() << "an empty clamp range was accepted";
  }
  catch (const itk::ExceptionObject & e)
  {
    const std::string message = e.GetDescription();
    EXPECT_NE(message.find("[AttackClampLow, AttackClampHigh] is [2, 1]"), std::string::npos) << message;
  }
  EXPECT_TRUE(log.epochs.empty()) << "no epoch may run with a rejected setting";
  EXPECT_FALSE(bad->GetModel());
}

// IMA's warm start (on by default) and bisection tolerance reach the model's training settings as
// on the command line, and are printed; PgdSteps 0 (the default) is IMA's 2 steps.
TEST_F(UNetTrainerTest, WarmStartAndBisectionToleranceAreRecorded)
{
  auto trainer = MakeTrainer();
  trainer->SetMethod("ima");
  EXPECT_EQ(trainer->GetPgdSteps(), 0);
  trainer->SetBisectionSteps(3);
  trainer->SetEpochs(1);
  trainer->SetIterationsPerEpoch(1);
  EXPECT_TRUE(trainer->GetWarmStart());
  EXPECT_EQ(trainer->GetBisectionTolerance(), 0.05);
  trainer->WarmStartOff();
  trainer->SetBisectionTolerance(0.25);
  ASSERT_NO_THROW(trainer->Update());
  const auto adversarial = nlohmann::json::parse(trainer->GetModel()->metadata().trainingSettingsJson).at("adversarial");
  EXPECT_EQ(adversarial.at("warm_start"), false);
  EXPECT_EQ(adversarial.at("bisection_tolerance"), 0.25);
  EXPECT_EQ(adversarial.at("pgd_steps"), 2);
  std::ostringstream out;
  trainer->Print(out);
  EXPECT_NE(out.str().find("BisectionTolerance: 0.25, WarmStart: Off"), std::string::npos) << out.str();
}

// Every parameter is checked by the core's builders and named as its Set method names it (the new
// model's network too: NetworkDimension, BaseFeatures and LabelNames are not the keys in PascalCase).
TEST_F(UNetTrainerTest, BadParametersAreNamedInTheException)
{
  const std::vector<std::pair<std::function<void(TrainerType *)>, std::string>> cases = {
    { [](TrainerType * t) { t->SetPgdEps(-1); }, "PgdEps is -1" },
    { [](TrainerType * t) { t->SetDelta(2); }, "Delta is 2" },
    { [](TrainerType * t) { t->SetTau(1.5); }, "Tau is 1.5" },
    { [](TrainerType * t) { t->SetBisectionSteps(61); }, "BisectionSteps is 61" },
    { [](TrainerType * t) { t->SetBisectionTolerance(1); }, "BisectionTolerance is 1" },
    { [](TrainerType * t) { t->SetIterationsPerEpoch(0); }, "IterationsPerEpoch is 0" },
    { [](TrainerType * t) { t->SetBatchSize(-1); }, "BatchSize is -1" },
    // The new model's settings, checked by ima::newModelMetadata.
    { [](TrainerType * t) { t->SetBaseFeatures(0); }, "BaseFeatures is 0" },
    { [](TrainerType * t) { t->SetMaxFeatures(5000); }, "MaxFeatures is 5000" },
    { [](TrainerType * t) { t->SetStages(9); }, "Stages is 9" },
    { [](TrainerType * t) { t->SetNorm("layer"); }, "Norm is 'layer'" },
    { [](TrainerType * t) { t->SetLabelNames({ "organ" }); }, "but LabelNames names only 1 label(s)" },
  };
  for (const auto & [spoil, expected] : cases)
  {
    auto trainer = MakeTrainer();
    spoil(trainer);
    try
    {
      trainer->Update();
      ADD_FAILURE() << expected << ": accepted";
    }
    catch (const itk::ExceptionObject & e)
    {
      EXPECT_NE(std::string(e.GetDescription()).find(expected), std::string::npos) << e.GetDescription();
    }
  }
}

// A new model is described by the core's ima::newModelMetadata, as on the command line and the C
// API: named labels, distinct palette colours, nnU-Net's features cap, the default batch of 2 for a
// 3D network; and all-background label maps are refused (the trainer used to accept them).
TEST_F(UNetTrainerTest, NewModelIsDescribedAsOnEveryRoute)
{
  auto trainer = MakeTrainer();
  trainer->SetBatchSize(0);  // the default
  trainer->SetEpochs(1);
  trainer->SetIterationsPerEpoch(1);
  trainer->Update();
  const ima::ModelMetadata & m = trainer->GetModel()->metadata();
  ASSERT_EQ(m.labels.size(), 2u);
  EXPECT_EQ(m.labels[0].name, "organ");
  EXPECT_EQ(m.labels[1].name, "lesion");
  EXPECT_EQ(m.labels[0].color, ima::labelColor(0));
  EXPECT_EQ(m.labels[1].color, ima::labelColor(1));
  EXPECT_NE(m.labels[0].color, m.labels[1].color);
  EXPECT_EQ(m.network.maxFeatures, 320);
  EXPECT_EQ(nlohmann::json::parse(m.trainingSettingsJson).value("batch_size", -1), 2);

  auto background = LabelImageType::New();
  background->CopyInformation(s_Cases[0].labels);
  background->SetRegions(s_Cases[0].labels->GetLargestPossibleRegion());
  background->Allocate();
  background->FillBuffer(0);
  auto empty = TrainerType::New();
  empty->AddTrainingPair(s_Cases[0].image, background, "empty");
  empty->SetNetworkDimension(3);
  try
  {
    empty->Update();
    FAIL() << "expected itk::ExceptionObject";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("contain no foreground"), std::string::npos) << e.GetDescription();
  }
}
