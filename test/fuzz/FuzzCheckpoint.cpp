// libFuzzer target: the checkpoint reader, ima::SegmentationTrainer::resumeFrom (docs/reliability.md): the
// SHA-256 trailer, the torch archive, the stored metadata, weights, optimiser, epoch, random state
// and IMA margins. An input without a valid trailer is resumed a second time with the trailer
// appended, so that mutations also reach the readers behind the checksum. The trainer is the one
// the seed checkpoints were written for (test/fuzz/make-seeds.sh: a 3D U-Net, 4 features, 2 stages,
// 3 classes) with the seeds' settings, so that seeds get past the network and settings
// comparisons. Any exception other than ima::Error, and every sanitizer report, is a finding.
#include <torch/torch.h>

#include "FuzzFiles.h"
#include "ima/Error.h"
#include "ima/Model.h"
#include "ima/Sha256.h"
#include "ima/Training.h"

namespace {

ima::ModelMetadata seedNetwork() {
  ima::ModelMetadata m;
  m.network.dims = 3;
  m.network.inChannels = 1;
  m.network.classes = 3;
  m.network.baseFeatures = 4;
  m.network.stages = 2;
  m.labels = {{1, "organ", {200, 50, 50}}, {2, "lesion", {50, 200, 50}}};
  m.patchSize = {16, 16, 16};
  return m;
}

void resume(const std::string& bytes) {
  const std::string path = (ima::fuzz::scratchDirectory() / "input.ckpt").string();
  ima::fuzz::writeFile(path, bytes);
  ima::TrainingOptions options;
  options.runtime.device = "cpu";
  options.runtime.threads = 1;
  // The seeds' training settings (make-seeds.sh), so that seeds also pass the settings comparison.
  options.epochs = 1;
  options.iterationsPerEpoch = 1;
  options.batchSize = 1;
  options.patchSize = {16, 16, 16};
  try {
    ima::SegmentationTrainer trainer(ima::Model::create(seedNetwork(), 1), options);
    trainer.resumeFrom(path);
  } catch (const ima::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = ima::fuzz::bytesOf(data, size);
  resume(bytes);
  const size_t trailer = 9 + 64;  // "IMASHA256" and 64 hex digits
  const bool checksummed = bytes.size() >= trailer &&
                           bytes.compare(bytes.size() - trailer, trailer,
                                         "IMASHA256" + ima::sha256Hex(bytes.substr(0, bytes.size() - trailer))) == 0;
  if (!checksummed) resume(bytes + "IMASHA256" + ima::sha256Hex(bytes));
  return 0;
}
