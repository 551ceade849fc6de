#ifndef itkAdversarialAttackImageFilter_hxx
#define itkAdversarialAttackImageFilter_hxx

#include "itkAdversarialAttackImageFilter.h"

#include <cmath>
#include <sstream>

#include "itkIMACoreCall.h"
#include "itkIMAImageConversion.h"

#include "ima/Evaluation.h"
#include "ima/Runtime.h"

namespace itk
{
template <typename TInputImage, typename TLabelImage, typename TOutputImage>
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::AdversarialAttackImageFilter()
{
  this->SetNumberOfRequiredInputs(2);
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::SetLabelImage(const LabelImageType * labels)
{
  // ITK's convention: inputs are stored non-const, the filter does not modify them.
  this->SetNthInput(1, const_cast<LabelImageType *>(labels));
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
auto
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::GetLabelImage() const -> const LabelImageType *
{
  return itkDynamicCastInDebugMode<const LabelImageType *>(this->ProcessObject::GetInput(1));
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::SetModelFileName(const std::string & fileName)
{
  if (m_ModelSource.SetFileName(fileName))
  {
    this->Modified();
  }
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::SetModel(ModelPointer model)
{
  if (m_ModelSource.SetModel(std::move(model)))
  {
    this->Modified();
  }
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::VerifyInputInformation() imaITKv5Const
{
  // Replaces ImageToImageFilter's check (same tolerances): it compares origin, spacing and
  // direction but not the regions, and its message does not say which input is off.
  const InputImageType * image = this->GetInput();
  const LabelImageType * labels = this->GetLabelImage();
  if (image == nullptr || labels == nullptr)
  {
    return; // a missing input is reported by the pipeline (required inputs)
  }
  const auto & imageRegion = image->GetLargestPossibleRegion();
  const auto & labelRegion = labels->GetLargestPossibleRegion();
  if (imageRegion.GetSize() != labelRegion.GetSize() || imageRegion.GetIndex() != labelRegion.GetIndex())
  {
    itkExceptionMacro(<< "the label image (input 1) must be on the image's voxel grid, but its size is "
                      << labelRegion.GetSize() << " (start index " << labelRegion.GetIndex()
                      << ") and the image's size is " << imageRegion.GetSize() << " (start index "
                      << imageRegion.GetIndex() << ")");
  }

  const double coordinateTolerance = std::abs(this->GetCoordinateTolerance() * image->GetSpacing()[0]);
  const double directionTolerance = this->GetDirectionTolerance();
  bool         originDiffers = false, spacingDiffers = false, directionDiffers = false;
  for (unsigned int r = 0; r < ImageDimension; ++r)
  {
    originDiffers |= std::abs(image->GetOrigin()[r] - labels->GetOrigin()[r]) > coordinateTolerance;
    spacingDiffers |= std::abs(image->GetSpacing()[r] - labels->GetSpacing()[r]) > coordinateTolerance;
    for (unsigned int c = 0; c < ImageDimension; ++c)
    {
      directionDiffers |= std::abs(image->GetDirection()(r, c) - labels->GetDirection()(r, c)) > directionTolerance;
    }
  }
  if (originDiffers || spacingDiffers || directionDiffers)
  {
    std::ostringstream problems;
    if (originDiffers)
    {
      problems << "; origin " << labels->GetOrigin() << " vs the image's " << image->GetOrigin();
    }
    if (spacingDiffers)
    {
      problems << "; spacing " << labels->GetSpacing() << " vs the image's " << image->GetSpacing();
    }
    if (directionDiffers)
    {
      problems << "; direction " << labels->GetDirection().GetVnlMatrix() << " vs the image's "
               << image->GetDirection().GetVnlMatrix();
    }
    itkExceptionMacro(<< "the label image (input 1) is not on the image's grid" << problems.str()
                      << " (tolerances: " << coordinateTolerance << " mm for origin and spacing, "
                      << directionTolerance << " for direction cosines)");
  }
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation(); // the output takes input 0's grid

  // Loading here (not in GenerateData) reports a bad model before any upstream work runs.
  const ima::NetworkSpec & network = m_ModelSource.Ensure(this).metadata().network;
  const InputImageType *   input = this->GetInput();
  OutputImageType *        output = this->GetOutput();
  if (input == nullptr || output == nullptr)
  {
    return;
  }
  const unsigned int channels = input->GetNumberOfComponentsPerPixel();
  if (channels != static_cast<unsigned int>(network.inChannels))
  {
    itkExceptionMacro(<< "the model expects " << network.inChannels << " input channel(s) but the image has "
                      << channels << " component(s) per pixel");
  }
  output->SetNumberOfComponentsPerPixel(channels); // itk::VectorImage; fixed for other image types
  if (output->GetNumberOfComponentsPerPixel() != channels)
  {
    itkExceptionMacro(<< "the output pixel type has " << output->GetNumberOfComponentsPerPixel()
                      << " component(s) but the image has " << channels << " channel(s)");
  }
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  if (auto * input = const_cast<InputImageType *>(this->GetInput()))
  {
    input->SetRequestedRegionToLargestPossibleRegion();
  }
  if (auto * labels = const_cast<LabelImageType *>(this->GetLabelImage()))
  {
    labels->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::EnlargeOutputRequestedRegion(
  DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  output->SetRequestedRegionToLargestPossibleRegion();
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::GenerateData()
{
  const ima::Model &     model = m_ModelSource.Ensure(this);
  const InputImageType * input = this->GetInput();
  const LabelImageType * labels = this->GetLabelImage();
  OutputImageType *      output = this->GetOutput();

  ima::EvaluationOptions options;
  options.pgdSteps = m_Steps;
  options.ifgsmSteps = m_Steps;
  options.restarts = m_Restarts;
  options.batchSize = m_BatchSize;
  options.attacked = m_AttackWholeVolume ? ima::EvaluationOptions::Attacked::Volume : ima::EvaluationOptions::Attacked::Patch;
  options.overlap = m_Overlap;
  options.seed = m_Seed;
  options.runtime.device = m_Device;
  options.runtime.threads = m_Threads;

  const ima::ProgressCallback progress = IMAProgressCallback(this);

  // Both inputs' buffered regions are their (equal) largest regions, requested above and
  // checked in VerifyInputInformation().
  const ima::Volume adversarial = CallIMACore(this, [&] {
    options.norm = ima::parseNorm(m_Norm, "AdversarialAttackImageFilter: Norm");
    ima::LabelledCase c;
    c.id = "image";
    c.image = ImageToIMAVolume(input);
    c.labels = LabelImageToIMALabelMap(labels);
    return ima::adversarialVolume(model, c, m_Attack, m_Epsilon, options, progress);
  });

  // The output's largest region was copied from the input: same voxels in the same order.
  const auto region = output->GetLargestPossibleRegion();
  if (!(IMAConversionDetail::ShapeOf<OutputImageType>(region) == adversarial.shape) ||
      adversarial.channels != static_cast<int>(output->GetNumberOfComponentsPerPixel()))
  {
    itkExceptionMacro(<< "the core returned an image of size " << adversarial.shape.str() << " with "
                      << adversarial.channels << " channel(s) for an image of size " << region.GetSize() << " with "
                      << output->GetNumberOfComponentsPerPixel() << " component(s)");
  }
  output->SetBufferedRegion(region);
  output->Allocate();
  IMAConversionDetail::CopyPlanarToImage(adversarial, output);
  if (this->GetProgress() < 1.0f)
  {
    this->UpdateProgress(1.0f);
  }
}

template <typename TInputImage, typename TLabelImage, typename TOutputImage>
void
AdversarialAttackImageFilter<TInputImage, TLabelImage, TOutputImage>::PrintSelf(std::ostream & os,
                                                                                Indent         indent) const
{
  Superclass::PrintSelf(os, indent);
  m_ModelSource.Print(os, indent);
  os << indent << "Attack: " << m_Attack << std::endl;
  os << indent << "Norm: " << m_Norm << std::endl;
  os << indent << "Epsilon: " << m_Epsilon << " (per patch, normalised intensity units)" << std::endl;
  os << indent << "Steps: " << m_Steps << std::endl;
  os << indent << "Restarts: " << m_Restarts << std::endl;
  os << indent << "Seed: " << m_Seed << std::endl;
  os << indent << "BatchSize: " << m_BatchSize << std::endl;
  os << indent << "AttackWholeVolume: " << m_AttackWholeVolume << std::endl;
  os << indent << "Overlap: " << m_Overlap << std::endl;
  os << indent << "Device: " << m_Device << std::endl;
  os << indent << "Threads: " << m_Threads << std::endl;
}
} // namespace itk

#endif // itkAdversarialAttackImageFilter_hxx
