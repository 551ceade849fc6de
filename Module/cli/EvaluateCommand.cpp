// `ima evaluate`: robustness of a segmentation model under attacks at several budgets, as JSON,
// CSV and an SVG plot (docs/architecture.md §6).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "ima/Error.h"
#include "ima/Evaluation.h"
#include "ima/Model.h"

#include "AttackedArguments.h"
#include "ima/io/CasePairs.h"
#include "Commands.h"
#include "ima/io/ImageFiles.h"
#include "Progress.h"

namespace ima::cli {

ArgumentParser evaluateParser() {
  ArgumentParser p("evaluate",
                   "Evaluate robustness: attack every patch of every case (the network's patch-level\n"
                   "forward; for a 2D model every slice's tiles), or with --attacked volume the whole image\n"
                   "through the sliding-window prediction, at each budget and score the label maps: voxel Dice per label (TP/FP/FN summed over the cases), mean per-case Dice,\n"
                   "and the robustness AUC (area under mean Dice vs budget / largest budget).");
  p.option("model", "MODEL", "model file (.imamodel)", "", true)
      .option("images", "DIR", "test images (files, or DICOM series directories: case_001/ pairs with case_001.nii.gz)",
              "", true)
      .option("labels", "DIR", "reference label maps, paired with the images by file name", "", true)
      .option("attack", "LIST",
              "attacks, comma separated: fgsm, ifgsm, pgd, noise, apgd-masked-ce, apgd-balanced-ce, "
              "apgd-js, apgd-margin, apgd-dicece, or strong (all APGD losses plus PGD with at least "
              "3 restarts; per case and budget the worst result is kept)",
              "pgd,ifgsm")
      .option("norm", "NORM", "norm of the budgets", "l2")
      .choices("norm", {"l2", "linf"})
      .option("eps", "LIST", "budgets in normalised intensity units; 0 (clean) is always included", "0,0.5,1,2")
      .option("pgd-steps", "K", "PGD iterations", "20")
      .option("ifgsm-steps", "K", "IFGSM iterations", "10")
      .option("apgd-steps", "K", "APGD iterations (apgd-* and strong)", "100")
      .option("restarts", "N", "PGD random restarts (the worst case per patch is kept)", "1")
      .option("batch", "N", "patches (or windows, with --attacked volume) per forward pass", "8")
      .option("out", "REPORT", "JSON report to write", "", true)
      .option("csv", "FILE", "also write the table as CSV")
      .option("plot", "FILE", "also write a plot of mean Dice against budget (SVG)");
  addAttackedOptions(p);
  addRuntimeOptions(p)
      .option("seed", "K", "random seed of the attacks", "0")
      .flag("masking-checks",
            "also run the gradient-masking probes: FGSM and noise at the largest budget, PGD/IFGSM "
            "with twice the iterations and at 100 times that budget (warnings in the report)")
      .flag("force", "overwrite existing report files")
      .flag("quiet", "no progress or table")
      .epilog("example:\n  ima evaluate --model model.imamodel --images test/images --labels test/labels \\\n"
              "               --attack pgd,ifgsm --norm l2 --eps 0,0.5,1,2 --out report.json \\\n"
              "               --csv report.csv --plot report.svg\n"
              "  ima evaluate --model model.imamodel --images test/images --labels test/labels \\\n"
              "               --attack strong --norm linf --eps 0,0.05,0.1 --apgd-steps 100 --out strong.json\n"
              "  ima evaluate --model model.imamodel --images test/images --labels test/labels \\\n"
              "               --attack strong --attacked volume --eps 0,1,2 --out volume.json");
  addDicomOptions(p, false);
  return p;
}

namespace {

// The table on screen; for an ensemble also which member gave each case's worst result.
void printReport(const RobustnessReport& report, const std::vector<io::CasePair>& pairs, const std::string& out,
                 const std::string& csv, const std::string& plot) {
  int width = 8;
  for (const AttackResult& a : report.attacks) width = std::max(width, static_cast<int>(a.name.size()));
  std::printf("%-*s %8s %10s %10s\n", width, "attack", "eps", "mean Dice", "case Dice");
  for (const AttackResult& a : report.attacks) {
    for (const BudgetResult& b : a.budgets)
      std::printf("%-*s %8.3f %10.4f %10.4f\n", width, a.name.c_str(), b.eps, b.meanVoxelDice(), b.meanCaseDice());
    std::printf("%-*s %8s %10.4f  (robustness AUC)\n", width, a.name.c_str(), "AUC", report.auc(a));
  }
  for (const AttackResult& a : report.attacks) {
    if (a.members.empty()) continue;
    std::printf("%s: the member with the lowest Dice per case\n", a.name.c_str());
    for (const BudgetResult& b : a.budgets) {
      if (b.eps == 0) continue;  // every member gives the clean result
      std::printf("  eps %g:", b.eps);
      for (size_t i = 0; i < b.caseWorstAttack.size(); ++i)
        std::printf("%s %s %s", i ? "," : "", i < pairs.size() ? pairs[i].id.c_str() : std::to_string(i + 1).c_str(),
                    b.caseWorstAttack[i].c_str());
      std::printf("\n");
    }
  }
  std::printf("wrote %s%s%s\n", out.c_str(), csv.empty() ? "" : (", " + csv).c_str(), plot.empty() ? "" : (", " + plot).c_str());
}

}  // namespace

int runEvaluate(const ArgumentParser& args) {
  EvaluationOptions o;
  o.attacks = args.getStringList("attack");
  for (const std::string& a : o.attacks) {
    try {
      checkEvaluationAttack(a);
    } catch (const Error& e) {
      throw UsageError(std::string("--attack: ") + e.what());
    }
  }
  o.norm = parseNorm(args.get("norm"), "--norm");
  o.budgets.clear();
  for (const std::string& e : args.getStringList("eps")) {
    try {
      size_t used = 0;
      const double v = std::stod(e, &used);
      if (used != e.size() || !(v >= 0)) throw std::invalid_argument(e);
      o.budgets.push_back(v);
    } catch (const std::exception&) {
      throw UsageError("--eps: '" + e + "' is not a budget >= 0");
    }
  }
  o.pgdSteps = args.getIntInRange("pgd-steps", 1, 10000);
  o.ifgsmSteps = args.getIntInRange("ifgsm-steps", 1, 10000);
  o.apgdSteps = args.getIntInRange("apgd-steps", 1, 10000);
  o.restarts = args.getIntInRange("restarts", 1, 1000);
  o.batchSize = args.getIntInRange("batch", 1, 4096);
  o.runtime.threads = args.getIntInRange("threads", 0, 1024);
  o.runtime.precision = args.get("precision");
  o.runtime.device = checkedDevice(args);
  o.seed = static_cast<uint64_t>(args.getInt("seed"));
  o.maskingChecks = args.flagSet("masking-checks");
  readAttackedOptions(args, o);
  const bool force = args.flagSet("force"), quiet = args.flagSet("quiet");
  const std::string out = args.get("out"), csv = args.get("csv"), plot = args.get("plot");
  const std::vector<io::CasePair> pairs = io::pairCases(args.get("images"), args.get("labels"));
  InputFiles inputs;
  inputs.add(args.get("model"));
  for (const io::CasePair& p : pairs) inputs.add({p.image, p.label});
  io::checkOutputFiles(inputs, {{out, "report"}, {csv, "CSV table"}, {plot, "plot"}}, force);

  const Model model = Model::load(args.get("model"));
  const std::vector<LabelledCase> cases = loadCases(pairs, "load", quiet, dicomInput(args, false));
  RobustnessReport report;
  {
    Progress progress("evaluate", quiet);
    report = evaluateRobustness(model, cases, o, progress.callback());
    progress.finish();
  }
  report.model = args.get("model");
  report.data = args.get("images");
  writeReportFiles(report, out, csv, plot);

  if (!quiet) printReport(report, pairs, out, csv, plot);
  // Shown even with --quiet: they say the figures above may overstate robustness.
  for (const MaskingWarning& w : report.maskingWarnings)
    std::fprintf(stderr, "warning: possible gradient masking (%s): %s\n", w.check.c_str(), w.message.c_str());
  return 0;
}

}  // namespace ima::cli
