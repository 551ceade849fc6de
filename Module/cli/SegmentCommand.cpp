// `ima segment`: sliding-window inference of one image with a model; writes a uint8 label map
// on the input's grid, or a DICOM SEG for a DICOM input (and optionally the class probabilities).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "ima/Error.h"
#include "ima/InputFiles.h"
#include "ima/Model.h"
#include "ima/SlidingWindowInferer.h"

#include "Commands.h"
#include "ima/io/ImageFiles.h"
#include "InferenceArguments.h"
#include "Progress.h"
#include "SegOutput.h"

namespace fs = std::filesystem;

namespace ima::cli {

ArgumentParser segmentParser() {
  ArgumentParser p("segment",
                   "Segment an image with a model: sliding window with Gaussian weighting, then argmax.\n"
                   "The label map (uint8) is written with the input's origin, spacing and direction;\n"
                   "for a DICOM input, an output ending in .dcm is a DICOM SEG referencing the series.\n"
                   "A 2D model segments a 3D image slice by slice.");
  p.option("model", "MODEL", "model file (.imamodel)", "", true)
      .option("input", "FILE|DIR", "image to segment (NIfTI, NRRD, MetaImage; or DICOM: a directory or .dcm)", "",
              true)
      .option("output", "FILE", "label map to write (.nii.gz, .nrrd, .mha; .dcm: DICOM SEG, DICOM input only)", "",
              true)
      .option("probabilities", "FILE", "also write the class probabilities (float32, one component per class)")
      .flag("force", "overwrite existing output files")
      .flag("quiet", "no progress output")
      .epilog("example:\n  ima segment --model model.imamodel --input data/images/case_000.nii.gz \\\n"
              "              --output case_000_seg.nii.gz\n"
              "  ima segment --model model.imamodel --input dicom/CT_study --series 1.2.840.113619.2.55.3 \\\n"
              "              --output ct_seg.nii.gz\n"
              "  ima segment --model model.imamodel --input dicom/CT_0001 --output CT_0001_seg.dcm");
  addInferenceOptions(p);
  addDicomOptions(p, true);
  return p;
}

namespace {

// The outputs, checked before any inference time is spent: none may be an input (the model, the
// image; a DICOM directory's files are added once read), the label map and the probabilities
// differ, each is writable in its format.
void checkSegmentOutputs(InputFiles& inputs, const std::string& input, const std::string& output,
                         const std::string& probabilitiesPath, bool force) {
  if (!io::isDicomInput(input) || !fs::is_directory(input)) inputs.add(input);  // a directory: its series' files, later
  inputs.checkNotAnInput(output, "output");
  if (isSegOutput(output))
    checkSegOutput(output, input, force);
  else
    io::checkOutputPath(output, force, "output");
  if (!probabilitiesPath.empty()) {
    if (sameFile(probabilitiesPath, output))
      throw Error("--probabilities '" + probabilitiesPath + "' and --output '" + output + "' are the same file");
    inputs.checkNotAnInput(probabilitiesPath, "probabilities output");
    io::checkOutputPath(probabilitiesPath, force, "probabilities output");
  }
}

void checkImageFitsModel(const Volume& volume, const std::string& input, const Model& model, const std::string& modelPath) {
  checkFinite(volume, "image '" + input + "'");
  if (const std::string warning = constantImageWarning(volume, "image '" + input + "'"); !warning.empty())
    std::cerr << warning << "\n";
  const NetworkSpec& spec = model.metadata().network;
  if (volume.channels != spec.inChannels)
    throw Error("image '" + input + "' has " + std::to_string(volume.channels) + " channel(s) but model '" +
                modelPath + "' expects " + std::to_string(spec.inChannels));
  if (volume.shape.dims() < spec.dims)
    throw Error("image '" + input + "' is " + std::to_string(volume.shape.dims()) + "D (" + volume.shape.str() +
                ") but model '" + modelPath + "' is a 3D model");
}

// The label map (image file or DICOM SEG), then the probabilities; when the second fails, the
// first is removed again unless it replaced a file that existed before.
void writeSegmentOutputs(const Segmentation& result, const std::string& output, const std::string& probabilitiesPath,
                         const dicom::SeriesInfo& series, const Model& model, const std::string& modelPath, bool force) {
  const bool outputExisted = fs::exists(output);
  std::vector<std::string> written{output};
  stopIfInterrupted();
  if (isSegOutput(output))
    writeSegOutput(result.labels, output, series, model.metadata(), fs::path(modelPath).filename().string(), force,
                   [](const std::string& message) { std::cerr << "warning: " << message << "\n"; });
  else
    written = io::writeLabelMap(result.labels, output, force);
  if (probabilitiesPath.empty()) return;
  try {
    io::writeVolume(result.probabilities, probabilitiesPath, force);
  } catch (...) {
    if (!outputExisted) {
      std::error_code ignored;
      for (const std::string& file : written) fs::remove(file, ignored);
    }
    throw;
  }
}

void printSummary(const Segmentation& result, const std::string& output, const Shape& shape, const Model& model) {
  std::vector<int64_t> counts(256, 0);
  for (uint8_t v : result.labels.data) ++counts[v];
  std::ostringstream summary;
  summary << "wrote " << output << " (" << shape.str() << "):";
  for (int c = 1; c < model.metadata().network.classes && c < 256; ++c)
    summary << (c > 1 ? "," : "") << " " << model.metadata().labelName(c) << " " << counts[c] << " voxels";
  std::cout << summary.str() << "\n";
}

}  // namespace

int runSegment(const ArgumentParser& args) {
  const std::string modelPath = args.get("model"), input = args.get("input"), output = args.get("output");
  const std::string probabilitiesPath = args.get("probabilities");
  const bool force = args.flagSet("force"), quiet = args.flagSet("quiet");
  const InferenceOptions options = inferenceOptions(args);

  // Cheap checks first, so a mistake costs no inference time.
  InputFiles inputs;
  inputs.add(modelPath);
  checkSegmentOutputs(inputs, input, output, probabilitiesPath, force);
  applyRuntime(options.runtime);

  const Model model = Model::load(modelPath);
  dicom::SeriesInfo series;  // the files read, and the series a SEG output references
  const Volume volume = io::readVolume(input, dicomInput(args, true), io::isDicomInput(input) ? &series : nullptr);
  inputs.add(series.files());
  inputs.checkNotAnInput(output, "output");
  inputs.checkNotAnInput(probabilitiesPath, "probabilities output");
  checkImageFitsModel(volume, input, model, modelPath);

  Segmentation result;
  {
    Progress progress("segment", quiet);
    result = segment(model, volume, options, progress.callback(), !probabilitiesPath.empty());
    progress.finish();
  }
  result.labels.geometry = volume.geometry;  // the input's grid, whatever the core did
  result.probabilities.geometry = volume.geometry;

  writeSegmentOutputs(result, output, probabilitiesPath, series, model, modelPath, force);
  if (!quiet) printSummary(result, output, volume.shape, model);
  return 0;
}

}  // namespace ima::cli
