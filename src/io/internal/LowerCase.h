// ASCII lower case, for file extensions and header keys compared without case.
#pragma once
#include <algorithm>
#include <cctype>
#include <string>

namespace ima::io {

inline std::string lowerCase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace ima::io
