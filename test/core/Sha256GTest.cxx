// SHA-256 against the known-answer vectors of FIPS 180-4 (NIST's examples) and against coreutils'
// sha256sum for a file crossing block boundaries.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "ima/Error.h"
#include "ima/Sha256.h"

namespace Sha256GTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

TEST(Sha256, MatchesTheFipsExamples) {
  EXPECT_EQ(ima::sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ima::sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 448 bits: the padding needs a second block.
  EXPECT_EQ(ima::sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(ima::sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Hashing in pieces (across and on 64-byte block edges) gives the one-shot digest.
TEST(Sha256, InPiecesIsTheSameAsAtOnce) {
  std::string bytes;
  for (int i = 0; i < 10000; ++i) bytes += static_cast<char>(i * 31);
  ima::Sha256 h;
  size_t done = 0;
  for (size_t piece : {0, 1, 63, 64, 65, 127, 128, 1000}) {
    h.update(bytes.data() + done, piece);
    done += piece;
  }
  h.update(bytes.data() + done, bytes.size() - done);
  EXPECT_EQ(h.hex(), ima::sha256Hex(bytes));
}

TEST(Sha256, OfAFileIsSha256sumsDigest) {
  const fs::path file = fs::temp_directory_path() / ("ima_sha256_" + std::to_string(::getpid()));
  std::string bytes;
  for (int i = 0; i < 200003; ++i) bytes += static_cast<char>((i * 7919) % 251);  // not a multiple of 64
  std::ofstream(file, std::ios::binary) << bytes;
  FILE* pipe = popen(("sha256sum '" + file.string() + "'").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char digest[65] = {};
  ASSERT_EQ(std::fread(digest, 1, 64, pipe), 64u);
  pclose(pipe);
  EXPECT_EQ(ima::sha256OfFile(file.string(), "model file"), digest);
  EXPECT_EQ(ima::sha256Hex(bytes), digest);
  fs::remove(file);
  try {
    ima::sha256OfFile(file.string(), "model file");
    FAIL() << "a missing file was hashed";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
}

}  // namespace Sha256GTest
