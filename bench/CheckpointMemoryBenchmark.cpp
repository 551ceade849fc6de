// Peak memory of writing or reading a training checkpoint that holds IMA's warm starts, as a
// multiple of the warm starts' own size. A 3D run keeps one patch-sized perturbation per grid cell,
// about as much as its training images, so what a checkpoint costs beyond them decides whether a
// large data set fits. One mode per process (the peak, ru_maxrss, only grows):
//   imaBenchCheckpointMemory write PATH [SAMPLES=64] [SIDE=96]   keeps SAMPLES perturbations of SIDE^3
//                                                                 and writes the checkpoint PATH
//   imaBenchCheckpointMemory read PATH                            reads PATH back as a resume does,
//                                                                 then stores a new perturbation for
//                                                                 every sample (one epoch's visits)
// Prints the warm starts' MiB and the peak's growth during the write or the read, in MiB and as a
// multiple of the warm starts.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ima/FreedMemory.h"
#include "ima/Model.h"
#include "ima/WarmStarts.h"
#include "internal/TrainingCheckpoint.h"

namespace {

double peakMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

ima::ModelMetadata smallNetwork() {
  ima::ModelMetadata m;
  m.network.dims = 3;
  m.network.classes = 3;
  m.network.baseFeatures = 4;
  m.network.stages = 2;
  m.patchSize = {16, 16, 16};
  return m;
}

void report(const char* what, double warmMiB, double before, double after) {
  std::printf("%s: warm starts %.0f MiB, peak %.0f -> %.0f MiB: +%.0f MiB = %.2f x the warm starts\n", what, warmMiB,
              before, after, after - before, (after - before) / warmMiB);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: imaBenchCheckpointMemory write|read PATH [SAMPLES] [SIDE]\n");
    return 2;
  }
  ima::keepFreedMemory();  // as the ima program does
  const std::string mode = argv[1], path = argv[2];
  const ima::Model model = ima::Model::create(smallNetwork(), 1);
  torch::optim::Adam optimizer(model.network()->parameters(), torch::optim::AdamOptions(1e-3));
  if (mode == "write") {
    const int64_t samples = argc > 3 ? std::atoll(argv[3]) : 64, side = argc > 4 ? std::atoll(argv[4]) : 96;
    ima::WarmStarts warm;
    for (int64_t i = 0; i < samples; ++i) warm.store({i}, {}, torch::randn({1, 1, side, side, side}));
    const double warmMiB = static_cast<double>(samples * side * side * side * 4) / (1 << 20);
    const double before = peakMiB();
    ima::writeCheckpoint(path, model.metadata(), *model.network(), optimizer,
                         {1, "0", "", warm.tensors()});
    report("write", warmMiB, before, peakMiB());
    return 0;
  }
  if (mode == "read") {
    const double before = peakMiB();
    const ima::CheckpointState state =
        ima::readCheckpoint(path, model.metadata().network, *model.network(), optimizer, torch::kCPU);
    ima::WarmStarts warm = ima::WarmStarts::fromTensors(state.warmStarts, path);
    torch::Tensor deltas;
    for (const auto& [name, t] : state.warmStarts)
      if (name == "deltas") deltas = t;
    const double warmMiB = static_cast<double>(deltas.numel() * 4) / (1 << 20);
    report("read", warmMiB, before, peakMiB());
    // Then an epoch that visits every sample once, as the resumed run does.
    const std::vector<int64_t> shape = {1, deltas.size(1), deltas.size(2), deltas.size(3), deltas.size(4)};
    for (int64_t i = 0; i < deltas.size(0); ++i) warm.store({i}, {}, torch::randn(shape));
    report("read, then every sample revisited", warmMiB, before, peakMiB());
    return 0;
  }
  std::fprintf(stderr, "unknown mode '%s' (write or read)\n", mode.c_str());
  return 2;
}
