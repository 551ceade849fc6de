#include "ima/classification/IdxReader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include <zlib.h>

#include "ima/Error.h"

namespace ima {
namespace {

// gzopen/gzread read plain files transparently, so one code path serves .gz and raw files.
class GzFile {
public:
  explicit GzFile(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (!file_)
      throw Error("cannot open IDX file '" + path + "': " +
                  (errno ? std::strerror(errno) : std::string("out of memory")));
  }
  ~GzFile() {
    if (file_) gzclose(file_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to `length` bytes; returns how many were read (fewer only at the end of the data).
  size_t read(unsigned char* buffer, size_t length) {
    size_t done = 0;
    while (done < length) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(length - done, 1u << 30));
      const int n = gzread(file_, buffer + done, chunk);
      if (n < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        throw Error("cannot read IDX file '" + path_ + "': " +
                    (code == Z_ERRNO ? std::strerror(errno) : std::string(message ? message : "read error")));
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

private:
  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t bigEndian32(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

uint64_t bigEndian64(const unsigned char* b) {
  return (uint64_t{bigEndian32(b)} << 32) | bigEndian32(b + 4);
}

bool isKnownType(uint8_t code) {
  switch (code) {
    case 0x08: case 0x09: case 0x0B: case 0x0C: case 0x0D: case 0x0E: return true;
    default: return false;
  }
}

size_t elementBytes(IdxType type) {
  switch (type) {
    case IdxType::UInt8: case IdxType::Int8: return 1;
    case IdxType::Int16: return 2;
    case IdxType::Int32: case IdxType::Float32: return 4;
    case IdxType::Float64: return 8;
  }
  return 1;
}

std::string hexByte(unsigned value) {
  std::ostringstream s;
  s << "0x" << std::hex << (value < 16 ? "0" : "") << value;
  return s.str();
}

IdxHeader readHeader(GzFile& file, const std::string& path) {
  unsigned char magic[4];
  if (file.read(magic, 4) < 4)
    throw Error("IDX file '" + path + "' is not an IDX file: shorter than its 4-byte magic number");
  if (magic[0] != 0 || magic[1] != 0) {
    std::ostringstream m;
    m << "IDX file '" << path << "' has a bad magic number " << hexByte(magic[0]) << " " << hexByte(magic[1]) << " "
      << hexByte(magic[2]) << " " << hexByte(magic[3]) << " (an IDX file starts with two zero bytes)";
    throw Error(m.str());
  }
  if (!isKnownType(magic[2]))
    throw Error("IDX file '" + path + "' has unsupported data type " + hexByte(magic[2]) +
                " (supported: 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32, 0x0e float64)");
  if (magic[3] == 0) throw Error("IDX file '" + path + "' declares 0 dimensions");

  IdxHeader header;
  header.type = static_cast<IdxType>(magic[2]);
  std::vector<unsigned char> sizes(4 * size_t{magic[3]});
  if (file.read(sizes.data(), sizes.size()) < sizes.size())
    throw Error("IDX file '" + path + "' is truncated: its header declares " + std::to_string(magic[3]) +
                " dimensions but the file ends before their sizes");
  for (size_t d = 0; d < magic[3]; ++d) header.shape.push_back(bigEndian32(sizes.data() + 4 * d));
  return header;
}

// Values per item (product of all sizes but the first), guarding against overflow.
int64_t valuesPerItem(const IdxHeader& header, const std::string& path) {
  int64_t n = 1;
  for (size_t d = 1; d < header.shape.size(); ++d) {
    if (header.shape[d] != 0 && n > std::numeric_limits<int64_t>::max() / 16 / header.shape[d])
      throw Error("IDX file '" + path + "' declares sizes too large to read");
    n *= header.shape[d];
  }
  return n;
}

void decode(IdxType type, const unsigned char* bytes, size_t count, float* out) {
  for (size_t i = 0; i < count; ++i) {
    switch (type) {
      case IdxType::UInt8: out[i] = static_cast<float>(bytes[i]); break;
      case IdxType::Int8: out[i] = static_cast<float>(static_cast<int8_t>(bytes[i])); break;
      case IdxType::Int16: {
        const uint16_t u = static_cast<uint16_t>((bytes[2 * i] << 8) | bytes[2 * i + 1]);
        out[i] = static_cast<float>(static_cast<int16_t>(u));
        break;
      }
      case IdxType::Int32:
        out[i] = static_cast<float>(static_cast<int32_t>(bigEndian32(bytes + 4 * i)));
        break;
      case IdxType::Float32: {
        const uint32_t u = bigEndian32(bytes + 4 * i);
        float f;
        std::memcpy(&f, &u, 4);
        out[i] = f;
        break;
      }
      case IdxType::Float64: {
        const uint64_t u = bigEndian64(bytes + 8 * i);
        double f;
        std::memcpy(&f, &u, 8);
        out[i] = static_cast<float>(f);
        break;
      }
    }
  }
}

}  // namespace

std::string idxTypeName(IdxType type) {
  switch (type) {
    case IdxType::UInt8: return "uint8";
    case IdxType::Int8: return "int8";
    case IdxType::Int16: return "int16";
    case IdxType::Int32: return "int32";
    case IdxType::Float32: return "float32";
    case IdxType::Float64: return "float64";
  }
  return "unknown";
}

IdxHeader readIdxHeader(const std::string& path) {
  GzFile file(path);
  return readHeader(file, path);
}

IdxArray readIdx(const std::string& path, int64_t maxItems) {
  GzFile file(path);
  const IdxHeader header = readHeader(file, path);
  const int64_t perItem = valuesPerItem(header, path);
  const int64_t items = maxItems < 0 ? header.shape[0] : std::min(header.shape[0], maxItems);
  const size_t bytesPerValue = elementBytes(header.type);
  if (perItem > 0 && static_cast<uint64_t>(items) > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(perItem))
    throw Error("IDX file '" + path + "' declares sizes too large to read");
  const uint64_t totalBytes = static_cast<uint64_t>(items) * static_cast<uint64_t>(perItem) * bytesPerValue;

  IdxArray array;
  array.type = header.type;
  array.shape = header.shape;
  array.shape[0] = items;
  array.itemsInFile = header.shape[0];

  // Read in chunks and grow the output as data arrive, so a header promising more than the file
  // holds is reported as truncation instead of first allocating what it promises.
  constexpr size_t kChunk = size_t{1} << 20;  // a multiple of every element size
  std::vector<unsigned char> buffer(static_cast<size_t>(std::min<uint64_t>(totalBytes, kChunk)));
  uint64_t done = 0;
  while (done < totalBytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(totalBytes - done, kChunk));
    const size_t got = file.read(buffer.data(), want);
    const size_t values = got / bytesPerValue;
    const size_t old = array.values.size();
    array.values.resize(old + values);
    decode(header.type, buffer.data(), values, array.values.data() + old);
    done += got;
    if (got < want) {
      std::ostringstream m;
      m << "IDX file '" << path << "' is truncated: its header promises " << totalBytes << " bytes of "
        << idxTypeName(header.type) << " data";
      if (maxItems >= 0 && items < header.shape[0]) m << " for the first " << items << " items";
      m << " but only " << done << " follow the header";
      throw Error(m.str());
    }
  }
  return array;
}

ClassificationSet readIdxClassificationSet(const std::string& imagesPath, const std::string& labelsPath,
                                           int64_t maxItems) {
  // Headers first: shape and count errors are found before tens of megabytes are decompressed.
  const IdxHeader imageHeader = readIdxHeader(imagesPath);
  const IdxHeader labelHeader = readIdxHeader(labelsPath);
  if (imageHeader.shape.size() != 3)
    throw Error("IDX images file '" + imagesPath + "' has " + std::to_string(imageHeader.shape.size()) +
                " dimensions; expected 3 (images x height x width)");
  if (labelHeader.shape.size() != 1)
    throw Error("IDX labels file '" + labelsPath + "' has " + std::to_string(labelHeader.shape.size()) +
                " dimensions; expected 1 (one label per image)");
  if (imageHeader.shape[0] != labelHeader.shape[0])
    throw Error("IDX images file '" + imagesPath + "' holds " + std::to_string(imageHeader.shape[0]) +
                " images but labels file '" + labelsPath + "' holds " + std::to_string(labelHeader.shape[0]) +
                " labels");

  IdxArray images = readIdx(imagesPath, maxItems);
  const IdxArray labels = readIdx(labelsPath, maxItems);
  if (images.shape[0] == 0)
    throw Error("IDX images file '" + imagesPath + "': no images to read" +
                (maxItems == 0 ? std::string(" (maxItems is 0)") : std::string()));

  ClassificationSet set;
  set.height = images.shape[1];
  set.width = images.shape[2];
  if (images.type == IdxType::UInt8) {
    for (float& v : images.values) v /= 255.0f;
  } else if (images.type == IdxType::Float32 || images.type == IdxType::Float64) {
    for (size_t i = 0; i < images.values.size(); ++i)
      if (!std::isfinite(images.values[i]))
        throw Error("IDX images file '" + imagesPath + "': image " + std::to_string(i / (set.height * set.width)) +
                    " contains a NaN or infinite value");
  }
  set.images = std::move(images.values);

  set.labels.reserve(labels.values.size());
  for (size_t i = 0; i < labels.values.size(); ++i) {
    const float v = labels.values[i];
    if (!(v >= 0) || v != std::floor(v) || v > 1e9f)
      throw Error("IDX labels file '" + labelsPath + "': label " + std::to_string(i) + " is " + std::to_string(v) +
                  "; labels must be non-negative integers");
    set.labels.push_back(static_cast<int64_t>(v));
    set.classes = std::max(set.classes, set.labels.back() + 1);
  }
  return set;
}

}  // namespace ima
