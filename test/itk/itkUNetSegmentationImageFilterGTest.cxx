// UNetSegmentationImageFilter on a tiny randomly initialised 3D U-Net (3 classes, 16^3 patches)
// and a 24x20x18 image with a rotated, anisotropic, shifted grid. The network's output is not
// meaningful; the tests check what the ITK layer promises: geometry, progress, abort, outputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "itkCommand.h"
#include "itkImage.h"
#include "itkImageRegionConstIteratorWithIndex.h"
#include "itkUNetSegmentationImageFilter.h"
#include "itkVectorImage.h"

#include "ima/Model.h"

#include <torch/script.h> // a TorchScript module to import, as nnU-Net/MONAI users bring one

namespace
{
using ImageType = itk::Image<float, 3>;
using LabelImageType = itk::Image<unsigned char, 3>;
using FilterType = itk::UNetSegmentationImageFilter<ImageType, LabelImageType>;

std::shared_ptr<ima::Model>
TinyModel(uint64_t seed)
{
  ima::ModelMetadata metadata;
  metadata.network.dims = 3;
  metadata.network.inChannels = 1;
  metadata.network.classes = 3;
  metadata.network.baseFeatures = 4;
  metadata.network.stages = 2;
  metadata.patchSize = { 16, 16, 16 };
  metadata.labels = { { 1, "organ", { 255, 0, 0 } }, { 2, "lesion", { 0, 255, 0 } } };
  return std::make_shared<ima::Model>(ima::Model::create(metadata, seed));
}

ImageType::Pointer
RandomImage()
{
  auto image = ImageType::New();
  image->SetRegions(ImageType::SizeType{ { 24, 20, 18 } });
  ImageType::PointType origin;
  origin[0] = -12.5;
  origin[1] = 40.0;
  origin[2] = 3.25;
  ImageType::SpacingType spacing;
  spacing[0] = 0.8;
  spacing[1] = 0.9;
  spacing[2] = 2.0;
  const double              a = 0.5; // radians about z
  ImageType::DirectionType  direction;
  direction.SetIdentity();
  direction(0, 0) = std::cos(a);
  direction(0, 1) = -std::sin(a);
  direction(1, 0) = std::sin(a);
  direction(1, 1) = std::cos(a);
  image->SetOrigin(origin);
  image->SetSpacing(spacing);
  image->SetDirection(direction);
  image->Allocate();
  std::mt19937                    random(7);
  std::normal_distribution<float> normal(100.0f, 20.0f);
  float *                         buffer = image->GetBufferPointer();
  for (size_t i = 0; i < image->GetBufferedRegion().GetNumberOfPixels(); ++i)
  {
    buffer[i] = normal(random);
  }
  return image;
}

// Records every ProgressEvent value; optionally aborts the filter at the first one.
struct ProgressLog
{
  std::vector<float> values;
  bool               abortAtFirst = false;

  void
  Attach(itk::ProcessObject * process)
  {
    auto command = itk::CStyleCommand::New();
    command->SetClientData(this);
    command->SetCallback([](itk::Object * caller, const itk::EventObject &, void * data) {
      auto * self = static_cast<ProgressLog *>(data);
      auto * po = static_cast<itk::ProcessObject *>(caller);
      self->values.push_back(po->GetProgress());
      if (self->abortAtFirst)
      {
        po->AbortGenerateDataOn();
      }
    });
    process->AddObserver(itk::ProgressEvent(), command);
  }
};

std::string
TempPath(const std::string & name)
{
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  return (std::filesystem::temp_directory_path() / ("imaITKGTests_" + std::to_string(stamp) + "_" + name)).string();
}

class UNetSegmentationImageFilterTest : public ::testing::Test
{
protected:
  static void
  SetUpTestSuite()
  {
    s_Model = TinyModel(3);
  }
  static void
  TearDownTestSuite()
  {
    s_Model.reset();
  }

  FilterType::Pointer
  MakeFilter() const
  {
    auto filter = FilterType::New();
    filter->SetInput(m_Image);
    filter->SetModel(s_Model);
    filter->SetDevice("cpu");
    filter->SetThreads(2);
    filter->SetBatchSize(1); // one progress report per patch
    return filter;
  }

  static std::shared_ptr<ima::Model> s_Model;
  ImageType::Pointer                 m_Image = RandomImage();
};
std::shared_ptr<ima::Model> UNetSegmentationImageFilterTest::s_Model;
} // namespace

TEST_F(UNetSegmentationImageFilterTest, OutputHasInputGeometry)
{
  auto filter = MakeFilter();
  ASSERT_NO_THROW(filter->Update());
  const LabelImageType * labels = filter->GetOutput();
  EXPECT_EQ(labels->GetLargestPossibleRegion(), m_Image->GetLargestPossibleRegion());
  EXPECT_EQ(labels->GetBufferedRegion(), m_Image->GetLargestPossibleRegion());
  EXPECT_EQ(labels->GetOrigin(), m_Image->GetOrigin());
  EXPECT_EQ(labels->GetSpacing(), m_Image->GetSpacing());
  EXPECT_EQ(labels->GetDirection(), m_Image->GetDirection());
  const unsigned char largest = *std::max_element(
    labels->GetBufferPointer(), labels->GetBufferPointer() + labels->GetBufferedRegion().GetNumberOfPixels());
  EXPECT_LE(largest, 2) << "labels must be classes of the model";
}

TEST_F(UNetSegmentationImageFilterTest, ProbabilitiesSumToOneAndLabelsAreTheirArgmax)
{
  auto filter = MakeFilter();
  filter->ComputeProbabilitiesOn();
  ASSERT_NO_THROW(filter->Update());
  const auto * probabilities = filter->GetProbabilityOutput();
  const auto * labels = filter->GetOutput();
  ASSERT_EQ(probabilities->GetNumberOfComponentsPerPixel(), 3u);
  EXPECT_EQ(probabilities->GetBufferedRegion(), m_Image->GetLargestPossibleRegion());
  EXPECT_EQ(probabilities->GetOrigin(), m_Image->GetOrigin());
  EXPECT_EQ(probabilities->GetDirection(), m_Image->GetDirection());

  // Tolerance: float softmax averaged over overlapping windows; 1e-4 is ~1000 float ulps at 1.
  int      badSums = 0, notArgmax = 0;
  unsigned seen = 0;
  for (itk::ImageRegionConstIteratorWithIndex<LabelImageType> it(labels, labels->GetBufferedRegion()); !it.IsAtEnd();
       ++it, ++seen)
  {
    const auto p = probabilities->GetPixel(it.GetIndex());
    const float sum = p[0] + p[1] + p[2];
    badSums += std::abs(sum - 1.0f) > 1e-4f;
    const float best = std::max({ p[0], p[1], p[2] });
    notArgmax += p[it.Get()] < best; // ties may go to either class
  }
  EXPECT_EQ(seen, 24u * 20u * 18u);
  EXPECT_EQ(badSums, 0);
  EXPECT_EQ(notArgmax, 0);
}

TEST_F(UNetSegmentationImageFilterTest, ReportsProgressUpToOne)
{
  auto        filter = MakeFilter();
  ProgressLog log;
  log.Attach(filter);
  ASSERT_NO_THROW(filter->Update());
  ASSERT_GE(log.values.size(), 4u) << "expected a report per patch (8 windows of 16^3 at overlap 0.5)";
  EXPECT_TRUE(std::is_sorted(log.values.begin(), log.values.end()));
  EXPECT_FLOAT_EQ(log.values.back(), 1.0f);
  EXPECT_GT(std::count_if(log.values.begin(), log.values.end(), [](float v) { return v > 0.0f && v < 1.0f; }), 0)
    << "no intermediate progress";
}

TEST_F(UNetSegmentationImageFilterTest, AbortStopsEarlyAndThrowsProcessAborted)
{
  ProgressLog complete;
  {
    auto filter = MakeFilter();
    complete.Attach(filter);
    filter->Update();
  }

  auto        filter = MakeFilter();
  ProgressLog aborted;
  aborted.abortAtFirst = true;
  aborted.Attach(filter);
  EXPECT_THROW(filter->Update(), itk::ProcessAborted);
  EXPECT_LE(aborted.values.size(), 3u);
  EXPECT_LT(2 * aborted.values.size(), complete.values.size());

  // Aborting leaves the filter usable: the next Update() runs to the end.
  aborted.abortAtFirst = false;
  EXPECT_NO_THROW(filter->Update());
  EXPECT_FLOAT_EQ(aborted.values.back(), 1.0f);
}

TEST_F(UNetSegmentationImageFilterTest, ModelFileGivesSameLabelsAndReloadsWhenNameChanges)
{
  const std::string first = TempPath("first.imamodel");
  const std::string second = TempPath("second.imamodel");
  s_Model->save(first);
  TinyModel(11)->save(second);

  auto inMemory = MakeFilter();
  inMemory->Update();

  auto fromFile = MakeFilter();
  fromFile->SetModelFileName(first);
  EXPECT_EQ(fromFile->GetModelFileName(), first);
  fromFile->Update();
  const auto loaded = fromFile->GetModel();
  ASSERT_TRUE(loaded);
  EXPECT_NE(loaded, s_Model) << "SetModelFileName() replaces the in-memory model";
  // Same weights, same computation: identical labels.
  const auto * a = inMemory->GetOutput();
  const auto * b = fromFile->GetOutput();
  EXPECT_TRUE(std::equal(a->GetBufferPointer(), a->GetBufferPointer() + a->GetBufferedRegion().GetNumberOfPixels(),
                         b->GetBufferPointer()));

  fromFile->Update(); // unchanged: no reload
  EXPECT_EQ(fromFile->GetModel(), loaded);
  fromFile->SetModelFileName(second);
  fromFile->Update();
  EXPECT_NE(fromFile->GetModel(), loaded);

  std::remove(first.c_str());
  std::remove(second.c_str());
}

// An imported TorchScript network given by file name: a 1x1x1 convolution (3 classes) after a CT
// window of [60, 140], so the labels are the argmax of w_c * n(x) + b_c with n(x) = (clip(x) - 100)
// / 40, computed here by hand voxel by voxel.
TEST_F(UNetSegmentationImageFilterTest, ImportedTorchScriptModelFileSegmentsLikeItsFormula)
{
  const float weight[3] = { 0.0f, 2.0f, -1.5f };
  const float bias[3] = { 0.0f, -0.5f, -0.25f };
  torch::jit::Module pointwise("Pointwise");
  pointwise.register_parameter("weight", torch::tensor({ weight[0], weight[1], weight[2] }).reshape({ 3, 1, 1, 1, 1 }), false);
  pointwise.register_parameter("bias", torch::tensor({ bias[0], bias[1], bias[2] }), false);
  pointwise.define(R"(
    def forward(self, x):
        return torch.conv3d(x, self.weight, self.bias)
  )");
  const std::string script = TempPath("pointwise.pt"), sidecar = TempPath("pointwise.json"),
                    imported = TempPath("pointwise.imamodel");
  pointwise.save(script);
  ima::ModelMetadata metadata = s_Model->metadata();
  metadata.normalization.kind = ima::Normalization::Kind::CTWindow;
  metadata.normalization.windowLow = 60.0f;
  metadata.normalization.windowHigh = 140.0f;
  {
    std::ofstream out(sidecar);
    out << metadata.toJson();
  }
  ima::Model::importTorchScript(script, sidecar).save(imported);

  auto filter = FilterType::New();
  filter->SetInput(m_Image);
  filter->SetModelFileName(imported);
  filter->SetDevice("cpu");
  filter->Update();
  EXPECT_EQ(filter->GetModel()->metadata().network.kind, "torchscript");

  const float * input = m_Image->GetBufferPointer();
  const auto *  labels = filter->GetOutput()->GetBufferPointer();
  size_t        decided = 0;
  for (size_t i = 0; i < m_Image->GetBufferedRegion().GetNumberOfPixels(); ++i)
  {
    const float n = (std::clamp(input[i], 60.0f, 140.0f) - 100.0f) / 40.0f;
    float       logits[3];
    for (int c = 0; c < 3; ++c)
    {
      logits[c] = weight[c] * n + bias[c];
    }
    const int   best = static_cast<int>(std::max_element(logits, logits + 3) - logits);
    float       runnerUp = -1e30f;
    for (int c = 0; c < 3; ++c)
    {
      if (c != best)
        runnerUp = std::max(runnerUp, logits[c]);
    }
    if (logits[best] - runnerUp < 1e-4f)
    {
      continue; // a near tie: rounding in the sliding-window average may pick either class
    }
    ++decided;
    ASSERT_EQ(labels[i], best) << "voxel " << i << " intensity " << input[i];
  }
  EXPECT_GT(decided, m_Image->GetBufferedRegion().GetNumberOfPixels() * 9 / 10);
  std::remove(script.c_str());
  std::remove(sidecar.c_str());
  std::remove(imported.c_str());
}

TEST_F(UNetSegmentationImageFilterTest, MissingModelIsAnITKException)
{
  auto filter = FilterType::New();
  filter->SetInput(m_Image);
  EXPECT_THROW(filter->Update(), itk::ExceptionObject);

  const std::string missing = TempPath("missing.imamodel");
  filter->SetModelFileName(missing);
  try
  {
    filter->Update();
    FAIL() << "expected itk::ExceptionObject";
  }
  catch (const itk::ProcessAborted &)
  {
    FAIL() << "a missing file is an error, not an abort";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find(missing), std::string::npos) << e.GetDescription();
  }
}

TEST_F(UNetSegmentationImageFilterTest, WrongChannelCountIsAnITKException)
{
  using VectorImageType = itk::VectorImage<float, 3>;
  using VectorFilterType = itk::UNetSegmentationImageFilter<VectorImageType>;
  auto image = VectorImageType::New();
  image->SetRegions(VectorImageType::SizeType{ { 16, 16, 16 } });
  image->SetNumberOfComponentsPerPixel(2);
  image->Allocate();
  itk::VariableLengthVector<float> zero(2);
  zero.Fill(0.0f);
  image->FillBuffer(zero);

  auto filter = VectorFilterType::New();
  filter->SetInput(image);
  filter->SetModel(s_Model);
  filter->SetDevice("cpu");
  try
  {
    filter->Update();
    FAIL() << "expected itk::ExceptionObject";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("channel"), std::string::npos) << e.GetDescription();
  }
}

TEST_F(UNetSegmentationImageFilterTest, CoreErrorsBecomeITKExceptions)
{
  auto filter = MakeFilter();
  filter->SetDevice("quantum");
  EXPECT_THROW(filter->Update(), itk::ExceptionObject);
}

TEST_F(UNetSegmentationImageFilterTest, ParametersArePrinted)
{
  auto filter = MakeFilter();
  filter->SetOverlap(0.25);
  filter->SetPatchSize({ 16, 16, 8 });
  filter->MirrorOn();
  EXPECT_EQ(filter->GetOverlap(), 0.25);
  EXPECT_EQ(filter->GetPatchSize(), (std::vector<int64_t>{ 16, 16, 8 }));
  EXPECT_TRUE(filter->GetMirror());
  std::ostringstream out;
  filter->Print(out);
  for (const char * name : { "ModelFileName", "Model:", "Overlap: 0.25", "Gaussian", "BatchSize", "Mirror: On",
                             "WholeImage", "Device: cpu", "Threads: 2", "PatchSize: [16, 16, 8]",
                             "ComputeProbabilities" })
  {
    EXPECT_NE(out.str().find(name), std::string::npos) << name;
  }
}
