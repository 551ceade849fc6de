#include "FilterProgress.h"

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "ima/Error.h"

#include "Progress.h"  // interruptRequested

namespace ima::slicer {
namespace {

std::string escaped(const std::string& text) {
  std::string s;
  for (char c : text) {
    if (c == '&') s += "&amp;";
    else if (c == '<') s += "&lt;";
    else if (c == '>') s += "&gt;";
    else s += c;
  }
  return s;
}

}  // namespace

FilterProgress::FilterProgress(std::ostream& out, std::string name, std::string comment)
    : out_(out), name_(std::move(name)), comment_(std::move(comment)), start_(std::chrono::steady_clock::now()) {}

void FilterProgress::start() {
  if (started_) return;
  started_ = true;
  out_ << "<filter-start>\n<filter-name>" << escaped(name_) << "</filter-name>\n<filter-comment>" << escaped(comment_)
       << "</filter-comment>\n</filter-start>\n";
  out_.flush();
  emit(0);
}

void FilterProgress::stage(double end) {
  start();
  begin_ = end_;
  end_ = std::clamp(end, begin_, 1.0);
}

void FilterProgress::emit(double value) {
  // Monotone, and at most one line per 0.5%: Slicer redraws its bar for every line.
  value = std::clamp(value, 0.0, 1.0);
  if (value < last_ + 0.005 && !(value == 1.0 && last_ < 1.0)) return;
  last_ = value;
  char line[64];
  std::snprintf(line, sizeof line, "<filter-progress>%.4f</filter-progress>\n", value);
  out_ << line;
  out_.flush();
}

void FilterProgress::report(double fraction) {
  if (cli::interruptRequested()) throw Cancelled();
  emit(begin_ + (end_ - begin_) * std::clamp(fraction, 0.0, 1.0));
}

ProgressCallback FilterProgress::callback() {
  return [this](double fraction) {
    if (cli::interruptRequested()) return false;
    emit(begin_ + (end_ - begin_) * std::clamp(fraction, 0.0, 1.0));
    return true;
  };
}

void FilterProgress::finish() {
  start();
  emit(1.0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  char time[32];
  std::snprintf(time, sizeof time, "%.2f", seconds);
  out_ << "<filter-end>\n<filter-name>" << escaped(name_) << "</filter-name>\n<filter-time>" << time
       << "</filter-time>\n</filter-end>\n";
  out_.flush();
}

}  // namespace ima::slicer
