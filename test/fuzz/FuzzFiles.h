// What the fuzz targets share (docs/reliability.md, "Fuzzing"): the readers under test read files,
// so each input is written to a scratch directory of the fuzzing process (in /dev/shm when there is
// one, so that the files stay in memory), removed at exit; and an input can stand for several files
// (a DICOM series), separated by kNextFile.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ima::fuzz {

// Separates the files of one input: a line no DICOM file of the seed corpora contains.
inline const std::string kNextFile = "\n--IMA-FUZZ-NEXT-FILE--\n";
// Files beyond this many are ignored (a series of a few slices exercises every reader path).
constexpr size_t kMaxFiles = 8;

inline std::string bytesOf(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

inline const std::filesystem::path& scratchDirectory() {
  static const std::filesystem::path directory = [] {
    std::error_code ec;
    const char* tmp = std::getenv("TMPDIR");
    const std::string base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : (tmp ? tmp : "/tmp");
    std::string name = base + "/ima-fuzz-XXXXXX";
    if (!::mkdtemp(name.data())) std::abort();
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratchDirectory(), ignored);
    });
    return std::filesystem::path(name);
  }();
  return directory;
}

// An empty directory `name` in the scratch directory (emptied when it exists).
inline std::filesystem::path emptyDirectory(const std::string& name) {
  const std::filesystem::path directory = scratchDirectory() / name;
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  return directory;
}

inline void writeFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) std::abort();  // the scratch directory is full: not a finding of the reader
}

// The files of one input (at most kMaxFiles; the last takes the rest).
inline std::vector<std::string> splitFiles(const std::string& bytes) {
  std::vector<std::string> files;
  size_t start = 0;
  while (files.size() + 1 < kMaxFiles) {
    const size_t next = bytes.find(kNextFile, start);
    if (next == std::string::npos) break;
    files.push_back(bytes.substr(start, next - start));
    start = next + kNextFile.size();
  }
  files.push_back(bytes.substr(start));
  return files;
}

// Writes the files of one input as slice0.dcm, slice1.dcm, ... into an emptied directory `name`.
inline std::vector<std::string> writeFiles(const std::string& name, const std::vector<std::string>& files) {
  const std::filesystem::path directory = emptyDirectory(name);
  std::vector<std::string> paths;
  for (size_t i = 0; i < files.size(); ++i) {
    paths.push_back((directory / ("slice" + std::to_string(i) + ".dcm")).string());
    writeFile(paths.back(), files[i]);
  }
  return paths;
}

}  // namespace ima::fuzz
