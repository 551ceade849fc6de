// Sliding-window overhead: time of ima::segment on a volume against the raw forward passes over
// exactly the same patches (same count, batch size and patch size, same network), measured
// alternately in one process so that machine noise affects both alike. Prints JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ima/Model.h"
#include "ima/Network.h"
#include "ima/SlidingWindowInferer.h"

namespace {

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int dims = argc > 1 ? std::atoi(argv[1]) : 3;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  ima::ModelMetadata meta;
  meta.network.dims = dims;
  meta.network.baseFeatures = 16;
  meta.network.stages = 4;
  meta.network.classes = 3;
  meta.patchSize = dims == 3 ? std::vector<int64_t>{64, 64, 64} : std::vector<int64_t>{128, 128};
  const ima::Model model = ima::Model::create(meta, 1);
  const std::vector<int64_t> size = dims == 3 ? std::vector<int64_t>{128, 128, 96} : std::vector<int64_t>{256, 256, 8};
  ima::Volume volume(ima::Shape{size}, 1);
  for (size_t i = 0; i < volume.data.size(); ++i) volume.data[i] = static_cast<float>((i * 2654435761u) % 1000);

  ima::InferenceOptions options;
  options.overlap = 0.5;
  options.batchSize = 2;
  options.runtime.device = "cpu";
  const std::string device = ima::applyRuntime(options.runtime);

  // The patches the sliding window visits, grouped as it batches them: per slab of windows that
  // share a start along z (per slice for a 2D model), in batches of batchSize.
  int64_t perSlab = 1, slabs = 1;
  for (int a = 0; a < 2; ++a) perSlab *= static_cast<int64_t>(ima::windowStarts(size[static_cast<size_t>(a)], meta.patchSize[static_cast<size_t>(a)], options.overlap).size());
  slabs = dims == 3 ? static_cast<int64_t>(ima::windowStarts(size[2], meta.patchSize[2], options.overlap).size()) : size[2];
  const int64_t patches = perSlab * slabs;
  std::vector<int64_t> batchShape{options.batchSize, 1};
  for (auto it = meta.patchSize.rbegin(); it != meta.patchSize.rend(); ++it) batchShape.push_back(*it);
  const torch::Tensor batch = torch::randn(batchShape);
  ima::Network& net = *model.network();
  net.setTraining(false);

  auto raw = [&] {
    c10::InferenceMode guard;
    for (int64_t slab = 0; slab < slabs; ++slab)
      for (int64_t done = 0; done < perSlab; done += options.batchSize) {
        const int64_t n = std::min<int64_t>(options.batchSize, perSlab - done);
        // Same batch sizes as the inferer, including its pairing of a lone 3D patch.
        torch::softmax(net.forward(batch.narrow(0, 0, n == 1 && dims == 3 ? 2 : n)), 1);
      }
  };
  auto window = [&] { ima::segment(model, volume, options); };
  raw();  // warm-up (allocator, oneDNN primitives)
  window();
  std::vector<double> tr, tw, ratios;
  for (int r = 0; r < repeats; ++r) {
    tr.push_back(seconds(raw));
    tw.push_back(seconds(window));
    ratios.push_back(tw.back() / tr.back());
  }
  const double voxels = static_cast<double>(volume.shape.voxels());
  std::printf(
      "{\"dims\": %d, \"volume\": \"%s\", \"patch\": %lld, \"patches\": %lld, \"threads\": %d, \"device\": \"%s\",\n"
      " \"raw_forward_s\": %.3f, \"sliding_window_s\": %.3f,\n"
      " \"sliding_window_voxels_per_s\": %.0f, \"raw_forward_voxels_per_s\": %.0f,\n"
      " \"overhead_ratio_median\": %.3f, \"overhead_ratio_min\": %.3f, \"overhead_ratio_max\": %.3f}\n",
      dims, volume.shape.str().c_str(), static_cast<long long>(meta.patchSize[0]), static_cast<long long>(patches),
      torch::get_num_threads(), device.c_str(), median(tr), median(tw), voxels / median(tw), voxels / median(tr),
      median(ratios), *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()));
  return 0;
}
