#include "InferenceArguments.h"

#include "Commands.h"

namespace ima::cli {

void addInferenceOptions(ArgumentParser& p) {
  p.option("overlap", "F", "fraction of a patch shared by neighbouring windows, in [0, 1)", "0.5")
      .option("batch", "N", "patches per forward pass", "2")
      .option("patch", "X,Y[,Z]", "window size in voxels (default: the model's patch size); the core checks it")
      .flag("whole-image", "one forward pass over the whole (padded) image instead of windows; for small images")
      .flag("mirror", "test-time augmentation: average over all axis flips (2^dims times slower)")
      .option("device", "DEVICE", "cpu, cuda, cuda:N or auto", "auto")
      .option("threads", "N", "CPU threads (0 = all cores)", "0");
}

InferenceOptions inferenceOptions(const ArgumentParser& args) {
  InferenceOptions options;
  options.overlap = args.getDouble("overlap");
  if (options.overlap < 0 || options.overlap >= 1) throw UsageError("--overlap must be in [0, 1)");
  const int64_t batch = args.getInt("batch");
  if (batch < 1 || batch > 4096) throw UsageError("--batch must be between 1 and 4096");
  options.batchSize = static_cast<int>(batch);
  options.mirror = args.flagSet("mirror");
  options.wholeImage = args.flagSet("whole-image");
  if (args.given("patch")) options.patchSize = args.getIntList("patch");
  const int64_t threads = args.getInt("threads");
  if (threads < 0 || threads > 1024) throw UsageError("--threads must be between 0 and 1024");
  options.runtime.device = checkedDevice(args);
  options.runtime.threads = static_cast<int>(threads);
  return options;
}

}  // namespace ima::cli
