// DICOM series reading: ima::dicom::readDirectory (scan + decode into a Volume, in this process)
// against Debian's dcm2niix converting the same series to an uncompressed NIfTI file (a separate
// process, as a user runs it), alternating the two in one run so machine noise affects both alike.
// The series is written first with DCMTK (the tests' CT phantom: int16 with rescale slope and
// intercept, oblique orientation, shuffled file names in nested folders). Both sides read warm
// (the files are in the page cache after writing and after the warm-up round). Reports wall and
// CPU time (user + system; for dcm2niix the child's) with their ratios ours / dcm2niix. Prints JSON.
//
// usage: imaBenchDicomRead [--slices N] [--size N] [--repeats N] [--dcm2niix PATH] [--keep DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "DicomTestData.h"
#include "ima/DicomSeries.h"

namespace fs = std::filesystem;

namespace {

struct Timing {
  double wall, cpu;  // seconds; cpu = user + system of this process and its waited-for children
};

double cpuSeconds() {
  double total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage u{};
    getrusage(who, &u);
    total += static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  }
  return total;
}

// Wall time, and CPU time (less sensitive to other processes on a shared machine).
Timing timed(const std::function<void()>& f) {
  const double c0 = cpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), cpuSeconds() - c0};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int slices = 300, size = 512, repeats = 5;
  std::string dcm2niix = "dcm2niix", keep;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--slices") slices = std::atoi(value.c_str());
    else if (key == "--size") size = std::atoi(value.c_str());
    else if (key == "--repeats") repeats = std::atoi(value.c_str());
    else if (key == "--dcm2niix") dcm2niix = value;
    else if (key == "--keep") keep = value;
    else {
      std::cerr << "unknown option " << key << "\n";
      return 2;
    }
  }
  if (slices < 2 || size < 1 || repeats < 1) {
    std::cerr << "--slices must be >= 2, --size and --repeats >= 1\n";
    return 2;
  }
  const fs::path work = keep.empty() ? fs::temp_directory_path() / ("imaBenchDicomRead." + std::to_string(::getpid()))
                                     : fs::path(keep);
  const fs::path series = work / "series", converted = work / "nifti";
  fs::create_directories(converted);

  ima::dicomtest::CtPhantom phantom;
  phantom.columns = phantom.rows = size;
  phantom.slices = slices;
  const double writeSeconds = timed([&] { phantom.write(series); }).wall;

  // dcm2niix: uncompressed output (-z n), no BIDS sidecar (-b n), quiet (-v 0); output replaced.
  const std::string command = dcm2niix + " -z n -b n -v 0 -f ct -o '" + converted.string() + "' '" +
                              series.string() + "' > /dev/null";
  auto runDcm2niix = [&] {
    fs::remove_all(converted);
    fs::create_directories(converted);
    if (std::system(command.c_str()) != 0) {
      std::cerr << "dcm2niix failed: " << command << "\n";
      std::exit(1);
    }
  };
  double checksum = 0;
  auto runOurs = [&] {
    const ima::Volume v = ima::dicom::readDirectory(series.string());
    checksum += v.data[v.data.size() / 2];  // keep the read observable
  };

  runDcm2niix();  // warm-up: page cache, dynamic loading
  runOurs();
  std::vector<double> ours, theirs, ratios, oursCpu, theirsCpu, cpuRatios;
  for (int r = 0; r < repeats; ++r) {
    const Timing a = timed(runOurs), b = timed(runDcm2niix);
    ours.push_back(a.wall);
    theirs.push_back(b.wall);
    ratios.push_back(a.wall / b.wall);
    oursCpu.push_back(a.cpu);
    theirsCpu.push_back(b.cpu);
    cpuRatios.push_back(a.cpu / b.cpu);
  }
  std::string rounds;  // every round, so outliers can be seen
  for (size_t i = 0; i < ours.size(); ++i) {
    char pair[64];
    std::snprintf(pair, sizeof pair, "%s[%.3f, %.3f]", i ? ", " : "", ours[i], theirs[i]);
    rounds += pair;
  }
  std::printf(
      "{\"series\": \"%dx%dx%d int16 CT, %d files\", \"write_seconds\": %.2f, \"repeats\": %d,\n"
      " \"wall\": {\"ima_median\": %.3f, \"dcm2niix_median\": %.3f, \"ratio_median\": %.3f, \"ratio_min\": %.3f, \"ratio_max\": %.3f},\n"
      " \"cpu\": {\"ima_median\": %.3f, \"dcm2niix_median\": %.3f, \"ratio_median\": %.3f, \"ratio_min\": %.3f, \"ratio_max\": %.3f},\n"
      " \"checksum\": %g,\n \"rounds_wall_ima_dcm2niix\": [%s]}\n",
      size, size, slices, slices, writeSeconds, repeats, median(ours), median(theirs), median(ratios),
      *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()),
      median(oursCpu), median(theirsCpu), median(cpuRatios), *std::min_element(cpuRatios.begin(), cpuRatios.end()),
      *std::max_element(cpuRatios.begin(), cpuRatios.end()), checksum, rounds.c_str());
  if (keep.empty()) fs::remove_all(work);
  return 0;
}
