#include "AttackedArguments.h"

namespace ima::cli {

void addAttackedOptions(ArgumentParser& p) {
  p.option("attacked", "LEVEL",
           "patch: every patch of the grid through the network alone; volume: the whole image through "
           "the deployed sliding-window prediction (Gaussian-weighted windows; the L2 budget is scaled "
           "by sqrt(voxels / patch voxels), the same energy per voxel)",
           "patch")
      .choices("attacked", {"patch", "volume"})
      .option("overlap", "F", "with --attacked volume: fraction of a patch shared by neighbouring windows, in [0, 1)",
              "0.5");
}

void readAttackedOptions(const ArgumentParser& args, EvaluationOptions& o) {
  o.attacked = parseAttacked(args.get("attacked"));
  o.overlap = args.getDouble("overlap");
  if (!(o.overlap >= 0 && o.overlap < 1)) throw UsageError("--overlap must be in [0, 1)");
}

}  // namespace ima::cli
