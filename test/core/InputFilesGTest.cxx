// InputFiles recognises an input under every spelling that reaches the same file (the path itself,
// "..", a symbolic link, a hard link, a file inside an input directory) and nothing else; the
// oracle is the construction of each spelling.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ima/Error.h"
#include "ima/InputFiles.h"

namespace InputFilesGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

namespace {

class InputFilesTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ima-inputs-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "data" / "sub");
    std::ofstream(dir_ / "data" / "image.nii.gz") << "image";
    std::ofstream(dir_ / "data" / "sub" / "deep.dcm") << "slice";
    std::ofstream(dir_ / "other.nii.gz") << "other";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The message of checkNotAnInput, or "" when it passes.
  std::string refusal(const ima::InputFiles& inputs, const fs::path& output) const {
    try {
      inputs.checkNotAnInput(output.string(), "output");
      return "";
    } catch (const ima::Error& e) {
      return e.what();
    }
  }
  fs::path dir_;
};

TEST_F(InputFilesTest, AnInputIsRefusedUnderEverySpelling) {
  ima::InputFiles inputs;
  inputs.add((dir_ / "data" / "image.nii.gz").string());
  fs::create_symlink(dir_ / "data" / "image.nii.gz", dir_ / "link.nii.gz");
  fs::create_hard_link(dir_ / "data" / "image.nii.gz", dir_ / "hard.nii.gz");
  fs::create_directory_symlink(dir_ / "data", dir_ / "datalink");
  const fs::path spellings[] = {dir_ / "data" / "image.nii.gz", dir_ / "data" / "sub" / ".." / "image.nii.gz",
                                dir_ / "link.nii.gz", dir_ / "hard.nii.gz", dir_ / "datalink" / "image.nii.gz"};
  for (const fs::path& p : spellings) {
    const std::string message = refusal(inputs, p);
    EXPECT_NE(message.find("output '" + p.string() + "' is the input '" + (dir_ / "data" / "image.nii.gz").string()),
              std::string::npos)
        << p << ": " << message;
  }
  EXPECT_EQ(refusal(inputs, dir_ / "other.nii.gz"), "");     // another file
  EXPECT_EQ(refusal(inputs, dir_ / "missing.nii.gz"), "");   // not written yet
  EXPECT_EQ(refusal(inputs, ""), "");                        // no output asked for
}

TEST_F(InputFilesTest, ADirectoryStandsForEveryFileBelowIt) {
  ima::InputFiles inputs;
  inputs.add((dir_ / "data").string()).add((dir_ / "missing").string());
  fs::create_hard_link(dir_ / "data" / "sub" / "deep.dcm", dir_ / "copy.dcm");
  EXPECT_NE(refusal(inputs, dir_ / "copy.dcm").find("deep.dcm"), std::string::npos);
  EXPECT_NE(refusal(inputs, dir_ / "data" / "image.nii.gz"), "");
  EXPECT_EQ(refusal(inputs, dir_ / "other.nii.gz"), "");
}

TEST_F(InputFilesTest, SameFileComparesExistingFilesByInodeAndNewOnesByResolvedPath) {
  fs::create_hard_link(dir_ / "other.nii.gz", dir_ / "hard.nii.gz");
  EXPECT_TRUE(ima::sameFile((dir_ / "other.nii.gz").string(), (dir_ / "hard.nii.gz").string()));
  EXPECT_FALSE(ima::sameFile((dir_ / "other.nii.gz").string(), (dir_ / "data" / "image.nii.gz").string()));
  EXPECT_TRUE(ima::sameFile((dir_ / "new.json").string(), (dir_ / "data" / ".." / "new.json").string()));
  EXPECT_FALSE(ima::sameFile((dir_ / "new.json").string(), (dir_ / "new.csv").string()));
}

}  // namespace

}  // namespace InputFilesGTest
