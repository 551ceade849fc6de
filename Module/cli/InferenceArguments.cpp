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
      .option("threads", "N", "CPU threads (0 = all cores)", "0")
      .option("precision", "P", "forward passes in fp32, bf16, fp16 (CUDA) or auto (bf16 where the hardware has it)", "fp32")
      .choices("precision", {"fp32", "bf16", "fp16", "auto"});
}

InferenceOptions inferenceOptions(const ArgumentParser& args) {
  InferenceOptions options;
  options.overlap = args.getDouble("overlap");
  if (options.overlap < 0 || options.overlap >= 1) throw UsageError("--overlap must be in [0, 1)");
  options.batchSize = args.getIntInRange("batch", 1, 4096);
  options.mirror = args.flagSet("mirror");
  options.wholeImage = args.flagSet("whole-image");
  if (args.given("patch")) options.patchSize = args.getIntList("patch");
  options.runtime.device = checkedDevice(args);
  options.runtime.threads = args.getIntInRange("threads", 0, 1024);
  options.runtime.precision = args.get("precision");
  return options;
}

}  // namespace ima::cli
