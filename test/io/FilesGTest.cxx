// The primitives every writer of the project places its files with (ima/Files.h): flushFile and
// moveIntoPlace, checked on real files: what ends up at the target, and that a failure leaves
// neither the temporary nor a changed target behind.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "../common/ScratchDirectoryTest.h"
#include "ima/Error.h"
#include "ima/Files.h"

namespace FilesGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

namespace {

class PlacingFiles : public ima::test::ScratchDirectoryTest {
protected:
  void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
  std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(PlacingFiles, TheTemporaryNameIsNextToTheTargetAndNewEachTime) {
  const std::string target = (work_ / "report.json").string();
  const std::string a = ima::temporaryPathFor(target), b = ima::temporaryPathFor(target);
  EXPECT_NE(a, b);
  EXPECT_EQ(fs::path(a).parent_path(), work_);
  EXPECT_EQ(a.rfind(target, 0), 0u) << a;
}

TEST_F(PlacingFiles, AFlushedFileReplacesTheTargetAndTheTemporaryIsGone) {
  const fs::path target = work_ / "out.txt";
  write(target, "old");
  const std::string temporary = ima::temporaryPathFor(target.string());
  write(temporary, "new contents");
  ima::flushFile(temporary, target.string());
  ima::moveIntoPlace(temporary, target.string());
  EXPECT_EQ(read(target), "new contents");
  EXPECT_EQ(listing(), (std::set<std::string>{"out.txt"}));
}

TEST_F(PlacingFiles, FlushingAFileThatIsNotThereIsAnErrorNamingTheTarget) {
  try {
    ima::flushFile((work_ / "missing").string(), "/data/out.nii.gz");
    FAIL() << "no error";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/data/out.nii.gz"), std::string::npos) << e.what();
  }
}

TEST_F(PlacingFiles, AFailedMoveRemovesTheTemporaryAndNamesTheTarget) {
  const std::string temporary = ima::temporaryPathFor((work_ / "out.txt").string());
  write(temporary, "data");
  const std::string target = (work_ / "no-such-directory" / "out.txt").string();
  try {
    ima::moveIntoPlace(temporary, target);
    FAIL() << "no error";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find(target), std::string::npos) << e.what();
  }
  EXPECT_TRUE(listing().empty());
}

}  // namespace

}  // namespace FilesGTest
