// Platform-independent random numbers: std::mt19937_64 is specified bit-exactly, but the standard
// distributions are not, so phantoms and patch sampling derive their values from raw bits here.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>

namespace ima {

class Random {
public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int64_t integer(int64_t n) { return n <= 1 ? 0 : static_cast<int64_t>(engine_() % static_cast<uint64_t>(n)); }
  bool coin(double p = 0.5) { return uniform() < p; }
  double normal() {  // Box-Muller
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  std::mt19937_64& engine() { return engine_; }

private:
  std::mt19937_64 engine_;
};

// A seed for one of many independent random streams (e.g. one per batch of an evaluation, so that
// no two batches share their random starts or noise): splitmix64's finaliser spreads neighbouring
// (seed, stream) pairs apart.
inline uint64_t streamSeed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace ima
