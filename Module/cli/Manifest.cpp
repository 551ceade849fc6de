#include "Manifest.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "ima/Error.h"
#include "ima/Files.h"

namespace fs = std::filesystem;

namespace ima::cli {

namespace {

const char* const kHeader = "series,output,status,reason,model";
const char* const kHeaderWithoutModel = "series,output,status,reason";  // before the model column

std::string named(const std::string& s) { return "'" + s + "'"; }

// Rows of files whose series UID is unknown are told apart by their reason (which names the file).
std::string keyOf(const ManifestRow& row) { return row.series.empty() ? "\n" + row.reason : row.series; }

// Appends `text`; a failed write (a full disk) cuts the file back to where it was, so no torn row
// is left in the middle of the manifest for later rows to follow (should even the cut fail, the
// torn row is the last line, which reading drops).
void appendAll(int fd, const std::string& text, const std::string& path) {
  const off_t before = ::lseek(fd, 0, SEEK_END);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      [[maybe_unused]] const int cut = before >= 0 ? ::ftruncate(fd, before) : -1;
      throw Error("cannot write manifest " + named(path) + ": " + std::strerror(error));
    }
    done += static_cast<size_t>(n);
  }
}

std::string rowLine(const ManifestRow& row) {
  return csvLine({row.series, row.output, row.status, row.reason, row.model});
}

}  // namespace

std::string csvLine(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    std::string field = fields[i];
    for (size_t p; (p = field.find_first_of("\r\n")) != std::string::npos;) {
      const size_t end = field.find_first_not_of("\r\n", p);
      field.replace(p, (end == std::string::npos ? field.size() : end) - p, "; ");
    }
    if (i) line += ',';
    if (field.find_first_of(",\"") == std::string::npos) {
      line += field;
      continue;
    }
    line += '"';
    for (char c : field) line += c == '"' ? std::string("\"\"") : std::string(1, c);
    line += '"';
  }
  return line + "\n";
}

std::vector<std::string> parseCsvLine(const std::string& line) {
  std::vector<std::string> fields(1);
  bool inQuotes = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (inQuotes) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else if (c == '"') inQuotes = false;
      else fields.back() += c;
    } else if (c == '"') {
      inQuotes = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

Manifest::Manifest(std::string path) : path_(std::move(path)) {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  std::ostringstream content;
  content << in.rdbuf();
  const std::string text = content.str();
  // Only complete lines count: a run killed mid-write leaves a last line without its newline.
  size_t start = 0;
  bool first = true;
  size_t columns = 5;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string line = text.substr(start, end - start);
    if (first) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line == kHeaderWithoutModel) columns = 4;
      else if (line != kHeader)
        throw Error("manifest " + named(path_) + " is not an ima batch manifest (its first line is not '" +
                    kHeader + "'); move it away or choose another --output");
      first = false;
      continue;
    }
    const auto fields = parseCsvLine(line);
    if (fields.size() != columns) continue;  // not a row of ours (e.g. edited by hand): ignored
    const ManifestRow row{fields[0], fields[1], fields[2], fields[3], columns == 5 ? fields[4] : ""};
    const std::string key = keyOf(row);
    if (!latest_.count(key)) order_.push_back(key);
    latest_[key] = row;
  }
}

Manifest::~Manifest() {
  if (fd_ >= 0) ::close(fd_);
}

const ManifestRow* Manifest::latest(const std::string& series) const {
  const auto it = latest_.find(series);
  return it == latest_.end() ? nullptr : &it->second;
}

void Manifest::openForAppend() {
  if (fd_ >= 0) return;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open manifest " + named(path_) + ": " + std::strerror(errno));
}

void Manifest::append(const ManifestRow& row) {
  openForAppend();
  appendAll(fd_, rowLine(row), path_);  // one write() per row: rows of a killed run stay whole
  if (::fsync(fd_) != 0) throw Error("cannot write manifest " + named(path_) + ": " + std::strerror(errno));
  const std::string key = keyOf(row);
  if (!latest_.count(key)) order_.push_back(key);
  latest_[key] = row;
}

void Manifest::compact() {
  std::string text = std::string(kHeader) + "\n";
  for (const auto& key : order_) text += rowLine(latest_.at(key));
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  writeFileAtomically(path_, text);
}

}  // namespace ima::cli
