// Files that carry their own checksum (training checkpoints): the content followed by a trailer
// "IMASHA256" and the 64 hex digits of the content's SHA-256, so that a changed byte, a truncated
// file or a file of another kind is refused instead of resumed (docs/reliability.md).
#pragma once
#include <string>

namespace ima {

// `content` with its trailer appended.
std::string withChecksumTrailer(const std::string& content);
// The content of a file written by withChecksumTrailer after checking the trailer; ima::Error
// naming `what` and `path` when the trailer is missing or the checksum differs.
std::string checkedContent(const std::string& fileBytes, const std::string& path, const std::string& what);

}  // namespace ima
