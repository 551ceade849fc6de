// IDX files, the format of MNIST and Fashion-MNIST: a 4-byte magic number 0x00 0x00 <type> <dims>,
// then `dims` big-endian uint32 sizes, then the values in row-major order (last index fastest),
// big-endian. Files may be plain or gzip-compressed (detected from the content, not the name).
// Types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
//
// No torch here: the arrays are plain vectors; a tensor is one torch::from_blob(...).clone() away.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ima {

enum class IdxType : uint8_t {
  UInt8 = 0x08,
  Int8 = 0x09,
  Int16 = 0x0B,
  Int32 = 0x0C,
  Float32 = 0x0D,
  Float64 = 0x0E,
};

// "uint8", "int8", "int16", "int32", "float32", "float64".
std::string idxTypeName(IdxType type);

struct IdxHeader {
  IdxType type = IdxType::UInt8;
  std::vector<int64_t> shape;  // sizes as stored; shape[0] is the number of items
};

struct IdxArray {
  IdxType type = IdxType::UInt8;  // the type stored in the file; values are converted to float
  std::vector<int64_t> shape;     // shape[0] = items actually read (<= itemsInFile)
  int64_t itemsInFile = 0;        // shape[0] as the header states it
  // Row-major values, product(shape) of them, unscaled. int32 values beyond 2^24 and float64
  // values lose precision in the conversion to float.
  std::vector<float> values;
};

// Reads only the header. Throws ima::Error naming the file for a missing or unreadable file, a
// bad magic number, an unsupported type or a truncated header.
IdxHeader readIdxHeader(const std::string& path);

// Reads the first `maxItems` items along the first axis (all of them when maxItems < 0). Throws
// ima::Error naming the file as readIdxHeader does, and when the data are truncated: fewer bytes
// than the header promises for the items requested. Bytes after them are not read.
IdxArray readIdx(const std::string& path, int64_t maxItems = -1);

// A classification data set: images with one integer label each.
struct ClassificationSet {
  int64_t channels = 1;         // always 1 for IDX images
  int64_t height = 0;           // pixels
  int64_t width = 0;            // pixels
  int64_t classes = 0;          // 1 + the largest label
  std::vector<float> images;    // [N, channels, height, width] row-major; uint8 files scaled to [0, 1]
  std::vector<int64_t> labels;  // [N], values in 0..classes-1
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// Reads an images file (N x H x W) and a labels file (N) such as Fashion-MNIST's
// train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz, keeping the first `maxItems` pairs
// (all when maxItems < 0). uint8 images are divided by 255 into [0, 1]; other types are kept as
// stored. Throws ima::Error naming the file(s) for every readIdx error, and when the images are
// not 3-dimensional, the labels not 1-dimensional, the two files hold different numbers of
// items, a label is negative or not an integer, an image value is NaN or infinite, or no item
// is left to read.
ClassificationSet readIdxClassificationSet(const std::string& imagesPath, const std::string& labelsPath,
                                           int64_t maxItems = -1);

}  // namespace ima
