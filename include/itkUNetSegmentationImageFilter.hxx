#ifndef itkUNetSegmentationImageFilter_hxx
#define itkUNetSegmentationImageFilter_hxx

#include "itkUNetSegmentationImageFilter.h"

#include "itkIMACoreCall.h"
#include "itkIMAImageConversion.h"

#include "ima/Runtime.h"
#include "ima/SlidingWindowInferer.h"

namespace itk
{
template <typename TInputImage, typename TOutputImage>
UNetSegmentationImageFilter<TInputImage, TOutputImage>::UNetSegmentationImageFilter()
{
  this->SetNumberOfRequiredInputs(1);
  this->SetNumberOfIndexedOutputs(2);
  this->SetNthOutput(1, this->MakeOutput(1));
}

template <typename TInputImage, typename TOutputImage>
void
UNetSegmentationImageFilter<TInputImage, TOutputImage>::SetModelFileName(const std::string & fileName)
{
  if (m_ModelSource.SetFileName(fileName))
  {
    this->Modified();
  }
}

template <typename TInputImage, typename TOutputImage>
void
UNetSegmentationImageFilter<TInputImage, TOutputImage>::SetModel(ModelPointer model)
{
  if (m_ModelSource.SetModel(std::move(model)))
  {
    this->Modified();
  }
}

template <typename TInputImage, typename TOutputImage>
void
UNetSegmentationImageFilter<TInputImage, TOutputImage>::SetPatchSize(const PatchSizeType & patchSize)
{
  if (patchSize != m_PatchSize)
  {
    m_PatchSize = patchSize;
    this->Modified();
  }
}

template <typename TInputImage, typename TOutputImage>
auto
UNetSegmentationImageFilter<TInputImage, TOutputImage>::GetProbabilityOutput() -> ProbabilityImageType *
{
  return itkDynamicCastInDebugMode<ProbabilityImageType *>(this->ProcessObject::GetOutput(1));
}

template <typename TInputImage, typename TOutputImage>
auto
UNetSegmentationImageFilter<TInputImage, TOutputImage>::GetProbabilityOutput() const -> const ProbabilityImageType *
{
  return itkDynamicCastInDebugMode<const ProbabilityImageType *>(this->ProcessObject::GetOutput(1));
}

template <typename TInputImage, typename TOutputImage>
auto
UNetSegmentationImageFilter<TInputImage, TOutputImage>::MakeOutput(DataObjectPointerArraySizeType idx)
  -> DataObjectPointer
{
  if (idx == 1)
  {
    return ProbabilityImageType::New().GetPointer();
  }
  return Superclass::MakeOutput(idx);
}

template <typename TInputImage, typename TOutputImage>
void
UNetSegmentationImageFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();

  // Loading here (not in GenerateData) reports a bad model before any upstream work runs and
  // gives downstream filters the number of probability components.
  const ima::NetworkSpec & network = m_ModelSource.Ensure(this).metadata().network;
  const InputImageType *   input = this->GetInput();
  if (input != nullptr && input->GetNumberOfComponentsPerPixel() != static_cast<unsigned int>(network.inChannels))
  {
    itkExceptionMacro(<< "the model expects " << network.inChannels << " input channel(s) but the image has "
                      << input->GetNumberOfComponentsPerPixel() << " component(s) per pixel");
  }
  this->GetProbabilityOutput()->SetNumberOfComponentsPerPixel(static_cast<unsigned int>(network.classes));
}

template <typename TInputImage, typename TOutputImage>
void
UNetSegmentationImageFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  if (auto * input = const_cast<InputImageType *>(this->GetInput()))
  {
    input->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TInputImage, typename TOutputImage>
void
UNetSegmentationImageFilter<TInputImage, TOutputImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  for (const auto & o : this->GetOutputs())
  {
    if (o)
    {
      o->SetRequestedRegionToLargestPossibleRegion();
    }
  }
}

template <typename TInputImage, typename TOutputImage>
void
UNetSegmentationImageFilter<TInputImage, TOutputImage>::GenerateData()
{
  const ima::Model &     model = m_ModelSource.Ensure(this);
  const InputImageType * input = this->GetInput();
  OutputImageType *      output = this->GetOutput();

  ima::InferenceOptions options;
  options.patchSize = m_PatchSize;
  options.overlap = m_Overlap;
  options.gaussian = m_Gaussian;
  options.batchSize = m_BatchSize;
  options.mirror = m_Mirror;
  options.wholeImage = m_WholeImage;
  options.runtime.device = m_Device;
  options.runtime.threads = m_Threads;

  const ima::ProgressCallback progress = IMAProgressCallback(this);

  ima::Segmentation result = CallIMACore(this, [&] {
    return ima::segment(model, ImageToIMAVolume(input), options, progress, m_ComputeProbabilities);
  });

  // The input's buffered region is its largest region (requested above), and the output's
  // largest region was copied from the input: both hold the same voxels in the same order.
  const auto region = output->GetLargestPossibleRegion();
  if (!(IMAConversionDetail::ShapeOf<OutputImageType>(region) == result.labels.shape))
  {
    itkExceptionMacro(<< "the core returned labels of size " << result.labels.shape.str() << " for an image of size "
                      << region.GetSize());
  }
  output->SetBufferedRegion(region);
  output->Allocate();
  IMAConversionDetail::CopyPlanarToImage(result.labels, output);

  ProbabilityImageType * probabilities = this->GetProbabilityOutput();
  if (m_ComputeProbabilities)
  {
    const auto & p = result.probabilities;
    if (!(p.shape == result.labels.shape) || p.channels < 1)
    {
      itkExceptionMacro(<< "the core returned no probabilities of size " << result.labels.shape.str());
    }
    probabilities->SetNumberOfComponentsPerPixel(static_cast<unsigned int>(p.channels));
    probabilities->SetBufferedRegion(probabilities->GetLargestPossibleRegion());
    probabilities->Allocate();
    IMAConversionDetail::CopyPlanarToImage(p, probabilities);
  }
  else
  {
    probabilities->ReleaseData();
  }
  if (this->GetProgress() < 1.0f)
  {
    this->UpdateProgress(1.0f);
  }
}

template <typename TInputImage, typename TOutputImage>
void
UNetSegmentationImageFilter<TInputImage, TOutputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  m_ModelSource.Print(os, indent);
  os << indent << "Overlap: " << m_Overlap << std::endl;
  os << indent << "Gaussian: " << (m_Gaussian ? "On" : "Off") << std::endl;
  os << indent << "BatchSize: " << m_BatchSize << std::endl;
  os << indent << "Mirror: " << (m_Mirror ? "On" : "Off") << std::endl;
  os << indent << "WholeImage: " << (m_WholeImage ? "On" : "Off") << std::endl;
  os << indent << "Device: " << m_Device << std::endl;
  os << indent << "Threads: " << m_Threads << std::endl;
  os << indent << "PatchSize: [";
  for (size_t i = 0; i < m_PatchSize.size(); ++i)
  {
    os << (i ? ", " : "") << m_PatchSize[i];
  }
  os << "]" << (m_PatchSize.empty() ? " (model's)" : "") << std::endl;
  os << indent << "ComputeProbabilities: " << (m_ComputeProbabilities ? "On" : "Off") << std::endl;
}
} // namespace itk

#endif // itkUNetSegmentationImageFilter_hxx
