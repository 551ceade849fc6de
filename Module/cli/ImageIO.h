// Image files for the command line, through ITK's readers and writers (NIfTI .nii/.nii.gz, NRRD
// .nrrd/.nhdr, MetaImage .mha/.mhd). The only CLI unit that includes ITK headers, so the others
// compile quickly. Errors are ima::Error naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ima/Volume.h"

namespace ima::cli {

struct ImageFileInfo {
  int dims = 0;                // spatial dimensions used (trailing size-1 dimensions dropped)
  int components = 1;          // per pixel
  std::vector<int64_t> size;   // ITK order
  std::string componentType;   // "float", "unsigned_char", ...
};

// Reads only the header.
ImageFileInfo readImageInfo(const std::string& path);
// Any scalar or multi-component image as float channels (2D or 3D).
Volume readVolume(const std::string& path);
// A scalar image whose values are integers 0..255.
LabelMap readLabelMap(const std::string& path);

// Atomic writes: the file(s) go to a temporary directory next to `path` and are renamed into
// place, so a failure leaves nothing behind. Without `overwrite` an existing file is an error.
void writeVolume(const Volume& volume, const std::string& path, bool overwrite);  // float32
void writeLabelMap(const LabelMap& labels, const std::string& path, bool overwrite);  // uint8

// Checks before any work is done: a supported extension, an existing directory, and no existing
// file unless `overwrite`.
void checkOutputPath(const std::string& path, bool overwrite, const std::string& what);

// ".nii.gz", ".nrrd", ... (lower case) when the name has a supported extension, else "".
std::string imageExtension(const std::string& fileName);
// File name without directory and image extension: the case id.
std::string caseIdOf(const std::string& path);

}  // namespace ima::cli
