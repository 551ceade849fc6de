#include "InferenceArguments.h"

#include "Commands.h"

namespace ima::cli {

void addInferenceOptions(ArgumentParser& p) {
  p.option("overlap", "F", "fraction of a patch shared by neighbouring windows, in [0, 1)", "0.5")
      .option("batch", "N", "patches per forward pass", "2")
      .option("patch", "X,Y[,Z]", "window size in voxels (default: the model's patch size); the core checks it")
      .flag("whole-image", "one forward pass over the whole (padded) image instead of windows; for small images")
      .flag("mirror", "test-time augmentation: average over all axis flips (2^dims times slower)");
  addRuntimeOptions(p);
}

InferenceOptions inferenceOptions(const ArgumentParser& args) {
  InferenceOptions options;
  options.overlap = args.getDouble("overlap");
  if (options.overlap < 0 || options.overlap >= 1) throw UsageError("--overlap must be in [0, 1)");
  options.batchSize = args.getIntInRange("batch", 1, 4096);
  options.mirror = args.flagSet("mirror");
  options.wholeImage = args.flagSet("whole-image");
  if (args.given("patch")) options.patchSize = args.getIntList("patch");
  for (int64_t p : options.patchSize)
    if (p < 1) throw UsageError("--patch entries must be at least 1, got " + args.get("patch"));
  options.runtime.device = checkedDevice(args);
  options.runtime.threads = args.getIntInRange("threads", 0, 1024);
  options.runtime.precision = args.get("precision");
  return options;
}

}  // namespace ima::cli
