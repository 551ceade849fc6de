// Status codes and the thread-local error message of the C API.
#include "Status.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include <c10/util/Exception.h>

#include "ima/Error.h"

namespace ima::capi {

namespace {
thread_local std::string lastError;
}

void setLastError(const char* function, const char* message) {
  try {
    if (!message) {
      lastError.clear();
      return;
    }
    lastError = function ? std::string(function) + ": " + message : std::string(message);
    if (lastError.empty()) lastError = "unknown error";
  } catch (...) {
    // Out of memory while building the message: keep whatever fits in the existing capacity.
    lastError.clear();
  }
}

namespace {
bool isAllocationFailure(const std::string& libtorchMessage) {
  return libtorchMessage.find("can't allocate memory") != std::string::npos ||
         libtorchMessage.find("out of memory") != std::string::npos;
}
}  // namespace

ima_status statusOfCurrentException(const char* function) {
  try {
    throw;
  } catch (const InvalidArgument& e) {
    setLastError(function, e.what());
    return IMA_ERROR_INVALID_ARGUMENT;
  } catch (const BufferTooSmall& e) {
    setLastError(function, e.what());
    return IMA_ERROR_BUFFER_SIZE;
  } catch (const ima::Cancelled&) {
    setLastError(function, "cancelled by the progress callback; nothing was written");
    return IMA_CANCELLED;
  } catch (const ima::Error& e) {
    setLastError(function, e.what());
    return IMA_ERROR_INPUT;
  } catch (const std::bad_alloc&) {
    setLastError(function, "out of memory");
    return IMA_ERROR_OUT_OF_MEMORY;
  } catch (const c10::OutOfMemoryError& e) {
    setLastError(function, e.what_without_backtrace());
    return IMA_ERROR_OUT_OF_MEMORY;
  } catch (const c10::Error& e) {
    // libtorch's message without its C++ backtrace, which means nothing to a C caller. Its CPU
    // allocator reports a failed allocation as a plain c10::Error; that is out of memory too.
    const std::string message = e.what_without_backtrace();
    if (isAllocationFailure(message)) {
      setLastError(function, ("out of memory (libtorch: " + message + ")").c_str());
      return IMA_ERROR_OUT_OF_MEMORY;
    }
    setLastError(function, ("libtorch: " + message).c_str());
    return IMA_ERROR_INTERNAL;
  } catch (const std::exception& e) {
    setLastError(function, e.what());
    return IMA_ERROR_INTERNAL;
  } catch (...) {
    setLastError(function, "unknown exception");
    return IMA_ERROR_INTERNAL;
  }
}

char* allocatedString(const std::string& text) {
  char* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (!copy) throw std::bad_alloc();
  std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

}  // namespace ima::capi

extern "C" {

const char* ima_last_error(void) { return ima::capi::lastError.c_str(); }

const char* ima_status_name(ima_status status) {
  switch (status) {
    case IMA_OK: return "IMA_OK";
    case IMA_ERROR_INVALID_ARGUMENT: return "IMA_ERROR_INVALID_ARGUMENT";
    case IMA_ERROR_BUFFER_SIZE: return "IMA_ERROR_BUFFER_SIZE";
    case IMA_ERROR_INPUT: return "IMA_ERROR_INPUT";
    case IMA_CANCELLED: return "IMA_CANCELLED";
    case IMA_ERROR_OUT_OF_MEMORY: return "IMA_ERROR_OUT_OF_MEMORY";
    case IMA_ERROR_INTERNAL: return "IMA_ERROR_INTERNAL";
  }
  return "unknown status";
}

void ima_free_string(char* string) { std::free(string); }

}  // extern "C"
