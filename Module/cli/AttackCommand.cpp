// `ima attack`: the adversarial version of one image, for looking at what an attack does.
#include <algorithm>
#include <iostream>

#include "ima/Error.h"
#include "ima/Evaluation.h"
#include "ima/InputFiles.h"
#include "ima/Model.h"

#include "AttackedArguments.h"
#include "ima/io/CasePairs.h"
#include "Commands.h"
#include "ima/io/ImageFiles.h"
#include "Progress.h"

namespace ima::cli {

ArgumentParser attackParser() {
  ArgumentParser p("attack",
                   "Write the adversarial version of an image: every patch of the model's patch grid (for a\n"
                   "2D model, every slice's tiles) is attacked through the network with the reference labels,\n"
                   "or with --attacked volume the whole image through the sliding-window prediction, and the\n"
                   "perturbation is added to the image in its own intensity units. The budget is per patch,\n"
                   "in normalised intensity units.");
  p.option("model", "MODEL", "model file (.imamodel)", "", true)
      .option("input", "FILE|DIR", "image to attack, or a DICOM series (directory or .dcm file)", "", true)
      .option("label", "FILE", "its reference label map (same grid)", "", true)
      .option("output", "FILE", "adversarial image to write (float32, the input's geometry)", "", true)
      .option("attack", "NAME", "attack", "pgd")
      .choices("attack", {"fgsm", "ifgsm", "pgd", "noise"})
      .option("eps", "E", "budget per patch, normalised intensity units", "1")
      .option("norm", "NORM", "norm of the budget", "l2")
      .choices("norm", {"l2", "linf"})
      .option("steps", "K", "iterations of ifgsm and pgd", "20")
      .option("restarts", "N", "PGD random restarts", "1")
      .option("batch", "N", "patches (or windows, with --attacked volume) per forward pass", "8");
  addAttackedOptions(p);
  addRuntimeOptions(p)
      .option("seed", "K", "random seed of the attack", "0")
      .flag("force", "overwrite an existing output")
      .flag("quiet", "no progress or summary")
      .epilog("example:\n  ima attack --model model.imamodel --input case.nii.gz --label case_labels.nii.gz \\\n"
              "             --attack pgd --eps 2 --output case_adv.nii.gz");
  addDicomOptions(p, true);
  return p;
}

int runAttack(const ArgumentParser& args) {
  EvaluationOptions o;
  o.norm = parseNorm(args.get("norm"), "--norm");
  const double eps = args.getDouble("eps");
  if (!(eps >= 0)) throw UsageError("--eps must be >= 0");
  const int64_t steps = args.getInt("steps"), restarts = args.getInt("restarts"), batch = args.getInt("batch"),
                threads = args.getInt("threads");
  if (steps < 1 || restarts < 1 || batch < 1 || threads < 0)
    throw UsageError("--steps, --restarts and --batch must be >= 1, --threads >= 0");
  o.pgdSteps = o.ifgsmSteps = static_cast<int>(steps);
  o.restarts = static_cast<int>(restarts);
  o.batchSize = static_cast<int>(batch);
  o.runtime.threads = static_cast<int>(threads);
  o.runtime.precision = args.get("precision");
  o.runtime.device = checkedDevice(args);
  o.seed = static_cast<uint64_t>(args.getInt("seed"));
  readAttackedOptions(args, o);
  const std::string output = args.get("output");
  InputFiles().add({args.get("model"), args.get("input"), args.get("label")}).checkNotAnInput(output, "output");
  io::checkOutputPath(output, args.flagSet("force"), "output");

  const Model model = Model::load(args.get("model"));
  const LabelledCase c = io::loadCase({"input", args.get("input"), args.get("label")}, dicomInput(args, true));
  // Checked here so that the message names the files (the core's check knows no file names).
  const int classes = model.metadata().network.classes;
  const auto top = std::max_element(c.labels.data.begin(), c.labels.data.end());
  if (top != c.labels.data.end() && *top >= classes)
    throw Error("label image '" + args.get("label") + "' holds label " + std::to_string(*top) + " but model '" +
                args.get("model") + "' has labels 0.." + std::to_string(classes - 1) + " only");
  const bool quiet = args.flagSet("quiet");
  Volume adversarial;
  {
    Progress progress("attack", quiet);
    adversarial = adversarialVolume(model, c, args.get("attack"), eps, o, progress.callback());
    progress.finish();
  }
  stopIfInterrupted();
  io::writeVolume(adversarial, output, args.flagSet("force"));
  if (!quiet)
    std::cout << "wrote " << output << " (" << args.get("attack") << ", " << normName(o.norm) << " eps " << eps
              << " per patch, " << attackedName(o.attacked) << " attacked)\n";
  return 0;
}

}  // namespace ima::cli
