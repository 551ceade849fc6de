#include "ReturnParameters.h"

#include <cstdio>
#include <stdexcept>

#include "ima/Files.h"

namespace ima::slicer {

std::string formatValue(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", value);
  return text;
}

void ReturnParameters::set(const std::string& name, const std::string& value) {
  const ModuleParameter* p = description_.find(name);
  if (!p || !p->isReturn()) throw std::logic_error("'" + name + "' is not a return parameter of the module description");
  for (auto& [n, v] : values_)
    if (n == name) {
      v = value;
      return;
    }
  values_.emplace_back(name, value);
}

void ReturnParameters::set(const std::string& name, double value) { set(name, formatValue(value)); }

void ReturnParameters::set(const std::string& name, const std::vector<double>& values) {
  std::string text;
  for (size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + formatValue(values[i]);
  set(name, text);
}

void ReturnParameters::set(const std::string& name, const std::vector<std::string>& values) {
  std::string text;
  for (size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + values[i];
  set(name, text);
}

std::string ReturnParameters::text() const {
  std::string s;
  for (const auto& [name, value] : values_) s += name + " = " + value + "\n";
  return s;
}

void ReturnParameters::write(const std::string& path) const { writeFileAtomically(path, text()); }

}  // namespace ima::slicer
