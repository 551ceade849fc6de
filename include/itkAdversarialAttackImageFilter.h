#ifndef itkAdversarialAttackImageFilter_h
#define itkAdversarialAttackImageFilter_h

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "itkImage.h"
#include "itkImageToImageFilter.h"
#include "itkNumericTraits.h"
#include "itkIMACompatibility.h"

#include "itkIMAModelSource.h"

#include "ima/Model.h"

namespace itk
{
/** \class AdversarialAttackImageFilter
 * \brief The adversarial version of an image for a U-Net model (the core's ima::adversarialVolume,
 * as `ima attack` writes it).
 *
 * Input 0: the image, raw intensities, scalar or itk::VectorImage (one component per network input
 * channel). Input 1 (SetLabelImage): its reference label map on the same voxel grid (same size,
 * start index, origin, spacing and direction, within the filter's CoordinateTolerance and
 * DirectionTolerance; otherwise Update() throws itk::ExceptionObject naming the difference).
 *
 * Every patch of the model's patch grid (for a 2D model, the tiles of every slice) is attacked
 * through the network's forward pass with the reference labels, and the perturbation is added to
 * the image in its raw intensity units. Epsilon is the budget per patch in normalised intensity
 * units (the model's normalisation) in the chosen Norm; where the last tile of an axis overlaps its
 * neighbour, the later tile's perturbation is kept. With AttackWholeVolume on, the whole image is
 * attacked instead through the deployed prediction (the sliding-window inference of
 * itk::UNetSegmentationImageFilter, Gaussian-weighted windows at Overlap), the L2 budget scaled by
 * sqrt(voxels / patch voxels) so that the energy per voxel stays that of a patch.
 *
 * Output: the adversarial image, float by default (TOutputImage = the input image type with float
 * components), on the input's grid (origin, spacing, direction and largest possible region).
 *
 * The whole image is attacked at once, so the filter requests the largest possible regions of
 * both inputs. Progress is reported per batch of patches; setting AbortGenerateData stops between
 * batches and Update() throws itk::ProcessAborted. Errors of the core (unknown attack or norm,
 * negative budget, label values outside the model's classes, NaN input, unknown device,
 * unreadable model) become itk::ExceptionObject with the core's message.
 *
 * The model comes from SetModelFileName() (loaded when the pipeline first needs it and again
 * whenever the name changes) or from SetModel(); whichever was set last is used.
 *
 * \ingroup IMASegmentation
 */
template <typename TInputImage,
          typename TLabelImage = Image<unsigned char, TInputImage::ImageDimension>,
          typename TOutputImage = typename TInputImage::template RebindImageType<float>>
class ITK_TEMPLATE_EXPORT AdversarialAttackImageFilter : public ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(AdversarialAttackImageFilter);

  using Self = AdversarialAttackImageFilter;
  using Superclass = ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;
  static_assert(TLabelImage::ImageDimension == ImageDimension, "image and labels must have the same dimension");
  static_assert(TOutputImage::ImageDimension == ImageDimension, "input and output must have the same dimension");
  static_assert(ImageDimension == 2 || ImageDimension == 3, "the filter handles 2D and 3D images");
  static_assert(std::is_floating_point<typename NumericTraits<typename TOutputImage::PixelType>::ValueType>::value,
                "the adversarial image has real values: use a floating-point output pixel type");

  using InputImageType = TInputImage;
  using LabelImageType = TLabelImage;
  using OutputImageType = TOutputImage;
  using ModelPointer = std::shared_ptr<ima::Model>;

  itkNewMacro(Self);
  imaITKTypeMacro(AdversarialAttackImageFilter, ImageToImageFilter);

  /** Input 1: the reference label map (0 = background, 1..K-1 = the model's labels). */
  void
  SetLabelImage(const LabelImageType * labels);
  const LabelImageType *
  GetLabelImage() const;

  /** Path of an .imamodel file. Setting it replaces a model given by SetModel(). */
  virtual void
  SetModelFileName(const std::string & fileName);
  const std::string &
  GetModelFileName() const
  {
    return m_ModelSource.GetFileName();
  }

  /** Use an in-memory model (e.g. from itk::UNetTrainer); clears ModelFileName. The model is
   * shared, not copied. */
  virtual void
  SetModel(ModelPointer model);
  /** The model the filter attacks: the one set, or the one loaded from ModelFileName (null before
   * the file was first needed). */
  const ModelPointer &
  GetModel() const
  {
    return m_ModelSource.GetModel();
  }

  /** "pgd" (random start, step 4 * Epsilon / Steps, Restarts restarts; default), "ifgsm" (Steps
   * steps of Epsilon / 4), "fgsm" (one step of Epsilon) or "noise" (white noise of norm Epsilon). */
  itkSetMacro(Attack, std::string);
  itkGetConstReferenceMacro(Attack, std::string);

  /** Norm of the budget: "l2" (default) or "linf". */
  itkSetMacro(Norm, std::string);
  itkGetConstReferenceMacro(Norm, std::string);

  /** Budget per patch in normalised intensity units (the model's normalisation), >= 0; 0 returns
   * the input unchanged. Default 1. */
  itkSetMacro(Epsilon, double);
  itkGetConstMacro(Epsilon, double);

  /** Iterations of "pgd" and "ifgsm". Default 20. */
  itkSetMacro(Steps, int);
  itkGetConstMacro(Steps, int);

  /** Random restarts of "pgd" (per patch the restart with the highest loss is kept). Default 1. */
  itkSetMacro(Restarts, int);
  itkGetConstMacro(Restarts, int);

  /** Seed of the random start and of the noise (the same seed gives the same image). Default 0. */
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);

  /** Patches per forward pass (and per progress report). Default 8. Every batch draws the random
   * start of "pgd" and the "noise" from its own stream, derived from Seed and the batch's first
   * patch, so for those attacks the image depends on BatchSize. */
  itkSetMacro(BatchSize, int);
  itkGetConstMacro(BatchSize, int);

  /** Attack the whole image through the sliding-window prediction instead of every patch alone
   * (docs/evaluation.md, "Patch or whole volume"). Default off. */
  itkSetMacro(AttackWholeVolume, bool);
  itkGetConstMacro(AttackWholeVolume, bool);
  itkBooleanMacro(AttackWholeVolume);

  /** With AttackWholeVolume: fraction of a patch shared by neighbouring windows, in [0, 1). Default 0.5. */
  itkSetMacro(Overlap, double);
  itkGetConstMacro(Overlap, double);

  /** "auto" (CUDA when available), "cpu", "cuda" or "cuda:N". */
  itkSetMacro(Device, std::string);
  itkGetConstReferenceMacro(Device, std::string);

  /** CPU threads for libtorch; 0 = all cores. */
  itkSetMacro(Threads, int);
  itkGetConstMacro(Threads, int);

protected:
  AdversarialAttackImageFilter();
  ~AdversarialAttackImageFilter() override = default;

  void
  PrintSelf(std::ostream & os, Indent indent) const override;

  /** The label image must lie on the image's voxel grid. */
  void
  VerifyInputInformation() imaITKv5Const override;
  void
  GenerateOutputInformation() override;
  void
  GenerateInputRequestedRegion() override;
  void
  EnlargeOutputRequestedRegion(DataObject * output) override;
  void
  GenerateData() override;


private:
  IMAModelSource m_ModelSource;
  std::string  m_Attack{ "pgd" };
  std::string  m_Norm{ "l2" };
  double       m_Epsilon{ 1.0 };
  int          m_Steps{ 20 };
  int          m_Restarts{ 1 };
  uint64_t     m_Seed{ 0 };
  int          m_BatchSize{ 8 };
  bool         m_AttackWholeVolume{ false };
  double       m_Overlap{ 0.5 };
  std::string  m_Device{ "auto" };
  int          m_Threads{ 0 };
};
} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkAdversarialAttackImageFilter.hxx"
#endif

#endif // itkAdversarialAttackImageFilter_h
