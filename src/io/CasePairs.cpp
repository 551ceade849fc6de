#include "ima/io/CasePairs.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "ima/Error.h"

#include "ima/io/ImageFiles.h"

namespace fs = std::filesystem;

namespace ima::io {
namespace {

// Image files (by extension) in `dir`, and, with `seriesDirectories`, its subdirectories (each a
// DICOM series); hidden entries are skipped. Sorted by name.
std::vector<std::string> imageFilesIn(const std::string& dir, const std::string& what, bool seriesDirectories) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(what + " directory '" + dir + "' does not exist");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (seriesDirectories && entry.is_directory(ec)) {
      names.push_back(name);
      continue;
    }
    if (imageExtension(name).empty() && !(seriesDirectories && isDicomInput(entry.path().string()))) continue;
    if (!entry.is_regular_file(ec)) continue;
    names.push_back(name);
  }
  if (ec) throw Error("cannot list " + what + " directory '" + dir + "': " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

// The case id of an entry of an images directory: a file's name without its image extension, a
// DICOM series directory's (or .dcm file's) name without ".dcm".
std::string caseIdOfEntry(const std::string& dir, const std::string& name) {
  const fs::path path = fs::path(dir) / name;
  if (isDicomInput(path.string())) {
    std::error_code ec;
    return fs::is_directory(path, ec) ? name : path.stem().string();  // "case_001.dcm" -> "case_001"
  }
  return caseIdOf(name);
}

}  // namespace

std::vector<CasePair> pairCases(const std::string& imageDir, const std::string& labelDir) {
  const auto images = imageFilesIn(imageDir, "images", true);
  const auto labels = imageFilesIn(labelDir, "labels", false);
  if (images.empty())
    throw Error("no images (.nii.gz, .nii, .nrrd, .nhdr, .mha, .mhd, or DICOM series directories) found in '" +
                imageDir + "'");
  // Labels by case id; an image file pairs with the label file of the same name, a DICOM series
  // (directory or .dcm file) with the label file whose name without extension is the series name.
  std::map<std::string, std::string> labelById;
  for (const auto& name : labels) labelById.emplace(caseIdOf(name), name);
  std::vector<CasePair> pairs;
  std::map<std::string, std::string> ids;
  std::set<std::string> usedLabels;
  for (const auto& name : images) {
    const std::string image = (fs::path(imageDir) / name).string();
    const std::string id = caseIdOfEntry(imageDir, name);
    std::string labelName = name;
    if (isDicomInput(image)) {
      const auto found = labelById.find(id);
      if (found == labelById.end())
        throw Error("DICOM series '" + image + "' has no label image '" + (fs::path(labelDir) / id).string() +
                    ".nii.gz' (or .nii, .nrrd, .nhdr, .mha, .mhd)");
      labelName = found->second;
    } else if (!std::binary_search(labels.begin(), labels.end(), name)) {
      throw Error("image '" + image + "' has no label image '" + (fs::path(labelDir) / name).string() + "'");
    }
    if (ids.count(id)) throw Error("images '" + ids[id] + "' and '" + image + "' have the same case id '" + id + "'");
    ids[id] = image;
    usedLabels.insert(labelName);
    pairs.push_back({id, image, (fs::path(labelDir) / labelName).string()});
  }
  for (const auto& name : labels)
    if (!usedLabels.count(name))
      throw Error("label image '" + (fs::path(labelDir) / name).string() + "' has no image '" +
                  (fs::path(imageDir) / name).string() + "' (or DICOM series '" +
                  (fs::path(imageDir) / caseIdOf(name)).string() + "')");
  return pairs;
}

std::string describeGeometry(const Geometry& g, int dims) {
  std::ostringstream s;
  s.precision(6);
  s << "origin (";
  for (int i = 0; i < dims; ++i) s << (i ? ", " : "") << g.origin[static_cast<size_t>(i)];
  s << ") spacing (";
  for (int i = 0; i < dims; ++i) s << (i ? ", " : "") << g.spacing[static_cast<size_t>(i)];
  s << ") direction (";
  for (int r = 0; r < dims; ++r)
    for (int c = 0; c < dims; ++c) s << (r || c ? ", " : "") << g.direction[static_cast<size_t>(3 * r + c)];
  s << ")";
  return s.str();
}

LabelledCase loadCase(const CasePair& p, const DicomInput& dicom) {
  LabelledCase c;
  c.id = p.id;
  c.image = readVolume(p.image, dicom);
  checkFinite(c.image, "image '" + p.image + "'");
  c.labels = readLabelMap(p.label);
  if (!(c.image.shape == c.labels.shape))
    throw Error("image '" + p.image + "' (" + c.image.shape.str() + ") and label image '" + p.label + "' (" +
                c.labels.shape.str() + ") differ in size");
  if (!c.image.geometry.approximatelyEquals(c.labels.geometry))
    throw Error("image '" + p.image + "' and label image '" + p.label + "' are on different grids: " +
                describeGeometry(c.image.geometry, c.image.shape.dims()) + " vs " +
                describeGeometry(c.labels.geometry, c.labels.shape.dims()));
  return c;
}

std::vector<LabelledCase> loadCases(const std::vector<CasePair>& pairs, const DicomInput& dicom,
                                    const std::function<bool(double)>& progress) {
  std::vector<LabelledCase> cases;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (progress && !progress(static_cast<double>(i) / static_cast<double>(pairs.size()))) throw Cancelled();
    cases.push_back(loadCase(pairs[i], dicom));
  }
  if (progress && !progress(1.0)) throw Cancelled();
  return cases;
}

}  // namespace ima::io
