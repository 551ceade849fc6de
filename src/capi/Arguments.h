// Checks and conversions of the C API's arguments into the core's types. Every failure throws
// InvalidArgument or BufferTooSmall (Status.h) with a message naming the argument, or ima::Error
// for what the core itself rejects (non-finite voxels, unreadable files).
#pragma once
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "ima.h"
#include "ima/Evaluation.h"
#include "ima/Runtime.h"
#include "ima/Training.h"
#include "ima/Volume.h"

#include "Status.h"

namespace ima::capi {

void requireNonNull(const void* pointer, const std::string& name);
// A non-empty string argument.
std::string requiredString(const char* value, const std::string& name);
// `value` (or `fallback` when NULL) if it is one of `allowed`.
std::string choiceOf(const char* value, const char* fallback, const std::string& name,
                     std::initializer_list<const char*> allowed);
// `value` if it lies in [low, high] (and is finite).
int intInRange(int value, int low, int high, const std::string& name);
double doubleInRange(double value, double low, double high, const std::string& name);

// A copy of the caller's image with its geometry. `what` names it in messages ("image", "cases[2].image").
Volume volumeOf(const ima_image* image, const std::string& what);
// The image and its labels (same grid), identified as `id`.
LabelledCase caseOf(const ima_case& c, const std::string& what, const std::string& id);
std::vector<LabelledCase> casesFromBuffers(const ima_case* cases, size_t count);
// Reads image_paths[i] with label_paths[i] as the command line does (NIfTI, NRRD, MetaImage, DICOM
// series); progress is the fraction of cases read.
std::vector<LabelledCase> casesFromFiles(const char* const* imagePaths, const char* const* labelPaths, size_t count,
                                         const ProgressCallback& progress);

// What an evaluation or attack perturbs: attacked ("patch" | "volume"; NULL = "patch") and the
// windows' overlap in [0, 1), into options.
void attackedOf(const char* attacked, double overlap, EvaluationOptions& options);

// Device ("cpu", "cuda", "cuda:N", "auto"; NULL = "auto") and thread count (>= 0), format checked.
RuntimeOptions runtimeOf(const char* device, int threads);

// The caller's C callback as a core progress callback (non-zero return = cancel).
ProgressCallback progressOf(ima_progress_fn progress, void* user, const char* stage);

// The caller's options over the defaults of `init`: only the first struct_size bytes are read, so
// a caller built against an older, shorter struct keeps working. NULL = the defaults.
template <typename Options>
Options optionsOf(const Options* given, void (*init)(Options*), const std::string& name) {
  Options options;
  init(&options);
  if (!given) return options;
  if (given->struct_size == 0)
    throw InvalidArgument(name + ".struct_size is 0: initialise the options with their ima_*_options_init function");
  if (given->struct_size < sizeof(size_t))
    throw InvalidArgument(name + ".struct_size is " + std::to_string(given->struct_size) +
                          ", smaller than the struct_size field itself (" + std::to_string(sizeof(size_t)) +
                          " bytes): initialise the options with their ima_*_options_init function");
  if (given->struct_size > sizeof(Options))
    throw InvalidArgument(name + ".struct_size is " + std::to_string(given->struct_size) + " but this library (API " +
                          std::to_string(IMA_API_VERSION) + ") knows structs of at most " +
                          std::to_string(sizeof(Options)) + " bytes (newer ima.h than the library?)");
  std::memcpy(static_cast<void*>(&options), given, given->struct_size);
  options.struct_size = sizeof(Options);
  return options;
}

}  // namespace ima::capi
