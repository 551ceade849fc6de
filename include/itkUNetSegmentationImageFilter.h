#ifndef itkUNetSegmentationImageFilter_h
#define itkUNetSegmentationImageFilter_h

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "itkImage.h"
#include "itkImageToImageFilter.h"
#include "itkVectorImage.h"
#include "itkIMACompatibility.h"

#include "itkIMAModelSource.h"

#include "ima/Model.h"

namespace itk
{
/** \class UNetSegmentationImageFilter
 * \brief Segments an image with a U-Net model (sliding-window inference of the IMA core).
 *
 * Input: a scalar image or an itk::VectorImage (one component per network input channel) of raw
 * intensities; the model's own normalisation is applied. Output 0: the label map (0 = background,
 * 1..K = the model's labels) on the input's grid. Output 1, when ComputeProbabilities is on: the
 * softmax probabilities as an itk::VectorImage<float> with one component per class (background
 * first); otherwise output 1 stays unallocated.
 *
 * The whole input is processed at once (the network needs context across patches), so the filter
 * requests the largest possible input region and produces the largest possible output region.
 * Progress is reported per patch; setting AbortGenerateData stops between patches and Update()
 * throws itk::ProcessAborted. Errors of the core (wrong channel count, NaN input, unknown device,
 * unreadable model) become itk::ExceptionObject with the core's message.
 *
 * The model comes from SetModelFileName() (loaded when the pipeline first needs it and again
 * whenever the name changes) or from SetModel(); whichever was set last is used.
 *
 * \ingroup IMASegmentation
 */
template <typename TInputImage, typename TOutputImage = Image<unsigned char, TInputImage::ImageDimension>>
class ITK_TEMPLATE_EXPORT UNetSegmentationImageFilter : public ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(UNetSegmentationImageFilter);

  using Self = UNetSegmentationImageFilter;
  using Superclass = ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;
  static_assert(TOutputImage::ImageDimension == ImageDimension, "input and output must have the same dimension");
  static_assert(ImageDimension == 2 || ImageDimension == 3, "the filter handles 2D and 3D images");

  using InputImageType = TInputImage;
  using OutputImageType = TOutputImage;
  using ProbabilityImageType = VectorImage<float, ImageDimension>;
  using ModelPointer = std::shared_ptr<ima::Model>;
  using PatchSizeType = std::vector<int64_t>;
  using DataObjectPointer = typename Superclass::DataObjectPointer;
  using DataObjectPointerArraySizeType = typename Superclass::DataObjectPointerArraySizeType;

  itkNewMacro(Self);
  imaITKTypeMacro(UNetSegmentationImageFilter, ImageToImageFilter);

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
  /** The model the filter runs: the one set, or the one loaded from ModelFileName (null before the
   * file was first needed). */
  const ModelPointer &
  GetModel() const
  {
    return m_ModelSource.GetModel();
  }

  /** Fraction of a patch shared by neighbouring windows, in [0, 1). Default 0.5. */
  itkSetMacro(Overlap, double);
  itkGetConstMacro(Overlap, double);

  /** Gaussian importance weighting of window predictions (sigma = patch / 8). Default on. */
  itkSetMacro(Gaussian, bool);
  itkGetConstMacro(Gaussian, bool);
  itkBooleanMacro(Gaussian);

  /** Patches per forward pass. Default 2. */
  itkSetMacro(BatchSize, int);
  itkGetConstMacro(BatchSize, int);

  /** Mirror test-time augmentation: average over all axis flips (2^dims forwards per patch). */
  itkSetMacro(Mirror, bool);
  itkGetConstMacro(Mirror, bool);
  itkBooleanMacro(Mirror);

  /** One forward pass over the padded whole image instead of sliding windows. */
  itkSetMacro(WholeImage, bool);
  itkGetConstMacro(WholeImage, bool);
  itkBooleanMacro(WholeImage);

  /** "auto" (CUDA when available), "cpu", "cuda" or "cuda:N". */
  itkSetMacro(Device, std::string);
  itkGetConstReferenceMacro(Device, std::string);

  /** CPU threads for libtorch; 0 = all cores. */
  itkSetMacro(Threads, int);
  itkGetConstMacro(Threads, int);

  /** Window size in voxels, ITK order (x, y[, z]); empty = the model's patch size. */
  virtual void
  SetPatchSize(const PatchSizeType & patchSize);
  const PatchSizeType &
  GetPatchSize() const
  {
    return m_PatchSize;
  }

  /** Fill output 1 with per-class probabilities. Default off. */
  itkSetMacro(ComputeProbabilities, bool);
  itkGetConstMacro(ComputeProbabilities, bool);
  itkBooleanMacro(ComputeProbabilities);

  /** Output 1: class probabilities (one vector component per class, background first). */
  ProbabilityImageType *
  GetProbabilityOutput();
  const ProbabilityImageType *
  GetProbabilityOutput() const;

  using Superclass::MakeOutput;
  DataObjectPointer
  MakeOutput(DataObjectPointerArraySizeType idx) override;

protected:
  UNetSegmentationImageFilter();
  ~UNetSegmentationImageFilter() override = default;

  void
  PrintSelf(std::ostream & os, Indent indent) const override;

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
  double        m_Overlap{ 0.5 };
  bool          m_Gaussian{ true };
  int           m_BatchSize{ 2 };
  bool          m_Mirror{ false };
  bool          m_WholeImage{ false };
  std::string   m_Device{ "auto" };
  int           m_Threads{ 0 };
  PatchSizeType m_PatchSize;
  bool          m_ComputeProbabilities{ false };
};
} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkUNetSegmentationImageFilter.hxx"
#endif

#endif // itkUNetSegmentationImageFilter_h
