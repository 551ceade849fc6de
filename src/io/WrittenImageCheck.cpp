#include "internal/WrittenImageCheck.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <zlib.h>

#include "ima/Error.h"
#include "internal/LowerCase.h"

#include "ima/io/ImageFiles.h"

namespace fs = std::filesystem;

namespace ima::io {
namespace {

struct Failure {
  std::string reason;
};

std::string readHead(const std::string& file, size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Failure{"it cannot be opened again: " + std::string(std::strerror(errno))};
  std::string head(bytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(bytes));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

uint64_t fileSize(const std::string& file) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(file, ec);
  if (ec) throw Failure{"its size cannot be read: " + ec.message()};
  return size;
}

// Decodes the zlib or gzip stream that starts at `offset` to its end and returns the decoded size;
// the first `keep` decoded bytes go to `head`. A stream that stops early or fails its check is a
// Failure.
uint64_t decodedSize(const std::string& file, uint64_t offset, size_t keep = 0, std::string* head = nullptr) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Failure{"it cannot be opened again: " + std::string(std::strerror(errno))};
  in.seekg(static_cast<std::streamoff>(offset));
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) throw Failure{"zlib cannot be initialised"};  // 32: zlib or gzip
  std::vector<unsigned char> input(1 << 16), output(1 << 16);
  uint64_t total = 0;
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    if (z.avail_in == 0) {
      in.read(reinterpret_cast<char*>(input.data()), static_cast<std::streamsize>(input.size()));
      z.next_in = input.data();
      z.avail_in = static_cast<uInt>(in.gcount());
      if (z.avail_in == 0) break;  // the file ends before the stream does
    }
    z.next_out = output.data();
    z.avail_out = static_cast<uInt>(output.size());
    status = inflate(&z, Z_NO_FLUSH);
    const size_t produced = output.size() - z.avail_out;
    if (head && head->size() < keep)
      head->append(reinterpret_cast<const char*>(output.data()), std::min(produced, keep - head->size()));
    total += produced;
    if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) break;
  }
  inflateEnd(&z);
  if (status != Z_STREAM_END)
    throw Failure{"its compressed data " + std::string(status == Z_DATA_ERROR ? "is damaged" : "ends early") +
                  " (" + std::to_string(total) + " bytes decoded)"};
  return total;
}

uint64_t niftiVoxelOffset(const std::string& head) {
  if (head.size() < 348) throw Failure{"its NIfTI header is incomplete (" + std::to_string(head.size()) + " bytes)"};
  int32_t sizeofHdr;
  std::memcpy(&sizeofHdr, head.data(), 4);
  const bool swapped = sizeofHdr != 348 && sizeofHdr != 540;
  auto field = [&](size_t at, size_t n) {
    std::string b = head.substr(at, n);
    if (swapped) std::reverse(b.begin(), b.end());
    return b;
  };
  if (swapped) {
    const std::string b = field(0, 4);
    std::memcpy(&sizeofHdr, b.data(), 4);
  }
  if (sizeofHdr == 348) {
    float offset;
    std::memcpy(&offset, field(108, 4).data(), 4);
    return static_cast<uint64_t>(offset);
  }
  if (sizeofHdr == 540 && head.size() >= 540) {
    int64_t offset;
    std::memcpy(&offset, field(168, 8).data(), 8);
    return static_cast<uint64_t>(offset);
  }
  throw Failure{"its NIfTI header is damaged"};
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// A text header of "key<separator>value" lines up to `isLast` (MetaImage) or an empty line (NRRD):
// the fields (lower-case keys) and the header's length in bytes.
struct TextHeader {
  std::vector<std::pair<std::string, std::string>> fields;
  uint64_t length = 0;
  std::string get(const std::string& key) const {
    for (const auto& [k, v] : fields)
      if (k == key) return v;
    return "";
  }
};

TextHeader readTextHeader(const std::string& file, char separator, const std::string& lastKey) {
  const std::string head = readHead(file, 1 << 16);
  TextHeader h;
  size_t start = 0;
  for (size_t end; (end = head.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string line = head.substr(start, end - start);
    h.length = end + 1;
    if (lastKey.empty() && trim(line).empty()) return h;  // NRRD: the blank line ends the header
    const size_t at = line.find(separator);
    if (at == std::string::npos) continue;
    const std::string key = lowerCase(trim(line.substr(0, at)));
    h.fields.emplace_back(key, trim(line.substr(at + 1)));
    if (!lastKey.empty() && key == lastKey) return h;
  }
  // A detached NRRD header (.nhdr) may simply end with the file.
  if (lastKey.empty() && start == head.size() && head.size() < (1u << 16)) return h;
  throw Failure{"its header is incomplete"};
}

void expectSize(uint64_t found, uint64_t expected) {
  if (found != expected)
    throw Failure{"it holds " + std::to_string(found) + " bytes of voxel data instead of " + std::to_string(expected)};
}

// The data of a header-plus-data format: attached after `headerLength`, or in `dataFile`.
void checkData(const std::string& file, uint64_t headerLength, const std::string& dataFile, bool compressed,
               uint64_t dataBytes, std::vector<std::string>& files) {
  std::string data = file;
  uint64_t offset = headerLength;
  if (!dataFile.empty()) {
    data = (fs::path(file).parent_path() / dataFile).string();
    offset = 0;
    files.push_back(data);
  }
  expectSize(compressed ? decodedSize(data, offset) : fileSize(data) - std::min(fileSize(data), offset), dataBytes);
}

void checkStructure(const std::string& file, uint64_t dataBytes, std::vector<std::string>& files) {
  const std::string ext = imageExtension(file);
  if (ext == ".nii.gz") {
    std::string head;
    const uint64_t decoded = decodedSize(file, 0, 540, &head);
    expectSize(decoded - std::min(decoded, niftiVoxelOffset(head)), dataBytes);
  } else if (ext == ".nii") {
    const uint64_t size = fileSize(file);
    expectSize(size - std::min(size, niftiVoxelOffset(readHead(file, 540))), dataBytes);
  } else if (ext == ".mha" || ext == ".mhd") {
    const TextHeader h = readTextHeader(file, '=', "elementdatafile");
    const std::string dataFile = h.get("elementdatafile");
    const bool compressed = lowerCase(h.get("compresseddata")) == "true";
    checkData(file, h.length, dataFile == "LOCAL" ? "" : dataFile, compressed, dataBytes, files);
  } else if (ext == ".nrrd" || ext == ".nhdr") {
    const TextHeader h = readTextHeader(file, ':', "");
    std::string dataFile = h.get("data file");
    if (dataFile.empty()) dataFile = h.get("datafile");
    const std::string encoding = lowerCase(h.get("encoding"));
    if (encoding != "raw" && encoding != "gzip" && encoding != "gz") throw Failure{"its encoding '" + encoding + "' is unexpected"};
    checkData(file, h.length, dataFile, encoding != "raw", dataBytes, files);
  } else {
    throw Failure{"its format cannot be checked"};
  }
}

}  // namespace

void checkWrittenImageFile(const std::string& file, uint64_t dataBytes, const std::string& target) {
  try {
    std::vector<std::string> files{file};
    checkStructure(file, dataBytes, files);
  } catch (const Failure& f) {
    throw Error("cannot write '" + target + "': the written file is incomplete: " + f.reason +
                " (disk full or file size limit?); nothing was written");
  }
}

}  // namespace ima::io
