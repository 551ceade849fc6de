// The cost of one IMA training iteration against standard training and PGD adversarial training
// on one fixed batch of the 2D U-Net segmentation case, side by side in one process: each
// repeat runs one iteration (loss + backward + optimiser step) of every method in turn, and the
// medians give the ratios IMA / standard and IMA / PGD-AT. A counting wrapper around the network
// also counts the forward passes and the backward passes of one IMA iteration, to compare with
// the minimum: 1 clean + (K + 1) PGD + B bisection + 1 adversarial forwards, K input-gradient
// backwards + 1 weight backward (which reaches the clean and the adversarial forward outputs); and
// the sample passes, which are fewer, since a sample stops being attacked once it has crossed.
//
// The batch: 16 (--batch) slices of 64 x 64 with two disc-shaped structures (labels 1 and 2) on a noisy
// background, roughly z-scored; the network is briefly pre-trained on it so that clean samples are
// correct (max-Dice >= 0.6) and IMA's bisection has boundaries to find. bench/ima_iteration.py is
// the same iteration in plain PyTorch.
//
// Usage: imaBenchImaIteration [--repeats R] [--threads T] [--pgd-steps K] [--bisection-steps B]
//          [--eps EPS] [--batch N] [--features F] [--save-weights FILE] [--dims 3] [--profile 1]
//          [--warm-start 1]
// IMA runs without warm starts (every repeat starts at random, as bench/ima_iteration.py does) unless
// --warm-start 1: then every repeat after the first starts from the previous one's adversarial points,
// the steady state of a sample visited again.
// --dims 3: a 3D U-Net on --batch (default 2) volumes of 32^3 with two spheres (labels 1 and 2).
// --profile 1: instead of the timed repeats, the same standard and IMA iterations (R of each) under
// the operation profiler (bench/OpProfiler.h): self time per ATen operation, and the convolutions'
// FLOPs and GFLOP/s against this CPU's fp32 peak (printed with the clock it assumes).
// --save-weights writes the pre-trained weights for bench/ima_iteration.py --weights: both then
// run the same iterations from the same weights with the same seeds (random starts), so they do
// the same work and only the implementations differ.
// A small batch and few features (e.g. --batch 1 --features 4) make the kernels cheap, so that the
// per-operation overhead of the framework (C++ against Python) shows.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "OpProfiler.h"
#include <torch/torch.h>

#include "ima/FreedMemory.h"
#include "ima/ImaStep.h"
#include "ima/Model.h"
#include "ima/Network.h"
#include "ima/TrainingMethod.h"

namespace {

// Counts forward passes and their time (with and without autograd), and backward passes as the
// number of forward outputs a gradient reached (a hook on every output that requires grad); also
// sample passes, the sum of the batch sizes of those passes.
class CountingNetwork : public ima::Network {
public:
  explicit CountingNetwork(std::shared_ptr<ima::Network> inner) : inner_(std::move(inner)) {}
  torch::Tensor forward(const torch::Tensor& input) override {
    ++forwards;
    sampleForwards += input.size(0);
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor out = inner_->forward(input);
    (out.requires_grad() ? gradForwardSeconds : noGradForwardSeconds) +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (out.requires_grad())
      out.register_hook([this](const torch::Tensor& g) {
        ++backwards;
        sampleBackwards += g.size(0);
      });
    return out;
  }
  std::vector<torch::Tensor> parameters() override { return inner_->parameters(); }
  void setTraining(bool training) override { inner_->setTraining(training); }
  bool isTraining() const override { return inner_->isTraining(); }
  void to(const torch::Device& device) override { inner_->to(device); }
  torch::Device device() const override { return inner_->device(); }
  void saveWeights(std::ostream& out) override { inner_->saveWeights(out); }
  void loadWeights(std::istream& in) override { inner_->loadWeights(in); }
  bool modeIndependent() const override { return inner_->modeIndependent(); }
  int64_t forwards = 0, backwards = 0, sampleForwards = 0, sampleBackwards = 0;
  double gradForwardSeconds = 0, noGradForwardSeconds = 0;

private:
  std::shared_ptr<ima::Network> inner_;
};

// Sample i: a disc of label 1 (radius 12) and one of label 2 (radius 7) at positions that vary
// with i; intensity 1 and 2 on a background of 0, plus Gaussian noise of sd 0.3, minus 0.5.
std::pair<torch::Tensor, torch::Tensor> discBatch(int64_t n, int64_t size) {
  const torch::Tensor yy = torch::arange(size).view({size, 1}).to(torch::kFloat);
  const torch::Tensor xx = torch::arange(size).view({1, size}).to(torch::kFloat);
  torch::Tensor labels = torch::zeros({n, size, size}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const double c1y = 18 + (i * 7) % 20, c1x = 18 + (i * 13) % 20;
    const double c2y = 46 - (i * 5) % 12, c2x = 46 - (i * 11) % 12;
    const torch::Tensor d1 = (yy - c1y).pow(2) + (xx - c1x).pow(2), d2 = (yy - c2y).pow(2) + (xx - c2x).pow(2);
    labels[i].masked_fill_(d1 < 144, 1);
    labels[i].masked_fill_(d2 < 49, 2);
  }
  torch::manual_seed(11);
  const torch::Tensor image = labels.to(torch::kFloat) + 0.3 * torch::randn({n, size, size}) - 0.5;
  return {image.unsqueeze(1), labels};
}

// Sample i: a sphere of label 1 (radius 8) and one of label 2 (radius 5) in a cube of `size`
// voxels, at positions that vary with i; intensities as in discBatch.
std::pair<torch::Tensor, torch::Tensor> sphereBatch(int64_t n, int64_t size) {
  const torch::Tensor zz = torch::arange(size).view({size, 1, 1}).to(torch::kFloat);
  const torch::Tensor yy = torch::arange(size).view({1, size, 1}).to(torch::kFloat);
  const torch::Tensor xx = torch::arange(size).view({1, 1, size}).to(torch::kFloat);
  torch::Tensor labels = torch::zeros({n, size, size, size}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const double c1 = 11 + (i * 3) % 6, c2 = size - 9 - (i * 5) % 4;
    const torch::Tensor d1 = (zz - c1).pow(2) + (yy - c1).pow(2) + (xx - c2).pow(2);
    const torch::Tensor d2 = (zz - c2).pow(2) + (yy - c2).pow(2) + (xx - c1).pow(2);
    labels[i].masked_fill_(d1 < 64, 1);
    labels[i].masked_fill_(d2 < 25, 2);
  }
  torch::manual_seed(11);
  const torch::Tensor image = labels.to(torch::kFloat) + 0.3 * torch::randn(labels.sizes()) - 0.5;
  return {image.unsqueeze(1), labels};
}

// fp32 peak of the cores in use: AVX-512 with two 512-bit FMA pipes, 16 lanes x 2 operations x 2
// pipes per cycle, at the clock /proc/cpuinfo reports (a virtual machine may hide turbo).
std::pair<double, double> fp32PeakAndClock(int threads) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  double mhz = 0;
  while (std::getline(cpuinfo, line))
    if (line.rfind("cpu MHz", 0) == 0) {
      mhz = std::atof(line.substr(line.find(':') + 1).c_str());
      break;
    }
  return {threads * 64.0 * mhz * 1e6, mhz};
}

// `iterations` under the operation profiler: the operations with the most self time and the
// convolutions' share and rate.
void profileIteration(const char* title, const std::function<void()>& iterations, int threads) {
  OpProfiler profiler;
  const auto t0 = std::chrono::steady_clock::now();
  iterations();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double recorded = profiler.recordedSeconds();
  std::printf("\n%s: %.3f s (%.3f s inside ATen operations)\n", title, seconds, recorded);
  std::printf("| operation | calls | self time (s) | share |\n|---|---|---|---|\n");
  const auto ops = profiler.bySelfTime();
  for (size_t i = 0; i < ops.size() && i < 12; ++i)
    std::printf("| %s | %lld | %.3f | %.1f%% |\n", ops[i].name.c_str(), static_cast<long long>(ops[i].calls),
                ops[i].selfSeconds, 100.0 * ops[i].selfSeconds / recorded);
  const auto [peak, mhz] = fp32PeakAndClock(threads);
  const double rate = profiler.convolutionFlops() / profiler.convolutionSeconds();
  std::printf("convolutions (forward and backward): %.1f GFLOP in %.3f s (%.1f%% of the time): %.1f GFLOP/s, "
              "%.0f%% of the fp32 peak %.1f GFLOP/s (%d thread(s) x 64 FLOP/cycle x %.0f MHz)\n",
              profiler.convolutionFlops() / 1e9, profiler.convolutionSeconds(),
              100.0 * profiler.convolutionSeconds() / seconds, rate / 1e9, 100.0 * rate / peak, peak / 1e9, threads, mhz);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double argument(int argc, char** argv, const std::string& name, double fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (name == argv[i]) return std::atof(argv[i + 1]);
  return fallback;
}

std::string textArgument(int argc, char** argv, const std::string& name) {
  for (int i = 1; i + 1 < argc; ++i)
    if (name == argv[i]) return argv[i + 1];
  return "";
}

// The parameters as raw float32, in the network's parameter order (bench/ima_iteration.py
// --weights reads them into its copy of the U-Net).
void writeParameters(const std::vector<torch::Tensor>& parameters, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  for (const torch::Tensor& p : parameters) {
    const torch::Tensor c = p.detach().to(torch::kCPU, torch::kFloat).contiguous();
    out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
  }
  if (!out) {
    std::fprintf(stderr, "cannot write the weights to %s\n", path.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  ima::keepFreedMemory();  // as the ima program does
  const int repeats = static_cast<int>(argument(argc, argv, "--repeats", 7));
  const int threads = static_cast<int>(argument(argc, argv, "--threads", 1));
  const int K = static_cast<int>(argument(argc, argv, "--pgd-steps", 10));
  const int B = static_cast<int>(argument(argc, argv, "--bisection-steps", 10));
  const double eps = argument(argc, argv, "--eps", 12);
  const int64_t n = static_cast<int64_t>(argument(argc, argv, "--batch", argument(argc, argv, "--dims", 2) == 3 ? 2 : 16));
  const int features = static_cast<int>(argument(argc, argv, "--features", 16));
  const std::string saveWeights = textArgument(argc, argv, "--save-weights");
  const int dims = static_cast<int>(argument(argc, argv, "--dims", 2));
  const bool profile = argument(argc, argv, "--profile", 0) != 0;
  torch::set_num_threads(threads);

  ima::ModelMetadata meta;
  const int64_t size = dims == 3 ? 32 : 64;
  meta.network.dims = dims;
  meta.network.classes = 3;
  meta.network.baseFeatures = features;
  meta.network.stages = 4;
  meta.patchSize = std::vector<int64_t>(static_cast<size_t>(dims), size);
  const ima::Model model = ima::Model::create(meta, 1);
  CountingNetwork net(model.network());
  const auto [x, y] = dims == 3 ? sphereBatch(n, size) : discBatch(n, size);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;

  // Pre-training has its own optimiser; the measured iterations start a fresh one, so that a
  // Python run loading the pre-trained weights (--save-weights) starts from the same state.
  torch::optim::Adam pretrainOptimizer(net.parameters(), torch::optim::AdamOptions(1e-3));
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(1e-3));
  auto step = [&](torch::optim::Adam& opt, ima::TrainingMethod& method, uint64_t seed) {
    opt.zero_grad();
    const torch::Tensor loss = method.loss(net, x, y, ids, seed);
    loss.backward();
    opt.step();
    return loss.item<double>();
  };
  auto iteration = [&](ima::TrainingMethod& method, uint64_t seed) { return step(optimizer, method, seed); };

  ima::AdversarialOptions a;
  a.norm = ima::Norm::L2;
  a.pgdSteps = K;
  a.bisectionSteps = B;
  a.eps = eps;      // PGD-AT's fixed budget
  a.epsMax = eps;   // IMA: every margin at eps (delta = eps), as in an epoch where all grew to it
  a.delta = eps;
  a.warmStart = argument(argc, argv, "--warm-start", 0) != 0;
  using Kind = ima::TrainingMethodKind;
  ima::TrainingMethod standard(Kind::Standard, a), pgd(Kind::Pgd, a), ima(Kind::Ima, a);
  ima.setSampleCount(n);

  net.setTraining(true);
  double pretrainLoss = 0;
  for (int i = 0; i < 40; ++i) pretrainLoss = step(pretrainOptimizer, standard, 0);
  if (!saveWeights.empty()) writeParameters(net.parameters(), saveWeights);
  {
    ima::ImaStepOptions o;
    o.pgd.steps = K;
    o.bisectionSteps = B;
    o.pgd.seed = 1;  // that of the IMA iteration counted below, which starts from these weights
    const torch::Tensor epsPerSample = torch::full({n}, eps);
    const ima::ImaStepResult r = ima::imaAdversarialStep(net, x, y, epsPerSample, o);
    std::printf("batch %lld x 1 x %lld^%d, %dD U-Net %d features 4 stages, %d thread(s), K %d, B %d, L2 eps %.2f\n",
                static_cast<long long>(n), static_cast<long long>(size), dims, dims, features, threads, K, B, eps);
    std::printf("after 40 standard iterations: loss %.3f, clean correct %lld / %lld, adversarial found %lld / %lld\n",
                pretrainLoss, static_cast<long long>(r.cleanCorrect.sum().item<int64_t>()),
                static_cast<long long>(n), static_cast<long long>(r.found.sum().item<int64_t>()), static_cast<long long>(n));
  }

  if (profile) {  // the iterations the timed repeats would run, seeds 0..repeats-1
    profileIteration("standard iterations", [&] { for (int r = 0; r < repeats; ++r) iteration(standard, r); }, threads);
    profileIteration("IMA iterations", [&] { for (int r = 0; r < repeats; ++r) iteration(ima, r); }, threads);
    return 0;
  }

  // Passes of one IMA iteration, and where its time goes.
  net.forwards = net.backwards = net.sampleForwards = net.sampleBackwards = 0;
  net.gradForwardSeconds = net.noGradForwardSeconds = 0;
  optimizer.zero_grad();
  const auto t0 = std::chrono::steady_clock::now();
  const torch::Tensor loss = ima.loss(net, x, y, ids, 1);
  const auto t1 = std::chrono::steady_clock::now();
  const int64_t forwards = net.forwards, attackBackwards = net.backwards;
  const int64_t sampleForwards = net.sampleForwards, sampleBackwards = net.sampleBackwards;
  loss.backward();
  const auto t2 = std::chrono::steady_clock::now();
  const int64_t weightBackwardOutputs = net.backwards - attackBackwards;
  optimizer.step();
  const auto t3 = std::chrono::steady_clock::now();
  auto span = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::printf("IMA iteration time %.3f s: forwards with autograd %.3f s, without %.3f s, rest of the loss (input "
              "gradients, bookkeeping) %.3f s, weight backward %.3f s, optimiser step %.3f s\n",
              span(t0, t3), net.gradForwardSeconds, net.noGradForwardSeconds,
              span(t0, t1) - net.gradForwardSeconds - net.noGradForwardSeconds, span(t1, t2), span(t2, t3));
  // At most the algorithm's count; fewer PGD passes when every sample has crossed before step K.
  std::printf("IMA iteration: %lld forwards (algorithm: 1 + %d + %d + 1 = %d), %lld input-gradient backwards "
              "(algorithm: %d), 1 weight backward reaching %lld forward outputs (clean + adversarial = 2)\n",
              static_cast<long long>(forwards), K + 1, B, K + B + 3, static_cast<long long>(attackBackwards), K,
              static_cast<long long>(weightBackwardOutputs));
  // Crossed samples leave the PGD at their first wrong iterate, and only they are bisected; a PGD
  // that runs every sample to the end and bisects the whole batch takes N (K + B + 3) sample-
  // forwards and N K sample-backwards.
  std::printf("IMA iteration: %lld sample-forwards and %lld sample-backwards before the weight backward, against "
              "%lld and %lld for every sample in every pass\n",
              static_cast<long long>(sampleForwards), static_cast<long long>(sampleBackwards),
              static_cast<long long>(n * (K + B + 3)), static_cast<long long>(n * K));

  std::vector<double> tStandard, tPgd, tIma;
  auto seconds = [&](ima::TrainingMethod& method, uint64_t seed) {
    const auto t0 = std::chrono::steady_clock::now();
    iteration(method, seed);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int r = 0; r < repeats; ++r) {
    tStandard.push_back(seconds(standard, r));
    tPgd.push_back(seconds(pgd, r));
    tIma.push_back(seconds(ima, r));
    std::printf("repeat %d: standard %.3f s, pgd %.3f s, ima %.3f s\n", r + 1, tStandard.back(), tPgd.back(),
                tIma.back());
    std::fflush(stdout);
  }
  const double s = median(tStandard), p = median(tPgd), i = median(tIma);
  std::printf("median of %d: standard %.3f s, pgd-at %.3f s, ima %.3f s; ima/standard %.2f, ima/pgd-at %.2f\n", repeats,
              s, p, i, i / s, i / p);
}
