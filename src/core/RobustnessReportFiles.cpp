// Reading a robustness report from its JSON file, and writing its forms atomically.
#include "ima/RobustnessReport.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "ima/Error.h"
#include "ima/Files.h"

namespace ima {

RobustnessReport readRobustnessReport(const std::string& path) {
  const std::string text = readFileBytes(path, "robustness report");
  try {
    return robustnessReportFromJson(text);
  } catch (const Error& e) {
    throw Error("robustness report '" + path + "': " + e.what());
  }
}

void writeReportFiles(const RobustnessReport& report, const std::string& jsonPath, const std::string& csvPath,
                      const std::string& svgPath) {
  const std::vector<std::string> paths{jsonPath, csvPath, svgPath};
  for (size_t i = 0; i < paths.size(); ++i)
    for (size_t k = i + 1; k < paths.size(); ++k)
      if (!paths[i].empty() && paths[i] == paths[k])
        throw Error("robustness report: the same path '" + paths[i] + "' was given for two outputs");
  // Produce every text before writing, so an invalid report writes nothing.
  const std::string json = jsonPath.empty() ? std::string() : toJson(report);
  const std::string csv = csvPath.empty() ? std::string() : toCsv(report);
  const std::string svg = svgPath.empty() ? std::string() : toSvgPlot(report);
  // A failed write (a full disk) takes back the files this call created, so the set is written
  // whole or not at all (files it replaced are not restored: they were asked to be replaced).
  std::vector<std::string> created;
  try {
    for (const auto& [path, text] : {std::pair{jsonPath, json}, std::pair{csvPath, csv}, std::pair{svgPath, svg}}) {
      if (path.empty()) continue;
      std::error_code ec;
      const bool existed = std::filesystem::exists(path, ec);
      writeFileAtomically(path, text);
      if (!existed) created.push_back(path);
    }
  } catch (...) {
    for (const std::string& path : created) std::remove(path.c_str());
    throw;
  }
}

}  // namespace ima
