// Tests of the Slicer CLI modules. The executables are run as Slicer runs them (flags first,
// positional inputs and outputs last, booleans as bare flags, --returnparameterfile) in a fresh
// directory; their outputs are read back with ITK and the returned values are checked against
// quantities computed here independently (voxel counts times the voxel volume written by the test,
// Dice from the two label maps, the robustness AUC from the report's raw counts by the trapezoid
// rule). Cancellation is tested the way Slicer cancels: SIGTERM once the module reports progress.
// The parsing of descriptions and arguments is also tested directly on small XML texts.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "itkImage.h"

#include "ima/Error.h"
#include "ima/Model.h"

#include "../common/ITKImageFiles.h"        // writeImage, readImage
#include "../common/ScratchDirectoryTest.h"  // the fixture's work directory
#include "../common/TinyModels.h"            // tinyUNet2DMetadata
#include "ArgumentParser.h"                    // UsageError
#include "ModuleArguments.h"
#include "ModuleDescription.h"

#if !defined(IMA_SEGMENT_EXE) || !defined(IMA_HARDEN_EXE) || !defined(IMA_EVALUATE_EXE)
#error "IMA_SEGMENT_EXE, IMA_HARDEN_EXE and IMA_EVALUATE_EXE must name the module executables"
#endif

extern char** environ;

namespace fs = std::filesystem;

namespace {

using Image3F = itk::Image<float, 3>;
using Label3 = itk::Image<uint8_t, 3>;

// The grid of the test volumes: anisotropic, so a wrong axis in the volume would show.
constexpr double kSpacing[3] = {0.7, 1.3, 2.5};
constexpr double kOrigin[3] = {4.0, -2.0, 10.0};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

template <typename TImage, typename F>
typename TImage::Pointer volume(int w, int h, int d, F value) {
  auto image = TImage::New();
  typename TImage::RegionType region;
  region.SetSize({{static_cast<itk::SizeValueType>(w), static_cast<itk::SizeValueType>(h),
                   static_cast<itk::SizeValueType>(d)}});
  image->SetRegions(region);
  image->SetSpacing(kSpacing);
  image->SetOrigin(kOrigin);
  image->Allocate();
  for (int z = 0; z < d; ++z)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) image->SetPixel({{x, y, z}}, value(x, y, z));
  return image;
}

// A disc (organ) with a smaller disc inside (lesion), drifting with z; the image is bright there.
int discLabel(int x, int y, int z) {
  const double r = std::hypot(x - 11.0 - 0.5 * z, y - 9.0);
  return r < 2.5 ? 2 : (r < 6 ? 1 : 0);
}

std::vector<uint8_t> voxels(const Label3* image) {
  const auto n = image->GetLargestPossibleRegion().GetNumberOfPixels();
  return std::vector<uint8_t>(image->GetBufferPointer(), image->GetBufferPointer() + n);
}

// "name = value" lines, as Slicer reads them.
std::map<std::string, std::string> readReturnFile(const fs::path& path) {
  std::map<std::string, std::string> values;
  std::istringstream lines(slurp(path));
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return values;
}

std::vector<double> numbers(const std::string& text) {
  std::vector<double> v;
  std::istringstream s(text);
  for (std::string part; std::getline(s, part, ',');) v.push_back(std::stod(part));
  return v;
}

// The <filter-progress> values, and whether the run's stdout is one well-formed progress report:
// filter-start first, filter-end after the last progress value.
struct ProgressLog {
  std::vector<double> values;
  bool started = false, ended = false;
};

ProgressLog parseProgress(const std::string& out) {
  ProgressLog log;
  log.started = out.rfind("<filter-start>\n<filter-name>", 0) == 0;
  const std::string open = "<filter-progress>", close = "</filter-progress>";
  for (size_t at = out.find(open); at != std::string::npos; at = out.find(open, at + 1))
    log.values.push_back(std::stod(out.substr(at + open.size(), out.find(close, at) - at - open.size())));
  const auto end = out.find("<filter-end>");
  log.ended = end != std::string::npos && end > out.rfind(close) && out.find("<filter-time>", end) != std::string::npos;
  return log;
}

void expectCompleteProgress(const std::string& out, const std::string& module) {
  const ProgressLog log = parseProgress(out);
  EXPECT_TRUE(log.started) << out;
  EXPECT_NE(out.find("<filter-name>" + module + "</filter-name>"), std::string::npos) << out;
  ASSERT_GE(log.values.size(), 3u) << out;
  EXPECT_EQ(log.values.front(), 0.0);
  EXPECT_EQ(log.values.back(), 1.0);
  for (size_t i = 1; i < log.values.size(); ++i) EXPECT_GE(log.values[i], log.values[i - 1]) << "line " << i;
  EXPECT_TRUE(log.ended) << out;
}

struct Outcome {
  int code = -1;          // exit code when the process exited
  bool signalled = false;  // killed by a signal instead
  std::string out, err;
};

class SlicerModules : public ima::test::ScratchDirectoryTest {
protected:
  // Starts `exe ARGS` in the work directory, stdout/stderr to files outside it.
  pid_t start(const std::string& exe, const std::vector<std::string>& args) const {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out = (root_ / "stdout.txt").string(), err = (root_ / "stderr.txt").string();
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> argvStrings{exe};
    argvStrings.insert(argvStrings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argvStrings) argv.push_back(a.data());
    argv.push_back(nullptr);
    const fs::path previous = fs::current_path();
    fs::current_path(work_);  // posix_spawn has no portable chdir action on glibc 2.36
    pid_t pid = -1;
    const int status = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
    fs::current_path(previous);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(status, 0) << "cannot start " << exe;
    return pid;
  }

  Outcome wait(pid_t pid) const {
    int status = 0;
    waitpid(pid, &status, 0);
    Outcome o;
    o.signalled = WIFSIGNALED(status);
    o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.out = slurp(root_ / "stdout.txt");
    o.err = slurp(root_ / "stderr.txt");
    return o;
  }

  Outcome run(const std::string& exe, const std::vector<std::string>& args) const { return wait(start(exe, args)); }

  // Starts a long run, waits until its progress reaches `after` (the work proper has begun), sends
  // SIGTERM as Slicer does, and returns how the process ended.
  Outcome terminateAfterProgress(const std::string& exe, const std::vector<std::string>& args, double after) const {
    const pid_t pid = start(exe, args);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    bool reached = false;
    while (!reached && std::chrono::steady_clock::now() < deadline) {
      const ProgressLog log = parseProgress(slurp(root_ / "stdout.txt"));
      reached = !log.values.empty() && log.values.back() >= after;
      if (log.ended) break;  // finished before we could cancel: the test's run is too short
      if (!reached) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(reached) << "no progress up to " << after << " before the deadline";
    kill(pid, SIGTERM);
    return wait(pid);
  }

  // A clean cancellation: exit code 1 (not death by the signal), no filter-end, nothing written
  // besides the inputs every cancellation test starts from.
  void expectCancelledWithoutOutput(const Outcome& r) const {
    EXPECT_FALSE(r.signalled) << "the module did not handle SIGTERM";
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("cancelled"), std::string::npos) << r.err;
    EXPECT_FALSE(parseProgress(r.out).ended);
    EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nrrd", "ref.nrrd"}));
  }

  // Tiny 2D U-Net (4 features, 2 stages, 3 classes; random weights) saved through the core.
  void makeModel(const std::string& name) const {
    ima::Model::create(ima::test::tinyUNet2DMetadata("organ", "lesion"), 7).save((work_ / name).string());
  }

  // The image (bright discs on a ramp) and its reference label map, 24x20xdepth on kSpacing.
  void makeCase(const std::string& image, const std::string& label, int depth = 4, int w = 24, int h = 20) const {
    ima::test::writeImage(volume<Image3F>(w, h, depth, [](int x, int y, int z) {
           const int l = discLabel(x, y, z);
           return static_cast<float>(20 + 3 * x + (l == 2 ? 240 : l == 1 ? 150 : 0));
         }).GetPointer(),
         work_ / image);
    ima::test::writeImage(volume<Label3>(w, h, depth, [](int x, int y, int z) { return static_cast<uint8_t>(discLabel(x, y, z)); })
             .GetPointer(),
         work_ / label);
  }

};

// ---------------------------------------------------------------- IMASegment

TEST_F(SlicerModules, SegmentWritesTheLabelMapAndReturnsVolumesAndDice) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd");
  const Outcome r = run(IMA_SEGMENT_EXE, {"--model", "m.imamodel", "--reference", "ref.nrrd", "--overlap", "0.5",
                                          "--batch", "2", "--device", "cpu", "--threads", "1",
                                          "--returnparameterfile", "ret.txt", "in.nrrd", "out.nrrd"});
  ASSERT_EQ(r.code, 0) << r.err;
  expectCompleteProgress(r.out, "IMASegment");

  const auto out = ima::test::readImage<Label3>(work_ / "out.nrrd");
  const auto size = out->GetLargestPossibleRegion().GetSize();
  EXPECT_EQ(size[0], 24u);
  EXPECT_EQ(size[1], 20u);
  EXPECT_EQ(size[2], 4u);
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(out->GetSpacing()[a], kSpacing[a], 1e-9);
    EXPECT_NEAR(out->GetOrigin()[a], kOrigin[a], 1e-9);
  }
  const std::vector<uint8_t> predicted = voxels(out.GetPointer());
  const std::vector<uint8_t> reference = voxels(ima::test::readImage<Label3>(work_ / "ref.nrrd").GetPointer());

  const auto values = readReturnFile(work_ / "ret.txt");
  EXPECT_EQ(values.at("labelNames"), "organ,lesion");
  const std::vector<double> counted = numbers(values.at("labelVoxels")), ml = numbers(values.at("labelVolumesMl")),
                            dice = numbers(values.at("dice"));
  ASSERT_EQ(counted.size(), 2u);
  ASSERT_EQ(ml.size(), 2u);
  ASSERT_EQ(dice.size(), 2u);
  const double voxelMl = kSpacing[0] * kSpacing[1] * kSpacing[2] / 1000.0;  // mm^3 -> mL
  int64_t nonBackground = 0;
  double diceSum = 0;
  for (int k = 1; k <= 2; ++k) {
    int64_t count = 0, tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < predicted.size(); ++i) {
      const bool p = predicted[i] == k, t = reference[i] == k;
      count += p;
      tp += p && t;
      fp += p && !t;
      fn += !p && t;
    }
    nonBackground += count;
    const double expectedDice = (tp + fp + fn) == 0 ? 1.0 : 2.0 * tp / (2.0 * tp + fp + fn);
    diceSum += expectedDice;
    EXPECT_EQ(counted[k - 1], static_cast<double>(count)) << "label " << k;
    EXPECT_NEAR(ml[k - 1], count * voxelMl, 1e-9 * (1 + count)) << "label " << k;
    EXPECT_NEAR(dice[k - 1], expectedDice, 1e-9) << "label " << k;
  }
  EXPECT_GT(nonBackground, 0) << "the test model predicts only background; the volumes test nothing";
  EXPECT_NEAR(std::stod(values.at("meanDice")), diceSum / 2, 1e-9);
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nrrd", "ref.nrrd", "out.nrrd", "ret.txt"}));
}

TEST_F(SlicerModules, SegmentWithoutReferenceReturnsNoDice) {
  makeModel("m.imamodel");
  makeCase("in.nii.gz", "ref.nii.gz");
  // Positional arguments only where Slicer puts them; the short flag -m for the model.
  const Outcome r = run(IMA_SEGMENT_EXE, {"-m", "m.imamodel", "--threads", "1", "--mirror", "--returnparameterfile",
                                          "ret.txt", "in.nii.gz", "out.nii.gz"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto values = readReturnFile(work_ / "ret.txt");
  EXPECT_EQ(values.count("dice"), 0u);
  EXPECT_EQ(values.count("meanDice"), 0u);
  EXPECT_EQ(values.count("labelVolumesMl"), 1u);
  EXPECT_TRUE(fs::exists(work_ / "out.nii.gz"));
}

TEST_F(SlicerModules, SegmentCancelledBySigtermLeavesNoOutput) {
  makeModel("m.imamodel");
  // Many slices of many windows: several seconds of patches, cancelled early.
  makeCase("in.nrrd", "ref.nrrd", 300, 64, 64);
  const Outcome r = terminateAfterProgress(
      IMA_SEGMENT_EXE, {"--model", "m.imamodel", "--overlap", "0.9", "--batch", "1", "--threads", "1",
                        "--returnparameterfile", "ret.txt", "in.nrrd", "out.nrrd"},
      0.06);
  expectCancelledWithoutOutput(r);
}

// ---------------------------------------------------------------- IMAHarden

TEST_F(SlicerModules, HardenWritesALoadableModelAndReturnsTrainingValues) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd");
  const Outcome r = run(IMA_HARDEN_EXE, {"--model", "m.imamodel", "--outputModel", "hard.imamodel", "--method", "ima",
                                         "--epochs", "1", "--iterations", "2", "--epsMax", "1", "--delta", "0.25",
                                         "--bisectionSteps", "2", "--batch", "2", "--threads", "1",
                                         "--device", "cpu", "--returnparameterfile", "ret.txt", "in.nrrd", "ref.nrrd"});
  ASSERT_EQ(r.code, 0) << r.err;
  expectCompleteProgress(r.out, "IMAHarden");

  const ima::Model hardened = ima::Model::load((work_ / "hard.imamodel").string());
  EXPECT_EQ(hardened.metadata().trainingMethod, "ima");
  EXPECT_EQ(hardened.metadata().labels.size(), 2u);
  const auto provenance = nlohmann::json::parse(hardened.metadata().provenanceJson);
  EXPECT_EQ(provenance.value("initialized_from", ""), "m.imamodel");
  EXPECT_EQ(provenance.value("labels", ""), "ref.nrrd");
  EXPECT_NE(slurp(work_ / "hard.imamodel"), slurp(work_ / "m.imamodel"));
  // The XML's defaults: pgdSteps 0, IMA's own 2 steps, and the bisection tolerance 0.05.
  const auto adversarial = nlohmann::json::parse(hardened.metadata().trainingSettingsJson).at("adversarial");
  EXPECT_EQ(adversarial.at("pgd_steps"), 2);
  EXPECT_EQ(adversarial.at("bisection_tolerance"), 0.05);

  const auto values = readReturnFile(work_ / "ret.txt");
  const double loss = std::stod(values.at("finalLoss")), margin = std::stod(values.at("meanMargin"));
  EXPECT_TRUE(std::isfinite(loss) && loss > 0) << loss;
  // After one epoch every margin is delta (misclassified), delta + delta (grown), or a boundary
  // distance found inside the ball of radius delta: all within [0, 2 delta].
  EXPECT_GE(margin, 0.0);
  EXPECT_LE(margin, 0.5 + 1e-9);
  EXPECT_GT(std::stod(values.at("trainingSeconds")), 0.0);
  // No checkpoint or log next to the model: Slicer asked for one file.
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nrrd", "ref.nrrd", "hard.imamodel", "ret.txt"}));
}

// --attackClamp reaches the training, recorded in the model's training settings as `ima train
// --attack-clamp` records it (the values passed here are the oracle); without it no clamp is
// recorded; a range that is empty or not two values is a usage error naming the flag, before any
// output.
TEST_F(SlicerModules, HardenRecordsTheAttackClampAndRejectsAnEmptyRange) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd", 2);
  const std::vector<std::string> common{"--model", "m.imamodel", "--method", "pgd", "--epochs", "1", "--iterations", "1",
                                        "--pgdSteps", "2", "--batch", "2", "--threads", "1", "--device", "cpu"};
  const auto clampOf = [&](const std::string& model) {
    const auto settings = nlohmann::json::parse(ima::Model::load((work_ / model).string()).metadata().trainingSettingsJson);
    return settings.at("adversarial").at("clamp");
  };
  auto args = common;
  args.insert(args.end(), {"--outputModel", "clamped.imamodel", "--attackClamp", "-1.5,2.5", "in.nrrd", "ref.nrrd"});
  Outcome r = run(IMA_HARDEN_EXE, args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(clampOf("clamped.imamodel"), nlohmann::json::array({-1.5, 2.5}));
  args = common;
  args.insert(args.end(), {"--outputModel", "plain.imamodel", "in.nrrd", "ref.nrrd"});
  r = run(IMA_HARDEN_EXE, args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(clampOf("plain.imamodel").is_null());

  const std::set<std::string> before = listing();
  for (const std::string bad : {"2,1", "1,1", "0", "0,1,2"}) {
    args = common;
    args.insert(args.end(), {"--outputModel", "bad.imamodel", "--attackClamp", bad, "in.nrrd", "ref.nrrd"});
    r = run(IMA_HARDEN_EXE, args);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("IMAHarden: error: --attackClamp"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  r = run(IMA_HARDEN_EXE, {"--model", "m.imamodel", "--outputModel", "bad.imamodel", "--attackClamp", "2,1",
                           "in.nrrd", "ref.nrrd"});
  EXPECT_NE(r.err.find("--attackClamp is [2, 1]"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);
}

TEST_F(SlicerModules, HardenCancelledBySigtermLeavesNoModel) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd");
  const Outcome r = terminateAfterProgress(
      IMA_HARDEN_EXE, {"--model", "m.imamodel", "--outputModel", "hard.imamodel", "--epochs", "1000", "--iterations",
                       "1000", "--pgdSteps", "2", "--bisectionSteps", "2", "--batch", "2", "--threads", "1",
                       "--returnparameterfile", "ret.txt", "in.nrrd", "ref.nrrd"},
      0.05);
  expectCancelledWithoutOutput(r);
}

// ---------------------------------------------------------------- IMAEvaluate

TEST_F(SlicerModules, EvaluateWritesTheReportAndReturnsItsAuc) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd");
  const Outcome r = run(IMA_EVALUATE_EXE, {"--model", "m.imamodel", "--report", "report.json", "--plot", "plot.svg",
                                           "--attack", "pgd", "--norm", "l2", "--budgets", "1,0.5", "--steps", "2",
                                           "--batch", "4", "--threads", "1", "--returnparameterfile", "ret.txt",
                                           "in.nrrd", "ref.nrrd"});
  ASSERT_EQ(r.code, 0) << r.err;
  expectCompleteProgress(r.out, "IMAEvaluate");
  EXPECT_NE(slurp(work_ / "plot.svg").find("<svg"), std::string::npos);

  // Mean voxel Dice per budget from the report's raw counts, and the AUC by the trapezoid rule.
  const auto report = nlohmann::json::parse(slurp(work_ / "report.json"));
  ASSERT_EQ(report.at("attacks").size(), 1u);
  std::vector<double> eps, dice;
  for (const auto& b : report.at("attacks")[0].at("budgets")) {
    eps.push_back(b.at("eps").get<double>());
    double sum = 0;
    for (const auto& c : b.at("class_counts")) {
      const double tp = c.at("tp"), fp = c.at("fp"), fn = c.at("fn");
      sum += (tp + fp + fn) == 0 ? 1.0 : 2 * tp / (2 * tp + fp + fn);
    }
    dice.push_back(sum / static_cast<double>(b.at("class_counts").size()));
  }
  ASSERT_EQ(eps, (std::vector<double>{0, 0.5, 1}));  // 0 added, sorted
  double area = 0;
  for (size_t i = 1; i < eps.size(); ++i) area += (eps[i] - eps[i - 1]) * (dice[i] + dice[i - 1]) / 2;

  const auto values = readReturnFile(work_ / "ret.txt");
  EXPECT_NEAR(std::stod(values.at("auc")), area / eps.back(), 1e-8);
  EXPECT_NEAR(std::stod(values.at("cleanDice")), dice.front(), 1e-8);
  EXPECT_NEAR(std::stod(values.at("worstDice")), dice.back(), 1e-8);
  const std::vector<double> byBudget = numbers(values.at("diceByBudget"));
  ASSERT_EQ(byBudget.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(byBudget[i], dice[i], 1e-8);
  EXPECT_EQ(report.at("attacked"), "patch");

  // --attacked volume reaches the core: the report says what was attacked.
  const Outcome v = run(IMA_EVALUATE_EXE, {"--model", "m.imamodel", "--report", "volume.json", "--attack", "pgd",
                                           "--attacked", "volume", "--budgets", "0.5", "--steps", "2", "--threads",
                                           "1", "in.nrrd", "ref.nrrd"});
  ASSERT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(nlohmann::json::parse(slurp(work_ / "volume.json")).at("attacked"), "volume");
}

TEST_F(SlicerModules, EvaluateStrongReturnsTheEnsembleAndReportsEveryMember) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd");
  const Outcome r = run(IMA_EVALUATE_EXE, {"--model", "m.imamodel", "--report", "report.json", "--attack", "strong",
                                           "--budgets", "1", "--steps", "2", "--apgdSteps", "2", "--threads", "1",
                                           "--returnparameterfile", "ret.txt", "in.nrrd", "ref.nrrd"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(slurp(work_ / "report.json"));
  const auto& attacks = report.at("attacks");
  ASSERT_EQ(attacks.size(), 7u);  // the ensemble, then its 6 members
  EXPECT_EQ(attacks[0].at("name"), "strong");
  EXPECT_EQ(attacks[0].at("members").size(), 6u);
  // One case: the ensemble's Dice at eps 1 is its lowest member's.
  double lowest = 1;
  for (size_t i = 1; i < attacks.size(); ++i)
    lowest = std::min(lowest, attacks[i].at("budgets")[1].at("case_dice")[0].get<double>());
  EXPECT_DOUBLE_EQ(attacks[0].at("budgets")[1].at("case_dice")[0].get<double>(), lowest);
  const auto values = readReturnFile(work_ / "ret.txt");
  EXPECT_NEAR(std::stod(values.at("worstDice")), attacks[0].at("budgets")[1].at("mean_voxel_dice").get<double>(), 1e-8);
}

// ---------------------------------------------------------------- bad input

TEST_F(SlicerModules, BadArgumentsAreUsageErrors) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd");
  const std::set<std::string> inputs{"m.imamodel", "in.nrrd", "ref.nrrd"};
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {{"--model", "m.imamodel", "--bogus", "in.nrrd", "out.nrrd"}, "--bogus"},
      {{"--model", "m.imamodel", "in.nrrd"}, "outputLabel"},
      {{"--model", "m.imamodel", "in.nrrd", "out.nrrd", "extra.nrrd"}, "extra.nrrd"},
      {{"--model", "m.imamodel", "--device", "tpu", "in.nrrd", "out.nrrd"}, "auto, cpu, cuda"},
      {{"--model", "m.imamodel", "--threads", "-1", "in.nrrd", "out.nrrd"}, "--threads"},
      {{"--model", "m.imamodel", "--overlap", "0.5x", "in.nrrd", "out.nrrd"}, "0.5x"},
      {{"--model", "m.imamodel", "--batch", "in.nrrd", "out.nrrd"}, "--batch"},
      {{"--model", "m.imamodel", "--mirror=maybe", "in.nrrd", "out.nrrd"}, "maybe"},
      {{"in.nrrd", "out.nrrd"}, "--model"},
  };
  for (const Case& c : cases) {
    const Outcome r = run(IMA_SEGMENT_EXE, c.args);
    EXPECT_EQ(r.code, 2) << c.mentions << ": " << r.err;
    EXPECT_NE(r.err.find("IMASegment: error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.mentions), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << "nothing on stdout before the arguments are accepted: " << r.out;
  }
  Outcome r = run(IMA_EVALUATE_EXE, {"--model", "m.imamodel", "--report", "r.json", "--attack", "cw", "in.nrrd", "ref.nrrd"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'cw'"), std::string::npos) << r.err;
  r = run(IMA_EVALUATE_EXE, {"--model", "m.imamodel", "--report", "r.json", "--budgets", "0,-1", "in.nrrd", "ref.nrrd"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--budgets"), std::string::npos) << r.err;
  r = run(IMA_HARDEN_EXE, {"--model", "m.imamodel", "--outputModel", "h.imamodel", "--epsMax", "1", "--delta", "2",
                           "in.nrrd", "ref.nrrd"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--delta"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), inputs);
}

TEST_F(SlicerModules, BadInputsFailWithoutOutput) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd");
  ima::test::writeImage(volume<Label3>(24, 20, 3, [](int, int, int) { return uint8_t{0}; }).GetPointer(), work_ / "small.nrrd");
  const std::set<std::string> inputs{"m.imamodel", "in.nrrd", "ref.nrrd", "small.nrrd"};
  struct Case {
    std::string exe;
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {IMA_SEGMENT_EXE, {"--model", "m.imamodel", "missing.nrrd", "out.nrrd"}, "missing.nrrd"},
      {IMA_SEGMENT_EXE, {"--model", "none.imamodel", "in.nrrd", "out.nrrd"}, "none.imamodel"},
      {IMA_SEGMENT_EXE, {"--model", "m.imamodel", "in.nrrd", "nodir/out.nrrd"}, "nodir"},
      {IMA_SEGMENT_EXE, {"--model", "m.imamodel", "--reference", "small.nrrd", "in.nrrd", "out.nrrd"}, "small.nrrd"},
      {IMA_HARDEN_EXE, {"--model", "m.imamodel", "--outputModel", "h.imamodel", "in.nrrd", "small.nrrd"}, "small.nrrd"},
      {IMA_EVALUATE_EXE, {"--model", "m.imamodel", "--report", "nodir/r.json", "in.nrrd", "ref.nrrd"}, "nodir"},
  };
  for (const Case& c : cases) {
    const Outcome r = run(c.exe, c.args);
    EXPECT_EQ(r.code, 1) << c.mentions << ": " << r.err;
    EXPECT_NE(r.err.find(": error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.mentions), std::string::npos) << r.err;
    EXPECT_EQ(listing(), inputs) << c.mentions;
  }
}

TEST_F(SlicerModules, XmlHelpAndVersionPrintOnlyThat) {
  Outcome r = run(IMA_SEGMENT_EXE, {"--xml"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("<?xml", 0), 0u);
  EXPECT_TRUE(r.err.empty()) << r.err;
  r = run(IMA_HARDEN_EXE, {"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("-m, --model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--returnparameterfile"), std::string::npos) << r.out;
  r = run(IMA_EVALUATE_EXE, {"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("IMAEvaluate"), std::string::npos) << r.out;
  EXPECT_TRUE(listing().empty());
}

// ---------------------------------------------------------------- description and arguments

const char* const kTinyXml = R"(<?xml version="1.0"?>
<executable>
  <title>Tiny</title>
  <parameters>
    <label>A</label><description>d</description>
    <integer><name>count</name><flag>c</flag><longflag>count</longflag><default>3</default>
      <constraints><minimum>1</minimum><maximum>5</maximum></constraints></integer>
    <boolean><name>fast</name><longflag>--fast</longflag><default>false</default></boolean>
    <double><name>shift</name><index>0</index><channel>input</channel></double>
    <string-enumeration><name>mode</name><longflag>mode</longflag><default>a</default>
      <element>a</element><element>b</element></string-enumeration>
    <double-vector><name>eps</name><longflag>eps</longflag><default>0,1</default></double-vector>
    <double><name>result</name><channel>output</channel></double>
  </parameters>
</executable>)";

ima::slicer::ModuleArguments parse(const ima::slicer::ModuleDescription& d, std::vector<std::string> args) {
  return ima::slicer::ModuleArguments(d, args);
}

TEST(ModuleArguments, FollowTheDescription) {
  using ima::slicer::ModuleDescription;
  const ModuleDescription d = ModuleDescription::parse(kTinyXml);
  ASSERT_NE(d.find("result"), nullptr);
  EXPECT_TRUE(d.find("result")->isReturn());
  EXPECT_FALSE(d.find("count")->isReturn());

  auto a = parse(d, {"-c", "4", "--fast", "--mode=b", "-2.5"});  // a negative positional is a value
  EXPECT_EQ(a.integer("count"), 4);
  EXPECT_TRUE(a.boolean("fast"));
  EXPECT_EQ(a.string("mode"), "b");
  EXPECT_EQ(a.number("shift"), -2.5);
  EXPECT_EQ(a.numbers("eps"), (std::vector<double>{0, 1}));  // the default

  const auto defaults = parse(d, {"1"});
  EXPECT_EQ(defaults.integer("count"), 3);
  EXPECT_FALSE(defaults.boolean("fast"));
  EXPECT_FALSE(defaults.given("count"));

  using ima::cli::UsageError;
  EXPECT_THROW(parse(d, {"--count", "6", "1"}), UsageError);          // above the maximum
  EXPECT_THROW(parse(d, {"--count", "2.5", "1"}), UsageError);        // not an integer
  EXPECT_THROW(parse(d, {"--count", "2", "--count", "3", "1"}), UsageError);  // twice
  EXPECT_THROW(parse(d, {"--mode", "c", "1"}), UsageError);           // not an element
  EXPECT_THROW(parse(d, {"--eps", "0,x", "1"}), UsageError);          // bad vector entry
  EXPECT_THROW(parse(d, {"--result", "1", "1"}), UsageError);         // return parameters take no flag
  EXPECT_THROW(parse(d, {}), UsageError);                             // missing positional
  EXPECT_NO_THROW(parse(d, {"--xml"}));                               // --xml needs nothing else
}

TEST(ModuleDescription, RejectsBrokenDescriptions) {
  using ima::slicer::ModuleDescription;
  auto withParameter = [](const std::string& parameter) {
    return "<executable><title>T</title><parameters><label>A</label>" + parameter + "</parameters></executable>";
  };
  EXPECT_THROW(ModuleDescription::parse("<executable><title>T</title>"), ima::Error);  // not well-formed
  EXPECT_THROW(ModuleDescription::parse("<module><title>T</title></module>"), ima::Error);
  EXPECT_THROW(ModuleDescription::parse(withParameter("<integer><longflag>n</longflag></integer>")), ima::Error);
  EXPECT_THROW(ModuleDescription::parse(withParameter("<widget><name>w</name><longflag>w</longflag></widget>")),
               ima::Error);
  EXPECT_THROW(ModuleDescription::parse(withParameter(
                   "<string-enumeration><name>e</name><longflag>e</longflag><default>z</default>"
                   "<element>a</element></string-enumeration>")),
               ima::Error);
  EXPECT_THROW(ModuleDescription::parse(withParameter(
                   "<image><name>a</name><index>0</index><channel>input</channel></image>"
                   "<image><name>b</name><index>2</index><channel>output</channel></image>")),
               ima::Error);
  EXPECT_THROW(ModuleDescription::parse(withParameter(
                   "<integer><name>a</name><longflag>x</longflag></integer>"
                   "<integer><name>b</name><longflag>x</longflag></integer>")),
               ima::Error);
  EXPECT_THROW(ModuleDescription::parse(withParameter("<integer><name>a</name></integer>")), ima::Error);
  EXPECT_NO_THROW(ModuleDescription::parse(withParameter("<integer><name>a</name><channel>output</channel></integer>")));
}

}  // namespace

// ---------------------------------------------------------------- outputs never replace inputs

// Slicer replaces the files it passes as outputs, but a module must not replace one of its inputs,
// whatever the name leads there: the same path, a symbolic link, a hard link.
TEST_F(SlicerModules, NoModuleReplacesAnInput) {
  makeModel("m.imamodel");
  makeCase("in.nrrd", "ref.nrrd");
  fs::create_symlink(fs::absolute(work_ / "in.nrrd"), work_ / "in_link.nrrd");
  fs::create_hard_link(work_ / "m.imamodel", work_ / "model_copy.imamodel");
  fs::create_hard_link(work_ / "ref.nrrd", work_ / "ref_copy.json");
  const std::set<std::string> files = listing();
  const std::string model = slurp(work_ / "m.imamodel"), image = slurp(work_ / "in.nrrd"), label = slurp(work_ / "ref.nrrd");
  struct Case {
    std::string exe;
    std::vector<std::string> args;
    std::string output, input;
  };
  const std::vector<Case> cases = {
      {IMA_SEGMENT_EXE, {"--model", "m.imamodel", "--threads", "1", "in.nrrd", "in.nrrd"}, "in.nrrd", "in.nrrd"},
      {IMA_SEGMENT_EXE, {"--model", "m.imamodel", "--threads", "1", "in.nrrd", "in_link.nrrd"}, "in_link.nrrd", "in.nrrd"},
      {IMA_SEGMENT_EXE, {"--model", "m.imamodel", "--reference", "ref.nrrd", "in.nrrd", "ref.nrrd"}, "ref.nrrd", "ref.nrrd"},
      {IMA_HARDEN_EXE, {"--model", "m.imamodel", "--outputModel", "model_copy.imamodel", "in.nrrd", "ref.nrrd"},
       "model_copy.imamodel", "m.imamodel"},
      {IMA_EVALUATE_EXE, {"--model", "m.imamodel", "--report", "ref_copy.json", "in.nrrd", "ref.nrrd"}, "ref_copy.json",
       "ref.nrrd"},
  };
  for (const Case& c : cases) {
    const Outcome r = run(c.exe, c.args);
    EXPECT_EQ(r.code, 1) << c.output << ": " << r.err;
    EXPECT_NE(r.err.find("'" + c.output + "' is the input '" + c.input + "'"), std::string::npos) << r.err;
    EXPECT_EQ(listing(), files);
    EXPECT_EQ(slurp(work_ / "m.imamodel"), model);
    EXPECT_EQ(slurp(work_ / "in.nrrd"), image);
    EXPECT_EQ(slurp(work_ / "ref.nrrd"), label);
  }
}
