// Where the time of a stretch of code goes, by ATen operation, through ATen's RecordFunction
// callbacks: self time per operation name (its time minus that of the operations it calls), and
// the convolutions' floating-point operations counted from their arguments (forward: 2 x the
// multiply-adds; backward: the same per gradient computed, input and/or weight), with the time of
// those convolution calls. One profiler at a time; it records the operations dispatched on the
// thread that creates it (libtorch runs CPU backward passes on the calling thread too).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

class OpProfiler {
public:
  OpProfiler();   // starts recording
  ~OpProfiler();  // stops
  OpProfiler(const OpProfiler&) = delete;
  OpProfiler& operator=(const OpProfiler&) = delete;

  struct Op {
    std::string name;
    int64_t calls = 0;
    double selfSeconds = 0;
  };
  std::vector<Op> bySelfTime() const;  // most expensive first
  double recordedSeconds() const;      // sum of all self times
  double convolutionFlops() const;
  double convolutionSeconds() const;   // the convolution calls counted in convolutionFlops
};
