// Multi-process tests of `ima train` and `ima batch harden` (docs/distributed.md): two `ima`
// processes on loopback given the variables torchrun sets, each in its own working directory, so
// that what each one writes and prints is seen apart. Every test here is named Distributed*
// (`--gtest_filter='*Distributed*'`, `ctest -R Distributed`).
#include "CLITestSupport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

namespace imaCLIDistributedGTest {  // this file's names apart from the others' in a unity build

using namespace imatest::cli;
using namespace std::chrono_literals;

namespace {

// A port nobody listens on now (the kernel's choice for port 0).
int freePort() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(s);
  return ntohs(a.sin_port);
}

// Shard membership by 64-bit FNV-1a of the series UID, written out here from the published
// constants (the oracle for which series each process must read).
uint64_t fnv1a(const std::string& key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

class DistributedCLI : public ImaCLI {
protected:
  // Starts `ima ARGS` as process `rank` of `world` in work_/DIR (created), output to root_/DIR.out
  // and root_/DIR.err. `environment`: further variables (or overrides).
  pid_t startProcess(const std::string& dir, const std::string& args, const std::map<std::string, std::string>& environment) {
    fs::create_directories(work_ / dir);
    const std::string command = "exec '" + std::string(IMA_EXECUTABLE) + "' " + args + " >'" + (root_ / (dir + ".out")).string() +
                                "' 2>'" + (root_ / (dir + ".err")).string() + "' </dev/null";
    const pid_t pid = fork();
    if (pid == 0) {
      if (::chdir((work_ / dir).c_str()) != 0) _exit(127);
      for (const auto& [k, v] : environment) ::setenv(k.c_str(), v.c_str(), 1);
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }
  static std::map<std::string, std::string> rankVariables(int rank, int world, int port) {
    return {{"RANK", std::to_string(rank)}, {"WORLD_SIZE", std::to_string(world)}, {"LOCAL_RANK", std::to_string(rank)},
            {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}};
  }
  RunResult finishProcess(pid_t pid, const std::string& dir) const {
    int status = 0;
    waitpid(pid, &status, 0);
    RunResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r.out = readText(root_ / (dir + ".out"));
    r.err = readText(root_ / (dir + ".err"));
    return r;
  }
  // Runs `args` as ranks 0 and 1 of 2, in work_/rank0 and work_/rank1.
  std::pair<RunResult, RunResult> runTwoProcesses(const std::string& args) {
    const int port = freePort();
    const pid_t p0 = startProcess("rank0", args, rankVariables(0, 2, port));
    const pid_t p1 = startProcess("rank1", args, rankVariables(1, 2, port));
    RunResult r1 = finishProcess(p1, "rank1");
    return {finishProcess(p0, "rank0"), r1};
  }
  std::set<std::string> filesIn(const std::string& dir) const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(work_ / dir)) names.insert(e.path().filename().string());
    return names;
  }

  // A DICOM archive of `count` CT series labelled by SEGs, whose UIDs are chosen so that each of
  // the 2 shards holds count/2 of them; returns the UIDs by shard (0-based).
  std::vector<std::set<std::string>> labelledArchive(int count) {
    std::vector<std::set<std::string>> byShard(2);
    for (int candidate = 1; static_cast<int>(byShard[0].size() + byShard[1].size()) < count; ++candidate) {
      ima::dicomtest::CtPhantom p;
      p.columns = p.rows = 16;
      p.slices = 2;
      p.seriesUid = "1.2.826.0.1.3680043.8.498.7715." + std::to_string(candidate);
      auto& mine = byShard[fnv1a(p.seriesUid) % 2];
      if (static_cast<int>(mine.size()) == count / 2) continue;
      mine.insert(p.seriesUid);
      const fs::path dir = work_ / "archive" / ("s" + std::to_string(candidate));
      p.write(dir);
      const auto series = ima::dicom::scanDirectory(dir.string());
      ima::LabelMap labels(ima::Shape{{16, 16, 2}}, 1, series.at(0).geometry);
      for (size_t i = 0; i < labels.data.size(); ++i) labels.data[i] = static_cast<uint8_t>((i % 16 > 4 && i % 16 < 11) ? 1 : 0);
      ima::dicom::writeSegmentation((work_ / "archive" / ("seg" + std::to_string(candidate) + ".dcm")).string(), labels,
                                    series.at(0), {{1, "liver", {}, {}, {200, 50, 50}}});
    }
    return byShard;
  }
};

std::vector<nlohmann::json> logLines(const fs::path& log) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(readText(log));
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

}  // namespace

// `ima train` as 2 processes: both succeed; rank 0 alone prints (epoch lines, the result) and writes
// (model, checkpoint, log), rank 1 prints nothing on stdout and leaves its directory empty; the
// model's training settings and every log line record world size 2 and the Gloo backend.
TEST_F(DistributedCLI, DistributedTrainRankZeroAloneWritesAndPrints) {
  ASSERT_EQ(run("phantoms --out data --count 4 --size 16 --dims 2 --quiet").code, 0);
  const auto [r0, r1] = runTwoProcesses("train --images ../data/images --labels ../data/labels --out model.imamodel "
                                        "--epochs 2 --iterations 2 --batch 4 --features 4 --stages 2 --device cpu "
                                        "--threads 1 --dist-timeout 60");
  ASSERT_EQ(r0.code, 0) << r0.out << r0.err;
  ASSERT_EQ(r1.code, 0) << r1.out << r1.err;
  EXPECT_NE(r0.out.find("epoch 2/2"), std::string::npos) << r0.out;
  EXPECT_NE(r0.out.find("wrote model.imamodel"), std::string::npos) << r0.out;
  EXPECT_EQ(r1.out, "");
  EXPECT_EQ(r1.err.find("epoch"), std::string::npos) << r1.err;
  EXPECT_EQ(filesIn("rank0"), (std::set<std::string>{"model.imamodel", "model.imamodel.ckpt", "model.imamodel.log.jsonl"}));
  EXPECT_EQ(filesIn("rank1"), std::set<std::string>{});
  const auto settings = nlohmann::json::parse(ima::readModelMetadata((work_ / "rank0" / "model.imamodel").string()).trainingSettingsJson);
  EXPECT_EQ(settings.at("world_size"), 2);
  EXPECT_EQ(settings.at("backend"), "gloo");
  const auto lines = logLines(work_ / "rank0" / "model.imamodel.log.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) {
    EXPECT_EQ(line.at("world_size"), 2) << line.dump();
    EXPECT_EQ(line.at("backend"), "gloo") << line.dump();
  }
}

// `ima batch harden` as 2 processes on an archive of 4 labelled series, 2 in each shard: each
// process reads its own shard (rank 0 says it read 2), the model lists all 4 series, only rank 0
// prints and writes.
TEST_F(DistributedCLI, DistributedBatchHardenReadsOneShardPerProcessAndTrainsOneModel) {
  makeModel("m.imamodel", true);
  const auto byShard = labelledArchive(4);
  const auto [r0, r1] = runTwoProcesses("batch harden --model ../m.imamodel --input ../archive --out hard.imamodel "
                                        "--epochs 2 --iterations 2 --batch 2 --eps-max 1 --delta 0.1 --pgd-steps 2 "
                                        "--bisection-steps 2 --device cpu --threads 1 --dist-timeout 60");
  ASSERT_EQ(r0.code, 0) << r0.out << r0.err;
  ASSERT_EQ(r1.code, 0) << r1.out << r1.err;
  EXPECT_NE(r0.out.find("on 4 labelled series read by 2 processes (2 by rank 0)"), std::string::npos) << r0.out;
  EXPECT_NE(r0.out.find("margins mean"), std::string::npos) << r0.out;
  EXPECT_EQ(r1.out, "");
  EXPECT_EQ(filesIn("rank0"), (std::set<std::string>{"hard.imamodel", "hard.imamodel.ckpt", "hard.imamodel.log.jsonl"}));
  EXPECT_EQ(filesIn("rank1"), std::set<std::string>{});
  const ima::ModelMetadata m = ima::readModelMetadata((work_ / "rank0" / "hard.imamodel").string());
  const auto series = nlohmann::json::parse(m.provenanceJson).at("training_series").get<std::vector<std::string>>();
  ASSERT_EQ(series.size(), 4u);
  // In rank order: rank 0's shard, then rank 1's.
  EXPECT_EQ(std::set<std::string>(series.begin(), series.begin() + 2), byShard[0]);
  EXPECT_EQ(std::set<std::string>(series.begin() + 2, series.end()), byShard[1]);
  const auto settings = nlohmann::json::parse(m.trainingSettingsJson);
  EXPECT_EQ(settings.at("world_size"), 2);
  EXPECT_EQ(settings.at("backend"), "gloo");
}

// One process of a scheduler's array: `batch harden --shard auto` reads the shard the Slurm or
// Kubernetes variables name; the two shards' series are disjoint and together every labelled series.
// Under torchrun an explicit --shard other than RANK+1/WORLD_SIZE is a usage error, before connecting.
TEST_F(DistributedCLI, DistributedBatchHardenShardAutoReadsTheSchedulersShard) {
  makeModel("m.imamodel", true);
  const auto byShard = labelledArchive(4);
  const std::string args = "batch harden --model ../m.imamodel --input ../archive --out hard.imamodel --epochs 1 "
                           "--iterations 1 --batch 2 --eps-max 1 --pgd-steps 1 --bisection-steps 1 --device cpu "
                           "--threads 1 --quiet --shard auto";
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> jobs = {
      {"slurm1", {{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_COUNT", "2"}}},
      {"slurm2", {{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_COUNT", "2"}}},
      {"k8s1", {{"JOB_COMPLETION_INDEX", "1"}, {"IMA_SHARD_COUNT", "2"}}}};
  std::map<std::string, std::set<std::string>> read;
  for (const auto& [dir, environment] : jobs) {
    const RunResult r = finishProcess(startProcess(dir, args, environment), dir);
    ASSERT_EQ(r.code, 0) << dir << r.err;
    const ima::ModelMetadata m = ima::readModelMetadata((work_ / dir / "hard.imamodel").string());
    const auto provenance = nlohmann::json::parse(m.provenanceJson);
    const auto series = provenance.at("training_series").get<std::vector<std::string>>();
    read[dir] = std::set<std::string>(series.begin(), series.end());
    EXPECT_EQ(provenance.at("shard"), dir == "slurm1" ? "1/2" : "2/2") << dir;
  }
  EXPECT_EQ(read["slurm1"], byShard[0]);
  EXPECT_EQ(read["slurm2"], byShard[1]);
  EXPECT_EQ(read["k8s1"], byShard[1]);

  auto torchrun = rankVariables(1, 2, freePort());
  const RunResult r = finishProcess(startProcess("mismatch", "batch harden --model ../m.imamodel --input ../archive "
                                                             "--out hard.imamodel --shard 1/2 --dist-timeout 60",
                                                 torchrun),
                                    "mismatch");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("RANK=1 of WORLD_SIZE=2"), std::string::npos) << r.err;
}

// Killing rank 1 after the first epoch makes rank 0 exit 1 well within --dist-timeout, with a
// message naming the failed collective; no model is written.
TEST_F(DistributedCLI, DistributedTrainKilledRankMakesTheOtherFailWithAMessage) {
  ASSERT_EQ(run("phantoms --out data --count 4 --size 16 --dims 2 --quiet").code, 0);
  const std::string args = "train --images ../data/images --labels ../data/labels --out model.imamodel --epochs 500 "
                           "--iterations 2 --batch 4 --features 4 --stages 2 --device cpu --threads 1 --dist-timeout 8";
  const int port = freePort();
  const pid_t p0 = startProcess("rank0", args, rankVariables(0, 2, port));
  const pid_t p1 = startProcess("rank1", args, rankVariables(1, 2, port));
  const fs::path log = work_ / "rank0" / "model.imamodel.log.jsonl";
  for (auto waited = 0ms; !fs::exists(log) && waited < 15s; waited += 50ms) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(fs::exists(log)) << "no epoch finished";
  ::kill(p1, SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  int status = 0;
  while (::waitpid(p0, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() - killed < 15s)
    std::this_thread::sleep_for(50ms);
  const bool ended = WIFEXITED(status) || WIFSIGNALED(status);
  if (!ended) ::kill(p0, SIGKILL);
  ::waitpid(p1, nullptr, 0);
  const RunResult r0 = ended ? RunResult{WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, readText(root_ / "rank0.out"),
                                         readText(root_ / "rank0.err")}
                             : finishProcess(p0, "rank0");
  ASSERT_TRUE(ended) << "rank 0 still running 15 s after rank 1 was killed";
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 12s);
  EXPECT_EQ(r0.code, 1) << r0.err;
  EXPECT_NE(r0.err.find("distributed training"), std::string::npos) << r0.err;
  EXPECT_NE(r0.err.find("rank 0 of 2"), std::string::npos) << r0.err;
  EXPECT_FALSE(fs::exists(work_ / "rank0" / "model.imamodel"));
}

// Bad variables: a RANK outside [0, WORLD_SIZE) and a master nobody hosts are errors naming the
// variable (exit 1), within the timeout.
TEST_F(DistributedCLI, DistributedBadVariablesAreErrorsNamingTheVariable) {
  ASSERT_EQ(run("phantoms --out data --count 2 --size 16 --dims 2 --quiet").code, 0);
  const std::string args = "train --images ../data/images --labels ../data/labels --out model.imamodel --epochs 1 "
                           "--iterations 1 --features 4 --stages 2 --device cpu --threads 1 --dist-timeout 2";
  auto variables = rankVariables(2, 2, freePort());
  RunResult r = finishProcess(startProcess("badrank", args, variables), "badrank");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("RANK='2'"), std::string::npos) << r.err;
  variables = rankVariables(1, 2, freePort());  // rank 1: connects to a store nobody hosts
  r = finishProcess(startProcess("nomaster", args, variables), "nomaster");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("MASTER_ADDR:MASTER_PORT=127.0.0.1:" + variables["MASTER_PORT"]), std::string::npos) << r.err;
  EXPECT_EQ(filesIn("badrank"), std::set<std::string>{});
  EXPECT_EQ(filesIn("nomaster"), std::set<std::string>{});
}

}  // namespace imaCLIDistributedGTest
