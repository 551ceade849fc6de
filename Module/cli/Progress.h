// Progress reporting on stderr: a redrawn bar on a terminal, plain "label: 40%" lines (at most
// one per 10%) otherwise, nothing with --quiet. Also the Ctrl-C handling that lets long work stop
// between patches/iterations, so temporary files are cleaned up instead of left behind.
#pragma once
#include <chrono>
#include <iosfwd>
#include <string>

#include "ima/Runtime.h"

namespace ima::cli {

class Progress {
public:
  Progress(std::string label, bool quiet);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(double fraction);  // [0, 1]; values outside are clamped
  // Ends the bar line (terminal) or prints the final line once.
  void finish();
  // Prints one line to `out` without mangling the bar (clears it, prints, redraws).
  void println(std::ostream& out, const std::string& line);
  // A core progress callback that updates this bar and asks the work to stop after Ctrl-C.
  ProgressCallback callback();

private:
  void draw();
  void clearBar();

  std::string label_;
  bool quiet_ = false, terminal_ = false, drawn_ = false, finished_ = false;
  double fraction_ = 0;
  int lastPercent_ = -1, lastDecile_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// First SIGINT/SIGTERM sets a flag that progress callbacks turn into cancellation; a second
// SIGINT ends the process at once (default action).
void installInterruptHandler();
bool interruptRequested();
// Throws ima::Cancelled once a stop was asked for: hosts call it before writing their outputs, so a
// stopped command writes nothing more.
void stopIfInterrupted();
// The signal that asked to stop (SIGINT or SIGTERM), 0 when none did: `ima` exits with 128 + it,
// as shells expect of a program stopped by a signal.
int interruptSignal();

}  // namespace ima::cli
