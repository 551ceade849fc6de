// --shard K/N and --shard auto (Module/cli/Shard.h), used by `batch segment` for its work and by
// `batch harden` for its reading: for every scheduler, the N tasks of a job get N different shards,
// which are disjoint and together cover every key, and agree with the explicit K/N.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ArgumentParser.h"
#include "Shard.h"

namespace ShardGTest {  // this file's names apart from the others' in a unity build

namespace {

using Environment = std::map<std::string, std::string>;

ima::cli::Shard shardFrom(const Environment& environment) {
  return ima::cli::parseShard("auto", [&](const char* name) -> const char* {
    const auto it = environment.find(name);
    return it == environment.end() ? nullptr : it->second.c_str();
  });
}

// 500 series UIDs of the kind an archive holds.
std::vector<std::string> keys() {
  std::vector<std::string> k;
  for (int i = 0; i < 500; ++i) k.push_back("1.2.826.0.1.3680043.8.498." + std::to_string(1000003 * i + 17));
  return k;
}

}  // namespace

TEST(Shard, EverySchedulersTasksGetDisjointShardsThatCoverTheKeys) {
  constexpr int N = 4;
  // Task t (0-based) of a job of N in each scheduler's own numbering.
  const std::map<std::string, std::function<Environment(int)>> schedulers = {
      {"slurm --array=3-6",
       [](int t) {
         return Environment{{"SLURM_ARRAY_TASK_ID", std::to_string(3 + t)}, {"SLURM_ARRAY_TASK_MIN", "3"},
                            {"SLURM_ARRAY_TASK_COUNT", std::to_string(N)}};
       }},
      {"slurm --array=0-3 (no MIN)",
       [](int t) { return Environment{{"SLURM_ARRAY_TASK_ID", std::to_string(t)}, {"SLURM_ARRAY_TASK_COUNT", std::to_string(N)}}; }},
      {"kubernetes indexed job",
       [](int t) { return Environment{{"JOB_COMPLETION_INDEX", std::to_string(t)}, {"IMA_SHARD_COUNT", std::to_string(N)}}; }},
      {"torchrun", [](int t) { return Environment{{"RANK", std::to_string(t)}, {"WORLD_SIZE", std::to_string(N)}}; }}};
  for (const auto& [name, task] : schedulers) {
    SCOPED_TRACE(name);
    std::map<std::string, int> owners;
    for (int t = 0; t < N; ++t) {
      const ima::cli::Shard shard = shardFrom(task(t));
      EXPECT_EQ(shard.index, static_cast<uint64_t>(t));
      EXPECT_EQ(shard.count, static_cast<uint64_t>(N));
      const ima::cli::Shard explicitShard = ima::cli::parseShard(std::to_string(t + 1) + "/" + std::to_string(N));
      for (const auto& key : keys()) {
        EXPECT_EQ(shard.contains(key), explicitShard.contains(key)) << key;
        owners[key] += shard.contains(key);
      }
    }
    int emptyShards = 0;
    for (const auto& key : keys()) EXPECT_EQ(owners[key], 1) << key;  // disjoint, and covering
    for (int t = 0; t < N; ++t) {
      int held = 0;
      for (const auto& key : keys()) held += shardFrom(task(t)).contains(key);
      emptyShards += held == 0;
    }
    EXPECT_EQ(emptyShards, 0);
  }
}

// Slurm's variables win over torchrun's (an array task may run torchrun); inconsistent ones are
// usage errors naming the variable.
TEST(Shard, SchedulerPrecedenceAndBadVariables) {
  const auto both = shardFrom({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "3"}, {"RANK", "0"}, {"WORLD_SIZE", "2"}});
  EXPECT_EQ(both.index, 2u);
  EXPECT_EQ(both.count, 3u);
  const std::vector<std::pair<Environment, std::string>> bad = {
      {{{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}, "SLURM_ARRAY_TASK_ID"},
      {{{"SLURM_ARRAY_TASK_ID", "1"}}, "SLURM_ARRAY_TASK_COUNT"},
      {{{"JOB_COMPLETION_INDEX", "0"}}, "IMA_SHARD_COUNT"},
      {{{"JOB_COMPLETION_INDEX", "x"}, {"IMA_SHARD_COUNT", "2"}}, "JOB_COMPLETION_INDEX='x'"},
      {{{"RANK", "1"}}, "RANK and WORLD_SIZE"},
      {{}, "no scheduler variables"}};
  for (const auto& [environment, fragment] : bad) {
    try {
      shardFrom(environment);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const ima::cli::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
}

}  // namespace ShardGTest
