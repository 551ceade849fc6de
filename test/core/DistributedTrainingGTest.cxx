// Data-parallel training on c10d (docs/distributed.md): two processes on loopback, forked by the
// test and given the variables torchrun would set, against one process with the same global batch.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "TestModels.h"
#include "ima/Communicator.h"
#include "ima/Error.h"
#include "ima/MarginState.h"
#include "ima/Network.h"
#include "ima/Phantoms.h"
#include "ima/Training.h"
#include "ima/WarmStarts.h"
#include "internal/DataParallel.h"
#include "internal/Losses.h"

namespace DistributedTrainingGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;
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

ima::DistributedEnvironment loopback(int rank, int world, int port) {
  ima::DistributedEnvironment e;
  e.rank = rank;
  e.worldSize = world;
  e.localRank = rank;
  e.masterAddress = "127.0.0.1";
  e.masterPort = port;
  return e;
}

std::vector<ima::LabelledCase> phantoms(int count, int64_t size, int first = 0) {
  std::vector<ima::LabelledCase> cases;
  ima::PhantomOptions o;
  o.size = size;
  for (int i = first; i < first + count; ++i) {
    auto [image, labels] = ima::makePhantom(o, i);
    cases.push_back({"case" + std::to_string(i), std::move(image), std::move(labels)});
  }
  return cases;
}

ima::ModelMetadata metadata() {
  auto m = imatest::tinyUNetMetadata(2, 1, 3);
  m.patchSize = {16, 16};
  return m;
}

ima::TrainingOptions options(const std::string& method) {
  ima::TrainingOptions o;
  o.method = ima::trainingMethodNamed(method);
  o.epochs = 2;
  o.iterationsPerEpoch = 3;
  o.batchSize = 4;
  o.runtime.device = "cpu";
  o.runtime.threads = 1;
  o.adversarial.pgdSteps = 3;
  o.adversarial.bisectionSteps = 4;
  o.adversarial.delta = 0.1;
  o.adversarial.epsMax = 2.0;
  o.adversarial.tau = 0.0;
  return o;
}

// IMA's warm starts as WarmStarts::tensors() gives them: ids, placements, deltas (empty: none).
using WarmTable = std::vector<torch::Tensor>;

WarmTable warmTable(const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  WarmTable t;
  for (const auto& [name, tensor] : named) t.push_back(tensor);
  return t;
}

// What a run leaves for comparison: the weights and, for IMA, the margins and this process's warm
// starts at the end of its last epoch and right after its resume (the checkpoint's).
struct RunResult {
  std::vector<torch::Tensor> weights;
  std::vector<double> margins;
  std::vector<ima::EpochReport> reports;
  WarmTable warm, resumedWarm;
};

void writeResult(const RunResult& r, const std::string& path) {
  torch::save(r.weights, path + ".pt");
  std::ofstream(path + ".json") << nlohmann::json(r.margins).dump();
  for (const auto& [table, name] : {std::pair{&r.warm, ".warm.pt"}, std::pair{&r.resumedWarm, ".resumed-warm.pt"}}) {
    fs::remove(path + name);  // an earlier run's table must not stand in for a missing one
    if (!table->empty()) torch::save(*table, path + name);
  }
}

RunResult readResult(const std::string& path) {
  RunResult r;
  torch::load(r.weights, path + ".pt");
  r.margins = nlohmann::json::parse(std::ifstream(path + ".json")).get<std::vector<double>>();
  for (const auto& [table, name] : {std::pair{&r.warm, ".warm.pt"}, std::pair{&r.resumedWarm, ".resumed-warm.pt"}})
    if (fs::exists(path + name)) torch::load(*table, path + name);
  return r;
}

std::vector<int64_t> warmIds(const WarmTable& t) {
  if (t.empty()) return {};
  return std::vector<int64_t>(t[0].data_ptr<int64_t>(), t[0].data_ptr<int64_t>() + t[0].numel());
}

class DistributedTraining : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ima_distributed_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Trains once, connected as `rank` of `world` (world 1: no communicator).
  // `training`: the cases of this rank (default: the same two phantoms on every rank). `into`, if
  // given, is filled as the run goes, so that a run stopped by `onEpoch` leaves what it had.
  static RunResult train(const ima::TrainingOptions& base, int rank, int world, int port,
                         const std::string& resume = "", const ima::EpochCallback& onEpoch = {},
                         const std::vector<ima::LabelledCase>& training = phantoms(2, 16), RunResult* into = nullptr) {
    ima::TrainingOptions o = base;
    if (world > 1) o.communicator = ima::Communicator::connect(loopback(rank, world, port), "cpu", 20s);
    ima::SegmentationTrainer trainer(ima::Model::create(metadata(), 5), o);
    RunResult local;
    RunResult& r = into ? *into : local;
    if (!resume.empty()) {
      trainer.resumeFrom(resume);
      r.resumedWarm = warmTable(trainer.warmStarts().tensors());
    }
    const auto model = trainer.run(training, phantoms(3, 16), [&](const ima::EpochReport& e) {
      r.reports.push_back(e);
      r.warm = warmTable(trainer.warmStarts().tensors());
      return !onEpoch || onEpoch(e);
    });
    for (const auto& p : model.network()->parameters()) r.weights.push_back(p.detach().clone());
    r.margins = (o.method == ima::TrainingMethodKind::Ima) ? nlohmann::json::parse(trainer.marginsJson()).at("eps").get<std::vector<double>>()
                                    : std::vector<double>{};
    return r;
  }

  // Runs `rank1` in a forked process and `rank0` here; returns the child's exit status.
  static int inTwoProcesses(const std::function<void()>& rank0, const std::function<void()>& rank1) {
    const pid_t child = ::fork();
    if (child == 0) {
      int code = 0;
      try {
        rank1();
      } catch (const std::exception& e) {
        std::cerr << "rank 1: " << e.what() << "\n";
        code = 1;
      }
      ::_exit(code);
    }
    rank0();
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }

  fs::path dir_;
};

double maxDifference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  return worst;
}

}  // namespace

TEST(DistributedEnvironment, ReadsTorchrunsVariablesAndNamesTheBadOne) {
  std::map<std::string, std::string> env;
  auto lookup = [&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  EXPECT_FALSE(ima::distributedEnvironment(lookup).has_value());  // no variables: one process, as before
  env = {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.1"},
         {"MASTER_PORT", "29500"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}};
  const auto e = ima::distributedEnvironment(lookup);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->rank, 1);
  EXPECT_EQ(e->worldSize, 2);
  EXPECT_EQ(e->localRank, 1);
  EXPECT_EQ(e->masterAddress, "10.0.0.1");
  EXPECT_EQ(e->masterPort, 29500);
  EXPECT_TRUE(e->agentHostsStore);
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> bad = {
      {{{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}, "RANK='2'"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "x"}}, "WORLD_SIZE='x'"},
      {{{"RANK", "0"}}, "WORLD_SIZE is not"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}, "MASTER_ADDR"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}, "MASTER_PORT"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT='70000'"}};
  for (const auto& [variables, fragment] : bad) {
    env = variables;
    try {
      ima::distributedEnvironment(lookup);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const ima::Error& x) {
      EXPECT_NE(std::string(x.what()).find(fragment), std::string::npos) << x.what();
    }
  }
}

TEST(DistributedEnvironment, BatchSlotsSplitTheGlobalBatchEvenly) {
  // 10 samples over 4 ranks: floor(10 r / 4) = 0, 2, 5, 7, 10.
  EXPECT_EQ(ima::batchSlots(10, 0, 4), std::make_pair(0, 2));
  EXPECT_EQ(ima::batchSlots(10, 1, 4), std::make_pair(2, 5));
  EXPECT_EQ(ima::batchSlots(10, 2, 4), std::make_pair(5, 7));
  EXPECT_EQ(ima::batchSlots(10, 3, 4), std::make_pair(7, 10));
  EXPECT_EQ(ima::batchSlots(8, 0, 1), std::make_pair(0, 8));
}

// nnU-Net's Dice+CE of a global batch of 5 split 2 + 3 over two "processes" (their sums exchanged
// by hand): the shares (2/5, 3/5) times each part's loss and gradient add up to the loss and the
// gradient of the whole batch (the oracle: diceCrossEntropy on all 5 samples).
TEST(DistributedLoss, SharesOfTheGlobalBatchDiceCrossEntropyAddUpToTheWholeBatchs) {
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({5, 3, 6, 4}, torch::kDouble);
  const torch::Tensor target = torch::randint(0, 3, {5, 6, 4}, torch::kLong);
  const torch::Tensor wholeLogits = logits.clone().requires_grad_(true);
  const torch::Tensor whole = ima::diceCrossEntropy(wholeLogits, target);
  whole.backward();
  const std::vector<std::pair<int64_t, int64_t>> parts = {{0, 2}, {2, 3}};  // (first, count)
  // Each part's own sums, as the collective would contribute them.
  std::vector<torch::Tensor> sums;
  for (const auto& [first, count] : parts)
    ima::diceCrossEntropyOfGlobalBatch(logits.narrow(0, first, count), target.narrow(0, first, count), 1.0,
                                       [&](const torch::Tensor& mine) {
                                         sums.push_back(mine.clone());
                                         return mine;
                                       });
  double value = 0;
  torch::Tensor gradient = torch::zeros_like(logits);
  for (size_t p = 0; p < parts.size(); ++p) {
    const auto [first, count] = parts[p];
    const double share = static_cast<double>(count) / 5;
    const torch::Tensor part = logits.narrow(0, first, count).clone().requires_grad_(true);
    const torch::Tensor loss = ima::diceCrossEntropyOfGlobalBatch(part, target.narrow(0, first, count), share,
                                                                  [&](const torch::Tensor&) { return sums[0] + sums[1]; });
    loss.backward();
    value += share * loss.item<double>();
    gradient.narrow(0, first, count).copy_(share * part.grad());
  }
  EXPECT_NEAR(value, whole.item<double>(), 1e-12);
  EXPECT_LT((gradient - wholeLogits.grad()).abs().max().item<double>(), 1e-12);
}

// Visits recorded by two processes and combined equal the same visits recorded by one, in order.
TEST(DistributedMargins, CombinedVisitsEqualOneProcessRecordingAllVisits) {
  const ima::MarginOptions o{0.1, 2.0, false};
  ima::MarginState one(4, o), a(4, o), b(4, o);
  // Global order: slot 0..3 of step 0, then step 1. Rank a has slots 0-1, rank b slots 2-3.
  struct Visit { int64_t id; bool correct, found; double distance; };
  const std::vector<std::vector<Visit>> steps = {
      {{0, true, true, 0.5}, {1, true, false, 0}, {0, false, false, 0}, {2, true, true, 0.3}},
      {{2, true, true, 0.7}, {0, true, false, 0}, {1, false, false, 0}, {2, true, false, 0}}};
  for (size_t s = 0; s < steps.size(); ++s) {
    a.setVisitClock(static_cast<int64_t>(s) * 4);
    b.setVisitClock(static_cast<int64_t>(s) * 4 + 2);
    for (size_t k = 0; k < 4; ++k) {
      const Visit& v = steps[s][k];
      one.recordVisit(v.id, v.correct, v.found, v.distance);
      (k < 2 ? a : b).recordVisit(v.id, v.correct, v.found, v.distance);
    }
  }
  // The all-reduces, done by hand: max of the clocks, then sums.
  std::vector<double> latest = a.visitClocks();
  const auto clocksB = b.visitClocks();
  for (size_t i = 0; i < latest.size(); ++i) latest[i] = std::max(latest[i], clocksB[i]);
  std::vector<double> sums = a.visitSums(latest);
  const auto sumsB = b.visitSums(latest);
  for (size_t i = 0; i < sums.size(); ++i) sums[i] += sumsB[i];
  a.setVisits(latest, sums);
  a.endEpoch();
  one.endEpoch();
  EXPECT_EQ(a.margins(), one.margins());
  // Hand-computed: sample 0 last visited correct, found once at 0.5 -> 0.5; sample 1 last visit
  // wrong -> unchanged 0.1; sample 2 found at 0.3 and 0.7 -> 0.5; sample 3 not visited -> 0.1.
  EXPECT_NEAR(one.margins()[0], 0.5, 1e-12);
  EXPECT_NEAR(one.margins()[1], 0.1, 1e-12);
  EXPECT_NEAR(one.margins()[2], 0.5, 1e-12);
  EXPECT_NEAR(one.margins()[3], 0.1, 1e-12);
}

// Bucketed all-reduce and broadcast of tensors of several dtypes: every element is the sum over
// ranks of (rank + 1) * value, i.e. 3 * value for two ranks; allGather returns every rank's text.
TEST_F(DistributedTraining, AllReduceAndBroadcastOfBucketsAreExact) {
  const int port = freePort();
  auto body = [&](int rank) {
    auto c = ima::Communicator::connect(loopback(rank, 2, port), "cpu", 20s);
    std::vector<torch::Tensor> t = {torch::arange(10, torch::kFloat).view({2, 5}) * (rank + 1),
                                    torch::arange(3, torch::kLong) * (rank + 1), torch::ones({7}, torch::kDouble) * (rank + 1)};
    c->allReduce(t);
    std::vector<torch::Tensor> b = {torch::full({4}, static_cast<float>(rank + 10))};
    c->broadcast(b);
    const auto texts = c->allGather(rank == 0 ? std::string("series \xc3\xa9") : std::string());
    if (texts != std::vector<std::string>{"series \xc3\xa9", ""}) throw std::runtime_error("allGather on rank " + std::to_string(rank));
    const bool ok = torch::equal(t[0], torch::arange(10, torch::kFloat).view({2, 5}) * 3) &&
                    torch::equal(t[1], torch::arange(3, torch::kLong) * 3) && torch::equal(t[2], torch::ones({7}, torch::kDouble) * 3) &&
                    torch::equal(b[0], torch::full({4}, 10.0f));
    if (!ok) throw std::runtime_error("wrong result on rank " + std::to_string(rank));
  };
  EXPECT_EQ(inTwoProcesses([&] { body(0); }, [&] { body(1); }), 0);
}

// Standard and IMA training: both ranks end with identical weights, equal to one process's with
// the same global batch and seeds up to float32 rounding (the sums over the batch are added in
// another order, docs/distributed.md "Equal to one process"; weights are O(0.1-1)), and IMA's
// margins equal to the last bit.
constexpr double kOneProcessTolerance = 1e-6;  // measured: 3e-8 (standard), 6e-8 (IMA)
TEST_F(DistributedTraining, TwoProcessesMatchOneProcessWithTheSameGlobalBatch) {
  for (const std::string method : {"standard", "ima"}) {
    SCOPED_TRACE(method);
    auto o = options(method);
    const RunResult one = train(o, 0, 1, 0);
    const int port = freePort();
    RunResult rank0;
    o.logPath = path(method + ".log");
    o.checkpointPath = path(method + ".ckpt");
    ima::TrainingOptions o1 = o;
    o1.logPath = path(method + "-rank1.log");
    o1.checkpointPath = path(method + "-rank1.ckpt");
    const int child = inTwoProcesses([&] { rank0 = train(o, 0, 2, port); },
                                     [&] { writeResult(train(o1, 1, 2, port), path("rank1")); });
    ASSERT_EQ(child, 0);
    const RunResult rank1 = readResult(path("rank1"));
    ASSERT_EQ(rank0.weights.size(), rank1.weights.size());
    for (size_t i = 0; i < rank0.weights.size(); ++i) EXPECT_TRUE(torch::equal(rank0.weights[i], rank1.weights[i])) << i;
    EXPECT_EQ(rank0.margins, rank1.margins);  // IMA: one margin table on every rank
    EXPECT_EQ(rank0.margins, one.margins);
    const double difference = maxDifference(rank0.weights, one.weights);
    EXPECT_LT(difference, kOneProcessTolerance);
    std::cout << method << ": largest weight difference to one process " << difference << "\n";
    // The same patches were drawn: the same samples were visited.
    for (size_t e = 0; e < one.reports.size(); ++e) {
      EXPECT_NEAR(rank0.reports[e].loss, one.reports[e].loss, 1e-5);
      EXPECT_EQ(rank0.reports[e].worldSize, 2);
      EXPECT_EQ(rank0.reports[e].validationDice.size(), one.reports[e].validationDice.size());
      if (method == "ima")
        EXPECT_EQ(rank0.reports[e].margins.value().visited, one.reports[e].margins.value().visited);
    }
    // Only rank 0 writes.
    EXPECT_TRUE(fs::exists(o.logPath) && fs::exists(o.checkpointPath));
    EXPECT_FALSE(fs::exists(o1.logPath) || fs::exists(o1.checkpointPath));
    if (method != "ima") continue;
    // IMA's warm starts: each rank keeps the samples it owns (even ids rank 0, odd ids rank 1), and
    // together they are one process's table.
    const std::vector<int64_t> ids0 = warmIds(rank0.warm), ids1 = warmIds(rank1.warm), idsOne = warmIds(one.warm);
    ASSERT_FALSE(ids0.empty());
    ASSERT_FALSE(ids1.empty());
    EXPECT_TRUE(std::all_of(ids0.begin(), ids0.end(), [](int64_t id) { return id % 2 == 0; }));
    EXPECT_TRUE(std::all_of(ids1.begin(), ids1.end(), [](int64_t id) { return id % 2 == 1; }));
    const torch::Tensor ids = torch::cat({rank0.warm[0], rank1.warm[0]});
    const torch::Tensor order = std::get<1>(ids.sort());
    EXPECT_TRUE(torch::equal(ids.index_select(0, order), one.warm[0]));
    EXPECT_TRUE(torch::equal(torch::cat({rank0.warm[1], rank1.warm[1]}).index_select(0, order), one.warm[1]));
    const torch::Tensor deltas = torch::cat({rank0.warm[2], rank1.warm[2]}).index_select(0, order);
    ASSERT_EQ(deltas.sizes(), one.warm[2].sizes());
    EXPECT_LT((deltas - one.warm[2]).abs().max().item<double>(), 1e-4);
  }
}

// The same with tau > 0, so that attacks cross the boundary and bisection sets margins: the
// distances each rank finds for its share of the batch are combined into one table, the table one
// process finds for the whole batch. The weights after the first step differ from one process's
// by float rounding only, far too little to move a bisection decision at B = 4 halvings. (An untrained
// tiny U-Net is "correct" only under a lenient criterion: pixel accuracy of at least 0.3.)
TEST_F(DistributedTraining, BisectionMarginsOfTwoProcessesEqualOneProcesss) {
  auto o = options("ima");
  o.adversarial.criterion = ima::Criterion::PixelAccuracy;
  o.adversarial.tau = 0.3;
  o.adversarial.delta = 0.5;
  o.epochs = 3;
  const RunResult one = train(o, 0, 1, 0);
  // Bisection set some margins: growth alone gives multiples of delta (0.5, 1, 1.5).
  const auto grown = [](double m) { return std::abs(m * 2 - std::round(m * 2)) < 1e-9; };
  ASSERT_FALSE(std::all_of(one.margins.begin(), one.margins.end(), grown));
  const int port = freePort();
  RunResult rank0;
  const int child = inTwoProcesses([&] { rank0 = train(o, 0, 2, port); },
                                   [&] { writeResult(train(o, 1, 2, port), path("rank1")); });
  ASSERT_EQ(child, 0);
  const RunResult rank1 = readResult(path("rank1"));
  EXPECT_EQ(rank0.margins, rank1.margins);
  ASSERT_EQ(rank0.margins.size(), one.margins.size());
  for (size_t i = 0; i < one.margins.size(); ++i) EXPECT_NEAR(rank0.margins[i], one.margins[i], 1e-6) << i;
  EXPECT_LT(maxDifference(rank0.weights, one.weights), kOneProcessTolerance);
}

// A 2-process checkpoint resumes in 2 processes to the weights of an uninterrupted 2-process run.
TEST_F(DistributedTraining, TwoProcessCheckpointResumesInTwoProcesses) {
  auto o = options("ima");
  RunResult straight, resumed;
  int port = freePort();
  ASSERT_EQ(inTwoProcesses([&] { straight = train(o, 0, 2, port); }, [&] { train(o, 1, 2, port); }), 0);
  o.checkpointPath = path("run.ckpt");
  auto stopAfterOne = [](const ima::EpochReport& e) { return e.epoch < 1; };
  port = freePort();
  RunResult first0;
  ASSERT_EQ(inTwoProcesses([&] { EXPECT_THROW(train(o, 0, 2, port, "", stopAfterOne, phantoms(2, 16), &first0), ima::Cancelled); },
                           [&] {
                             RunResult first1;
                             try {
                               train(o, 1, 2, port, "", stopAfterOne, phantoms(2, 16), &first1);
                             } catch (const ima::Cancelled&) {
                             }
                             writeResult(first1, path("first1"));
                           }),
            0);
  const RunResult first1 = readResult(path("first1"));
  port = freePort();
  ASSERT_EQ(inTwoProcesses([&] { resumed = train(o, 0, 2, port, o.checkpointPath); },
                           [&] { writeResult(train(o, 1, 2, port, o.checkpointPath), path("resumed1")); }),
            0);
  const RunResult resumed1 = readResult(path("resumed1"));
  for (size_t i = 0; i < straight.weights.size(); ++i) EXPECT_TRUE(torch::equal(straight.weights[i], resumed.weights[i])) << i;
  EXPECT_EQ(straight.margins, resumed.margins);
  // The checkpoint holds both ranks' warm starts as each owned them after epoch 1; each rank reads
  // them all (its table lists them in id order) and then keeps its own (even ids rank 0, odd rank 1).
  ASSERT_FALSE(first0.warm.empty());
  ASSERT_FALSE(first1.warm.empty());
  const torch::Tensor order = std::get<1>(torch::cat({first0.warm[0], first1.warm[0]}).sort());
  for (const RunResult* r : std::vector<const RunResult*>{&resumed, &resumed1}) {
    ASSERT_EQ(r->resumedWarm.size(), 3u);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_TRUE(torch::equal(r->resumedWarm[i], torch::cat({first0.warm[i], first1.warm[i]}).index_select(0, order))) << i;
  }
  const auto owned = [](const RunResult& r, int rank) {
    const std::vector<int64_t> ids = warmIds(r.warm);
    return !ids.empty() && std::all_of(ids.begin(), ids.end(), [&](int64_t id) { return id % 2 == rank; });
  };
  EXPECT_TRUE(owned(first0, 0) && owned(first1, 1) && owned(resumed, 0) && owned(resumed1, 1));
}

// A rank that dies (killed) or hangs (stopped) makes the other fail with a message, within the
// timeout, instead of waiting forever.
TEST_F(DistributedTraining, ADeadOrHungRankMakesTheOtherFailWithinTheTimeout) {
  for (const int signal : {SIGKILL, SIGSTOP}) {
    const int port = freePort();
    const pid_t child = ::fork();
    if (child == 0) {
      try {
        auto c = ima::Communicator::connect(loopback(1, 2, port), "cpu", 20s);
        std::vector<torch::Tensor> t = {torch::ones({4})};
        c->allReduce(t);  // one step together, then the parent signals this process
        ::pause();
      } catch (...) {
      }
      ::_exit(3);
    }
    auto c = ima::Communicator::connect(loopback(0, 2, port), "cpu", 3s);
    std::vector<torch::Tensor> t = {torch::ones({4})};
    c->allReduce(t);
    ::kill(child, signal);
    const auto started = std::chrono::steady_clock::now();
    try {
      c->allReduce(t);
      ADD_FAILURE() << "no error after signal " << signal;
    } catch (const ima::Error& e) {
      EXPECT_NE(std::string(e.what()).find("rank 0 of 2"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--dist-timeout"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  }
}

// Mismatched WORLD_SIZE and an unreachable master are errors naming the variable.
TEST_F(DistributedTraining, MismatchedWorldSizeAndUnreachableMasterAreClearErrors) {
  int port = freePort();
  std::string message;
  const int child = inTwoProcesses(
      [&] {
        try {
          ima::Communicator::connect(loopback(0, 2, port), "cpu", 5s);
        } catch (const ima::Error&) {
        }
      },
      [&] {
        auto e = loopback(1, 3, port);
        ima::Communicator::connect(e, "cpu", 5s);
      });
  EXPECT_EQ(child, 1);  // rank 1 saw WORLD_SIZE=3 against rank 0's 2
  port = freePort();
  try {
    ima::Communicator::connect(loopback(1, 2, port), "cpu", 1s);
    ADD_FAILURE() << "connected to nobody";
  } catch (const ima::Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("MASTER_ADDR:MASTER_PORT=127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
}

// Sharded cases (batch harden under torchrun): rank 0 holds phantoms 0-1, rank 1 phantoms 2-3. They
// end with the same weights and one margin table over all 4 cases' 64 slices, in which rank 1's
// slices (ids 32-63) were visited too (tau 0: every visited slice's margin moves off delta); the run
// is reproducible, and its epoch-1 checkpoint resumes to the uninterrupted run's weights.
TEST_F(DistributedTraining, ShardedCasesTrainOneModelOnTheUnionOfTheShards) {
  auto o = options("ima");
  o.casesShardedAcrossProcesses = true;
  auto twoRanks = [&](const ima::TrainingOptions& options, const std::string& resume, const ima::EpochCallback& stop) {
    RunResult rank0;
    const int port = freePort();
    const int child = inTwoProcesses(
        [&] {
          try {
            train(options, 0, 2, port, resume, stop, phantoms(2, 16, 0), &rank0);
          } catch (const ima::Cancelled&) {
          }
        },
        [&] {
          RunResult rank1;
          try {
            train(options, 1, 2, port, resume, stop, phantoms(2, 16, 2), &rank1);
          } catch (const ima::Cancelled&) {
          }
          writeResult(rank1, path("rank1"));
        });
    EXPECT_EQ(child, 0);
    return rank0;
  };
  const RunResult straight = twoRanks(o, "", {});
  const RunResult rank1 = readResult(path("rank1"));
  for (size_t i = 0; i < straight.weights.size(); ++i) EXPECT_TRUE(torch::equal(straight.weights[i], rank1.weights[i])) << i;
  ASSERT_EQ(straight.margins.size(), 64u);
  EXPECT_EQ(straight.margins, rank1.margins);
  int movedLow = 0, movedHigh = 0;
  for (size_t id = 0; id < 64; ++id) (id < 32 ? movedLow : movedHigh) += straight.margins[id] != 0.1;
  EXPECT_GT(movedLow, 0);
  EXPECT_GT(movedHigh, 0);
  // Warm starts: a rank only ever draws its own samples (ids 0-31 rank 0, 32-63 rank 1), so it
  // keeps only theirs.
  const auto allIn = [](const std::vector<int64_t>& ids, int64_t first, int64_t end) {
    return !ids.empty() && std::all_of(ids.begin(), ids.end(), [&](int64_t id) { return id >= first && id < end; });
  };
  EXPECT_TRUE(allIn(warmIds(straight.warm), 0, 32));
  EXPECT_TRUE(allIn(warmIds(rank1.warm), 32, 64));
  const RunResult again = twoRanks(o, "", {});
  EXPECT_EQ(maxDifference(straight.weights, again.weights), 0.0);
  o.checkpointPath = path("sharded.ckpt");
  const RunResult first0 = twoRanks(o, "", [](const ima::EpochReport& e) { return e.epoch < 1; });
  const RunResult first1 = readResult(path("rank1"));
  const RunResult resumed = twoRanks(o, o.checkpointPath, {});
  const RunResult resumed1 = readResult(path("rank1"));
  EXPECT_EQ(maxDifference(straight.weights, resumed.weights), 0.0);
  EXPECT_EQ(straight.margins, resumed.margins);
  // The checkpoint rank 0 wrote after epoch 1 holds both ranks' tables, rank 0's rows first; both
  // ranks read it whole, and then keep their own part again.
  ASSERT_TRUE(allIn(warmIds(first0.warm), 0, 32));
  ASSERT_TRUE(allIn(warmIds(first1.warm), 32, 64));
  for (const RunResult* r : {&resumed, &resumed1}) {
    ASSERT_EQ(r->resumedWarm.size(), 3u);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_TRUE(torch::equal(r->resumedWarm[i], torch::cat({first0.warm[i], first1.warm[i]}))) << i;
  }
  EXPECT_TRUE(allIn(warmIds(resumed.warm), 0, 32));
  EXPECT_TRUE(allIn(warmIds(resumed1.warm), 32, 64));
}

// The checkpoint's gather of sharded warm starts, in three processes: rank 1 has none, the others
// send theirs in blocks of 2 samples; rank 0 gets each rank's own table (WarmStarts::tensors()),
// in rank order, and the other ranks get nothing.
TEST_F(DistributedTraining, GatheredWarmStartsAreEveryRanksTableInRankOrder) {
  const int port = freePort();
  const auto table = [](int rank) {
    ima::WarmStarts w;
    if (rank == 1) return w;
    const int64_t n = rank == 0 ? 3 : 5;
    std::vector<int64_t> ids;
    std::vector<ima::PatchPlacement> at(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      ids.push_back(10 * rank + i);
      at[static_cast<size_t>(i)].start = {0, i, rank};
      at[static_cast<size_t>(i)].flipped = {false, i % 2 == 1, false};
    }
    w.store(ids, at, torch::arange(n * 16, torch::kFloat).reshape({n, 1, 4, 4}) + 100 * rank);
    return w;
  };
  const auto gather = [&](int rank) {
    const auto communicator = ima::Communicator::connect(loopback(rank, 3, port), "cpu", 20s);
    return ima::gatherWarmStarts(ima::World(communicator), table(rank), 2 * 16 * sizeof(float));
  };
  std::vector<pid_t> children;
  for (int rank : {1, 2}) {
    const pid_t child = ::fork();
    if (child == 0) {
      int code = 1;
      try {
        code = gather(rank).empty() ? 0 : 2;
      } catch (const std::exception& e) {
        std::cerr << "rank " << rank << ": " << e.what() << "\n";
      }
      ::_exit(code);
    }
    children.push_back(child);
  }
  const auto all = gather(0);
  for (const pid_t child : children) {
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  const auto first = table(0).tensors(), last = table(2).tensors();
  ASSERT_EQ(all.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(all[i].first, first[i].first);
    EXPECT_TRUE(torch::equal(all[i].second, torch::cat({first[i].second, last[i].second}))) << all[i].first;
  }
}

// Only rank 0 writes the checkpoint, so a library caller may give the path to rank 0 alone: the
// other rank still takes part in the gather of the sharded warm starts (no rank waits for another
// in a different collective), and the checkpoint holds both ranks' tables.
TEST_F(DistributedTraining, ShardedCheckpointPathOnRankZeroAloneStillGathersEveryRank) {
  auto o = options("ima");
  o.casesShardedAcrossProcesses = true;
  o.epochs = 1;
  auto withPath = o;
  withPath.checkpointPath = path("rank0-only.ckpt");
  RunResult rank0;
  int port = freePort();
  ASSERT_EQ(inTwoProcesses([&] { train(withPath, 0, 2, port, "", {}, phantoms(2, 16, 0), &rank0); },
                           [&] {
                             RunResult rank1;
                             train(o, 1, 2, port, "", {}, phantoms(2, 16, 2), &rank1);
                             writeResult(rank1, path("rank1"));
                           }),
            0);
  const RunResult rank1 = readResult(path("rank1"));
  ASSERT_FALSE(rank0.warm.empty());
  ASSERT_FALSE(rank1.warm.empty());
  // What the checkpoint holds, as a resume on rank 0 reads it (rank 1 resumes from the same file).
  withPath.epochs = 2;
  RunResult resumed;
  port = freePort();
  ASSERT_EQ(inTwoProcesses([&] { train(withPath, 0, 2, port, withPath.checkpointPath, {}, phantoms(2, 16, 0), &resumed); },
                           [&] { train(withPath, 1, 2, port, withPath.checkpointPath, {}, phantoms(2, 16, 2)); }),
            0);
  ASSERT_EQ(resumed.resumedWarm.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::equal(resumed.resumedWarm[i], torch::cat({rank0.warm[i], rank1.warm[i]}))) << i;
}

// A rank whose shard holds no case: both ranks fail with the same message instead of one waiting.
TEST_F(DistributedTraining, ARankWithoutCasesFailsOnEveryRank) {
  auto o = options("standard");
  o.casesShardedAcrossProcesses = true;
  const int port = freePort();
  std::string message;
  const int child = inTwoProcesses(
      [&] {
        try {
          train(o, 0, 2, port, "", {}, phantoms(1, 16));
        } catch (const ima::Error& e) {
          message = e.what();
        }
      },
      [&] { train(o, 1, 2, port, "", {}, {}); });
  EXPECT_EQ(child, 1);
  EXPECT_NE(message.find("rank 1 of 2 has no training case"), std::string::npos) << message;
}

// WORLD_SIZE=1 (a communicator of one process) trains exactly as no communicator at all.
TEST_F(DistributedTraining, AWorldOfOneTrainsExactlyAsOneProcess) {
  for (const std::string method : {"standard", "ima"}) {
    auto o = options(method);
    const RunResult alone = train(o, 0, 1, 0);
    o.communicator = ima::Communicator::connect(loopback(0, 1, 0), "cpu", 20s);
    const RunResult world1 = train(o, 0, 1, 0);
    EXPECT_EQ(maxDifference(alone.weights, world1.weights), 0.0) << method;
    EXPECT_EQ(alone.margins, world1.margins) << method;
  }
}

}  // namespace DistributedTrainingGTest
