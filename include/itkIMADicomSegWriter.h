/** \class IMADicomSegWriter
 * \brief Writes a 3D label image as a binary DICOM Segmentation (SEG) that references the DICOM
 * series it segments, through the same code as `ima segment --output OUT.dcm`
 * (ima::dicom::writeSegmentation, DCMTK's dcmseg underneath).
 *
 * The source series is found as IMADicomSeriesReader finds it: SetSeriesDirectory() is scanned
 * recursively, SetSeries() names the series when there are several. The label image must lie on
 * that series' grid (the grid IMADicomSeriesReader gives it: same size, and origin, spacing and
 * direction within 1e-4 of the spacing); labels are integers 0..255, 0 = background.
 *
 * Segments (name, SNOMED CT category and type codes, display colour), first that applies:
 * SetSegments(); else SetModelMetadata() / SetModel(): one segment per foreground class of the
 * model (ima::dicom::segmentsOf); else one segment per label 1..(largest label in the image),
 * named "label k" with the default codes (category and type "Tissue").
 *
 * Update() (or Write()) writes the file, to a temporary name renamed at the end. Errors (no input,
 * no series or several and none chosen, a label image not on the series' grid, a label without a
 * segment, an existing file without SetOverwrite(true)) are thrown as itk::ExceptionObject naming
 * the file and the series, and leave no file. Warnings (a segment absent from the image: it gets one
 * empty frame) go through itkWarningMacro, i.e. itk::OutputWindow.
 *
 * The header includes no DCMTK and no torch headers.
 *
 * \ingroup IMASegmentation
 */
#ifndef itkIMADicomSegWriter_h
#define itkIMADicomSegWriter_h

#include <optional>
#include <string>
#include <vector>

#include "itkProcessObject.h"

#include "itkIMACompatibility.h"
#include "itkIMAModelObject.h"
#include "ima/DicomSeg.h"
#include "ima/DicomSeries.h"
#include "ima/ModelMetadata.h"

namespace itk
{
template <typename TLabelImage>
class ITK_TEMPLATE_EXPORT IMADicomSegWriter : public ProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(IMADicomSegWriter);

  using Self = IMADicomSegWriter;
  using Superclass = ProcessObject;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;
  using InputImageType = TLabelImage;

  static_assert(TLabelImage::ImageDimension == 3, "a DICOM SEG segments a 3D series");

  itkNewMacro(Self);
  imaITKTypeMacro(IMADicomSegWriter, ProcessObject);

  /** The label image to write. */
  using Superclass::SetInput;
  void
  SetInput(const InputImageType * input);
  const InputImageType *
  GetInput() const;

  /** Directory holding the source series (scanned recursively), or one of its files. */
  itkSetMacro(SeriesDirectory, std::string);
  itkGetConstReferenceMacro(SeriesDirectory, std::string);

  /** The source series when the directory holds several: its id ("UID" or "UID.partK"). Default "":
   * the directory must hold exactly one series. */
  itkSetMacro(Series, std::string);
  itkGetConstReferenceMacro(Series, std::string);

  /** The SEG file to write. */
  itkSetMacro(FileName, std::string);
  itkGetConstReferenceMacro(FileName, std::string);

  /** Accept a source series with uneven slice distances, as IMADicomSeriesReader does. */
  itkSetMacro(AllowUneven, bool);
  itkGetConstMacro(AllowUneven, bool);
  itkBooleanMacro(AllowUneven);

  /** Replace an existing file. Default off: an existing file is an error. */
  itkSetMacro(Overwrite, bool);
  itkGetConstMacro(Overwrite, bool);
  itkBooleanMacro(Overwrite);

  /** Segment Algorithm Name (default "IMASegmentation") and version (default "": not written). */
  itkSetMacro(AlgorithmName, std::string);
  itkGetConstReferenceMacro(AlgorithmName, std::string);
  itkSetMacro(AlgorithmVersion, std::string);
  itkGetConstReferenceMacro(AlgorithmVersion, std::string);

  /** The segments, one per label value that occurs (see the class comment). */
  void
  SetSegments(const std::vector<ima::dicom::SegmentInfo> & segments);
  const std::vector<ima::dicom::SegmentInfo> &
  GetSegments() const
  {
    return m_Segments;
  }

  /** Segments from a model's label metadata (used when SetSegments() was not given). */
  void
  SetModelMetadata(const ima::ModelMetadata & metadata);
  /** The same from the model an IMAModelObject holds (e.g. the one that made the labels). */
  void
  SetModel(const IMAModelObject * model);

  /** The source series found by the last Update(). */
  const ima::dicom::SeriesInfo &
  GetSeriesInfo() const
  {
    return m_SeriesInfo;
  }

  /** Writes the file (the same as Update()). */
  void
  Write();
  void
  Update() override
  {
    this->Write();
  }

protected:
  IMADicomSegWriter();
  ~IMADicomSegWriter() override = default;

  void
  GenerateData() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

private:
  std::vector<ima::dicom::SegmentInfo>
  SegmentsFor(const ima::LabelMap & labels) const;

  std::string m_SeriesDirectory;
  std::string m_Series;
  std::string m_FileName;
  bool m_AllowUneven{ false };
  bool m_Overwrite{ false };
  std::string m_AlgorithmName{ ima::dicom::SegWriteOptions{}.algorithmName };
  std::string m_AlgorithmVersion;
  std::vector<ima::dicom::SegmentInfo> m_Segments;
  std::optional<ima::ModelMetadata> m_ModelMetadata;
  ima::dicom::SeriesInfo m_SeriesInfo;
};
} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkIMADicomSegWriter.hxx"
#endif

#endif // itkIMADicomSegWriter_h
