// IMAEvaluate: the Slicer CLI module that measures a model's robustness on one image with its
// reference label map (IMAEvaluate.xml), like `ima evaluate`, and returns the robustness AUC.
#include "ima/Error.h"
#include "ima/Evaluation.h"
#include "ima/Model.h"

#include "ArgumentParser.h"  // UsageError
#include "ima/io/CasePairs.h"
#include "ima/io/ImageFiles.h"
#include "ModelInput.h"
#include "ModuleMain.h"

#include "IMAEvaluateXml.h"  // kModuleXml, generated from IMAEvaluate.xml

namespace {

using namespace ima;
using namespace ima::slicer;

void evaluateModel(const ModuleArguments& args, FilterProgress& progress, ReturnParameters& returns) {
  const std::string modelPath = args.path("model", true), image = args.path("inputVolume", true),
                    label = args.path("referenceLabel", true), report = args.path("report", true),
                    plot = args.path("plot", false);
  EvaluationOptions o;
  o.attacks = {args.string("attack")};
  o.norm = parseNorm(args.string("norm"), "--norm");
  o.attacked = ima::parseAttacked(args.string("attacked"));
  o.budgets = args.numbers("budgets");
  for (double b : o.budgets)
    if (b < 0) throw cli::UsageError("--budgets: " + formatValue(b) + " is negative");
  o.pgdSteps = o.ifgsmSteps = static_cast<int>(args.integer("steps"));
  o.apgdSteps = static_cast<int>(args.integer("apgdSteps"));
  o.restarts = static_cast<int>(args.integer("restarts"));
  o.batchSize = static_cast<int>(args.integer("batchSize"));
  o.seed = static_cast<uint64_t>(args.integer("seed"));
  o.runtime.device = args.string("device");
  o.runtime.threads = static_cast<int>(args.integer("threads"));
  io::checkOutputFiles(InputFiles().add({modelPath, image, label}), {{report, "report"}, {plot, "plot"}}, true);
  applyRuntime(o.runtime);

  progress.stage(0.05);
  const Model model = loadModelInput(args);
  const std::vector<LabelledCase> cases{io::loadCase({io::caseIdOf(image), image, label})};
  progress.report(1);

  progress.stage(0.98);
  RobustnessReport result = evaluateRobustness(model, cases, o, progress.callback());
  result.model = modelPath;
  result.data = image;

  progress.stage(1.0);
  const AttackResult& attack = result.attacks.at(0);  // the ensemble comes before its members
  const std::vector<double> curve = result.curve(attack);
  returns.set("auc", result.auc(attack));
  returns.set("cleanDice", curve.front());
  returns.set("worstDice", curve.back());
  returns.set("diceByBudget", curve);
  writeReportFiles(result, report, "", plot);
}

}  // namespace

int main(int argc, char** argv) { return runModule("IMAEvaluate", kModuleXml, argc, argv, evaluateModel); }
