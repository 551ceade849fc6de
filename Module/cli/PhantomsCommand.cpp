// `ima phantoms`: writes the embedded synthetic data set as image/label file pairs.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "ima/Error.h"
#include "ima/Phantoms.h"

#include "Commands.h"
#include "ima/io/ImageFiles.h"
#include "Progress.h"

namespace fs = std::filesystem;

namespace ima::cli {

ArgumentParser phantomsParser() {
  ArgumentParser p("phantoms",
                   "Write synthetic phantoms (an organ with a lesion inside, bias field and noise) as\n"
                   "DIR/images/case_NNN.nii.gz (float32) and DIR/labels/case_NNN.nii.gz (uint8:\n"
                   "0 background, 1 organ, 2 lesion).");
  p.option("out", "DIR", "output directory (created if missing)", "", true)
      .option("count", "N", "number of cases", "12")
      .option("size", "S", "voxels per side", "64")
      .option("dims", "D", "2 for single slices, 3 for volumes", "3")
      .choices("dims", {"2", "3"})
      .option("seed", "K", "series seed (same seed, same cases)", "1")
      .flag("force", "overwrite existing case files")
      .flag("quiet", "no progress output")
      .epilog("example:\n  ima phantoms --out data --count 12 --size 64 --dims 3");
  return p;
}

int runPhantoms(const ArgumentParser& args) {
  const int64_t count = args.getIntInRange("count", 1, 1000);
  const int64_t size = args.getIntInRange("size", 8, 1024);
  const int64_t seed = args.getInt("seed");
  if (seed < 0) throw UsageError("--seed must not be negative");

  const fs::path out = args.get("out");
  const fs::path imageDir = out / "images", labelDir = out / "labels";
  for (const auto& dir : {imageDir, labelDir}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
      throw Error("cannot create directory '" + dir.string() + "': " +
                  (ec ? ec.message() : "a file of that name exists"));
  }

  auto nameOf = [](int64_t i) {
    char name[32];
    std::snprintf(name, sizeof name, "case_%03lld.nii.gz", static_cast<long long>(i));
    return std::string(name);
  };
  // Refuse before writing anything, so a run never mixes old and new cases.
  const bool force = args.flagSet("force");
  for (int64_t i = 0; i < count; ++i) {
    io::checkOutputPath((imageDir / nameOf(i)).string(), force, "image");
    io::checkOutputPath((labelDir / nameOf(i)).string(), force, "label image");
  }

  PhantomOptions options;
  options.size = size;
  options.dims = std::stoi(args.get("dims"));
  options.seed = static_cast<uint64_t>(seed);
  Progress progress("phantoms", args.flagSet("quiet"));
  for (int64_t i = 0; i < count; ++i) {
    stopIfInterrupted();
    const auto [image, labels] = makePhantom(options, static_cast<int>(i));
    io::writeVolume(image, (imageDir / nameOf(i)).string(), force);
    io::writeLabelMap(labels, (labelDir / nameOf(i)).string(), force);
    progress.update(static_cast<double>(i + 1) / static_cast<double>(count));
  }
  progress.finish();
  if (!args.flagSet("quiet"))
    std::cout << "wrote " << count << " cases (" << size << (options.dims == 3 ? "^3" : "^2")
              << " voxels) to " << imageDir.string() << " and " << labelDir.string() << "\n";
  return 0;
}

}  // namespace ima::cli
