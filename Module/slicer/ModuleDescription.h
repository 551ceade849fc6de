// A Slicer execution-model description (the XML a CLI module prints with --xml), parsed into the
// parameters it declares. The modules read their own embedded XML with this, so the arguments they
// accept are exactly the ones Slicer sees: the description is the single source of truth.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace ima::slicer {

struct ModuleParameter {
  std::string tag;            // element name: integer, double, boolean, string, string-enumeration,
                              // image, file, double-vector, string-vector, ...
  std::string name;           // identifier (also the key in the return-parameter file)
  std::string label, description;
  std::string flag;           // "-m" (without the dash in the XML is accepted too), or ""
  std::string longflag;       // "--model", or ""
  int index = -1;             // positional index, or -1
  std::string defaultValue;   // "" when none
  std::string channel;        // "input" | "output" | "" (scalars)
  std::string type;           // image: scalar | label | ...
  std::vector<std::string> elements;     // enumerations
  std::optional<double> minimum, maximum;  // <constraints>

  bool isFlagged() const { return !flag.empty() || !longflag.empty(); }
  // A value the module computes and writes to --returnparameterfile: channel output, no flag, no index.
  bool isReturn() const { return channel == "output" && !isFlagged() && index < 0; }
  bool isBoolean() const { return tag == "boolean"; }
  bool isEnumeration() const;
  bool isVector() const;  // integer-vector, double-vector, ...: comma-separated values
};

struct ParameterGroup {
  std::string label, description;
  bool advanced = false;
  std::vector<ModuleParameter> parameters;
};

struct ModuleDescription {
  std::string category, title, description, version, documentationUrl, license, contributor,
      acknowledgements;
  std::vector<ParameterGroup> groups;

  // Throws ima::Error naming the element when the XML is malformed or breaks the execution
  // model's rules that the parser relies on (missing name, unknown parameter kind, duplicate
  // names or flags, index without channel, indices not 0..n-1, default outside an enumeration).
  static ModuleDescription parse(const std::string& xml);

  std::vector<const ModuleParameter*> parameters() const;  // all groups, in order
  const ModuleParameter* find(const std::string& name) const;  // nullptr when not declared
  // A short usage text (--help): positionals, then each group's flags with their defaults.
  std::string usage(const std::string& program) const;
};

}  // namespace ima::slicer
