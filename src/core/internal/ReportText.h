// Helpers shared by the robustness report's model and its formats (JSON, CSV, SVG): numbers that
// do not depend on the process locale, and the report's task.
#pragma once
#include <iomanip>
#include <locale>
#include <sstream>
#include <string>

#include "ima/RobustnessReport.h"

namespace ima {

// Numbers in reports must not depend on the process locale (hosts such as Slicer set one).
inline std::string general(double value, int significant = 6) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << std::setprecision(significant) << value;
  return out.str();
}

inline std::string fixed(double value, int decimals) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << std::fixed << std::setprecision(decimals) << value;
  return out.str();
}

inline bool segmentation(const RobustnessReport& report) { return report.task == "segmentation"; }

}  // namespace ima
