// The norm an adversarial budget is measured in. Text becomes a Norm once, where it enters (a
// host's argument, a C string, a report file: parseNorm), and text again only where it leaves
// (reports, logs, model settings: normName); nothing in between compares strings.
#pragma once
#include <string>

namespace ima {

enum class Norm { L2, Linf };

// "l2" | "linf"; anything else is an ima::Error naming the value and `what` (e.g. "--norm").
Norm parseNorm(const std::string& name, const std::string& what = "norm");
const char* normName(Norm norm);  // "l2" | "linf"

}  // namespace ima
