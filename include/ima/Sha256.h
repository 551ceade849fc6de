// SHA-256 (FIPS 180-4) of a byte string or a file, as 64 lower-case hex digits: the checksum of
// checkpoints and the model fingerprint recorded in batch manifests (docs/reliability.md).
#pragma once
#include <string>

namespace ima {

std::string sha256Hex(const std::string& bytes);
// Reads the file in blocks; errors are ima::Error naming `what` and the file.
std::string sha256OfFile(const std::string& path, const std::string& what);

}  // namespace ima
