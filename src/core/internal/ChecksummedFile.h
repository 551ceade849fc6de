// Files that carry their own checksum (training checkpoints): the content followed by a trailer
// "IMASHA256" and the 64 hex digits of the content's SHA-256, so that a changed byte, a truncated
// file or a file of another kind is refused instead of resumed (docs/reliability.md). Both ways
// stream: a checkpoint holds IMA's warm starts, about as large as the training images, so neither
// the content nor a copy of it is ever held whole.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "ima/Files.h"

namespace ima {

// Writes atomically (as writeFileAtomically) what `produce` hands its sink, then the trailer.
void writeChecksummedFile(const std::string& path, const std::function<void(const ByteSink&)>& produce);

// A checksummed file opened for reading in place. Opening checks the trailer and the checksum
// (ima::Error naming `what` and `path`); `read` then takes the content's bytes from the same open
// file, so a file renamed over the path meanwhile changes nothing.
class CheckedFile {
public:
  CheckedFile(const std::string& path, const std::string& what);
  ~CheckedFile();
  CheckedFile(const CheckedFile&) = delete;
  CheckedFile& operator=(const CheckedFile&) = delete;

  uint64_t size() const { return size_; }  // of the content, without the trailer
  // Up to `size` bytes from `position`; fewer only at the content's end. ima::Error on a read error.
  size_t read(uint64_t position, void* buffer, size_t size) const;

private:
  size_t readAt(uint64_t position, void* buffer, size_t size) const;  // the whole file, trailer included
  std::string path_, what_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace ima
