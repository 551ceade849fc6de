// File helpers for the core: whole-file reads and atomic writes (temporary name + rename), so a
// failed run never leaves a partial model or checkpoint (DESIGN.md §8).
#pragma once
#include <string>

namespace ima {
std::string readFileBytes(const std::string& path, const std::string& what);
void writeFileAtomically(const std::string& path, const std::string& bytes);
}  // namespace ima
