// libFuzzer target: the manifest parser of `ima batch segment` (Module/cli/Manifest, docs/batch.md):
// a manifest file read by ima::cli::Manifest, each line split by parseCsvLine, and a property
// checked on every line: fields without line breaks come back unchanged through csvLine and
// parseCsvLine (the writer and the reader agree). Any exception other than ima::Error, a failed
// property, and every sanitizer report, is a finding.
#include <cstdlib>
#include <memory>
#include <sstream>

#include "FuzzFiles.h"
#include "Manifest.h"
#include "ima/Error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = ima::fuzz::bytesOf(data, size);
  const std::string path = (ima::fuzz::scratchDirectory() / "manifest.csv").string();
  ima::fuzz::writeFile(path, bytes);
  std::unique_ptr<ima::cli::Manifest> manifest;
  try {
    manifest = std::make_unique<ima::cli::Manifest>(path);
  } catch (const ima::Error&) {
  }
  std::istringstream lines(bytes);
  for (std::string line; std::getline(lines, line);) {
    const std::vector<std::string> fields = ima::cli::parseCsvLine(line);
    if (fields.empty()) continue;
    if (manifest) manifest->latest(fields.front());
    bool lineBreak = false;
    for (const std::string& f : fields) lineBreak = lineBreak || f.find_first_of("\r\n") != std::string::npos;
    if (lineBreak) continue;
    std::string written = ima::cli::csvLine(fields);
    written.pop_back();  // the newline that ends a record; the manifest reader splits lines first
    if (ima::cli::parseCsvLine(written) != fields) std::abort();
  }
  return 0;
}
