// The IDX reader on files written here byte by byte (so the expected values are known exactly),
// plain and gzip-compressed, its error messages, and - when the Debian package
// dataset-fashion-mnist is installed - the first images of the real Fashion-MNIST training set.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <zlib.h>

#include "ima/Error.h"
#include "ima/classification/IdxReader.h"

namespace IdxReaderGTest {  // this file's names apart from the others' in a unity build

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

std::string tempPath(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) / "ima-idx-reader-test";
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string writePlain(const std::string& name, const Bytes& bytes) {
  const std::string path = tempPath(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string writeGzip(const std::string& name, const Bytes& bytes) {
  const std::string path = tempPath(name);
  gzFile f = gzopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
  return path;
}

void appendBigEndian32(Bytes& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<unsigned char>(v >> shift));
}

Bytes header(uint8_t type, const std::vector<uint32_t>& shape) {
  Bytes b{0, 0, type, static_cast<unsigned char>(shape.size())};
  for (uint32_t s : shape) appendBigEndian32(b, s);
  return b;
}

// uint8, 3 items of 2x2, values chosen to include both ends of the range.
Bytes uint8File() {
  Bytes b = header(0x08, {3, 2, 2});
  for (unsigned char v : {0, 1, 2, 3, 10, 20, 30, 40, 255, 128, 7, 254}) b.push_back(v);
  return b;
}

void expectErrorContaining(const std::function<void()>& call, const std::vector<std::string>& parts) {
  try {
    call();
    ADD_FAILURE() << "expected ima::Error";
  } catch (const ima::Error& e) {
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(IdxReader, ReadsUInt8ValuesAndShapeFromThePlainFile) {
  const ima::IdxArray a = ima::readIdx(writePlain("u8.idx", uint8File()));
  EXPECT_EQ(a.type, ima::IdxType::UInt8);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(a.itemsInFile, 3);
  EXPECT_EQ(a.values, (std::vector<float>{0, 1, 2, 3, 10, 20, 30, 40, 255, 128, 7, 254}));
}

TEST(IdxReader, ReadsTheSameValuesFromTheGzipFile) {
  const std::string path = writeGzip("u8.idx.gz", uint8File());
  const ima::IdxArray a = ima::readIdx(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(a.values, ima::readIdx(writePlain("u8-again.idx", uint8File())).values);
  EXPECT_EQ(ima::readIdxHeader(path).shape, (std::vector<int64_t>{3, 2, 2}));
}

TEST(IdxReader, MaxItemsKeepsTheFirstItems) {
  const std::string path = writeGzip("u8-max.idx.gz", uint8File());
  const ima::IdxArray two = ima::readIdx(path, 2);
  EXPECT_EQ(two.shape, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(two.itemsInFile, 3);
  EXPECT_EQ(two.values, (std::vector<float>{0, 1, 2, 3, 10, 20, 30, 40}));
  EXPECT_EQ(ima::readIdx(path, 100).shape[0], 3);  // more than the file holds: all of them
  EXPECT_TRUE(ima::readIdx(path, 0).values.empty());
}

TEST(IdxReader, DecodesBigEndianFloatsAndDoubles) {
  const std::vector<float> floats{1.5f, -2.25f, 1e-3f, 3.0e7f};
  Bytes f = header(0x0D, {4});
  for (float v : floats) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    appendBigEndian32(f, u);
  }
  EXPECT_EQ(ima::readIdx(writePlain("f32.idx", f)).values, floats);

  // 0x3FF8000000000000 = 1.5, 0xC002000000000000 = -2.25 (IEEE 754 binary64, big-endian).
  Bytes d = header(0x0E, {2, 1});
  for (unsigned char v : {0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0xC0, 0x02, 0, 0, 0, 0, 0, 0}) d.push_back(v);
  const ima::IdxArray a = ima::readIdx(writeGzip("f64.idx.gz", d));
  EXPECT_EQ(a.type, ima::IdxType::Float64);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(a.values, (std::vector<float>{1.5f, -2.25f}));
}

TEST(IdxReader, DecodesSignedIntegerTypes) {
  Bytes i8 = header(0x09, {3});
  for (unsigned char v : {0x80, 0xFF, 0x7F}) i8.push_back(v);
  EXPECT_EQ(ima::readIdx(writePlain("i8.idx", i8)).values, (std::vector<float>{-128, -1, 127}));

  Bytes i16 = header(0x0B, {2});
  for (unsigned char v : {0xFF, 0xFE, 0x01, 0x00}) i16.push_back(v);
  EXPECT_EQ(ima::readIdx(writePlain("i16.idx", i16)).values, (std::vector<float>{-2, 256}));

  Bytes i32 = header(0x0C, {2});
  for (unsigned char v : {0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFD}) i32.push_back(v);
  EXPECT_EQ(ima::readIdx(writePlain("i32.idx", i32)).values, (std::vector<float>{65536, -3}));
}

TEST(IdxReader, MissingFileIsNamed) {
  const std::string path = tempPath("does-not-exist.idx");
  expectErrorContaining([&] { ima::readIdx(path); }, {"cannot open", path});
}

TEST(IdxReader, BadMagicIsReported) {
  Bytes b = uint8File();
  b[0] = 0x1F;  // e.g. a PNG or text file
  const std::string path = writePlain("bad-magic.idx", b);
  expectErrorContaining([&] { ima::readIdx(path); }, {path, "bad magic"});
  const std::string tiny = writePlain("tiny.idx", Bytes{0, 0});
  expectErrorContaining([&] { ima::readIdx(tiny); }, {tiny, "not an IDX file"});
}

TEST(IdxReader, UnsupportedTypeIsReported) {
  Bytes b = header(0x0A, {1});
  b.push_back(0);
  const std::string path = writePlain("type-0a.idx", b);
  expectErrorContaining([&] { ima::readIdx(path); }, {path, "unsupported data type 0x0a"});
}

TEST(IdxReader, TruncatedDataIsReported) {
  Bytes b = uint8File();
  b.resize(b.size() - 7);  // 5 of the 12 data bytes left
  const std::string path = writePlain("truncated.idx", b);
  expectErrorContaining([&] { ima::readIdx(path); }, {path, "truncated", "12 bytes", "only 5"});
  // The first item is complete, so reading only it succeeds.
  EXPECT_EQ(ima::readIdx(path, 1).values, (std::vector<float>{0, 1, 2, 3}));
  // A header cut inside its sizes.
  const std::string cutHeader = writePlain("truncated-header.idx", Bytes{0, 0, 8, 3, 0, 0, 0, 3, 0});
  expectErrorContaining([&] { ima::readIdx(cutHeader); }, {cutHeader, "truncated"});
}

TEST(IdxReader, TruncatedGzipIsReported) {
  // A gzip stream cut short: zlib delivers what it could decompress; the reader sees too few bytes.
  Bytes big = header(0x08, {100, 28, 28});
  for (int i = 0; i < 100 * 28 * 28; ++i) big.push_back(static_cast<unsigned char>((i * 7919) % 251));
  const std::string full = writeGzip("full.idx.gz", big);
  std::ifstream in(full, std::ios::binary);
  Bytes compressed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  compressed.resize(compressed.size() / 2);
  const std::string path = writePlain("cut.idx.gz", compressed);
  expectErrorContaining([&] { ima::readIdx(path); }, {path, "truncated"});
}

TEST(IdxReader, ClassificationSetScalesUInt8ImagesAndKeepsLabels) {
  const std::string images = writeGzip("set-images.idx.gz", uint8File());
  Bytes labels = header(0x08, {3});
  for (unsigned char v : {2, 0, 1}) labels.push_back(v);
  const std::string labelsPath = writePlain("set-labels.idx", labels);

  const ima::ClassificationSet set = ima::readIdxClassificationSet(images, labelsPath);
  EXPECT_EQ(set.size(), 3);
  EXPECT_EQ(set.channels, 1);
  EXPECT_EQ(set.height, 2);
  EXPECT_EQ(set.width, 2);
  EXPECT_EQ(set.classes, 3);
  EXPECT_EQ(set.labels, (std::vector<int64_t>{2, 0, 1}));
  ASSERT_EQ(set.images.size(), 12u);
  EXPECT_FLOAT_EQ(set.images[0], 0.0f);
  EXPECT_FLOAT_EQ(set.images[5], 20.0f / 255.0f);
  EXPECT_FLOAT_EQ(set.images[8], 1.0f);

  const ima::ClassificationSet two = ima::readIdxClassificationSet(images, labelsPath, 2);
  EXPECT_EQ(two.size(), 2);
  EXPECT_EQ(two.images.size(), 8u);
  EXPECT_EQ(two.classes, 3);  // labels 2 and 0
}

TEST(IdxReader, ClassificationSetRejectsMismatchedCountsAndShapes) {
  const std::string images = writePlain("mismatch-images.idx", uint8File());
  Bytes four = header(0x08, {4});
  for (unsigned char v : {0, 1, 0, 1}) four.push_back(v);
  const std::string labels = writePlain("mismatch-labels.idx", four);
  expectErrorContaining([&] { ima::readIdxClassificationSet(images, labels); },
                        {images, labels, "3 images", "4 labels"});
  // Swapped files: the "images" are 1-dimensional.
  expectErrorContaining([&] { ima::readIdxClassificationSet(labels, images); }, {labels, "expected 3"});

  Bytes negative = header(0x09, {3});
  for (unsigned char v : {0, 0xFF, 1}) negative.push_back(v);
  const std::string negativePath = writePlain("negative-labels.idx", negative);
  expectErrorContaining([&] { ima::readIdxClassificationSet(images, negativePath); },
                        {negativePath, "label 1", "non-negative integers"});
}

TEST(IdxReader, FashionMnistFirstTrainingImages) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string images = dir + "train-images-idx3-ubyte.gz";
  const std::string labels = dir + "train-labels-idx1-ubyte.gz";
  if (!fs::exists(images) || !fs::exists(labels))
    GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist): " << dir;

  const ima::ClassificationSet set = ima::readIdxClassificationSet(images, labels, 100);
  EXPECT_EQ(set.size(), 100);
  EXPECT_EQ(set.height, 28);
  EXPECT_EQ(set.width, 28);
  ASSERT_EQ(set.images.size(), 100u * 28 * 28);
  for (int64_t label : set.labels) {
    EXPECT_GE(label, 0);
    EXPECT_LE(label, 9);
  }
  EXPECT_LE(set.classes, 10);
  float lo = 1, hi = 0;
  for (float v : set.images) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_LE(hi, 1.0f);
  EXPECT_GT(hi, 0.9f);  // real images use most of the range
  // The header counts the whole training set.
  EXPECT_EQ(ima::readIdxHeader(images).shape, (std::vector<int64_t>{60000, 28, 28}));
  // First training label of Fashion-MNIST is 9 (ankle boot).
  EXPECT_EQ(set.labels[0], 9);
}

}  // namespace

}  // namespace IdxReaderGTest
