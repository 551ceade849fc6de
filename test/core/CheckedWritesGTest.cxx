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
#include "ima/Sha256.h"
#include "ima/Training.h"
#include "internal/ChecksummedFile.h"

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

// A checkpoint is streamed in pieces through its checksum: the file must be the content followed by
// "IMASHA256" and the content's SHA-256 as the one-shot function computes it; reading it back in
// place gives the content, and a changed or missing byte is refused.
TEST_F(CheckedWrites, AStreamedChecksummedFileIsItsContentAndTrailerAndReadsBack) {
  std::string content;
  for (size_t i = 0; i < 300000; ++i) content += static_cast<char>((i * 7919) % 251);
  const fs::path target = dir_ / "run.ckpt";
  const size_t pieces[] = {1, 63, 64, 65, 4096, 100000};
  ima::writeChecksummedFile(target.string(), [&](const ima::ByteSink& sink) {
    size_t done = 0;
    for (size_t i = 0; done < content.size(); ++i) {
      const size_t n = std::min(pieces[i % 6], content.size() - done);
      sink(content.data() + done, n);
      done += n;
    }
  });
  EXPECT_EQ(readAll(target), content + "IMASHA256" + ima::sha256Hex(content));
  {
    const ima::CheckedFile file(target.string(), "checkpoint");
    ASSERT_EQ(file.size(), content.size());
    std::string back(content.size(), '\0');
    EXPECT_EQ(file.read(0, back.data(), 1000), 1000u);
    EXPECT_EQ(file.read(1000, back.data() + 1000, content.size()), content.size() - 1000);  // stops at the content's end
    EXPECT_EQ(back, content);
    char byte = 0;
    EXPECT_EQ(file.read(content.size(), &byte, 1), 0u);  // the trailer is not content
  }
  const auto refusal = [&](const std::string& bytes) {
    std::ofstream(target, std::ios::binary | std::ios::trunc) << bytes;
    try {
      ima::CheckedFile file(target.string(), "checkpoint");
    } catch (const ima::Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  std::string changed = content + "IMASHA256" + ima::sha256Hex(content);
  changed[150000] ^= 1;
  EXPECT_NE(refusal(changed).find("'" + target.string() + "' is corrupt"), std::string::npos) << refusal(changed);
  const std::string shortened = changed.substr(0, changed.size() - 1);
  EXPECT_NE(refusal(shortened).find("has no checksum trailer"), std::string::npos) << refusal(shortened);
  EXPECT_NE(refusal("").find("has no checksum trailer"), std::string::npos) << refusal("");
  fs::remove(target);
  try {
    ima::CheckedFile file(target.string(), "checkpoint");
    ADD_FAILURE() << "a missing file was opened";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + target.string() + "' cannot be opened"), std::string::npos) << e.what();
  }
}

// A producer that fails half way leaves neither a temporary nor a changed file.
TEST_F(CheckedWrites, AStreamedWriteWhoseProducerFailsLeavesTheOldFile) {
  const fs::path target = dir_ / "run.ckpt";
  std::ofstream(target) << "the previous checkpoint";
  EXPECT_THROW(ima::writeChecksummedFile(target.string(),
                                         [](const ima::ByteSink& sink) {
                                           sink("half", 4);
                                           throw ima::Error("the archive failed");
                                         }),
               ima::Error);
  EXPECT_EQ(readAll(target), "the previous checkpoint");
  EXPECT_EQ(names(), (std::set<std::string>{"run.ckpt"}));
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
