// IMASegment: the Slicer CLI module that segments a volume with a model (IMASegment.xml), like
// `ima segment`, and returns the volume of every label in millilitres and, given a reference
// label map, the Dice per label.
#include <iostream>
#include <vector>

#include "ima/Error.h"
#include "ima/InputFiles.h"
#include "ima/Metrics.h"
#include "ima/Model.h"
#include "ima/SlidingWindowInferer.h"

#include "ima/io/ImageFiles.h"
#include "ModelInput.h"
#include "ModuleMain.h"
#include "Progress.h"  // stopIfInterrupted

#include "IMASegmentXml.h"  // kModuleXml, generated from IMASegment.xml

namespace {

using namespace ima;
using namespace ima::slicer;

void segmentVolume(const ModuleArguments& args, FilterProgress& progress, ReturnParameters& returns) {
  const std::string modelPath = args.path("model", true), input = args.path("inputVolume", true),
                    output = args.path("outputLabel", true), referencePath = args.path("referenceLabel", false);
  InferenceOptions options;
  options.overlap = args.number("overlap");
  options.batchSize = static_cast<int>(args.integer("batchSize"));
  options.mirror = args.boolean("mirror");
  options.runtime.device = args.string("device");
  options.runtime.threads = static_cast<int>(args.integer("threads"));
  InputFiles().add({modelPath, input, referencePath}).checkNotAnInput(output, "output label map");
  io::checkOutputPath(output, true, "output label map");  // Slicer's temporary files are replaced
  applyRuntime(options.runtime);

  progress.stage(0.05);
  const Model model = loadModelInput(args);
  const Volume volume = io::readVolume(input);
  checkFinite(volume, "input volume '" + input + "'");
  if (const std::string warning = constantImageWarning(volume, "input volume '" + input + "'"); !warning.empty())
    std::cerr << warning << "\n";
  LabelMap reference;
  if (!referencePath.empty()) {
    reference = io::readLabelMap(referencePath);
    if (!(reference.shape == volume.shape) || !reference.geometry.approximatelyEquals(volume.geometry))
      throw Error("reference label map '" + referencePath + "' (" + reference.shape.str() +
                  ") is not on the grid of the input volume '" + input + "' (" + volume.shape.str() + ")");
  }
  progress.report(1);

  progress.stage(0.95);
  Segmentation result;
  try {
    result = segment(model, volume, options, progress.callback());
  } catch (const Cancelled&) {
    throw;
  } catch (const Error& e) {
    throw Error("cannot segment '" + input + "' with model '" + modelPath + "': " + e.what());
  }
  result.labels.geometry = volume.geometry;
  progress.report(1);

  // Label statistics: counts, and volumes from the voxel size (a 2D image counts as one slice of
  // the third spacing, 1 mm unless the file says otherwise).
  progress.stage(1.0);
  const ModelMetadata& meta = model.metadata();
  const int classes = meta.network.classes;
  std::vector<double> counts(static_cast<size_t>(classes), 0.0);
  for (uint8_t v : result.labels.data)
    if (v < classes) ++counts[v];
  const auto& s = volume.geometry.spacing;
  const double voxelMl = s[0] * s[1] * s[2] / 1000.0;
  std::vector<std::string> names;
  std::vector<double> voxels, millilitres;
  for (int k = 1; k < classes; ++k) {
    names.push_back(meta.labelName(k));
    voxels.push_back(counts[static_cast<size_t>(k)]);
    millilitres.push_back(counts[static_cast<size_t>(k)] * voxelMl);
  }
  returns.set("labelNames", names);
  returns.set("labelVoxels", voxels);
  returns.set("labelVolumesMl", millilitres);
  if (!referencePath.empty()) {
    std::vector<double> dice;
    double sum = 0;
    for (const OverlapCounts& c : overlapCounts(result.labels, reference, classes)) {
      dice.push_back(c.dice());
      sum += c.dice();
    }
    returns.set("dice", dice);
    returns.set("meanDice", dice.empty() ? 0.0 : sum / static_cast<double>(dice.size()));
  }
  cli::stopIfInterrupted();
  io::writeLabelMap(result.labels, output, true);
}

}  // namespace

int main(int argc, char** argv) { return runModule("IMASegment", kModuleXml, argc, argv, segmentVolume); }
