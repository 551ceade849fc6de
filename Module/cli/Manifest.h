// The manifest of a batch run (`ima batch segment`): a CSV file with one row per series,
//   series,output,status,reason,model
// where `series` is the Series Instance UID (UID.partK for a part of a split series; empty for a
// file whose UID could not be read), `output` the file written, `status` ok | failed | skipped,
// `reason` why it failed (or "already done"), and `model` the SHA-256 of the model file used, so that
// a rerun with another model redoes the work. Patient names and IDs never appear in it. A manifest
// of an earlier version (no model column) is read with an empty model: its rows are redone.
//
// Resumable after a kill: every row is appended with one write() and fsync'd as soon as its series
// is finished, a torn last line (the process died mid-write) is dropped on reading, and at the end
// of a run the file is rewritten (temporary file + rename) with only the latest row per series.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace ima::cli {

struct ManifestRow {
  std::string series, output, status, reason, model;
};

class Manifest {
public:
  // Reads `path` if it exists (a missing file is an empty manifest); throws ima::Error naming the
  // file when it is not a manifest (wrong header).
  explicit Manifest(std::string path);
  ~Manifest();
  Manifest(const Manifest&) = delete;
  Manifest& operator=(const Manifest&) = delete;

  // The latest row of `series`, or nullptr.
  const ManifestRow* latest(const std::string& series) const;
  // Appends a row to the file (durably) and to the in-memory view.
  void append(const ManifestRow& row);
  // Rewrites the file atomically with the latest row per series, in first-seen order.
  void compact();

  const std::string& path() const { return path_; }

private:
  void openForAppend();
  std::string path_;
  std::vector<std::string> order_;            // series keys in first-seen order
  std::map<std::string, ManifestRow> latest_;  // by series key
  int fd_ = -1;
};

// One CSV record (RFC 4180 quoting: fields with a comma, quote or line break are quoted); line
// breaks inside a field are replaced by "; " so every record is one line.
std::string csvLine(const std::vector<std::string>& fields);
// The fields of one line written by csvLine.
std::vector<std::string> parseCsvLine(const std::string& line);

}  // namespace ima::cli
