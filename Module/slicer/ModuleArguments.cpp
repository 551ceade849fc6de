#include "ModuleArguments.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "ima/Error.h"

#include "ArgumentParser.h"  // UsageError, parseInt, parseDouble, splitList

namespace ima::slicer {

using cli::UsageError;

namespace {

std::string formatNumber(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string display(const ModuleParameter& p) {
  if (!p.longflag.empty()) return p.longflag;
  if (!p.flag.empty()) return p.flag;
  return p.name;  // positional
}

}  // namespace

ModuleArguments::ModuleArguments(const ModuleDescription& description, const std::vector<std::string>& args)
    : description_(description) {
  std::vector<const ModuleParameter*> positional;
  for (const ModuleParameter* p : description.parameters())
    if (p->index >= 0) positional.push_back(p);
  std::sort(positional.begin(), positional.end(), [](auto* a, auto* b) { return a->index < b->index; });

  auto flagged = [&](const std::string& flag) -> const ModuleParameter* {
    for (const ModuleParameter* p : description.parameters())
      if ((!p->flag.empty() && p->flag == flag) || (!p->longflag.empty() && p->longflag == flag)) return p;
    return nullptr;
  };

  size_t nextPositional = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--xml") { xml_ = true; continue; }
    if (arg == "--help" || arg == "-h") { help_ = true; continue; }
    if (arg == "--version") { version_ = true; continue; }
    if (arg.size() > 1 && arg[0] == '-' && !cli::parseDouble(arg)) {  // "-1.5" is a positional value
      std::string flag = arg, value;
      bool inlineValue = false;
      if (const auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
        flag = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        inlineValue = true;
      }
      auto takeValue = [&]() {
        if (inlineValue) return value;
        if (i + 1 >= args.size()) throw UsageError("option " + flag + " needs a value");
        return args[++i];
      };
      if (flag == "--returnparameterfile") {
        returnParameterFile_ = takeValue();
        if (returnParameterFile_.empty()) throw UsageError("--returnparameterfile needs a file name");
        continue;
      }
      const ModuleParameter* p = flagged(flag);
      if (!p) throw UsageError("unknown option '" + flag + "'");
      if (values_.count(p->name)) throw UsageError("option " + flag + " is given twice");
      if (p->isBoolean()) {
        if (inlineValue && value != "true" && value != "false")
          throw UsageError("option " + flag + " is a flag; '" + value + "' is not true or false");
        values_[p->name] = inlineValue ? value : "true";
        continue;
      }
      const std::string v = takeValue();
      check(*p, v);
      values_[p->name] = v;
      continue;
    }
    if (nextPositional >= positional.size())
      throw UsageError("unexpected argument '" + arg + "' (" + std::to_string(positional.size()) +
                       " positional argument(s) expected)");
    const ModuleParameter* p = positional[nextPositional++];
    check(*p, arg);
    values_[p->name] = arg;
  }
  if (xml_ || help_ || version_) return;
  if (nextPositional < positional.size()) {
    std::string missing;
    for (size_t k = nextPositional; k < positional.size(); ++k)
      missing += (missing.empty() ? "" : ", ") + positional[k]->name;
    throw UsageError("missing positional argument(s): " + missing);
  }
}

void ModuleArguments::check(const ModuleParameter& p, const std::string& value) const {
  const std::string where = display(p);
  if (p.isEnumeration()) {
    if (std::find(p.elements.begin(), p.elements.end(), value) == p.elements.end()) {
      std::string allowed;
      for (const auto& e : p.elements) allowed += (allowed.empty() ? "" : ", ") + e;
      throw UsageError("invalid value '" + value + "' for " + where + " (expected one of: " + allowed + ")");
    }
    return;
  }
  auto checkNumber = [&](const std::string& text, bool integer) {
    std::optional<double> v;
    if (!integer)
      v = cli::parseDouble(text);
    else if (const auto i = cli::parseInt(text))
      v = static_cast<double>(*i);
    if (!v) throw UsageError(where + ": '" + text + "' is not " + (integer ? "an integer" : "a number"));
    if ((p.minimum && *v < *p.minimum) || (p.maximum && *v > *p.maximum))
      throw UsageError(where + ": " + text + " is outside [" + (p.minimum ? formatNumber(*p.minimum) : "-inf") + ", " +
                       (p.maximum ? formatNumber(*p.maximum) : "inf") + "]");
  };
  if (p.tag == "integer" || p.tag == "float" || p.tag == "double") {
    checkNumber(value, p.tag == "integer");
  } else if (p.isVector() && p.tag != "string-vector") {
    for (const std::string& part : cli::splitList(value)) checkNumber(part, p.tag == "integer-vector");
  } else if ((p.tag == "image" || p.tag == "file" || p.tag == "directory") && value.empty()) {
    throw UsageError(where + ": empty file name");
  }
}

const ModuleParameter& ModuleArguments::declared(const std::string& name) const {
  const ModuleParameter* p = description_.find(name);
  if (!p) throw std::logic_error("parameter '" + name + "' is not in the module description");
  return *p;
}

bool ModuleArguments::given(const std::string& name) const {
  declared(name);
  return values_.count(name) > 0;
}

std::string ModuleArguments::string(const std::string& name) const {
  const ModuleParameter& p = declared(name);
  const auto found = values_.find(name);
  return found != values_.end() ? found->second : p.defaultValue;
}

int64_t ModuleArguments::integer(const std::string& name) const {
  const std::string text = string(name);
  const auto v = cli::parseInt(text);
  if (!v) throw UsageError(display(declared(name)) + ": '" + text + "' is not an integer");
  return *v;
}

double ModuleArguments::number(const std::string& name) const {
  const std::string text = string(name);
  const auto v = cli::parseDouble(text);
  if (!v) throw UsageError(display(declared(name)) + ": '" + text + "' is not a number");
  return *v;
}

bool ModuleArguments::boolean(const std::string& name) const { return string(name) == "true"; }

std::vector<double> ModuleArguments::numbers(const std::string& name) const {
  std::vector<double> values;
  const std::string text = string(name);
  if (text.empty()) return values;
  for (const std::string& part : cli::splitList(text)) {
    const auto v = cli::parseDouble(part);
    if (!v) throw UsageError(display(declared(name)) + ": '" + part + "' is not a number");
    values.push_back(*v);
  }
  return values;
}

std::string ModuleArguments::path(const std::string& name, bool required) const {
  namespace fs = std::filesystem;
  const ModuleParameter& p = declared(name);
  const std::string value = string(name);
  if (value.empty()) {
    if (required) throw UsageError(display(p) + " is required (" + p.label + ")");
    return value;
  }
  if (p.channel == "output") {
    std::error_code ec;
    const fs::path parent = fs::path(value).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec))
      throw Error(p.label + " '" + value + "': directory '" + parent.string() + "' does not exist");
    if (fs::is_directory(value, ec)) throw Error(p.label + " '" + value + "' is a directory");
  }
  return value;
}

}  // namespace ima::slicer
