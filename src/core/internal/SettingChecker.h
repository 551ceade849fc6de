// Checks of plain settings shared by the builders of training options and new-model metadata:
// every failure is an InvalidTrainingSetting "<name> is <value> (expected <what>)", the name spelt
// as the calling host spells it.
#pragma once
#include <cmath>
#include <initializer_list>
#include <sstream>
#include <string>

#include "ima/TrainingSettings.h"

namespace ima::internal {

class Checker {
public:
  explicit Checker(const SettingName& name) : name_(name) {}

  std::string name(const std::string& key) const { return name_ ? name_(key) : key; }

  [[noreturn]] void fail(const std::string& key, const std::string& value, const std::string& expected) const {
    throw InvalidTrainingSetting(key, name(key) + " is " + value + " (expected " + expected + ")");
  }

  int count(const std::string& key, int64_t value, int64_t low, int64_t high) const {
    if (value < low || value > high) fail(key, std::to_string(value), std::to_string(low) + ".." + std::to_string(high));
    return static_cast<int>(value);
  }

  // `ok` is false for NaN whatever the bounds, so every check also rejects NaN.
  double number(const std::string& key, double value, bool ok, const std::string& expected) const {
    if (!ok || !std::isfinite(value)) fail(key, text(value), expected);
    return value;
  }

  const std::string& choice(const std::string& key, const std::string& value,
                            std::initializer_list<const char*> allowed) const {
    std::string list;
    for (const char* a : allowed) {
      if (value == a) return value;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    fail(key, "'" + value + "'", "one of " + list);
  }

  static std::string text(double value) {
    std::ostringstream s;
    s << value;
    return s.str();
  }

private:
  const SettingName& name_;
};

}  // namespace ima::internal
