#ifndef itkIMADicomSegWriter_hxx
#define itkIMADicomSegWriter_hxx

#include "itkIMADicomSegWriter.h"

#include <algorithm>

#include "itkIMACoreCall.h"
#include "itkIMAImageConversion.h"

#include "ima/DicomModelSegments.h"
#include "ima/Error.h"

namespace itk
{
template <typename TLabelImage>
IMADicomSegWriter<TLabelImage>::IMADicomSegWriter()
{
  // A writer has no outputs.
  this->SetNumberOfRequiredInputs(1);
  this->SetNumberOfRequiredOutputs(0);
}

template <typename TLabelImage>
void
IMADicomSegWriter<TLabelImage>::SetInput(const InputImageType * input)
{
  this->ProcessObject::SetNthInput(0, const_cast<InputImageType *>(input));
}

template <typename TLabelImage>
auto
IMADicomSegWriter<TLabelImage>::GetInput() const -> const InputImageType *
{
  return itkDynamicCastInDebugMode<const InputImageType *>(this->GetPrimaryInput());
}

template <typename TLabelImage>
void
IMADicomSegWriter<TLabelImage>::SetSegments(const std::vector<ima::dicom::SegmentInfo> & segments)
{
  m_Segments = segments;
  this->Modified();
}

template <typename TLabelImage>
void
IMADicomSegWriter<TLabelImage>::SetModelMetadata(const ima::ModelMetadata & metadata)
{
  m_ModelMetadata = metadata;
  this->Modified();
}

template <typename TLabelImage>
void
IMADicomSegWriter<TLabelImage>::SetModel(const IMAModelObject * model)
{
  if (model == nullptr || !model->GetModel())
  {
    itkExceptionMacro(<< "SetModel: the model object holds no model");
  }
  this->SetModelMetadata(model->GetModel()->metadata());
}

template <typename TLabelImage>
void
IMADicomSegWriter<TLabelImage>::Write()
{
  auto * input = const_cast<InputImageType *>(this->GetInput());
  if (input == nullptr)
  {
    itkExceptionMacro(<< "no label image to write to '" << m_FileName << "' (SetInput)");
  }
  if (m_FileName.empty())
  {
    itkExceptionMacro(<< "no output file set (SetFileName)");
  }
  if (m_SeriesDirectory.empty())
  {
    itkExceptionMacro(<< "no source DICOM series set for '" << m_FileName << "' (SetSeriesDirectory)");
  }
  this->InvokeEvent(StartEvent());
  // A SEG covers the whole series: bring the whole label image up to date.
  input->UpdateOutputInformation();
  input->SetRequestedRegionToLargestPossibleRegion();
  input->PropagateRequestedRegion();
  input->UpdateOutputData();
  this->GenerateData();
  this->InvokeEvent(EndEvent());
  this->ReleaseInputs();
}

template <typename TLabelImage>
std::vector<ima::dicom::SegmentInfo>
IMADicomSegWriter<TLabelImage>::SegmentsFor(const ima::LabelMap & labels) const
{
  if (!m_Segments.empty())
  {
    return m_Segments;
  }
  if (m_ModelMetadata)
  {
    return ima::dicom::segmentsOf(*m_ModelMetadata);
  }
  const auto largest = std::max_element(labels.data.begin(), labels.data.end());
  return ima::dicom::defaultSegments(largest == labels.data.end() ? 0 : *largest);
}

template <typename TLabelImage>
void
IMADicomSegWriter<TLabelImage>::GenerateData()
{
  const std::string where = "DICOM SEG '" + m_FileName + "' of the series in '" + m_SeriesDirectory + "'";
  CallIMACore(this, [&] {
    try
    {
      ima::dicom::ReadOptions read;
      read.series = m_Series;
      read.allowUneven = m_AllowUneven;
      read.warn = [this](const std::string & message) { itkWarningMacro(<< message); };
      m_SeriesInfo = ima::dicom::findSeries(m_SeriesDirectory, read);

      const ima::LabelMap labels = LabelImageToIMALabelMap(this->GetInput());
      ima::dicom::SegWriteOptions options;
      options.algorithmName = m_AlgorithmName;
      options.algorithmVersion = m_AlgorithmVersion;
      options.overwrite = m_Overwrite;
      options.warn = [this](const std::string & message) { itkWarningMacro(<< message); };
      ima::dicom::writeSegmentation(m_FileName, labels, m_SeriesInfo, this->SegmentsFor(labels), options);
    }
    catch (const ima::Error & e)
    {
      throw ima::Error(where + ": " + e.what()); // the core's message, with the file and series
    }
  });
  this->UpdateProgress(1.0);
}

template <typename TLabelImage>
void
IMADicomSegWriter<TLabelImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "FileName: " << m_FileName << std::endl;
  os << indent << "SeriesDirectory: " << m_SeriesDirectory << std::endl;
  os << indent << "Series: " << (m_Series.empty() ? "(the only one)" : m_Series) << std::endl;
  os << indent << "AllowUneven: " << (m_AllowUneven ? "On" : "Off") << std::endl;
  os << indent << "Overwrite: " << (m_Overwrite ? "On" : "Off") << std::endl;
  os << indent << "AlgorithmName: " << m_AlgorithmName << std::endl;
  os << indent << "AlgorithmVersion: " << m_AlgorithmVersion << std::endl;
  os << indent << "Segments: "
     << (!m_Segments.empty() ? std::to_string(m_Segments.size()) + " given"
                             : (m_ModelMetadata ? "from the model's labels" : "one per label in the image"))
     << std::endl;
}
} // namespace itk

#endif // itkIMADicomSegWriter_hxx
