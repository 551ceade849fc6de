// What `ima evaluate` and `ima attack` perturb (--attacked patch|volume, --overlap): declared
// once, checked once (docs/evaluation.md, "Patch or whole volume").
#pragma once
#include "ima/Evaluation.h"

#include "ArgumentParser.h"

namespace ima::cli {

void addAttackedOptions(ArgumentParser& parser);
// Sets options.attacked and options.overlap; UsageError for an overlap outside [0, 1).
void readAttackedOptions(const ArgumentParser& args, EvaluationOptions& options);

}  // namespace ima::cli
