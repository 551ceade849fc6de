// Failed writes are errors, never short files: the core's atomic writer and the trainer's
// checkpoint under a real write failure. The failure is injected with a file size limit
// (RLIMIT_FSIZE, SIGXFSZ ignored): write() then fails with EFBIG exactly as it fails with ENOSPC on a
// full disk, on any machine and without privileges.
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <sys/resource.h>

#include "TestModels.h"
#include "ima/Error.h"
#include "ima/Files.h"
#include "ima/Phantoms.h"
#include "ima/Training.h"

namespace CheckedWritesGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

namespace {

// Files larger than `bytes` cannot be written while it lives.
class FileSizeLimit {
public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previousHandler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previousHandler_);
  }

private:
  rlimit saved_{};
  void (*previousHandler_)(int) = nullptr;
};

class CheckedWrites : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ima-writes-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::set<std::string> names() const {
    std::set<std::string> n;
    for (const auto& e : fs::directory_iterator(dir_)) n.insert(e.path().filename().string());
    return n;
  }
  fs::path dir_;
};

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(CheckedWrites, AFailedWriteIsAnErrorAndKeepsTheOldFile) {
  const fs::path target = dir_ / "report.json";
  std::ofstream(target) << "the previous report";
  const std::string big(100000, 'x');
  std::string message;
  {
    FileSizeLimit limit(4096);
    try {
      ima::writeFileAtomically(target.string(), big);
    } catch (const ima::Error& e) {
      message = e.what();
    }
  }
  EXPECT_NE(message.find("cannot write '" + target.string() + "'"), std::string::npos) << message;
  EXPECT_NE(message.find(std::strerror(EFBIG)), std::string::npos) << message;
  EXPECT_EQ(readAll(target), "the previous report");
  EXPECT_EQ(names(), (std::set<std::string>{"report.json"}));  // no temporary left
  // The same write without the limit succeeds (the limit was the only cause).
  ima::writeFileAtomically(target.string(), big);
  EXPECT_EQ(readAll(target), big);
}

TEST_F(CheckedWrites, TrainingStopsWhenItsCheckpointCannotBeWritten) {
  ima::TrainingOptions o;
  o.epochs = 2;
  o.iterationsPerEpoch = 1;
  o.batchSize = 2;
  o.runtime.device = "cpu";
  o.runtime.threads = 1;
  o.checkpointPath = (dir_ / "run.ckpt").string();
  ima::PhantomOptions phantom;
  phantom.size = 16;
  auto [image, labels] = ima::makePhantom(phantom, 0);
  const std::vector<ima::LabelledCase> cases{{"case0", std::move(image), std::move(labels)}};
  ima::SegmentationTrainer trainer(ima::Model::create(imatest::tinyUNetMetadata(2), 1), o);
  std::string message;
  int epochsReported = 0;
  {
    FileSizeLimit limit(4096);  // the tiny U-Net's checkpoint is larger
    try {
      trainer.run(cases, {}, [&](const ima::EpochReport&) { return ++epochsReported > 0; });
    } catch (const ima::Error& e) {
      message = e.what();
    }
  }
  EXPECT_NE(message.find(o.checkpointPath), std::string::npos) << message;
  EXPECT_EQ(epochsReported, 0);  // stopped at the first checkpoint, before reporting the epoch done
  EXPECT_TRUE(names().empty()) << *names().begin();
}

}  // namespace

}  // namespace CheckedWritesGTest
