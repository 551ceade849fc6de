// AdversarialAttackImageFilter on a tiny randomly initialised 3D U-Net (3 classes, 8^3 patches)
// and small images on rotated, anisotropic, shifted grids. The network's predictions are not
// meaningful; the tests check what the filter promises: the input's geometry, the core's result
// (ima::adversarialVolume called directly on a case built by hand from the same buffers), the
// budget per patch, input checks, progress and abort.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"

#include "itkAdversarialAttackImageFilter.h"
#include "itkCommand.h"
#include "itkImage.h"
#include "itkImageRegionIterator.h"
#include "itkImageRegionIteratorWithIndex.h"

#include "ima/Evaluation.h"
#include "ima/Model.h"

namespace
{
using ImageType = itk::Image<float, 3>;
using LabelImageType = itk::Image<unsigned char, 3>;
using FilterType = itk::AdversarialAttackImageFilter<ImageType, LabelImageType>;
static_assert(std::is_same<FilterType::OutputImageType, ImageType>::value, "float in, float out");

constexpr int64_t kPatch = 8;

std::shared_ptr<ima::Model>
TinyModel(int dims, uint64_t seed)
{
  ima::ModelMetadata metadata;
  metadata.network.dims = dims;
  metadata.network.inChannels = 1;
  metadata.network.classes = 3;
  metadata.network.baseFeatures = 4;
  metadata.network.stages = 2;
  metadata.patchSize = std::vector<int64_t>(static_cast<size_t>(dims), kPatch);
  metadata.labels = { { 1, "organ", { 255, 0, 0 } }, { 2, "lesion", { 0, 255, 0 } } };
  return std::make_shared<ima::Model>(ima::Model::create(metadata, seed)); // z-score normalisation
}

// An image of normally distributed values (mean 100, sd 20) on a grid rotated about z, with
// anisotropic spacing, a shifted origin and the given start index.
template <typename TImage>
typename TImage::Pointer
RandomImage(const typename TImage::SizeType & size, const typename TImage::IndexType & start, unsigned seed)
{
  constexpr unsigned int D = TImage::ImageDimension;
  auto                   image = TImage::New();
  image->SetRegions(typename TImage::RegionType(start, size));
  typename TImage::PointType     origin;
  typename TImage::SpacingType   spacing;
  typename TImage::DirectionType direction;
  direction.SetIdentity();
  const double a = 0.5; // radians about z
  direction(0, 0) = std::cos(a);
  direction(0, 1) = -std::sin(a);
  direction(1, 0) = std::sin(a);
  direction(1, 1) = std::cos(a);
  for (unsigned int d = 0; d < D; ++d)
  {
    origin[d] = -12.5 + 17.25 * d;
    spacing[d] = 0.8 + 0.6 * d;
  }
  image->SetOrigin(origin);
  image->SetSpacing(spacing);
  image->SetDirection(direction);
  image->Allocate();
  std::mt19937                    random(seed);
  std::normal_distribution<float> normal(100.0f, 20.0f);
  for (itk::ImageRegionIterator<TImage> it(image, image->GetBufferedRegion()); !it.IsAtEnd(); ++it)
  {
    it.Set(static_cast<typename TImage::PixelType>(normal(random)));
  }
  return image;
}

// Labels on the image's grid: a ball of label 1 around the centre with a core of label 2.
template <typename TLabelImage, typename TImage>
typename TLabelImage::Pointer
BallLabels(const TImage * image)
{
  auto labels = TLabelImage::New();
  labels->CopyInformation(image);
  labels->SetRegions(image->GetLargestPossibleRegion());
  labels->Allocate();
  const auto & region = image->GetLargestPossibleRegion();
  for (itk::ImageRegionIteratorWithIndex<TLabelImage> it(labels, region); !it.IsAtEnd(); ++it)
  {
    double r2 = 0;
    for (unsigned int d = 0; d < TImage::ImageDimension; ++d)
    {
      const double centre = region.GetIndex(d) + 0.5 * (region.GetSize(d) - 1.0);
      const double v = (it.GetIndex()[d] - centre) / (0.3 * region.GetSize(d));
      r2 += v * v;
    }
    it.Set(r2 < 0.3 ? 2 : (r2 < 1.0 ? 1 : 0));
  }
  return labels;
}

// The case the core attacks, built by hand from the buffers (channel-planar and x-fastest is
// the ITK buffer order of a scalar image), independently of the filter's conversion helpers.
template <typename TImage, typename TLabelImage>
ima::LabelledCase
CaseFromBuffers(const TImage * image, const TLabelImage * labels)
{
  ima::Shape shape;
  for (unsigned int d = 0; d < TImage::ImageDimension; ++d)
  {
    shape.size.push_back(static_cast<int64_t>(image->GetBufferedRegion().GetSize(d)));
  }
  const size_t      n = image->GetBufferedRegion().GetNumberOfPixels();
  ima::LabelledCase c;
  c.id = "direct";
  c.image = ima::Volume(shape, 1);
  c.labels = ima::LabelMap(shape, 1);
  std::copy(image->GetBufferPointer(), image->GetBufferPointer() + n, c.image.data.begin());
  std::copy(labels->GetBufferPointer(), labels->GetBufferPointer() + n, c.labels.data.begin());
  return c;
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

std::string
DescriptionOfFailedUpdate(itk::ProcessObject * filter)
{
  try
  {
    filter->Update();
  }
  catch (const itk::ProcessAborted &)
  {
    return "unexpected itk::ProcessAborted";
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  return "no exception";
}

class AdversarialAttackImageFilterTest : public ::testing::Test
{
protected:
  static void
  SetUpTestSuite()
  {
    s_Model = TinyModel(3, 3);
  }
  static void
  TearDownTestSuite()
  {
    s_Model.reset();
  }

  // 2 x 2 x 1 patches of 8^3 that do not overlap: each patch of the output holds exactly one
  // attacked patch's perturbation.
  static ImageType::Pointer
  TiledImage()
  {
    return RandomImage<ImageType>(ImageType::SizeType{ { 16, 16, 8 } }, ImageType::IndexType{ { 0, 0, 0 } }, 7);
  }

  // 3 x 2 x 2 patches, the last ones of each axis overlapping their neighbours, on a region that
  // does not start at index 0.
  static ImageType::Pointer
  OddImage()
  {
    return RandomImage<ImageType>(ImageType::SizeType{ { 20, 13, 10 } }, ImageType::IndexType{ { 2, -1, 3 } }, 9);
  }

  static FilterType::Pointer
  MakeFilter(const ImageType * image, const LabelImageType * labels)
  {
    auto filter = FilterType::New();
    filter->SetInput(image);
    filter->SetLabelImage(labels);
    filter->SetModel(s_Model);
    filter->SetDevice("cpu");
    filter->SetThreads(2);
    filter->SetSteps(3);
    filter->SetEpsilon(0.7);
    return filter;
  }

  static ima::EvaluationOptions
  CoreOptionsOf(const FilterType * filter)
  {
    ima::EvaluationOptions o;
    o.norm = ima::parseNorm(filter->GetNorm());
    o.pgdSteps = o.ifgsmSteps = filter->GetSteps();
    o.restarts = filter->GetRestarts();
    o.batchSize = filter->GetBatchSize();
    o.attacked = filter->GetAttackWholeVolume() ? ima::EvaluationOptions::Attacked::Volume
                                                : ima::EvaluationOptions::Attacked::Patch;
    o.overlap = filter->GetOverlap();
    o.seed = filter->GetSeed();
    o.runtime.device = filter->GetDevice();
    o.runtime.threads = filter->GetThreads();
    return o;
  }

  static std::shared_ptr<ima::Model> s_Model;
};
std::shared_ptr<ima::Model> AdversarialAttackImageFilterTest::s_Model;
} // namespace

TEST_F(AdversarialAttackImageFilterTest, OutputHasInputGeometry)
{
  const auto image = OddImage();
  const auto labels = BallLabels<LabelImageType>(image.GetPointer());
  auto       filter = MakeFilter(image, labels);
  ASSERT_NO_THROW(filter->Update());
  const ImageType * output = filter->GetOutput();
  EXPECT_EQ(output->GetLargestPossibleRegion(), image->GetLargestPossibleRegion());
  EXPECT_EQ(output->GetBufferedRegion(), image->GetLargestPossibleRegion());
  EXPECT_EQ(output->GetOrigin(), image->GetOrigin());
  EXPECT_EQ(output->GetSpacing(), image->GetSpacing());
  EXPECT_EQ(output->GetDirection(), image->GetDirection());
  // The same voxel lies at the same physical point.
  ImageType::PointType a, b;
  image->TransformIndexToPhysicalPoint(ImageType::IndexType{ { 5, 4, 7 } }, a);
  output->TransformIndexToPhysicalPoint(ImageType::IndexType{ { 5, 4, 7 } }, b);
  EXPECT_EQ(a, b);
}

// The filter must hand the core exactly the case and options it was given: its output equals
// ima::adversarialVolume on the same buffers with the same options. Same code, same inputs,
// same seed and thread count, so the comparison is exact.
TEST_F(AdversarialAttackImageFilterTest, EqualsTheCoreOnTheSameCase)
{
  const auto image = OddImage();
  const auto labels = BallLabels<LabelImageType>(image.GetPointer());
  const struct
  {
    const char * attack;
    const char * norm;
  } settings[] = { { "pgd", "l2" }, { "pgd", "linf" }, { "ifgsm", "linf" }, { "fgsm", "l2" }, { "noise", "l2" } };
  for (const auto & s : settings)
  {
    SCOPED_TRACE(std::string(s.attack) + " " + s.norm);
    auto filter = MakeFilter(image, labels);
    filter->SetAttack(s.attack);
    filter->SetNorm(s.norm);
    filter->SetRestarts(2);
    filter->SetSeed(5);
    filter->SetBatchSize(5);
    ASSERT_NO_THROW(filter->Update());
    const ImageType * output = filter->GetOutput();

    const ima::Volume expected = ima::adversarialVolume(*s_Model, CaseFromBuffers(image.GetPointer(), labels.GetPointer()),
                                                        s.attack, 0.7, CoreOptionsOf(filter));
    const size_t n = image->GetBufferedRegion().GetNumberOfPixels();
    ASSERT_EQ(expected.data.size(), n);
    EXPECT_TRUE(std::equal(expected.data.begin(), expected.data.end(), output->GetBufferPointer()));
    EXPECT_FALSE(std::equal(image->GetBufferPointer(), image->GetBufferPointer() + n, output->GetBufferPointer()))
      << "the attack changed nothing";
  }
}

// Each batch of patches draws its own random numbers: with one patch per batch the noise of the
// two 8x8x8 patches of a 16x16x8 image differs (a shared stream would give identical noise).
TEST_F(AdversarialAttackImageFilterTest, BatchesDrawDifferentRandomNumbers)
{
  const auto image = RandomImage<ImageType>(ImageType::SizeType{ { 16, 8, 8 } }, ImageType::IndexType{ { 0, 0, 0 } }, 3);
  image->FillBuffer(5.0f); // constant intensities: the perturbation alone differs between patches
  image->SetPixel(ImageType::IndexType{ { 0, 0, 0 } }, 6.0f); // a non-zero standard deviation
  const auto labels = BallLabels<LabelImageType>(image.GetPointer());
  auto       filter = MakeFilter(image, labels);
  filter->SetAttack("noise");
  filter->SetBatchSize(1);
  ASSERT_NO_THROW(filter->Update());
  const ImageType * output = filter->GetOutput();
  int same = 0;
  for (int z = 0; z < 8; ++z)
    for (int y = 0; y < 8; ++y)
      for (int x = 1; x < 8; ++x) // x = 0 of the first patch holds the outlier voxel
      {
        const float first = output->GetPixel(ImageType::IndexType{ { x, y, z } }) - 5.0f;
        const float second = output->GetPixel(ImageType::IndexType{ { x + 8, y, z } }) - 5.0f;
        same += first == second;
      }
  EXPECT_LT(same, 8 * 8 * 7 / 2) << "the two patches got the same noise";
}

TEST_F(AdversarialAttackImageFilterTest, TwoDimensionalImageEqualsTheCore)
{
  using Image2Type = itk::Image<float, 2>;
  using Label2Type = itk::Image<unsigned char, 2>;
  const auto image = RandomImage<Image2Type>(Image2Type::SizeType{ { 12, 10 } }, Image2Type::IndexType{ { 0, 0 } }, 4);
  const auto labels = BallLabels<Label2Type>(image.GetPointer());
  const auto model = TinyModel(2, 8);
  auto       filter = itk::AdversarialAttackImageFilter<Image2Type, Label2Type>::New();
  filter->SetInput(image);
  filter->SetLabelImage(labels);
  filter->SetModel(model);
  filter->SetDevice("cpu");
  filter->SetThreads(2);
  filter->SetSteps(3);
  filter->SetEpsilon(0.5);
  ASSERT_NO_THROW(filter->Update());
  EXPECT_EQ(filter->GetOutput()->GetDirection(), image->GetDirection());

  ima::EvaluationOptions o;
  o.pgdSteps = o.ifgsmSteps = 3;
  o.runtime.device = "cpu";
  o.runtime.threads = 2;
  const ima::Volume expected =
    ima::adversarialVolume(*model, CaseFromBuffers(image.GetPointer(), labels.GetPointer()), "pgd", 0.5, o);
  ASSERT_EQ(expected.data.size(), 120u);
  EXPECT_TRUE(std::equal(expected.data.begin(), expected.data.end(), filter->GetOutput()->GetBufferPointer()));
}

TEST_F(AdversarialAttackImageFilterTest, ZeroBudgetReturnsTheInputUnchanged)
{
  const auto image = OddImage();
  const auto labels = BallLabels<LabelImageType>(image.GetPointer());
  auto       filter = MakeFilter(image, labels);
  filter->SetEpsilon(0.0);
  ASSERT_NO_THROW(filter->Update());
  const size_t n = image->GetBufferedRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(image->GetBufferPointer(), image->GetBufferPointer() + n, filter->GetOutput()->GetBufferPointer()));

  // An integer image gives a float image (the default output type) holding the same values.
  using ShortImageType = itk::Image<short, 3>;
  using ShortFilterType = itk::AdversarialAttackImageFilter<ShortImageType, LabelImageType>;
  static_assert(std::is_same<ShortFilterType::OutputImageType, ImageType>::value, "short in, float out");
  const auto shorts = RandomImage<ShortImageType>(ShortImageType::SizeType{ { 16, 16, 8 } },
                                                  ShortImageType::IndexType{ { 0, 0, 0 } }, 3);
  const auto shortLabels = BallLabels<LabelImageType>(shorts.GetPointer());
  auto       shortFilter = ShortFilterType::New();
  shortFilter->SetInput(shorts);
  shortFilter->SetLabelImage(shortLabels);
  shortFilter->SetModel(s_Model);
  shortFilter->SetDevice("cpu");
  shortFilter->SetEpsilon(0.0);
  ASSERT_NO_THROW(shortFilter->Update());
  const short * in = shorts->GetBufferPointer();
  const float * out = shortFilter->GetOutput()->GetBufferPointer();
  for (size_t i = 0; i < 16 * 16 * 8; ++i)
  {
    ASSERT_EQ(out[i], static_cast<float>(in[i])) << "voxel " << i;
  }
}

// The population standard deviation of n values, in double: z-score normalisation's scale.
static double
StandardDeviation(const float * x, size_t n)
{
  double mean = 0, variance = 0;
  for (size_t i = 0; i < n; ++i)
  {
    mean += x[i];
  }
  mean /= static_cast<double>(n);
  for (size_t i = 0; i < n; ++i)
  {
    variance += (x[i] - mean) * (x[i] - mean);
  }
  return std::sqrt(variance / static_cast<double>(n));
}

// The budget is per patch in normalised units: for z-score normalisation that is the raw
// difference divided by the image's standard deviation (computed here by hand, in double). The
// four patches of TiledImage() do not overlap, so each holds one attack's perturbation. PGD stays
// inside the ball; white noise in L2 lies on its sphere, which shows the units are right.
// Tolerance: adversarial = x + d * sd in float with |x| ~ 100, i.e. a rounding error of ~1e-5
// raw (5e-7 normalised) per voxel, at most ~1e-5 over a patch's 512 voxels in L2.
TEST_F(AdversarialAttackImageFilterTest, PerturbationPerPatchStaysWithinTheBudget)
{
  const auto   image = TiledImage();
  const auto   labels = BallLabels<LabelImageType>(image.GetPointer());
  const size_t n = image->GetBufferedRegion().GetNumberOfPixels();
  const float *x = image->GetBufferPointer();
  const double sd = StandardDeviation(x, n);
  const double eps = 0.7, tolerance = 1e-4;

  const struct
  {
    const char * attack;
    const char * norm;
    bool         onTheSphere;
  } settings[] = { { "pgd", "l2", false }, { "pgd", "linf", false }, { "noise", "l2", true } };
  for (const auto & s : settings)
  {
    SCOPED_TRACE(std::string(s.attack) + " " + s.norm);
    auto filter = MakeFilter(image, labels);
    filter->SetAttack(s.attack);
    filter->SetNorm(s.norm);
    filter->SetEpsilon(eps);
    ASSERT_NO_THROW(filter->Update());
    const float * adversarial = filter->GetOutput()->GetBufferPointer();
    for (int py = 0; py < 2; ++py)
    {
      for (int px = 0; px < 2; ++px)
      {
        double squares = 0, largest = 0;
        for (int z = 0; z < 8; ++z)
        {
          for (int y = 8 * py; y < 8 * py + 8; ++y)
          {
            for (int xx = 8 * px; xx < 8 * px + 8; ++xx)
            {
              const size_t i = (static_cast<size_t>(z) * 16 + static_cast<size_t>(y)) * 16 + static_cast<size_t>(xx);
              const double d = (static_cast<double>(adversarial[i]) - x[i]) / sd;
              squares += d * d;
              largest = std::max(largest, std::abs(d));
            }
          }
        }
        const double norm = std::string(s.norm) == "l2" ? std::sqrt(squares) : largest;
        EXPECT_LE(norm, eps + tolerance) << "patch (" << px << ", " << py << ")";
        EXPECT_GT(norm, 0.0) << "patch (" << px << ", " << py << ") was not attacked";
        if (s.onTheSphere)
        {
          EXPECT_NEAR(norm, eps, tolerance) << "patch (" << px << ", " << py << ")";
        }
      }
    }
  }
}

// AttackWholeVolume: the whole 16x16x8 image (four 8x8x8 patches) is one attacked sample, so its
// L2 budget is eps * sqrt(4) = 2 eps over the whole image (white noise lies on that sphere) and the
// Linf budget stays eps; the filter gives what the core gives with Attacked::Volume.
TEST_F(AdversarialAttackImageFilterTest, WholeVolumeAttackKeepsTheVolumeBudget)
{
  const auto   image = TiledImage();
  const auto   labels = BallLabels<LabelImageType>(image.GetPointer());
  const size_t n = image->GetBufferedRegion().GetNumberOfPixels();
  const float *x = image->GetBufferPointer();
  const double sd = StandardDeviation(x, n);
  const double eps = 0.7, tolerance = 1e-4;
  const struct
  {
    const char * attack;
    const char * norm;
    double       budget;
    bool         onTheSphere;
  } settings[] = { { "pgd", "l2", 2 * eps, false }, { "pgd", "linf", eps, false }, { "noise", "l2", 2 * eps, true } };
  for (const auto & s : settings)
  {
    SCOPED_TRACE(std::string(s.attack) + " " + s.norm);
    auto filter = MakeFilter(image, labels);
    filter->SetAttack(s.attack);
    filter->SetNorm(s.norm);
    filter->SetEpsilon(eps);
    filter->AttackWholeVolumeOn();
    filter->SetOverlap(0.25);
    ASSERT_NO_THROW(filter->Update());
    const float * adversarial = filter->GetOutput()->GetBufferPointer();
    double        squares = 0, largest = 0;
    for (size_t i = 0; i < n; ++i)
    {
      const double d = (static_cast<double>(adversarial[i]) - x[i]) / sd;
      squares += d * d;
      largest = std::max(largest, std::abs(d));
    }
    const double norm = std::string(s.norm) == "l2" ? std::sqrt(squares) : largest;
    EXPECT_LE(norm, s.budget + 2 * tolerance);
    EXPECT_GT(norm, 0.5 * s.budget) << "the whole-volume attack barely moved the image";
    if (s.onTheSphere)
    {
      EXPECT_NEAR(norm, s.budget, 2 * tolerance);
    }
    const ima::Volume expected = ima::adversarialVolume(*s_Model, CaseFromBuffers(image.GetPointer(), labels.GetPointer()),
                                                        s.attack, eps, CoreOptionsOf(filter));
    EXPECT_TRUE(std::equal(expected.data.begin(), expected.data.end(), adversarial));
  }
}

TEST_F(AdversarialAttackImageFilterTest, LabelImageOfAnotherSizeIsAnITKException)
{
  const auto image = TiledImage();
  auto       labels = LabelImageType::New();
  labels->CopyInformation(image);
  labels->SetRegions(LabelImageType::SizeType{ { 16, 16, 7 } });
  labels->Allocate(true);
  auto              filter = MakeFilter(image, labels);
  const std::string message = DescriptionOfFailedUpdate(filter);
  EXPECT_NE(message.find("label image"), std::string::npos) << message;
  EXPECT_NE(message.find("size"), std::string::npos) << message;
}

TEST_F(AdversarialAttackImageFilterTest, LabelImageOnAnotherGridIsAnITKException)
{
  const auto image = TiledImage();
  for (const std::string what : { "origin", "spacing", "direction" })
  {
    SCOPED_TRACE(what);
    auto labels = BallLabels<LabelImageType>(image.GetPointer());
    if (what == "origin")
    {
      auto origin = labels->GetOrigin();
      origin[2] += 1.0;
      labels->SetOrigin(origin);
    }
    else if (what == "spacing")
    {
      auto spacing = labels->GetSpacing();
      spacing[0] *= 1.5;
      labels->SetSpacing(spacing);
    }
    else
    {
      LabelImageType::DirectionType identity;
      identity.SetIdentity();
      labels->SetDirection(identity);
    }
    auto              filter = MakeFilter(image, labels);
    const std::string message = DescriptionOfFailedUpdate(filter);
    EXPECT_NE(message.find("label image"), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
}

TEST_F(AdversarialAttackImageFilterTest, ReportsProgressUpToOne)
{
  const auto image = TiledImage();
  const auto labels = BallLabels<LabelImageType>(image.GetPointer());
  auto       filter = MakeFilter(image, labels);
  filter->SetBatchSize(1); // one report per patch
  ProgressLog log;
  log.Attach(filter);
  ASSERT_NO_THROW(filter->Update());
  ASSERT_GE(log.values.size(), 4u) << "expected a report per batch (4 patches of 8^3)";
  EXPECT_TRUE(std::is_sorted(log.values.begin(), log.values.end()));
  EXPECT_FLOAT_EQ(log.values.back(), 1.0f);
  for (const float quarter : { 0.25f, 0.5f, 0.75f })
  {
    EXPECT_NE(std::find(log.values.begin(), log.values.end(), quarter), log.values.end()) << quarter;
  }
}

TEST_F(AdversarialAttackImageFilterTest, AbortStopsEarlyAndThrowsProcessAborted)
{
  const auto  image = TiledImage();
  const auto  labels = BallLabels<LabelImageType>(image.GetPointer());
  ProgressLog complete;
  {
    auto filter = MakeFilter(image, labels);
    filter->SetBatchSize(1);
    complete.Attach(filter);
    filter->Update();
  }

  auto filter = MakeFilter(image, labels);
  filter->SetBatchSize(1);
  ProgressLog aborted;
  aborted.abortAtFirst = true;
  aborted.Attach(filter);
  EXPECT_THROW(filter->Update(), itk::ProcessAborted);
  EXPECT_LE(aborted.values.size(), 2u);
  EXPECT_LT(aborted.values.size(), complete.values.size());
  EXPECT_EQ(std::count(aborted.values.begin(), aborted.values.end(), 0.5f), 0) << "went on after the abort";

  // Aborting leaves the filter usable: the next Update() runs to the end.
  aborted.abortAtFirst = false;
  EXPECT_NO_THROW(filter->Update());
  EXPECT_FLOAT_EQ(aborted.values.back(), 1.0f);
}

TEST_F(AdversarialAttackImageFilterTest, ModelFileGivesTheSameImage)
{
  const auto        image = TiledImage();
  const auto        labels = BallLabels<LabelImageType>(image.GetPointer());
  const std::string path = TempPath("attack.imamodel");
  s_Model->save(path);

  auto inMemory = MakeFilter(image, labels);
  inMemory->Update();
  auto fromFile = MakeFilter(image, labels);
  fromFile->SetModelFileName(path);
  EXPECT_EQ(fromFile->GetModelFileName(), path);
  fromFile->Update();
  ASSERT_TRUE(fromFile->GetModel());
  EXPECT_NE(fromFile->GetModel(), s_Model) << "SetModelFileName() replaces the in-memory model";
  const size_t n = image->GetBufferedRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(inMemory->GetOutput()->GetBufferPointer(), inMemory->GetOutput()->GetBufferPointer() + n,
                         fromFile->GetOutput()->GetBufferPointer()));
  std::remove(path.c_str());
}

TEST_F(AdversarialAttackImageFilterTest, BadParametersAreITKExceptions)
{
  const auto image = TiledImage();
  const auto labels = BallLabels<LabelImageType>(image.GetPointer());
  {
    auto filter = MakeFilter(image, labels);
    filter->SetAttack("deepfool");
    EXPECT_NE(DescriptionOfFailedUpdate(filter).find("deepfool"), std::string::npos);
  }
  {
    auto filter = MakeFilter(image, labels);
    filter->SetNorm("l1");
    filter->SetEpsilon(0.0); // the norm is checked even when no attack runs
    EXPECT_NE(DescriptionOfFailedUpdate(filter).find("l1"), std::string::npos);
  }
  {
    auto filter = MakeFilter(image, labels);
    filter->SetEpsilon(-1.0);
    EXPECT_NE(DescriptionOfFailedUpdate(filter).find("budget"), std::string::npos);
  }
  {
    auto filter = MakeFilter(image, labels);
    filter->SetBatchSize(0);
    EXPECT_NE(DescriptionOfFailedUpdate(filter).find("batch size"), std::string::npos);
  }
  {
    auto filter = MakeFilter(image, labels);
    filter->SetModel(nullptr);
    EXPECT_NE(DescriptionOfFailedUpdate(filter).find("no model"), std::string::npos);
  }
  {
    auto bad = BallLabels<LabelImageType>(image.GetPointer());
    bad->SetPixel(LabelImageType::IndexType{ { 0, 0, 0 } }, 7);
    auto filter = MakeFilter(image, bad);
    EXPECT_NE(DescriptionOfFailedUpdate(filter).find("label 7"), std::string::npos);
  }
}

TEST_F(AdversarialAttackImageFilterTest, ParametersArePrinted)
{
  const auto image = TiledImage();
  const auto labels = BallLabels<LabelImageType>(image.GetPointer());
  auto       filter = MakeFilter(image, labels);
  filter->SetAttack("ifgsm");
  filter->SetNorm("linf");
  filter->SetEpsilon(0.25);
  filter->SetRestarts(3);
  filter->SetSeed(42);
  filter->SetBatchSize(4);
  EXPECT_EQ(filter->GetAttack(), "ifgsm");
  EXPECT_EQ(filter->GetEpsilon(), 0.25);
  EXPECT_EQ(filter->GetSeed(), 42u);
  EXPECT_EQ(filter->GetLabelImage(), labels.GetPointer());
  std::ostringstream out;
  filter->Print(out);
  for (const char * name : { "ModelFileName", "Model: unet, 3D", "Attack: ifgsm", "Norm: linf", "Epsilon: 0.25",
                             "Steps: 3", "Restarts: 3", "Seed: 42", "BatchSize: 4", "Device: cpu", "Threads: 2" })
  {
    EXPECT_NE(out.str().find(name), std::string::npos) << name;
  }
}
