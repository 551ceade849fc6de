// `ima compare`: several models' robustness reports side by side: one table, one plot with a
// line per model and attack, and the AUC differences that say which model is more robust.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "ima/Error.h"
#include "ima/RobustnessReport.h"

#include "Commands.h"
#include "ima/io/ImageFiles.h"

namespace ima::cli {

ArgumentParser compareParser() {
  ArgumentParser p("compare",
                   "Compare the robustness reports of several models (written by 'ima evaluate' with the same\n"
                   "attacks, norm and budgets): prints the metric per budget and the robustness AUC of every\n"
                   "model and attack, and writes them as one report, table and plot.");
  p.option("reports", "LIST", "report files (JSON from ima evaluate), comma separated", "", true)
      .option("names", "LIST", "a short name per report, comma separated (default: report 1, report 2, ...)")
      .option("out", "REPORT", "write the combined report (JSON)")
      .option("csv", "FILE", "write the combined table (CSV)")
      .option("plot", "FILE", "write one plot with a line per model and attack (SVG)")
      .flag("force", "overwrite existing output files")
      .flag("quiet", "no table")
      .epilog("example:\n  ima compare --reports standard.json,ima.json --names standard,ima --plot compare.svg");
  return p;
}

int runCompare(const ArgumentParser& args) {
  const std::vector<std::string> paths = args.getStringList("reports");
  std::vector<std::string> names;
  if (args.given("names")) {
    names = args.getStringList("names");
    if (names.size() != paths.size())
      throw UsageError("--names gives " + std::to_string(names.size()) + " names for " + std::to_string(paths.size()) +
                       " reports");
  } else {
    for (size_t i = 0; i < paths.size(); ++i) names.push_back("report " + std::to_string(i + 1));
  }
  const std::string out = args.get("out"), csv = args.get("csv"), plot = args.get("plot");
  io::checkOutputFiles(InputFiles().add(paths), {{out, "report"}, {csv, "CSV table"}, {plot, "plot"}},
                   args.flagSet("force"));

  std::vector<RobustnessReport> reports;
  for (const std::string& path : paths) reports.push_back(readRobustnessReport(path));
  const RobustnessReport combined = combineReports(reports, names);
  writeReportFiles(combined, out, csv, plot);
  if (args.flagSet("quiet")) return 0;

  const AttackResult& first = combined.attacks.front();
  std::printf("%-24s", combined.metricName().c_str());
  for (double eps : first.epsilons()) std::printf("  eps %-4g", eps);
  std::printf(" %9s\n", "AUC");
  for (const AttackResult& a : combined.attacks) {
    std::printf("%-24s", a.name.c_str());
    for (double v : combined.curve(a)) std::printf(" %9.4f", v);
    std::printf(" %9.4f\n", combined.auc(a));
  }
  // Each model's AUC against the first model's, attack by attack.
  for (size_t i = 1; i < reports.size(); ++i)
    for (const AttackResult& a : reports[i].attacks)
      for (const AttackResult& base : reports[0].attacks)
        if (base.name == a.name)
          std::printf("%s vs %s, %s: AUC %+.4f, clean %+.4f\n", names[i].c_str(), names[0].c_str(), a.name.c_str(),
                      reports[i].auc(a) - reports[0].auc(base), reports[i].curve(a)[0] - reports[0].curve(base)[0]);
  return 0;
}

}  // namespace ima::cli
