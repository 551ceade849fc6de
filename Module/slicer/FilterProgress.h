// Progress in the execution model's stdout protocol, which Slicer parses to drive its progress bar:
//   <filter-start><filter-name>IMASegment</filter-name><filter-comment>...</filter-comment></filter-start>
//   <filter-progress>0.25</filter-progress>      (monotone, in [0, 1])
//   <filter-end><filter-name>IMASegment</filter-name><filter-time>12.3</filter-time></filter-end>
// A run is split into stages (load, compute, write), each owning a slice of [0, 1]; the core's
// progress callbacks report within their stage. The callbacks also turn SIGTERM (how Slicer
// cancels) into cancellation at the core's next patch or iteration.
#pragma once
#include <chrono>
#include <iosfwd>
#include <string>

#include "ima/Runtime.h"

namespace ima::slicer {

class FilterProgress {
public:
  FilterProgress(std::ostream& out, std::string name, std::string comment);

  // Starts the next stage, which ends at `end` (> the previous stage's end, <= 1). The first
  // stage prints filter-start: a module checks its arguments before, so that a usage error
  // prints nothing on stdout.
  void stage(double end);
  // A core callback reporting within the current stage; returns false once SIGTERM/SIGINT arrived.
  ProgressCallback callback();
  // Reports a fraction of the current stage; throws ima::Cancelled after a termination signal.
  void report(double fraction);
  // Progress 1 and filter-end (only for a successful run: a cancelled one never reaches 1).
  void finish();

private:
  void emit(double value);
  void start();

  std::ostream& out_;
  std::string name_, comment_;
  bool started_ = false;
  double begin_ = 0, end_ = 0, last_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ima::slicer
