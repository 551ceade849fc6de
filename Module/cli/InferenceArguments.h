// The inference options shared by `ima segment` and `ima batch segment` (--overlap, --batch,
// --patch, --whole-image, --mirror, --device, --threads): declared once, checked once.
#pragma once
#include "ima/SlidingWindowInferer.h"

#include "ArgumentParser.h"

namespace ima::cli {

void addInferenceOptions(ArgumentParser& parser);
// Usage errors (UsageError) for values out of range.
InferenceOptions inferenceOptions(const ArgumentParser& args);

}  // namespace ima::cli
