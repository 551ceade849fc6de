#include "Progress.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <unistd.h>

#include "ima/Error.h"

namespace ima::cli {

namespace {

volatile std::sig_atomic_t gInterrupted = 0;  // the signal number

extern "C" void onInterrupt(int signal) {
  gInterrupted = signal;
  std::signal(signal, SIG_DFL);  // a second Ctrl-C kills immediately
}

bool stderrIsTerminal() {
  if (!isatty(STDERR_FILENO)) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::strcmp(term, "dumb") == 0);
}

std::string formatSeconds(double s) {
  const long total = static_cast<long>(s + 0.5);
  char buffer[32];
  if (total >= 3600)
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld:%02ld", total / 3600, (total / 60) % 60, total % 60);
  else
    std::snprintf(buffer, sizeof buffer, "%02ld:%02ld", total / 60, total % 60);
  return buffer;
}

}  // namespace

void installInterruptHandler() {
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
}

bool interruptRequested() { return gInterrupted != 0; }
int interruptSignal() { return gInterrupted; }

Progress::Progress(std::string label, bool quiet)
    : label_(std::move(label)), quiet_(quiet), terminal_(!quiet && stderrIsTerminal()),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  // On an error path the bar line must not swallow the error message that follows.
  if (drawn_ && !finished_) {
    std::cerr << "\n";
    std::cerr.flush();
  }
}

void Progress::update(double fraction) {
  if (quiet_ || finished_) return;
  fraction_ = std::clamp(fraction, 0.0, 1.0);
  if (terminal_) {
    const int percent = static_cast<int>(fraction_ * 100.0);
    if (percent != lastPercent_) {
      lastPercent_ = percent;
      draw();
    }
    return;
  }
  const int decile = static_cast<int>(fraction_ * 10.0 + 1e-9);
  if (decile > lastDecile_) {
    lastDecile_ = decile;
    std::cerr << label_ << ": " << static_cast<int>(fraction_ * 100.0 + 1e-9) << "%\n";
    std::cerr.flush();
  }
}

void Progress::draw() {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction_ * kWidth);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = "\r" + label_ + " [" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
  char percent[8];
  std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(fraction_ * 100.0));
  line += percent;
  line += " " + formatSeconds(elapsed);
  if (fraction_ > 0.01 && fraction_ < 1.0)
    line += " (eta " + formatSeconds(elapsed * (1.0 - fraction_) / fraction_) + ")";
  line += "\033[K";  // clear the rest of a longer previous line
  std::cerr << line;
  std::cerr.flush();
  drawn_ = true;
}

void Progress::clearBar() {
  if (terminal_ && drawn_) {
    std::cerr << "\r\033[K";
    std::cerr.flush();
  }
}

void Progress::finish() {
  if (quiet_ || finished_) return;
  if (terminal_) {
    if (fraction_ < 1.0 || lastPercent_ != 100) {
      fraction_ = 1.0;
      lastPercent_ = 100;
      draw();
    }
    std::cerr << "\n";
    std::cerr.flush();
  } else {
    update(1.0);
  }
  finished_ = true;
}

void Progress::println(std::ostream& out, const std::string& line) {
  clearBar();
  out << line << "\n";
  out.flush();
  if (terminal_ && drawn_ && !finished_) draw();
}

void stopIfInterrupted() {
  if (interruptRequested()) throw Cancelled();
}

ProgressCallback Progress::callback() {
  return [this](double fraction) {
    update(fraction);
    return !interruptRequested();
  };
}

}  // namespace ima::cli
