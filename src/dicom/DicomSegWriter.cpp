// Writing a label map as a binary DICOM Segmentation with DCMTK's dcmseg (see include/ima/DicomSeg.h).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "dcmtk/config/osconfig.h"  // must come first
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcvrda.h"
#include "dcmtk/dcmdata/dcvrtm.h"
#include "dcmtk/dcmfg/fgderimg.h"
#include "dcmtk/dcmfg/fgfracon.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmfg/fgseg.h"
#include "dcmtk/dcmiod/cielabutil.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"

#include "ima/DicomSeg.h"
#include "ima/Error.h"
#include "ima/Files.h"
#include "internal/DcmtkFiles.h"

namespace fs = std::filesystem;

namespace ima::dicom {
namespace {

using namespace internal;

// DICOM codes (PS3.16): derivation "Segmentation", purpose of reference "Source image for image
// processing operation", algorithm family "Artificial Intelligence".
const CodedConcept kSegmentationDerivation{"113076", "DCM", "Segmentation"};
const CodedConcept kSourceImagePurpose{"121322", "DCM", "Source image for image processing operation"};
const CodedConcept kArtificialIntelligence{"123110", "DCM", "Artificial Intelligence"};

CodeSequenceMacro codeMacro(const CodedConcept& c) {
  return CodeSequenceMacro(c.value.c_str(), c.scheme.c_str(), c.meaning.c_str());
}

// Decimal String values have at most 16 characters: the most precise %g that fits.
std::string decimalString(double v) {
  char buffer[64];
  for (int precision = 16; precision > 0; --precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, v);
    if (std::strlen(buffer) <= 16) break;
  }
  return buffer;
}

// "origin (x, y, z) spacing (x, y, z) direction (9 values, row-major)", for grid mismatch messages.
std::string gridString(const Geometry& g) {
  auto list = [](const double* v, size_t n) {
    std::string out = "(";
    char value[32];
    for (size_t i = 0; i < n; ++i) {
      std::snprintf(value, sizeof value, "%s%.6g", i ? ", " : "", v[i]);
      out += value;
    }
    return out + ")";
  };
  return "origin " + list(g.origin.data(), 3) + " spacing " + list(g.spacing.data(), 3) + " direction " +
         list(g.direction.data(), 9);
}

// One source file: what a frame's derivation reference and the Referenced Series Sequence need.
struct SourceInstance {
  std::string sopClassUid, sopInstanceUid;
  bool multiFrame = false;
};

class SegWriter {
 public:
  SegWriter(const std::string& path, const LabelMap& labels, const SeriesInfo& source, const SegWriteOptions& options)
      : path_(path), labels_(labels), source_(source), options_(options) {}

  void write(const std::vector<SegmentInfo>& segments) {
    checkOutput();
    checkGrid();
    const std::vector<SegmentInfo> sorted = checkSegments(segments);
    const std::vector<std::vector<bool>> present = slicesWithLabel(sorted);
    readSourceHeaders();

    DcmSegmentation* created = nullptr;
    const IODGeneralEquipmentModule::EquipmentInfo equipment("IMASegmentation", options_.algorithmName.c_str(), "1",
                                                             options_.algorithmVersion.empty()
                                                                 ? "unknown"
                                                                 : options_.algorithmVersion.c_str());
    const ContentIdentificationMacro content("1", "SEGMENTATION", options_.seriesDescription.c_str(), "");
    check(DcmSegmentation::createBinarySegmentation(created, static_cast<Uint16>(source_.rows),
                                                    static_cast<Uint16>(source_.columns), equipment, content),
          "create the segmentation");
    std::unique_ptr<DcmSegmentation> seg(created);
    // Patient, study and frame of reference from the source; a new series.
    check(seg->importHierarchy(*firstSource_.getDataset(), OFTrue, OFTrue, OFTrue, OFFalse), "import patient/study");
    check(seg->getSeries().setSeriesNumber(std::to_string(options_.seriesNumber).c_str()), "Series Number");
    if (!options_.seriesDescription.empty())
      check(seg->getSeries().setSeriesDescription(options_.seriesDescription.c_str()), "Series Description");
    addDimensionOrganisation(*seg);
    addSharedGroups(*seg);
    for (size_t i = 0; i < sorted.size(); ++i) addSegment(*seg, sorted[i], present[i]);
    addReferencedSeries(*seg);
    save(*seg);
  }

 private:
  void check(const OFCondition& c, const std::string& what) const {
    if (c.bad()) throw Error("cannot write DICOM SEG " + quoted(path_) + ": " + what + ": " + c.text());
  }

  void checkOutput() const {
    std::error_code ec;
    if (fs::is_directory(path_, ec)) throw Error("DICOM SEG output " + quoted(path_) + " is a directory");
    if (!options_.overwrite && fs::exists(path_, ec))
      throw Error("DICOM SEG output " + quoted(path_) + " already exists (overwriting was not asked for)");
    const fs::path parent = fs::path(path_).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec))
      throw Error("cannot write DICOM SEG " + quoted(path_) + ": directory " + quoted(parent.string()) +
                  " does not exist");
  }

  void checkGrid() const {
    const Shape expected{{source_.columns, source_.rows, static_cast<int64_t>(source_.slices.size())}};
    if (!(labels_.shape == expected) || labels_.channels != 1)
      throw Error("cannot write DICOM SEG " + quoted(path_) + ": the label map is " + labels_.shape.str() + " with " +
                  std::to_string(labels_.channels) + " channel(s), but series " + source_.describe() +
                  " needs " + expected.str() + " with 1 channel");
    if (source_.rows > 65535 || source_.columns > 65535 || source_.slices.empty())
      throw Error("cannot write DICOM SEG " + quoted(path_) + ": series " + source_.describe() +
                  " has no slices or more than 65535 rows or columns");
    if (!labels_.geometry.approximatelyEquals(source_.geometry))
      throw Error("cannot write DICOM SEG " + quoted(path_) + ": the label map's origin, spacing or direction "
                  "differs from the grid of series " + source_.describe() + " (a SEG must lie on its source "
                  "series' slices): label map " + gridString(labels_.geometry) + ", series " +
                  gridString(source_.geometry));
  }

  std::vector<SegmentInfo> checkSegments(const std::vector<SegmentInfo>& segments) const {
    if (segments.empty()) throw Error("cannot write DICOM SEG " + quoted(path_) + ": no segments given");
    std::vector<SegmentInfo> sorted = segments;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const SegmentInfo& a, const SegmentInfo& b) { return a.label < b.label; });
    for (size_t i = 0; i < sorted.size(); ++i) {
      SegmentInfo& s = sorted[i];
      if (s.label < 1 || s.label > 255)
        throw Error("cannot write DICOM SEG " + quoted(path_) + ": segment '" + s.name + "' has label " +
                    std::to_string(s.label) + "; labels must be in 1..255");
      if (i > 0 && sorted[i - 1].label == s.label)
        throw Error("cannot write DICOM SEG " + quoted(path_) + ": two segments have label " + std::to_string(s.label));
      if (s.name.empty()) s.name = "label " + std::to_string(s.label);
      if (s.name.size() > 64)  // Segment Label is a Long String (LO)
        throw Error("cannot write DICOM SEG " + quoted(path_) + ": the name of segment " + std::to_string(s.label) +
                    " ('" + s.name + "') is longer than the 64 characters DICOM allows");
      if (s.category.empty()) s.category = defaultSegmentCategory();
      if (s.type.empty()) s.type = defaultSegmentType();
      for (const CodedConcept* c : {&s.category, &s.type})
        if (c->scheme.empty() || c->meaning.empty())
          throw Error("cannot write DICOM SEG " + quoted(path_) + ": segment '" + s.name + "' has code '" + c->value +
                      "' without a coding scheme or meaning");
    }
    return sorted;
  }

  // present[i][z]: segment i occurs on slice z. Label values without a segment are an error.
  std::vector<std::vector<bool>> slicesWithLabel(const std::vector<SegmentInfo>& sorted) const {
    std::array<int, 256> segmentOf;
    segmentOf.fill(-1);
    for (size_t i = 0; i < sorted.size(); ++i) segmentOf[static_cast<size_t>(sorted[i].label)] = static_cast<int>(i);
    std::vector<std::vector<bool>> present(sorted.size(), std::vector<bool>(source_.slices.size(), false));
    std::array<int64_t, 256> unknown{};
    const size_t plane = static_cast<size_t>(source_.rows * source_.columns);
    for (size_t z = 0; z < source_.slices.size(); ++z)
      for (size_t i = 0; i < plane; ++i) {
        const uint8_t v = labels_.data[z * plane + i];
        if (v == 0) continue;
        if (segmentOf[v] < 0)
          ++unknown[v];
        else
          present[static_cast<size_t>(segmentOf[v])][z] = true;
      }
    for (int v = 1; v < 256; ++v)
      if (unknown[static_cast<size_t>(v)] > 0) {
        std::string known;
        for (const auto& s : sorted) known += (known.empty() ? "" : ", ") + std::to_string(s.label);
        throw Error("cannot write DICOM SEG " + quoted(path_) + ": label value " + std::to_string(v) + " occurs in " +
                    std::to_string(unknown[static_cast<size_t>(v)]) +
                    " voxel(s) but has no segment description (segments are given for labels " + known + ")");
      }
    for (size_t i = 0; i < sorted.size(); ++i)
      if (std::find(present[i].begin(), present[i].end(), true) == present[i].end() && options_.warn)
        options_.warn("label " + std::to_string(sorted[i].label) + " (" + sorted[i].name +
                      ") is absent from the result; its segment in " + quoted(path_) + " has one empty frame");
    return present;
  }

  void readSourceHeaders() {
    for (const std::string& file : source_.files()) {
      DcmFileFormat other;
      DcmFileFormat& header = instanceOrder_.empty() ? firstSource_ : other;
      loadHeader(file, header, true);
      DcmDataset* ds = header.getDataset();
      const std::string series = getString(ds, DCM_SeriesInstanceUID);
      if (series != source_.seriesInstanceUid)
        throw Error("cannot write DICOM SEG " + quoted(path_) + ": source file " + quoted(file) + " belongs to series " +
                    series + ", not " + source_.seriesInstanceUid + " (did it change since it was scanned?)");
      SourceInstance instance{getString(ds, DCM_SOPClassUID), getString(ds, DCM_SOPInstanceUID),
                              getInteger(ds, DCM_NumberOfFrames, 1) > 1};
      if (instance.sopClassUid.empty() || instance.sopInstanceUid.empty())
        throw Error("cannot write DICOM SEG " + quoted(path_) + ": source file " + quoted(file) +
                    " has no SOP Class UID or SOP Instance UID to reference");
      // A SEG's frame positions are in its source's frame of reference, which it must name (type 1).
      for (const auto& [tag, name] : {std::pair{DCM_StudyInstanceUID, "Study Instance UID"},
                                      std::pair{DCM_FrameOfReferenceUID, "Frame of Reference UID"}})
        if (getString(ds, tag).empty())
          throw Error("cannot write DICOM SEG " + quoted(path_) + ": source file " + quoted(file) + " has no " + name +
                      ", which the SEG must take over");
      instances_[file] = instance;
      instanceOrder_.push_back(file);
    }
  }

  // Frames are indexed by segment number and by position (what dciodvfy requires, docs/architecture.md §10).
  void addDimensionOrganisation(DcmSegmentation& seg) const {
    char uid[100];
    dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
    IODMultiframeDimensionModule& dimensions = seg.getDimensions();
    check(dimensions.addDimensionIndex(DCM_ReferencedSegmentNumber, uid, DCM_SegmentIdentificationSequence,
                                       "ReferencedSegmentNumber"),
          "dimension index ReferencedSegmentNumber");
    check(dimensions.addDimensionIndex(DCM_ImagePositionPatient, uid, DCM_PlanePositionSequence,
                                       "ImagePositionPatient"),
          "dimension index ImagePositionPatient");
  }

  // Orientation and pixel measures are those of the source, shared by every frame.
  void addSharedGroups(DcmSegmentation& seg) const {
    const auto& d = source_.geometry.direction;  // row-major; column 0 = row direction, column 1 = column direction
    std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
        decimalString(d[0]).c_str(), decimalString(d[3]).c_str(), decimalString(d[6]).c_str(),
        decimalString(d[1]).c_str(), decimalString(d[4]).c_str(), decimalString(d[7]).c_str()));
    if (!orientation) throw Error("cannot write DICOM SEG " + quoted(path_) + ": out of memory");
    check(seg.addForAllFrames(*orientation), "Plane Orientation");
    FGPixelMeasures measures;
    const auto& s = source_.geometry.spacing;
    check(measures.setPixelSpacing((decimalString(s[1]) + "\\" + decimalString(s[0])).c_str()), "Pixel Spacing");
    check(measures.setSliceThickness(decimalString(s[2]).c_str()), "Slice Thickness");
    check(measures.setSpacingBetweenSlices(decimalString(s[2]).c_str()), "Spacing Between Slices");
    check(seg.addForAllFrames(measures), "Pixel Measures");
  }

  void addSegment(DcmSegmentation& seg, const SegmentInfo& info, const std::vector<bool>& present) const {
    DcmSegment* created = nullptr;
    check(DcmSegment::create(created, info.name.c_str(), codeMacro(info.category), codeMacro(info.type),
                             DcmSegTypes::SAT_AUTOMATIC, options_.algorithmName.c_str()),
          "segment '" + info.name + "'");
    std::unique_ptr<DcmSegment> segment(created);
    double lab[3];
    IODCIELabUtil::rgb2DicomLab(lab[0], lab[1], lab[2], info.rgb[0] / 255.0, info.rgb[1] / 255.0, info.rgb[2] / 255.0);
    auto scaled = [](double v) { return static_cast<Uint16>(std::clamp(std::lround(v), 0L, 65535L)); };
    check(segment->setRecommendedDisplayCIELabValue(scaled(lab[0]), scaled(lab[1]), scaled(lab[2])),
          "colour of segment '" + info.name + "'");
    if (!options_.algorithmVersion.empty()) {
      AlgorithmIdentificationMacro& algorithm = segment->getSegmentationAlgorithmIdentification();
      check(algorithm.getAlgorithmFamilyCode().set(kArtificialIntelligence.value.c_str(),
                                                   kArtificialIntelligence.scheme.c_str(),
                                                   kArtificialIntelligence.meaning.c_str()),
            "algorithm family");
      check(algorithm.setAlgorithmName(options_.algorithmName.c_str()), "algorithm name");
      check(algorithm.setAlgorithmVersion(options_.algorithmVersion.c_str()), "algorithm version");
    }
    Uint16 number = 0;
    check(seg.addSegment(segment.get(), number), "add segment '" + info.name + "'");
    segment.release();  // owned by the segmentation now

    const size_t plane = static_cast<size_t>(source_.rows * source_.columns);
    std::vector<Uint8> frame(plane);
    bool any = false;
    for (size_t z = 0; z < source_.slices.size(); ++z) {
      if (!present[z]) continue;
      any = true;
      for (size_t i = 0; i < plane; ++i) frame[i] = labels_.data[z * plane + i] == info.label ? 1 : 0;
      addFrame(seg, number, z, frame);
    }
    if (!any) {  // absent from the result: one empty frame keeps the segment in a valid SEG
      std::fill(frame.begin(), frame.end(), 0);
      addFrame(seg, number, 0, frame);
    }
  }

  void addFrame(DcmSegmentation& seg, Uint16 segmentNumber, size_t z, std::vector<Uint8>& pixels) const {
    const SliceRef& slice = source_.slices[z];
    FGFrameContent content;
    check(content.setDimensionIndexValues(segmentNumber, 0), "dimension index");
    check(content.setDimensionIndexValues(static_cast<Uint32>(z + 1), 1), "dimension index");
    FGSegmentation segmentation;
    check(segmentation.setReferencedSegmentNumber(segmentNumber), "Referenced Segment Number");
    std::unique_ptr<FGPlanePosPatient> position(FGPlanePosPatient::createMinimal(
        decimalString(slice.position[0]).c_str(), decimalString(slice.position[1]).c_str(),
        decimalString(slice.position[2]).c_str()));
    const SourceInstance& instance = instances_.at(slice.file);
    ImageSOPInstanceReferenceMacro reference;
    check(reference.setReferencedSOPClassUID(instance.sopClassUid.c_str()), "Referenced SOP Class UID");
    check(reference.setReferencedSOPInstanceUID(instance.sopInstanceUid.c_str()), "Referenced SOP Instance UID");
    if (instance.multiFrame) {
      // (dcmiod 3.6.7's setReferencedFrameNumber() puts numbers into an IS element and always fails.)
      check(reference.addReferencedFrameNumber(static_cast<Uint16>(slice.frame + 1)), "Referenced Frame Number");
    }
    OFVector<ImageSOPInstanceReferenceMacro> references;
    references.push_back(reference);
    std::unique_ptr<FGDerivationImage> derivation(FGDerivationImage::createMinimal(
        references, "", codeMacro(kSegmentationDerivation), codeMacro(kSourceImagePurpose)));
    if (!position || !derivation) throw Error("cannot write DICOM SEG " + quoted(path_) + ": out of memory");
    OFVector<FGBase*> groups;
    groups.push_back(&content);
    groups.push_back(&segmentation);
    groups.push_back(position.get());
    groups.push_back(derivation.get());
    check(seg.addFrame(pixels.data(), segmentNumber, groups), "frame on slice " + std::to_string(z + 1));
  }

  void addReferencedSeries(DcmSegmentation& seg) const {
    auto series = std::make_unique<IODSeriesAndInstanceReferenceMacro::ReferencedSeriesItem>();
    check(series->setSeriesInstanceUID(source_.seriesInstanceUid.c_str()), "Referenced Series");
    for (const std::string& file : instanceOrder_) {
      auto instance = std::make_unique<SOPInstanceReferenceMacro>();
      check(instance->setReferencedSOPClassUID(instances_.at(file).sopClassUid.c_str()), "Referenced SOP Class UID");
      check(instance->setReferencedSOPInstanceUID(instances_.at(file).sopInstanceUid.c_str()),
            "Referenced SOP Instance UID");
      series->getReferencedInstanceItems().push_back(instance.release());
    }
    seg.getCommonInstanceReference().getReferencedSeriesItems().push_back(series.release());
  }

  void save(DcmSegmentation& seg) const {
    DcmFileFormat file;
    DcmDataset* ds = file.getDataset();
    check(seg.writeDataset(*ds), "build the dataset");
    OFString date, time;
    DcmDate::getCurrentDate(date);
    DcmTime::getCurrentTime(time);
    check(ds->putAndInsertOFStringArray(DCM_SeriesDate, date), "Series Date");
    check(ds->putAndInsertOFStringArray(DCM_SeriesTime, time), "Series Time");
    // One label map: no voxel belongs to two segments (dcmseg 3.6.7 does not write this attribute).
    check(ds->putAndInsertString(DCM_SegmentsOverlap, "NO"), "Segments Overlap");
    const std::string temporary = temporaryPathFor(path_);
    const OFCondition saved = file.saveFile(temporary.c_str(), EXS_LittleEndianExplicit);
    if (saved.bad()) {
      std::remove(temporary.c_str());
      check(saved, "save");
    }
    try {
      checkWritten(temporary, *ds);
      flushFile(temporary, path_);
    } catch (...) {
      std::remove(temporary.c_str());
      throw;
    }
    moveIntoPlace(temporary, path_);
  }

  // The file DCMTK wrote, read back before it is renamed into place: a write that failed part way
  // (a full disk) must not become a SEG that ends early. The whole file must parse and hold the
  // pixel data the dataset has.
  void checkWritten(const std::string& temporary, DcmDataset& written) const {
    const std::string failed = "cannot write DICOM SEG " + quoted(path_) + ": the written file ";
    DcmFileFormat back;
    const OFCondition read = back.loadFile(temporary.c_str());
    if (read.bad()) throw Error(failed + "cannot be read back (" + read.text() + "; disk full?); nothing was written");
    DcmElement* expected = nullptr;
    DcmElement* found = nullptr;
    if (written.findAndGetElement(DCM_PixelData, expected).bad() ||
        back.getDataset()->findAndGetElement(DCM_PixelData, found).bad() || expected->getLength() != found->getLength())
      throw Error(failed + "lacks pixel data or holds less of it than was written (disk full?); nothing was written");
  }

  const std::string& path_;
  const LabelMap& labels_;
  const SeriesInfo& source_;
  const SegWriteOptions& options_;
  std::map<std::string, SourceInstance> instances_;  // by file
  std::vector<std::string> instanceOrder_;           // files in slice order
  DcmFileFormat firstSource_;                        // patient, study, frame of reference
};

}  // namespace

void writeSegmentation(const std::string& path, const LabelMap& labels, const SeriesInfo& source,
                       const std::vector<SegmentInfo>& segments, const SegWriteOptions& options) {
  SegWriter(path, labels, source, options).write(segments);
}

}  // namespace ima::dicom
