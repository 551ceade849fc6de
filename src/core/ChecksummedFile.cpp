#include "internal/ChecksummedFile.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ima/Error.h"
#include "ima/Sha256.h"

namespace ima {
namespace {
const std::string kTrailerMagic = "IMASHA256";
constexpr size_t kDigits = 64;
}  // namespace

void writeChecksummedFile(const std::string& path, const std::function<void(const ByteSink&)>& produce) {
  writeFileAtomically(path, [&](const ByteSink& file) {
    Sha256 hash;
    produce([&](const void* data, size_t size) {
      hash.update(data, size);
      file(data, size);
    });
    const std::string trailer = kTrailerMagic + hash.hex();
    file(trailer.data(), trailer.size());
  });
}

CheckedFile::CheckedFile(const std::string& path, const std::string& what) : path_(path), what_(what) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(what + " '" + path + "' cannot be opened: " + std::strerror(errno));
  try {
    struct stat info {};
    if (::fstat(fd_, &info) != 0) throw Error(what + " '" + path + "' could not be read: " + std::strerror(errno));
    const uint64_t fileSize = static_cast<uint64_t>(info.st_size);
    const size_t trailer = kTrailerMagic.size() + kDigits;
    std::string tail(trailer, '\0');
    const bool hasTrailer = fileSize >= trailer && readAt(fileSize - trailer, tail.data(), trailer) == trailer &&
                            tail.compare(0, kTrailerMagic.size(), kTrailerMagic) == 0;
    if (!hasTrailer)
      throw Error(what + " '" + path + "' has no checksum trailer: it is truncated, damaged, not a " + what +
                  " of this program, or written by a version before checksums; it is not used");
    size_ = fileSize - trailer;
    Sha256 hash;
    std::vector<char> block(1 << 20);
    for (uint64_t done = 0; done < size_;) {
      const size_t n = readAt(done, block.data(), static_cast<size_t>(std::min<uint64_t>(block.size(), size_ - done)));
      if (n == 0) throw Error(what + " '" + path + "' could not be read: it shrank while being read");
      hash.update(block.data(), n);
      done += n;
    }
    const std::string stored = tail.substr(kTrailerMagic.size()), actual = hash.hex();
    if (stored != actual)
      throw Error(what + " '" + path + "' is corrupt: its SHA-256 is " + actual + " but it was written with " + stored +
                  " (the file changed after it was written); it is not used");
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

CheckedFile::~CheckedFile() { ::close(fd_); }

size_t CheckedFile::read(uint64_t position, void* buffer, size_t size) const {
  if (position >= size_) return 0;
  return readAt(position, buffer, static_cast<size_t>(std::min<uint64_t>(size, size_ - position)));
}

size_t CheckedFile::readAt(uint64_t position, void* buffer, size_t size) const {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd_, static_cast<char*>(buffer) + done, size - done, static_cast<off_t>(position + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(what_ + " '" + path_ + "' could not be read: " + std::strerror(errno));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace ima
