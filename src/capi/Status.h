// How the C API reports failures: every entry point runs its body through callGuarded, which turns
// every exception into an ima_status and the thread-local message of ima_last_error(), so that no
// exception (ima::Error, c10::Error, std::bad_alloc, anything) crosses the C boundary.
#pragma once
#include <stdexcept>
#include <string>

#include "ima.h"

namespace ima::capi {

// A caller's argument is unusable (null pointer, out-of-range option, impossible dimensions).
class InvalidArgument : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// A caller's buffer is shorter than the data it must hold or supply.
class BufferTooSmall : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Runs body(); on failure records "<function>: <message>" and returns the matching status. Clears
// the message on success.
template <typename Body>
ima_status callGuarded(const char* function, Body&& body);

// Records the message of a failure (never throws).
void setLastError(const char* function, const char* message);
ima_status statusOfCurrentException(const char* function);

template <typename Body>
ima_status callGuarded(const char* function, Body&& body) {
  try {
    setLastError(nullptr, nullptr);
    body();
    return IMA_OK;
  } catch (...) {
    return statusOfCurrentException(function);
  }
}

// A copy the caller frees with ima_free_string (malloc'ed, so that C frees it the same way).
char* allocatedString(const std::string& text);

}  // namespace ima::capi
