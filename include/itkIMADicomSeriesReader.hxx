#ifndef itkIMADicomSeriesReader_hxx
#define itkIMADicomSeriesReader_hxx

#include "itkIMADicomSeriesReader.h"

#include "itkIMAImageConversion.h"

#include "ima/Error.h"

namespace itk
{
template <typename TOutputImage>
ima::dicom::ReadOptions
IMADicomSeriesReader<TOutputImage>::Options() const
{
  ima::dicom::ReadOptions options;
  options.series = m_Series;
  options.allowUneven = m_AllowUneven;
  options.warn = [this](const std::string & message) { itkWarningMacro(<< message); };
  return options;
}

template <typename TOutputImage>
void
IMADicomSeriesReader<TOutputImage>::GenerateOutputInformation()
{
  if (m_Directory.empty())
  {
    itkExceptionMacro(<< "no DICOM directory set (SetDirectory)");
  }
  typename TOutputImage::Pointer prototype;
  try
  {
    m_SeriesInfo = ima::dicom::findSeries(m_Directory, this->Options());
    // The geometry and size without decoding pixels: a 1-voxel volume carries them through the
    // same conversion as the data will (which also checks the channel count against the pixel type).
    ima::Volume shapeOnly(ima::Shape{ { 1, 1, 1 } }, m_SeriesInfo.channels, m_SeriesInfo.geometry);
    prototype = IMAVolumeToImage<TOutputImage>(shapeOnly);
  }
  catch (const ima::Error & e)
  {
    itkExceptionMacro(<< "DICOM series in '" << m_Directory << "': " << e.what());
  }
  TOutputImage * output = this->GetOutput();
  typename TOutputImage::RegionType region;
  region.SetSize(0, static_cast<SizeValueType>(m_SeriesInfo.columns));
  region.SetSize(1, static_cast<SizeValueType>(m_SeriesInfo.rows));
  region.SetSize(2, static_cast<SizeValueType>(m_SeriesInfo.slices.size()));
  output->SetLargestPossibleRegion(region);
  output->SetOrigin(prototype->GetOrigin());
  output->SetSpacing(prototype->GetSpacing());
  output->SetDirection(prototype->GetDirection());
  output->SetNumberOfComponentsPerPixel(prototype->GetNumberOfComponentsPerPixel());
}

template <typename TOutputImage>
void
IMADicomSeriesReader<TOutputImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  // A series is decoded whole.
  output->SetRequestedRegionToLargestPossibleRegion();
}

template <typename TOutputImage>
void
IMADicomSeriesReader<TOutputImage>::GenerateData()
{
  typename TOutputImage::Pointer image;
  try
  {
    ima::dicom::ReadOptions options = this->Options();
    options.warn = nullptr; // warnings were given in GenerateOutputInformation
    image = IMAVolumeToImage<TOutputImage>(ima::dicom::readSeries(m_SeriesInfo, options, m_Directory));
  }
  catch (const ima::Error & e)
  {
    itkExceptionMacro(<< e.what());
  }
  this->GraftOutput(image);
  this->UpdateProgress(1.0);
}

template <typename TOutputImage>
void
IMADicomSeriesReader<TOutputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Directory: " << m_Directory << std::endl;
  os << indent << "Series: " << (m_Series.empty() ? "(the only one)" : m_Series) << std::endl;
  os << indent << "AllowUneven: " << (m_AllowUneven ? "On" : "Off") << std::endl;
  if (!m_SeriesInfo.id.empty())
  {
    os << indent << "SeriesInfo: " << m_SeriesInfo.describe() << std::endl;
  }
}
} // namespace itk

#endif // itkIMADicomSeriesReader_hxx
