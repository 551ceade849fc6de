#include "internal/ChecksummedFile.h"

#include "ima/Error.h"
#include "ima/Sha256.h"

namespace ima {
namespace {
const std::string kTrailerMagic = "IMASHA256";
constexpr size_t kDigits = 64;
}  // namespace

std::string withChecksumTrailer(const std::string& content) { return content + kTrailerMagic + sha256Hex(content); }

std::string checkedContent(const std::string& fileBytes, const std::string& path, const std::string& what) {
  const size_t trailer = kTrailerMagic.size() + kDigits;
  if (fileBytes.size() < trailer || fileBytes.compare(fileBytes.size() - trailer, kTrailerMagic.size(), kTrailerMagic) != 0)
    throw Error(what + " '" + path + "' has no checksum trailer: it is truncated, damaged, not a " + what +
                " of this program, or written by a version before checksums; it is not used");
  const std::string content = fileBytes.substr(0, fileBytes.size() - trailer);
  const std::string stored = fileBytes.substr(fileBytes.size() - kDigits);
  const std::string actual = sha256Hex(content);
  if (stored != actual)
    throw Error(what + " '" + path + "' is corrupt: its SHA-256 is " + actual + " but it was written with " + stored +
                " (the file changed after it was written); it is not used");
  return content;
}

}  // namespace ima
