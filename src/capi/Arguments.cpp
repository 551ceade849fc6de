// Checks and conversions of the C API's arguments.
#include "Arguments.h"

#include <cmath>
#include <sstream>

#include "ima/Error.h"

#include "ima/io/CasePairs.h"
#include "ima/io/ImageFiles.h"

namespace ima::capi {

void requireNonNull(const void* pointer, const std::string& name) {
  if (!pointer) throw InvalidArgument(name + " is NULL");
}

std::string requiredString(const char* value, const std::string& name) {
  requireNonNull(value, name);
  if (!*value) throw InvalidArgument(name + " is empty");
  return value;
}

std::string choiceOf(const char* value, const char* fallback, const std::string& name,
                     std::initializer_list<const char*> allowed) {
  const std::string v = value ? value : fallback;
  std::string list;
  for (const char* a : allowed) {
    if (v == a) return v;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw InvalidArgument(name + " is '" + v + "' (expected one of " + list + ")");
}

int intInRange(int value, int low, int high, const std::string& name) {
  if (value < low || value > high)
    throw InvalidArgument(name + " is " + std::to_string(value) + " (expected " + std::to_string(low) + ".." +
                          std::to_string(high) + ")");
  return value;
}

void attackedOf(const char* attacked, double overlap, EvaluationOptions& options) {
  options.attacked = parseAttacked(choiceOf(attacked, "patch", "options.attacked", {"patch", "volume"}));
  if (!(overlap >= 0 && overlap < 1)) {
    std::ostringstream message;
    message << "options.overlap is " << overlap << " (expected 0 to below 1)";
    throw InvalidArgument(message.str());
  }
  options.overlap = overlap;
}

double doubleInRange(double value, double low, double high, const std::string& name) {
  if (!(value >= low && value <= high)) {  // also rejects NaN
    std::ostringstream message;
    message << name << " is " << value << " (expected " << low << " to " << high << ")";
    throw InvalidArgument(message.str());
  }
  return value;
}

Volume volumeOf(const ima_image* image, const std::string& what) {
  requireNonNull(image, what);
  requireNonNull(image->data, what + ".data");
  if (image->dims != 2 && image->dims != 3)
    throw InvalidArgument(what + ".dims is " + std::to_string(image->dims) + " (expected 2 or 3)");
  intInRange(image->channels, 1, 1024, what + ".channels");
  // The largest image the core handles: 2^40 values, far beyond memory, so no product overflows.
  constexpr int64_t kMaxExtent = int64_t{1} << 20;
  Shape shape;
  int64_t values = image->channels;
  for (int a = 0; a < image->dims; ++a) {
    const int64_t s = image->size[a];
    if (s < 1 || s > kMaxExtent)
      throw InvalidArgument(what + ".size[" + std::to_string(a) + "] is " + std::to_string(s) + " (expected 1.." +
                            std::to_string(kMaxExtent) + ")");
    shape.size.push_back(s);
    values *= s;
    if (values > (int64_t{1} << 40)) throw InvalidArgument(what + " has more than 2^40 values");
  }
  if (image->length < static_cast<size_t>(values))
    throw BufferTooSmall(what + ".length is " + std::to_string(image->length) + " but " +
                         std::to_string(image->channels) + " channel(s) of " + shape.str() + " voxels need " +
                         std::to_string(values) + " floats");
  Geometry g;
  for (int a = 0; a < 3; ++a) {
    if (!(std::isfinite(image->spacing[a]) && image->spacing[a] > 0))
      throw InvalidArgument(what + ".spacing[" + std::to_string(a) + "] must be finite and > 0");
    if (!std::isfinite(image->origin[a]))
      throw InvalidArgument(what + ".origin[" + std::to_string(a) + "] is not finite");
    g.spacing[static_cast<size_t>(a)] = image->spacing[a];
    g.origin[static_cast<size_t>(a)] = image->origin[a];
  }
  for (int i = 0; i < 9; ++i) {
    if (!std::isfinite(image->direction[i]))
      throw InvalidArgument(what + ".direction[" + std::to_string(i) + "] is not finite");
    g.direction[static_cast<size_t>(i)] = image->direction[i];
  }
  Volume v(shape, image->channels, g);
  std::memcpy(v.data.data(), image->data, v.data.size() * sizeof(float));
  checkFinite(v, what);
  return v;
}

LabelledCase caseOf(const ima_case& c, const std::string& what, const std::string& id) {
  LabelledCase t;
  t.id = id;
  t.image = volumeOf(&c.image, what + ".image");
  requireNonNull(c.labels, what + ".labels");
  const size_t voxels = static_cast<size_t>(t.image.shape.voxels());
  if (c.labels_length < voxels)
    throw BufferTooSmall(what + ".labels_length is " + std::to_string(c.labels_length) + " but the image has " +
                         std::to_string(voxels) + " voxels");
  t.labels = LabelMap(t.image.shape, 1, t.image.geometry);
  std::memcpy(t.labels.data.data(), c.labels, voxels);
  return t;
}

std::vector<LabelledCase> casesFromBuffers(const ima_case* cases, size_t count) {
  requireNonNull(cases, "cases");
  if (count == 0) throw InvalidArgument("count is 0 (no cases)");
  std::vector<LabelledCase> result;
  for (size_t i = 0; i < count; ++i)
    result.push_back(caseOf(cases[i], "cases[" + std::to_string(i) + "]", "case_" + std::to_string(i)));
  return result;
}

std::vector<LabelledCase> casesFromFiles(const char* const* imagePaths, const char* const* labelPaths, size_t count,
                                         const ProgressCallback& progress) {
  requireNonNull(imagePaths, "image_paths");
  requireNonNull(labelPaths, "label_paths");
  if (count == 0) throw InvalidArgument("count is 0 (no cases)");
  std::vector<io::CasePair> pairs;
  for (size_t i = 0; i < count; ++i) {
    const std::string index = "[" + std::to_string(i) + "]";
    const std::string image = requiredString(imagePaths[i], "image_paths" + index);
    pairs.push_back({io::caseIdOf(image), image, requiredString(labelPaths[i], "label_paths" + index)});
  }
  std::vector<LabelledCase> cases;
  reportProgress(progress, 0.0);
  for (const io::CasePair& pair : pairs) {
    cases.push_back(io::loadCase(pair));
    reportProgress(progress, static_cast<double>(cases.size()) / static_cast<double>(pairs.size()));
  }
  return cases;
}

RuntimeOptions runtimeOf(const char* device, int threads) {
  RuntimeOptions r;
  r.device = device ? device : "auto";
  const std::string& d = r.device;
  const bool cudaIndex = d.rfind("cuda:", 0) == 0 && d.size() > 5 && d.size() <= 8 &&
                         d.find_first_not_of("0123456789", 5) == std::string::npos;
  if (!(d == "cpu" || d == "cuda" || d == "auto" || cudaIndex))
    throw InvalidArgument("device is '" + d + "' (expected cpu, cuda, cuda:N or auto)");
  r.threads = intInRange(threads, 0, 1024, "threads");
  return r;
}

ProgressCallback progressOf(ima_progress_fn progress, void* user, const char* stage) {
  if (!progress) return {};
  return [progress, user, stage](double fraction) { return progress(fraction, stage, user) == 0; };
}

}  // namespace ima::capi

extern "C" {

void ima_image_init(ima_image* image) {
  if (!image) return;
  *image = ima_image{};
  image->channels = 1;
  for (int a = 0; a < 3; ++a) {
    image->spacing[a] = 1;
    image->direction[a * 4] = 1;
  }
}

}  // extern "C"
