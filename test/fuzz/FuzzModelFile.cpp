// libFuzzer target: the model container reader, ima::Model::load (docs/architecture.md §4): magic,
// version, lengths, CRC-32, the JSON metadata and the weight archive behind them. An input whose
// CRC-32 trailer does not match is loaded a second time with the CRC recomputed, so that mutations
// also reach the metadata and weight readers behind the checksum. Any exception other than
// ima::Error, and every sanitizer report, is a finding.
#include <torch/torch.h>
#include <zlib.h>

#include "FuzzFiles.h"
#include "ima/Error.h"
#include "ima/Model.h"

namespace {

void load(const std::string& bytes) {
  const std::string path = (ima::fuzz::scratchDirectory() / "input.imamodel").string();
  ima::fuzz::writeFile(path, bytes);
  try {
    ima::Model::load(path);
  } catch (const ima::Error&) {
  }
}

std::string withRecomputedCrc(std::string bytes) {
  const size_t body = bytes.size() - 4;
  uint32_t crc = static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
                                             static_cast<uInt>(body)));
  for (size_t i = 0; i < 4; ++i, crc >>= 8) bytes[body + i] = static_cast<char>(crc & 0xff);
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // one fuzzing process per core
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = ima::fuzz::bytesOf(data, size);
  load(bytes);
  if (bytes.size() >= 4 && bytes.size() < (size_t{1} << 30)) {
    const std::string fixed = withRecomputedCrc(bytes);
    if (fixed != bytes) load(fixed);
  }
  return 0;
}
