// A tensor shape as text for error messages, e.g. "[2, 3, 64, 64]".
#pragma once
#include <sstream>
#include <string>

#include <torch/torch.h>

namespace ima {

inline std::string shapeText(torch::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

}  // namespace ima
