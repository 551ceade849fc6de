#include "ArgumentParser.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace ima::cli {

std::optional<int64_t> parseInt(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> parseDouble(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::vector<std::string> splitList(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string current;
  for (char c : text) {
    if (c == separator) {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  return parts;
}

ArgumentParser::ArgumentParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

ArgumentParser& ArgumentParser::option(const std::string& name, const std::string& valueName,
                                       const std::string& help, const std::string& defaultValue,
                                       bool required) {
  Spec s;
  s.name = name;
  s.valueName = valueName;
  s.help = help;
  s.defaultValue = defaultValue;
  s.required = required;
  specs_.push_back(s);
  return *this;
}

ArgumentParser& ArgumentParser::flag(const std::string& name, const std::string& help) {
  Spec s;
  s.name = name;
  s.help = help;
  s.takesValue = false;
  specs_.push_back(s);
  return *this;
}

ArgumentParser& ArgumentParser::positional(const std::string& name, const std::string& help) {
  Spec s;
  s.name = name;
  s.valueName = name;
  s.help = help;
  s.required = true;
  s.isPositional = true;
  specs_.push_back(s);
  return *this;
}

ArgumentParser& ArgumentParser::choices(const std::string& name, std::vector<std::string> allowed) {
  for (auto& s : specs_)
    if (s.name == name) s.choices = std::move(allowed);
  return *this;
}

ArgumentParser& ArgumentParser::epilog(const std::string& text) {
  epilog_ = text;
  return *this;
}

ArgumentParser::Spec* ArgumentParser::findOption(const std::string& name) {
  for (auto& s : specs_)
    if (!s.isPositional && s.name == name) return &s;
  return nullptr;
}

const ArgumentParser::Spec& ArgumentParser::spec(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return s;
  // A programming error in a command, not a user error.
  throw std::logic_error("ima: undeclared option " + name);
}

bool ArgumentParser::parse(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") return false;

  std::vector<std::string> positionals;
  bool onlyPositionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (onlyPositionals || arg.size() < 2 || arg[0] != '-') {
      positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      onlyPositionals = true;
      continue;
    }
    if (arg.compare(0, 2, "--") != 0)
      throw UsageError("unknown option '" + arg + "' (options are long, e.g. --help)");
    std::string name = arg.substr(2);
    std::optional<std::string> inlineValue;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      inlineValue = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    Spec* s = findOption(name);
    if (!s) throw UsageError("unknown option '--" + name + "'");
    if (!s->takesValue) {
      if (inlineValue) throw UsageError("option --" + name + " takes no value");
      values_[name] = "1";
      continue;
    }
    std::string value;
    if (inlineValue) {
      value = *inlineValue;
    } else {
      if (i + 1 >= args.size()) throw UsageError("option --" + name + " needs a value (" + s->valueName + ")");
      value = args[++i];  // taken verbatim, so negative numbers work: --ct-window -1000,400
    }
    if (!s->choices.empty() &&
        std::find(s->choices.begin(), s->choices.end(), value) == s->choices.end()) {
      std::string list;
      for (const auto& c : s->choices) list += (list.empty() ? "" : ", ") + c;
      throw UsageError("invalid value '" + value + "' for --" + name + " (choose from " + list + ")");
    }
    values_[name] = value;
  }

  size_t next = 0;
  for (const auto& s : specs_) {
    if (!s.isPositional) continue;
    if (next < positionals.size()) values_[s.name] = positionals[next++];
  }
  if (next < positionals.size())
    throw UsageError("unexpected argument '" + positionals[next] + "'");

  for (const auto& s : specs_) {
    if (s.required && !values_.count(s.name))
      throw UsageError(s.isPositional ? "missing argument " + s.name
                                      : "missing required option --" + s.name);
  }
  return true;
}

bool ArgumentParser::given(const std::string& name) const {
  spec(name);
  return values_.count(name) > 0;
}

std::string ArgumentParser::get(const std::string& name) const {
  const Spec& s = spec(name);
  const auto it = values_.find(name);
  return it != values_.end() ? it->second : s.defaultValue;
}

int64_t ArgumentParser::getInt(const std::string& name) const {
  const std::string text = get(name);
  const auto v = parseInt(text);
  if (!v) throw UsageError("invalid value '" + text + "' for --" + name + ": expected an integer");
  return *v;
}

int ArgumentParser::getIntInRange(const std::string& name, int64_t lo, int64_t hi) const {
  const int64_t v = getInt(name);
  if (v < lo || v > hi)
    throw UsageError("--" + name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " (got " +
                     std::to_string(v) + ")");
  return static_cast<int>(v);
}

double ArgumentParser::getDouble(const std::string& name) const {
  const std::string text = get(name);
  const auto v = parseDouble(text);
  if (!v) throw UsageError("invalid value '" + text + "' for --" + name + ": expected a number");
  return *v;
}

std::vector<int64_t> ArgumentParser::getIntList(const std::string& name) const {
  const std::string text = get(name);
  std::vector<int64_t> out;
  for (const auto& part : splitList(text)) {
    const auto v = parseInt(part);
    if (!v)
      throw UsageError("invalid value '" + text + "' for --" + name +
                       ": expected integers separated by commas");
    out.push_back(*v);
  }
  return out;
}

std::vector<double> ArgumentParser::getDoubleList(const std::string& name) const {
  const std::string text = get(name);
  std::vector<double> out;
  for (const auto& part : splitList(text)) {
    const auto v = parseDouble(part);
    if (!v)
      throw UsageError("invalid value '" + text + "' for --" + name +
                       ": expected numbers separated by commas");
    out.push_back(*v);
  }
  return out;
}

std::vector<std::string> ArgumentParser::getStringList(const std::string& name) const {
  const std::string text = get(name);
  std::vector<std::string> out = splitList(text);
  for (const auto& part : out)
    if (part.empty())
      throw UsageError("invalid value '" + text + "' for --" + name + ": empty list item");
  return out;
}

std::string ArgumentParser::help() const {
  std::ostringstream out;
  out << "usage: ima " << command_;
  for (const auto& s : specs_)
    if (s.required) out << (s.isPositional ? " " + s.name : " --" + s.name + " " + s.valueName);
  out << " [options]\n\n" << summary_ << "\n\n";

  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& s : specs_) {
    std::string left = s.isPositional ? s.name : "--" + s.name + (s.takesValue ? " " + s.valueName : "");
    std::string right = s.help;
    if (!s.choices.empty()) {
      std::string list;
      for (const auto& c : s.choices) list += (list.empty() ? "" : "|") + c;
      right += " [" + list + "]";
    }
    if (s.required && !s.isPositional) right += " (required)";
    if (!s.defaultValue.empty()) right += " (default: " + s.defaultValue + ")";
    rows.emplace_back(left, right);
  }
  rows.emplace_back("-h, --help", "show this help and exit");
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  width = std::min<size_t>(width, 28);
  out << "arguments:\n";
  for (const auto& r : rows) {
    out << "  " << r.first;
    if (r.first.size() > width)
      out << "\n  " << std::string(width, ' ');
    else
      out << std::string(width - r.first.size(), ' ');
    out << "  " << r.second << "\n";
  }
  if (!epilog_.empty()) out << "\n" << epilog_ << (epilog_.back() == '\n' ? "" : "\n");
  return out.str();
}

}  // namespace ima::cli
