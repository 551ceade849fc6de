// A share of an archive for one of N independent jobs (`--shard K/N` or `--shard auto`), chosen by a
// stable hash of each item's key so that the N shards are disjoint and cover the archive.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ima::cli {

struct Shard {
  uint64_t index = 0, count = 1;  // 0-based index
  bool contains(const std::string& key) const;
};

// "K/N" (1 <= K <= N), or "auto": the scheduler's variables, looked up through `lookup` (getenv by
// default), first found wins:
//   Slurm array job      SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN (0 when unset) of SLURM_ARRAY_TASK_COUNT
//   Kubernetes Indexed   JOB_COMPLETION_INDEX of IMA_SHARD_COUNT (the Job's `completions`, which
//   Job                  Kubernetes does not pass to the pod; the Job spec sets it, docs/batch.md)
//   torchrun             RANK of WORLD_SIZE
// Throws UsageError naming the option or the variable.
Shard parseShard(const std::string& text, const std::function<const char*(const char*)>& lookup = {});

}  // namespace ima::cli
