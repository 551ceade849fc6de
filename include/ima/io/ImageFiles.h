// Image files for every host (the command line, the Slicer modules, the C API): ITK's readers and
// writers (NIfTI .nii/.nii.gz, NRRD .nrrd/.nhdr, MetaImage .mha/.mhd), and DICOM series (a
// directory, or a .dcm file) through the DICOM reader (ima::dicom, DCMTK). The only unit of the
// image-file library (ima::io, no torch) that includes ITK IO headers. Errors are ima::Error naming
// the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ima/InputFiles.h"
#include "ima/Volume.h"

namespace ima::dicom {
struct SeriesInfo;
}  // namespace ima::dicom

namespace ima::io {

struct ImageFileInfo {
  int dims = 0;                // spatial dimensions used (trailing size-1 dimensions dropped)
  int components = 1;          // per pixel
  std::vector<int64_t> size;   // ITK order
  std::string componentType;   // "float", "unsigned_char", ...
};

// How DICOM inputs are read (--series, --allow-uneven); ignored for image files.
struct DicomInput {
  std::string series;        // series id or UID when a directory holds several; "" = the only one
  bool allowUneven = false;  // uneven slice distances are a warning instead of an error
};

// True when `path` is read as DICOM: an existing directory, or a file named *.dcm.
bool isDicomInput(const std::string& path);

// Reads only the header (of a DICOM input: scans the series, decodes no pixels).
ImageFileInfo readImageInfo(const std::string& path, const DicomInput& dicom = {});
// Any scalar or multi-component image as float channels (2D or 3D); a DICOM series as a 3D volume
// of modality values (rescale applied) with its DICOM geometry. Warnings go to stderr. For a DICOM
// input, `series` (when given) receives the series read, e.g. for a SEG that references it.
Volume readVolume(const std::string& path, const DicomInput& dicom = {}, dicom::SeriesInfo* series = nullptr);
// A scalar image whose values are integers 0..255.
LabelMap readLabelMap(const std::string& path);

// Atomic writes: the file(s) go to a temporary directory next to `path`, are checked complete
// (WrittenImageCheck.h) and renamed into place, so a failure (a full disk too) leaves nothing
// behind. Without `overwrite` an existing file is an error. Returns the files placed (a .mhd/.nhdr
// header and its data file).
std::vector<std::string> writeVolume(const Volume& volume, const std::string& path, bool overwrite);  // float32
std::vector<std::string> writeLabelMap(const LabelMap& labels, const std::string& path, bool overwrite);  // uint8

// Checks before any work is done: a supported extension, an existing directory, and no existing
// file unless `overwrite`.
void checkOutputPath(const std::string& path, bool overwrite, const std::string& what);
// The same for an output of any kind (reports, tables, plots, DICOM objects): an existing
// directory, not a directory itself, and no existing file unless `overwrite`. Empty paths pass.
void checkFileOutputPath(const std::string& path, bool overwrite, const std::string& what);

// The outputs of one command: each passes checkFileOutputPath, none is one of `inputs` (even with
// `overwrite`), no two are the same file. Empty paths (outputs not asked for) are skipped.
struct OutputFile {
  std::string path, what;
};
void checkOutputFiles(const InputFiles& inputs, const std::vector<OutputFile>& outputs, bool overwrite);

// ".nii.gz", ".nrrd", ... (lower case) when the name has a supported extension, else "".
std::string imageExtension(const std::string& fileName);
// File name without directory and image extension: the case id.
std::string caseIdOf(const std::string& path);

}  // namespace ima::io
