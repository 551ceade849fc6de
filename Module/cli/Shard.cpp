#include "Shard.h"

#include <cstdlib>
#include <optional>

#include "ArgumentParser.h"

namespace ima::cli {

bool Shard::contains(const std::string& key) const {
  // FNV-1a (64 bit): stable across platforms and runs, unlike std::hash.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  return h % count == index;
}

namespace {

constexpr int64_t kMaxShards = 1000000;

Shard fromScheduler(const std::function<const char*(const char*)>& lookup) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    const char* value = lookup ? lookup(name) : std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
  auto number = [&](const char* name) {
    const std::string text = *get(name);
    const auto value = parseInt(text);
    if (!value || *value < 0 || *value > kMaxShards)
      throw UsageError("--shard auto: " + std::string(name) + "='" + text + "' is not a non-negative integer");
    return *value;
  };
  auto shard = [&](int64_t index, int64_t count, const std::string& variables) {
    if (count < 1 || index >= count)
      throw UsageError("--shard auto: " + variables + " give shard " + std::to_string(index) + " of " +
                       std::to_string(count) + " (0-based), outside 0.." + std::to_string(count - 1));
    return Shard{static_cast<uint64_t>(index), static_cast<uint64_t>(count)};
  };
  if (get("SLURM_ARRAY_TASK_ID")) {
    if (!get("SLURM_ARRAY_TASK_COUNT")) throw UsageError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not");
    const int64_t first = get("SLURM_ARRAY_TASK_MIN") ? number("SLURM_ARRAY_TASK_MIN") : 0;
    return shard(number("SLURM_ARRAY_TASK_ID") - first, number("SLURM_ARRAY_TASK_COUNT"),
                 "SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT (a contiguous array, no step)");
  }
  if (get("JOB_COMPLETION_INDEX")) {
    if (!get("IMA_SHARD_COUNT"))
      throw UsageError("--shard auto: JOB_COMPLETION_INDEX is set but IMA_SHARD_COUNT is not (set it to the Job's "
                       "completions in the Job's env)");
    return shard(number("JOB_COMPLETION_INDEX"), number("IMA_SHARD_COUNT"), "JOB_COMPLETION_INDEX and IMA_SHARD_COUNT");
  }
  if (get("RANK") || get("WORLD_SIZE")) {
    if (!get("RANK") || !get("WORLD_SIZE")) throw UsageError("--shard auto: set both RANK and WORLD_SIZE, or neither");
    return shard(number("RANK"), number("WORLD_SIZE"), "RANK and WORLD_SIZE");
  }
  throw UsageError("--shard auto: no scheduler variables found (SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, "
                   "JOB_COMPLETION_INDEX and IMA_SHARD_COUNT, or RANK and WORLD_SIZE)");
}

}  // namespace

Shard parseShard(const std::string& text, const std::function<const char*(const char*)>& lookup) {
  if (text == "auto") return fromScheduler(lookup);
  const size_t slash = text.find('/');
  const auto k = slash == std::string::npos ? std::nullopt : parseInt(text.substr(0, slash));
  const auto n = slash == std::string::npos ? std::nullopt : parseInt(text.substr(slash + 1));
  if (!k || !n || *n < 1 || *n > kMaxShards || *k < 1 || *k > *n)
    throw UsageError("invalid value '" + text + "' for --shard (expected K/N with 1 <= K <= N, e.g. 2/8, or auto)");
  return Shard{static_cast<uint64_t>(*k - 1), static_cast<uint64_t>(*n)};
}

}  // namespace ima::cli
