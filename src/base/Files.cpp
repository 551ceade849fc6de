#include "ima/Files.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "ima/Error.h"

namespace ima {

std::string readFileBytes(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(what + " '" + path + "' cannot be opened: " + std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw Error(what + " '" + path + "' could not be read");
  return bytes.str();
}

std::string temporaryPathFor(const std::string& path) {
  static std::atomic<int> counter{0};
  return path + ".tmp" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

void flushFile(const std::string& file, const std::string& target) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  const int error = errno;
  if (fd >= 0) ::close(fd);
  if (!synced)
    throw Error("cannot write '" + target + "': the written data cannot be flushed to the disk: " + std::strerror(error) +
                " (nothing was written; an existing file is unchanged)");
}

void moveIntoPlace(const std::string& temporary, const std::string& path) {
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    throw Error("cannot move the finished file into place at '" + path + "': " + reason);
  }
}

void writeFileAtomically(const std::string& path, const std::string& bytes) {
  writeFileAtomically(path, [&](const ByteSink& sink) { sink(bytes.data(), bytes.size()); });
}

void writeFileAtomically(const std::string& path, const std::function<void(const ByteSink&)>& produce) {
  const std::string temporary = temporaryPathFor(path);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write '" + path + "': " + std::strerror(errno));
  // Every write() is checked (a full disk fails one of them); a crash then leaves the old file or
  // the new one, never a short one.
  int error = 0;
  const ByteSink sink = [&](const void* data, size_t size) {
    const auto* bytes = static_cast<const char*>(data);
    for (size_t done = 0; error == 0 && done < size;) {
      const ssize_t n = ::write(fd, bytes + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) done += static_cast<size_t>(n);
      else error = n < 0 ? errno : ENOSPC;
    }
  };
  try {
    produce(sink);
  } catch (...) {
    ::close(fd);
    std::remove(temporary.c_str());
    throw;
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) {
    std::remove(temporary.c_str());
    throw Error("cannot write '" + path + "': " + std::strerror(error) + " (nothing was written; an existing file is unchanged)");
  }
  moveIntoPlace(temporary, path);
}

}  // namespace ima
