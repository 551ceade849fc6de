// SHA-256 (FIPS 180-4) of a byte string or a file, as 64 lower-case hex digits: the checksum of
// checkpoints and the model fingerprint recorded in batch manifests (docs/reliability.md).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ima {

// Incremental hashing, for content that is never held whole (files, streamed checkpoints).
class Sha256 {
public:
  void update(const void* data, size_t size);
  std::string hex();  // the digest of everything updated so far; ends the hashing

private:
  void compress();
  std::array<uint32_t, 8> state_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<unsigned char, 64> block_{};
  size_t used_ = 0;
  uint64_t length_ = 0;
};

std::string sha256Hex(const std::string& bytes);
// Reads the file in blocks; errors are ima::Error naming `what` and the file.
std::string sha256OfFile(const std::string& path, const std::string& what);

}  // namespace ima
