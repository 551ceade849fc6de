// The shared main() of the Slicer CLI modules: prints the embedded XML description for --xml,
// parses the arguments against it, reports progress in the execution model's protocol, writes
// the return parameters, and maps failures to exit codes (0 success, 1 failure or cancellation,
// 2 usage error; docs/architecture.md §8). SIGTERM, which Slicer sends to cancel, stops the work at the
// core's next patch or iteration; outputs are only written after the last one, each atomically,
// so a cancelled run leaves no output behind.
#pragma once

#include "FilterProgress.h"
#include "ModuleArguments.h"
#include "ReturnParameters.h"

namespace ima::slicer {

// The module's work. It checks its arguments first (so a usage error prints nothing on stdout),
// then runs the stages of `progress` (the first prints filter-start; the last ends at 1) and writes
// its outputs; runModule writes the return parameters and prints filter-end after it.
using ModuleRun = void (*)(const ModuleArguments& args, FilterProgress& progress, ReturnParameters& returns);

int runModule(const char* name, const char* xml, int argc, char** argv, ModuleRun run);

}  // namespace ima::slicer
