// Whole-file reads and atomic writes (temporary name, fsync, rename), so a failed run never leaves a
// partial model, checkpoint, report or return-parameter file (docs/architecture.md §8). Errors are ima::Error
// naming the file.
#pragma once
#include <string>

namespace ima {
std::string readFileBytes(const std::string& path, const std::string& what);
void writeFileAtomically(const std::string& path, const std::string& bytes);
}  // namespace ima
