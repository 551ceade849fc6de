// The memory this machine can give right now, for refusing a giant allocation before any work
// starts with both figures in the message (docs/bad-input.md, "Limits"). Torch-free: the DICOM
// reader uses it too.
#pragma once
#include <string>

namespace ima {

// MemAvailable of /proc/meminfo in bytes; 0 when unknown (not Linux), and then nothing is checked.
double availableMemoryBytes();

// "123 MiB", rounded up.
std::string mebibytes(double bytes);

// Throws ima::Error "<what> needs about N MiB of memory but only M MiB are available" when
// needBytes exceeds what is available.
void requireAvailableMemory(double needBytes, const std::string& what);

}  // namespace ima
