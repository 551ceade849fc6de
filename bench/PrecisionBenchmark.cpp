// bf16 against fp32, and IMA's work-saving options, per training iteration of the U-Net, side by
// side in one process: each repeat runs one iteration (loss + backward + optimiser step) of every
// variant in turn on the same batch, and the medians give the ratios. Variants: standard training
// in fp32 and bf16; IMA (K PGD steps, B bisection steps) in fp32 and bf16; IMA in fp32 with the
// bisection tolerance (stop at a bracket of --tolerance * eps_i). Every margin is at eps (delta =
// epsMax = eps), as in an epoch where all margins have grown to it.
//
// Usage: imaBenchPrecision --dims 2|3 [--repeats R] [--threads T] [--pgd-steps K] [--bisection-steps B]
//          [--tolerance F] [--eps EPS] [--batch N] [--size S] [--features F]
// Defaults: 2D batch 16 of 64^2, 3D batch 2 of 48^3; 16 features, 4 stages (3 in 3D); K 5, B 10.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ima/FreedMemory.h"
#include "ima/ImaStep.h"
#include "ima/Model.h"
#include "ima/TrainingMethod.h"
#include "internal/Precision.h"

namespace {

double argument(int argc, char** argv, const std::string& name, double fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (name == argv[i]) return std::atof(argv[i + 1]);
  return fallback;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A ball of label 1 (radius size/4) and one of label 2 (radius size/8) at positions that vary with
// the sample, intensities 1 and 2 plus Gaussian noise of sd 0.3, minus 0.5.
std::pair<torch::Tensor, torch::Tensor> ballBatch(int64_t n, int64_t size, int dims) {
  torch::Tensor labels = torch::zeros(dims == 2 ? std::vector<int64_t>{n, size, size} : std::vector<int64_t>{n, size, size, size},
                                      torch::kLong);
  const torch::Tensor r = torch::arange(size).to(torch::kFloat);
  for (int64_t i = 0; i < n; ++i) {
    const double c1 = size / 3.0 + static_cast<double>((i * 7) % 5), c2 = 2 * size / 3.0 - static_cast<double>((i * 3) % 5);
    torch::Tensor d1 = torch::zeros({}), d2 = torch::zeros({});
    for (int a = 0; a < dims; ++a) {
      std::vector<int64_t> view(static_cast<size_t>(dims), 1);
      view[static_cast<size_t>(a)] = size;
      d1 = d1 + (r - c1).pow(2).view(view);
      d2 = d2 + (r - c2).pow(2).view(view);
    }
    labels[i].masked_fill_(d1 < (size / 4.0) * (size / 4.0), 1);
    labels[i].masked_fill_(d2 < (size / 8.0) * (size / 8.0), 2);
  }
  torch::manual_seed(11);
  const torch::Tensor image = labels.to(torch::kFloat) + 0.3 * torch::randn(labels.sizes()) - 0.5;
  return {image.unsqueeze(1), labels};
}

}  // namespace

int main(int argc, char** argv) {
  ima::keepFreedMemory();  // as the ima program does
  const int dims = static_cast<int>(argument(argc, argv, "--dims", 2));
  const int repeats = static_cast<int>(argument(argc, argv, "--repeats", 5));
  const int threads = static_cast<int>(argument(argc, argv, "--threads", 2));
  const int K = static_cast<int>(argument(argc, argv, "--pgd-steps", 5));
  const int B = static_cast<int>(argument(argc, argv, "--bisection-steps", 10));
  const double tolerance = argument(argc, argv, "--tolerance", 0.01);
  const double eps = argument(argc, argv, "--eps", dims == 2 ? 12 : 20);
  const int64_t n = static_cast<int64_t>(argument(argc, argv, "--batch", dims == 2 ? 16 : 2));
  const int64_t size = static_cast<int64_t>(argument(argc, argv, "--size", dims == 2 ? 64 : 48));
  const int features = static_cast<int>(argument(argc, argv, "--features", 16));
  torch::set_num_threads(threads);

  ima::ModelMetadata meta;
  meta.network.dims = dims;
  meta.network.classes = 3;
  meta.network.baseFeatures = features;
  meta.network.stages = dims == 2 ? 4 : 3;
  meta.patchSize = std::vector<int64_t>(static_cast<size_t>(dims), size);
  const ima::Model model = ima::Model::create(meta, 1);
  ima::Network& fp32 = *model.network();
  ima::MixedPrecisionNetwork bf16(fp32, torch::kBFloat16);
  const auto [x, y] = ballBatch(n, size, dims);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;

  ima::AdversarialOptions a;
  a.pgdSteps = K;
  a.bisectionSteps = B;
  a.epsMax = a.delta = eps;
  a.warmStart = false;  // every repeat is a first visit: the precisions do the same work
  ima::AdversarialOptions t = a;
  t.bisectionTolerance = tolerance;
  using Kind = ima::TrainingMethodKind;
  ima::TrainingMethod standard(Kind::Standard, a), imaFull(Kind::Ima, a), imaTolerance(Kind::Ima, t);
  imaFull.setSampleCount(n);
  imaTolerance.setSampleCount(n);

  torch::optim::Adam optimizer(fp32.parameters(), torch::optim::AdamOptions(1e-3));
  fp32.setTraining(true);
  auto iteration = [&](ima::Network& net, ima::TrainingMethod& method, uint64_t seed) {
    const auto t0 = std::chrono::steady_clock::now();
    optimizer.zero_grad();
    const torch::Tensor loss = method.loss(net, x, y, ids, seed);
    loss.backward();
    optimizer.step();
    loss.item<double>();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  // Pre-training, so that clean samples are correct and IMA's bisections have boundaries to find.
  for (int i = 0; i < 30; ++i) iteration(fp32, standard, 0);
  std::printf("%dD U-Net %d features %d stages, batch %lld of %lld^%d, %d thread(s), K %d, B %d, L2 eps %.1f, "
              "tolerance %.3f * eps_i; bf16 on this CPU natively: %s\n",
              dims, features, meta.network.stages, static_cast<long long>(n), static_cast<long long>(size), dims, threads,
              K, B, eps, tolerance, ima::cpuHasNativeBf16() ? "yes" : "no");

  {
    // What the savings do to the margins: boundary distances of one IMA step from the same weights
    // and seed, with the tolerance and in bf16, against fp32 with all B halvings.
    ima::ImaStepOptions o;
    o.pgd.steps = K;
    o.bisectionSteps = B;
    o.pgd.seed = 1;
    const torch::Tensor e = torch::full({n}, eps);
    const ima::ImaStepResult full = ima::imaAdversarialStep(fp32, x, y, e, o);
    const ima::ImaStepResult low = ima::imaAdversarialStep(bf16, x, y, e, o);
    o.bisectionTolerance = tolerance;
    const ima::ImaStepResult tol = ima::imaAdversarialStep(fp32, x, y, e, o);
    const torch::Tensor both = full.found & tol.found;
    std::printf("boundary found fp32 %lld, with tolerance %lld, bf16 %lld of %lld; |distance difference| / eps: "
                "tolerance max %.4f; mean distance / eps fp32 %.4f, bf16 %.4f\n",
                static_cast<long long>(full.found.sum().item<int64_t>()), static_cast<long long>(tol.found.sum().item<int64_t>()),
                static_cast<long long>(low.found.sum().item<int64_t>()), static_cast<long long>(n),
                both.any().item<bool>() ? ((full.distance - tol.distance).abs() * both).max().item<double>() / eps : 0.0,
                full.distance.sum().item<double>() / std::max<int64_t>(1, full.found.sum().item<int64_t>()) / eps,
                low.distance.sum().item<double>() / std::max<int64_t>(1, low.found.sum().item<int64_t>()) / eps);
  }

  struct Variant {
    const char* name;
    std::function<double(uint64_t)> run;
    std::vector<double> seconds;
  };
  std::vector<Variant> variants = {
      {"standard fp32", [&](uint64_t s) { return iteration(fp32, standard, s); }, {}},
      {"standard bf16", [&](uint64_t s) { return iteration(bf16, standard, s); }, {}},
      {"ima fp32", [&](uint64_t s) { return iteration(fp32, imaFull, s); }, {}},
      {"ima bf16", [&](uint64_t s) { return iteration(bf16, imaFull, s); }, {}},
      {"ima fp32 tolerance", [&](uint64_t s) { return iteration(fp32, imaTolerance, s); }, {}},
  };
  for (int r = 0; r < repeats; ++r) {
    std::printf("repeat %d:", r + 1);
    for (Variant& v : variants) {
      v.seconds.push_back(v.run(static_cast<uint64_t>(r)));
      std::printf(" %s %.3f s;", v.name, v.seconds.back());
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  std::vector<double> m;
  for (const Variant& v : variants) m.push_back(median(v.seconds));
  std::printf("medians of %d: standard fp32 %.3f s, bf16 %.3f s; ima fp32 %.3f s, bf16 %.3f s, fp32 with tolerance %.3f s\n",
              repeats, m[0], m[1], m[2], m[3], m[4]);
  std::printf("fp32/bf16: standard %.2f, ima %.2f; ima/standard: fp32 %.2f, bf16 %.2f; ima fp32 full/tolerance %.2f\n",
              m[0] / m[1], m[2] / m[3], m[2] / m[0], m[3] / m[1], m[2] / m[4]);
}
