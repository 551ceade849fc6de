#include "ima/Norm.h"

#include "ima/Error.h"

namespace ima {

Norm parseNorm(const std::string& name, const std::string& what) {
  if (name == "l2") return Norm::L2;
  if (name == "linf") return Norm::Linf;
  throw Error(what + ": unknown norm '" + name + "' (expected l2 or linf)");
}

const char* normName(Norm norm) { return norm == Norm::Linf ? "linf" : "l2"; }

}  // namespace ima
