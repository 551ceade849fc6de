// The values a module computes for Slicer (its return parameters: channel output, no flag),
// written to the file named by --returnparameterfile as "name = value" lines, which Slicer reads
// back into the module's GUI after the run. Only parameters the description declares as return
// parameters can be set, so the code and the XML cannot drift apart.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "ModuleDescription.h"

namespace ima::slicer {

class ReturnParameters {
public:
  explicit ReturnParameters(const ModuleDescription& description) : description_(description) {}

  // Throws std::logic_error when `name` is not a declared return parameter.
  void set(const std::string& name, const std::string& value);
  void set(const std::string& name, double value);
  void set(const std::string& name, const std::vector<double>& values);       // "1.5,2,0.25"
  void set(const std::string& name, const std::vector<std::string>& values);  // "a,b,c"

  std::string text() const;  // the "name = value" lines, in the order set
  // Writes text() through a temporary file renamed into place; ima::Error names the file.
  void write(const std::string& path) const;

private:
  const ModuleDescription& description_;
  std::vector<std::pair<std::string, std::string>> values_;
};

// A double as text with 10 significant digits (%.10g).
std::string formatValue(double value);

}  // namespace ima::slicer
