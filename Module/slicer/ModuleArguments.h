// Command-line arguments checked against a module description, the way Slicer passes them:
// `--longflag value` (or `--longflag=value`, `-f value`), booleans as bare flags, and the indexed
// parameters as positional arguments in index order. Besides the declared parameters only the
// execution model's own options are accepted: --xml, --returnparameterfile FILE, --help, --version.
// Mistakes throw cli::UsageError naming the argument (exit code 2).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ModuleDescription.h"

namespace ima::slicer {

class ModuleArguments {
public:
  // Checks every value against its parameter: numbers parse and lie within <constraints>,
  // enumerations are one of their elements, vectors are comma-separated numbers; every indexed
  // parameter is present (in Slicer they are the required inputs and outputs).
  ModuleArguments(const ModuleDescription& description, const std::vector<std::string>& args);

  bool xmlRequested() const { return xml_; }
  bool helpRequested() const { return help_; }
  bool versionRequested() const { return version_; }
  const std::string& returnParameterFile() const { return returnParameterFile_; }

  // The parameter must be declared (a typo in the module's code is a logic error, not a usage
  // error). Values: the given one, else the description's default, else "".
  bool given(const std::string& name) const;
  std::string string(const std::string& name) const;
  int64_t integer(const std::string& name) const;
  double number(const std::string& name) const;
  bool boolean(const std::string& name) const;
  std::vector<double> numbers(const std::string& name) const;  // *-vector of numbers
  // A file or image parameter's path ("" when optional and not given). Required but not given:
  // UsageError. An output (channel output) whose directory does not exist or that names a
  // directory: ima::Error, so the mistake costs no computation.
  std::string path(const std::string& name, bool required) const;

private:
  const ModuleParameter& declared(const std::string& name) const;
  void check(const ModuleParameter& p, const std::string& value) const;

  const ModuleDescription& description_;
  std::map<std::string, std::string> values_;
  bool xml_ = false, help_ = false, version_ = false;
  std::string returnParameterFile_;
};

}  // namespace ima::slicer
