// A test fixture with a fresh directory per test, removed afterwards, for tests that run programs:
// root_ holds the harness's own files (captured stdout and stderr), root_/work the program's, so
// that listing() of the work directory is exactly what the program left behind.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace ima::test {

class ScratchDirectoryTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "ima-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    work_ = root_ / "work";
    std::filesystem::create_directories(work_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  // Every file and directory below the work directory (hidden ones included), relative.
  std::set<std::string> listing() const {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::recursive_directory_iterator(work_))
      names.insert(std::filesystem::relative(e.path(), work_).string());
    return names;
  }

  std::filesystem::path root_, work_;
};

}  // namespace ima::test
