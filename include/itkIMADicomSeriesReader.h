/** \class IMADicomSeriesReader
 * \brief Reads a DICOM image series from a directory tree into an itk::Image, through the same
 * code as the `ima` command line (ima::dicom, DCMTK underneath).
 *
 * The directory is scanned recursively; files are grouped into series by Series Instance UID (a
 * UID whose slices differ in orientation, matrix size or pixel spacing is split into parts
 * "UID.part1", ...). With several series present, SetSeries() must name one (its id or UID).
 * Slices are sorted along the slice normal; origin, spacing and direction follow ITK's LPS
 * convention (the same as GDCMImageIO with GDCMSeriesFileNames); pixel values are modality values
 * (rescale slope and intercept applied) converted to the output pixel type. Output: 3D, x = columns,
 * y = rows, z = slices; an itk::VectorImage receives one component per sample (RGB: 3).
 *
 * Errors (no series, several series and none chosen, gantry tilt, uneven slice distances unless
 * AllowUneven, undecodable transfer syntax such as JPEG 2000, truncated files) are thrown as
 * itk::ExceptionObject whose description names the file or series.
 *
 * The header includes no DCMTK and no torch headers.
 *
 * \ingroup IMASegmentation
 */
#ifndef itkIMADicomSeriesReader_h
#define itkIMADicomSeriesReader_h

#include <string>

#include "itkImageSource.h"

#include "itkIMACompatibility.h"
#include "ima/DicomSeries.h"

namespace itk
{
template <typename TOutputImage>
class ITK_TEMPLATE_EXPORT IMADicomSeriesReader : public ImageSource<TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(IMADicomSeriesReader);

  using Self = IMADicomSeriesReader;
  using Superclass = ImageSource<TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;
  using OutputImageType = TOutputImage;

  static_assert(TOutputImage::ImageDimension == 3, "a DICOM series is read as a 3D image");

  itkNewMacro(Self);
  imaITKTypeMacro(IMADicomSeriesReader, ImageSource);

  /** Directory to scan (recursively), or a single DICOM file. */
  itkSetMacro(Directory, std::string);
  itkGetConstReferenceMacro(Directory, std::string);

  /** Series to read when the directory holds several: its id ("UID" or "UID.partK"). Default "":
   * the directory must hold exactly one series. */
  itkSetMacro(Series, std::string);
  itkGetConstReferenceMacro(Series, std::string);

  /** Accept uneven slice distances (missing slices) with a warning, reading on the mean distance.
   * Default off: they are an error. */
  itkSetMacro(AllowUneven, bool);
  itkGetConstMacro(AllowUneven, bool);
  itkBooleanMacro(AllowUneven);

  /** The series found by the last UpdateOutputInformation(): UID, id, slices and their files. */
  const ima::dicom::SeriesInfo &
  GetSeriesInfo() const
  {
    return m_SeriesInfo;
  }

protected:
  IMADicomSeriesReader() = default;
  ~IMADicomSeriesReader() override = default;

  void
  GenerateOutputInformation() override;
  void
  EnlargeOutputRequestedRegion(DataObject * output) override;
  void
  GenerateData() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

private:
  ima::dicom::ReadOptions
  Options() const;

  std::string m_Directory;
  std::string m_Series;
  bool m_AllowUneven{ false };
  ima::dicom::SeriesInfo m_SeriesInfo;
};
} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkIMADicomSeriesReader.hxx"
#endif

#endif // itkIMADicomSeriesReader_h
