// A small parser for long options (--name VALUE, --name=VALUE, --flag) and positionals, enough for
// the `ima` subcommands. Usage errors throw UsageError, which main() turns into exit code 2.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ima::cli {

class UsageError : public std::runtime_error {
public:
  explicit UsageError(const std::string& message) : std::runtime_error(message) {}
};

class ArgumentParser {
public:
  ArgumentParser(std::string command, std::string summary);

  // An option taking a value; `defaultValue` empty means "no default" (shown in --help when set).
  ArgumentParser& option(const std::string& name, const std::string& valueName,
                         const std::string& help, const std::string& defaultValue = "",
                         bool required = false);
  ArgumentParser& flag(const std::string& name, const std::string& help);
  ArgumentParser& positional(const std::string& name, const std::string& help);
  // Restricts an option to a fixed set of values.
  ArgumentParser& choices(const std::string& name, std::vector<std::string> allowed);
  // Free text appended to --help (examples).
  ArgumentParser& epilog(const std::string& text);

  // Throws UsageError for unknown options, missing values or required options, bad choices.
  // Returns false when --help/-h was given (nothing else is checked then).
  bool parse(const std::vector<std::string>& args);

  std::string help() const;
  const std::string& command() const { return command_; }

  // True when the user gave the option/flag/positional (defaults do not count).
  bool given(const std::string& name) const;
  bool flagSet(const std::string& name) const { return given(name); }
  // The given value, else the default, else "".
  std::string get(const std::string& name) const;
  // Typed accessors: throw UsageError naming the option when the text does not parse.
  int64_t getInt(const std::string& name) const;
  // An integer in [lo, hi]; outside it a usage error "--NAME must be between LO and HI (got V)".
  int getIntInRange(const std::string& name, int64_t lo, int64_t hi) const;
  double getDouble(const std::string& name) const;
  std::vector<int64_t> getIntList(const std::string& name) const;       // "64,64,32"
  std::vector<double> getDoubleList(const std::string& name) const;     // "-1000,400"
  std::vector<std::string> getStringList(const std::string& name) const;  // "organ,lesion"

private:
  struct Spec {
    std::string name, valueName, help, defaultValue;
    bool takesValue = true, required = false, isPositional = false;
    std::vector<std::string> choices;
  };
  const Spec& spec(const std::string& name) const;
  Spec* findOption(const std::string& name);

  std::string command_, summary_, epilog_;
  std::vector<Spec> specs_;  // declaration order, for --help
  std::map<std::string, std::string> values_;
};

// Strict number parsing shared with the commands ("12abc" is an error, not 12).
std::optional<int64_t> parseInt(const std::string& text);
std::optional<double> parseDouble(const std::string& text);
std::vector<std::string> splitList(const std::string& text, char separator = ',');

}  // namespace ima::cli
