// End-to-end tests of interrupted runs (docs/reliability.md): SIGINT and SIGTERM stop `ima` with exit
// status 130 and 143 and leave no partial output, and training names only a checkpoint that
// exists; SIGKILL at random points (seeded) of training, segmentation and batch runs loses nothing,
// marks nothing done that is not, and a resumed training ends bit-identical to an uninterrupted run.
#include <chrono>
#include <csignal>
#include <random>
#include <thread>

#include "itkImageRegionIteratorWithIndex.h"

#include "ima/Network.h"

#include "CLITestSupport.h"

namespace imaCLIInterruptGTest {  // this file's names apart from the others' in a unity build

using namespace imatest::cli;

namespace {

using Clock = std::chrono::steady_clock;

class Interrupts : public ImaCLI {
protected:
  // Waits until the file holds `text` (the run reached a point); false after 60 s.
  bool waitFor(const fs::path& file, const std::string& text) const {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      if (readText(file).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  fs::path stdoutFile() const { return root_ / "stdout.txt"; }
  fs::path stderrFile() const { return root_ / "stderr.txt"; }

  void makeTrainingData() const {
    fs::create_directories(work_ / "data" / "images");
    fs::create_directories(work_ / "data" / "labels");
    for (int i = 0; i < 2; ++i) {
      const std::string name = "case_00" + std::to_string(i) + ".nii.gz";
      writeImage(discImage(24, 24).GetPointer(), work_ / "data" / "images" / name);
      writeImage(discLabels(24, 24).GetPointer(), work_ / "data" / "labels" / name);
    }
  }

  // Starts `ima ARGS`, kills it with SIGKILL after `delay`, and waits for it.
  RunResult killAfter(const std::string& args, Clock::duration delay) const {
    const pid_t pid = start(args);
    std::this_thread::sleep_for(delay);
    kill(pid, SIGKILL);
    return finish(pid);
  }

  // The names in the work directory that start with `prefix`.
  std::set<std::string> namesStartingWith(const std::string& prefix) const {
    std::set<std::string> names;
    for (const auto& n : listing())
      if (n.rfind(prefix, 0) == 0) names.insert(n);
    return names;
  }
};

void expectSameWeights(const fs::path& a, const fs::path& b) {
  const auto pa = ima::Model::load(a.string()).network()->parameters();
  const auto pb = ima::Model::load(b.string()).network()->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << a << " vs " << b << ", parameter " << i;
}

// The training log holds one line per epoch 1..epochs, each once (a resumed run drops the lines of
// epochs its checkpoint does not hold).
void expectEachEpochLoggedOnce(const fs::path& log, int epochs) {
  std::istringstream lines(readText(log));
  int expected = 0;
  for (std::string line; std::getline(lines, line);)
    EXPECT_EQ(nlohmann::json::parse(line).at("epoch").get<int>(), ++expected) << line;
  EXPECT_EQ(expected, epochs);
}

// The voxels of two label files are identical.
bool sameLabels(const fs::path& a, const fs::path& b) {
  const auto la = readImage<Label3>(a), lb = readImage<Label3>(b);
  const size_t n = la->GetLargestPossibleRegion().GetNumberOfPixels();
  return lb->GetLargestPossibleRegion().GetNumberOfPixels() == n &&
         std::equal(la->GetBufferPointer(), la->GetBufferPointer() + n, lb->GetBufferPointer());
}

// A 3D ramp, large enough that segmenting it with a 2D model takes a little while.
Image3F::Pointer rampVolume(int w, int h, int d) {
  auto image = Image3F::New();
  Image3F::RegionType region;
  region.SetSize({{static_cast<itk::SizeValueType>(w), static_cast<itk::SizeValueType>(h),
                   static_cast<itk::SizeValueType>(d)}});
  image->SetRegions(region);
  image->Allocate();
  for (itk::ImageRegionIteratorWithIndex<Image3F> it(image, region); !it.IsAtEnd(); ++it)
    it.Set(static_cast<float>(it.GetIndex()[0] + 2 * it.GetIndex()[1] + 3 * it.GetIndex()[2]));
  return image;
}

const std::string kTrain = "train --images data/images --labels data/labels --features 4 --stages 2 --val-fraction 0 "
                           "--threads 1 --device cpu";

TEST_F(Interrupts, SigtermBeforeTheFirstEpochEndsExits143AndOffersNoCheckpoint) {
  makeTrainingData();
  const auto before = listing();
  const pid_t pid = start(kTrain + " --epochs 2 --iterations 400 --out m.imamodel");
  ASSERT_TRUE(waitFor(stderrFile(), "train: 10%")) << readText(stderrFile());  // inside epoch 1 of 2
  kill(pid, SIGTERM);
  const RunResult r = finish(pid);
  EXPECT_EQ(r.signal, 0) << "SIGTERM was not handled";
  EXPECT_EQ(r.code, 143) << r.err;
  EXPECT_NE(r.err.find("no checkpoint was written"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--resume"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);  // no model, checkpoint, log or temporary file
}

TEST_F(Interrupts, SigintAfterAnEpochExits130AndTheCheckpointResumesToTheUninterruptedModel) {
  makeTrainingData();
  const std::string args = kTrain + " --epochs 3 --iterations 40 --json";
  ASSERT_EQ(run(args + " --out straight.imamodel").code, 0);
  const pid_t pid = start(args + " --out m.imamodel");
  ASSERT_TRUE(waitFor(stdoutFile(), "\"epoch\":1,")) << readText(stdoutFile());
  kill(pid, SIGINT);
  RunResult r = finish(pid);
  EXPECT_EQ(r.signal, 0) << "SIGINT was not handled\n" << r.out << r.err;
  ASSERT_EQ(r.code, 130) << r.err;
  EXPECT_NE(r.err.find("; continue with --resume m.imamodel.ckpt"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "m.imamodel"));
  EXPECT_EQ(namesStartingWith("m.imamodel"), (std::set<std::string>{"m.imamodel.ckpt", "m.imamodel.log.jsonl"}));
  r = run(args + " --out m.imamodel --resume m.imamodel.ckpt");
  ASSERT_EQ(r.code, 0) << r.err;
  expectSameWeights(work_ / "straight.imamodel", work_ / "m.imamodel");
  expectEachEpochLoggedOnce(work_ / "m.imamodel.log.jsonl", 3);
}

// A fine-tuning run (--init, here IMA hardening) resumes with its --init to the uninterrupted model,
// as batch harden resumes with its --model; without --init the checkpoint's network is not the
// default new network's, and the resume is refused without writing a model.
TEST_F(Interrupts, AnInterruptedFineTuningResumesWithItsInitToTheUninterruptedModel) {
  makeTrainingData();
  ASSERT_EQ(run(kTrain + " --epochs 1 --iterations 5 --out base.imamodel").code, 0);
  const std::string data = "train --images data/images --labels data/labels --val-fraction 0 --threads 1 --device cpu";
  const std::string args = data + " --init base.imamodel --method ima --pgd-steps 2 --bisection-steps 3 --eps-max 2 "
                                  "--epochs 3 --iterations 20 --json";
  ASSERT_EQ(run(args + " --out straight.imamodel").code, 0);
  const pid_t pid = start(args + " --out m.imamodel");
  ASSERT_TRUE(waitFor(stdoutFile(), "\"epoch\":1,")) << readText(stdoutFile());
  kill(pid, SIGINT);
  RunResult r = finish(pid);
  ASSERT_EQ(r.code, 130) << r.err;
  r = run(data + " --method ima --pgd-steps 2 --bisection-steps 3 --eps-max 2 --epochs 3 --iterations 20 --json "
                 "--out m.imamodel --resume m.imamodel.ckpt");
  EXPECT_NE(r.code, 0) << "a fine-tuning's checkpoint resumed into a default new network";
  EXPECT_FALSE(fs::exists(work_ / "m.imamodel"));
  // Other settings than the checkpoint's: refused by their options' names, nothing touched.
  const std::string checkpoint = readText(work_ / "m.imamodel.ckpt"), log = readText(work_ / "m.imamodel.log.jsonl");
  std::string other = args;
  other.replace(other.find("--pgd-steps 2"), 13, "--pgd-steps 3");
  r = run(other + " --lr 0.5 --out m.imamodel --resume m.imamodel.ckpt");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("checkpoint 'm.imamodel.ckpt' was written with other settings"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--pgd-steps 2 (this run: 3)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--lr 0.01 (this run: 0.5)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "m.imamodel"));
  EXPECT_EQ(readText(work_ / "m.imamodel.ckpt"), checkpoint);
  EXPECT_EQ(readText(work_ / "m.imamodel.log.jsonl"), log);
  r = run(args + " --out m.imamodel --resume m.imamodel.ckpt");
  ASSERT_EQ(r.code, 0) << r.err;
  expectSameWeights(work_ / "straight.imamodel", work_ / "m.imamodel");
  expectEachEpochLoggedOnce(work_ / "m.imamodel.log.jsonl", 3);
}

TEST_F(Interrupts, SigtermDuringSegmentationExits143AndWritesNothing) {
  ima::Model::create(ima::test::tinyUNet2DMetadata("a", "b"), 3).save((work_ / "m.imamodel").string());
  writeImage(rampVolume(96, 96, 160).GetPointer(), work_ / "in.nrrd");
  const auto before = listing();
  const pid_t pid = start("segment --model m.imamodel --input in.nrrd --output out.nii.gz --threads 1 --device cpu");
  ASSERT_TRUE(waitFor(stderrFile(), "segment: 10%")) << readText(stderrFile());
  kill(pid, SIGTERM);
  const RunResult r = finish(pid);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.code, 143) << r.err;
  EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);
}

TEST_F(Interrupts, SigintDuringABatchKeepsTheFinishedSeriesAndARerunDoesTheRest) {
  makeModel("m.imamodel", true);
  std::vector<ima::dicomtest::CtPhantom> series(4);
  for (size_t i = 0; i < series.size(); ++i) {
    series[i].columns = series[i].rows = 96;
    series[i].slices = 24;
    series[i].write(work_ / "archive" / ("s" + std::to_string(i)));
  }
  const std::string args = "batch segment --model m.imamodel --input archive --output out --threads 1 --device cpu";
  const pid_t pid = start(args);
  ASSERT_TRUE(waitFor(work_ / "out" / "manifest.csv", ",ok,")) << readText(stderrFile());
  kill(pid, SIGINT);
  RunResult r = finish(pid);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.code, 130) << r.err;
  const std::string manifest = readText(work_ / "out" / "manifest.csv");
  int done = 0;
  for (const auto& s : series) {
    const bool ok = manifest.find(s.seriesUid + ",out/" + s.seriesUid + ".nii.gz,ok,") != std::string::npos;
    EXPECT_EQ(ok, fs::exists(work_ / "out" / (s.seriesUid + ".nii.gz"))) << s.seriesUid << "\n" << manifest;
    done += ok;
  }
  EXPECT_GE(done, 1);
  EXPECT_LT(done, 4) << "the batch ended before the signal: make its series larger";
  r = run(args + " --quiet");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(std::to_string(4 - done) + " ok, " + std::to_string(done) + " skipped, 0 failed"),
            std::string::npos)
      << r.out;
}

// ---- SIGKILL at random points: what a job scheduler or the OOM killer does.

// Seeds 1-3 kill inside training: after a random epoch's line, a random fraction of an epoch later
// (so the resume path is always taken); seed 4 kills at a random time of the start-up (before any
// checkpoint: the rerun starts over).
TEST_F(Interrupts, TrainingKilledAtRandomPointsResumesBitIdentically) {
  makeTrainingData();
  constexpr int kEpochs = 4;
  const std::string args = kTrain + " --epochs " + std::to_string(kEpochs) + " --iterations 10 --json";
  const auto started = Clock::now();
  const pid_t straight = start(args + " --out straight.imamodel");
  ASSERT_TRUE(waitFor(stdoutFile(), "{\"epoch\":1,"));
  const auto firstEpoch = Clock::now() - started;
  ASSERT_EQ(finish(straight).code, 0);
  const auto epoch = (Clock::now() - started - firstEpoch) / (kEpochs - 1);
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    std::uniform_real_distribution<double> fraction(0.0, 1.0);
    const std::string out = "k" + std::to_string(seed) + ".imamodel";
    const pid_t pid = start(args + " --out " + out);
    if (seed <= 3) {
      const int after = std::uniform_int_distribution<int>(1, kEpochs - 1)(random);
      ASSERT_TRUE(waitFor(stdoutFile(), "{\"epoch\":" + std::to_string(after) + ","));
      std::this_thread::sleep_for(std::chrono::duration_cast<Clock::duration>(epoch * fraction(random)));
    } else {
      std::this_thread::sleep_for(std::chrono::duration_cast<Clock::duration>(firstEpoch * 0.5 * fraction(random)));
    }
    kill(pid, SIGKILL);
    const RunResult killed = finish(pid);
    // A finished run has its model. A killed one can have it too when the kill came after the
    // model's atomic write, before the process exited: then it is whole (the weights check below).
    if (killed.code == 0) EXPECT_TRUE(fs::exists(work_ / out)) << killed.err;
    const bool checkpointed = fs::exists(work_ / (out + ".ckpt"));
    if (seed <= 3) EXPECT_TRUE(checkpointed);
    if (!fs::exists(work_ / out)) {
      // Resume from the last checkpoint when one was written (it must be valid), else start over.
      const RunResult resumed = run(args + " --out " + out + (checkpointed ? " --resume " + out + ".ckpt" : ""));
      ASSERT_EQ(resumed.code, 0) << resumed.err;
    }
    expectSameWeights(work_ / "straight.imamodel", work_ / out);
    expectEachEpochLoggedOnce(work_ / (out + ".log.jsonl"), kEpochs);
  }
}

TEST_F(Interrupts, SegmentationKilledAtRandomPointsLeavesTheCompleteOutputOrNone) {
  ima::Model::create(ima::test::tinyUNet2DMetadata("a", "b"), 3).save((work_ / "m.imamodel").string());
  writeImage(rampVolume(64, 64, 48).GetPointer(), work_ / "in.nrrd");
  const std::string args = "segment --model m.imamodel --input in.nrrd --threads 1 --device cpu --quiet --output ";
  const auto started = Clock::now();
  ASSERT_EQ(run(args + "ref.nii.gz").code, 0);
  const auto duration = Clock::now() - started;
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    const auto delay = std::chrono::duration_cast<Clock::duration>(
        duration * std::uniform_real_distribution<double>(0.0, 1.0)(random));
    const std::string out = "k" + std::to_string(seed) + ".nii.gz";
    const RunResult killed = killAfter(args + out, delay);
    if (fs::exists(work_ / out)) EXPECT_TRUE(sameLabels(work_ / "ref.nii.gz", work_ / out));
    else EXPECT_NE(killed.code, 0);
    // Nothing else under the output's name; a kill may leave only a hidden temporary directory.
    for (const auto& name : listing())
      EXPECT_TRUE(name == "m.imamodel" || name == "in.nrrd" || name == "ref.nii.gz" || name.rfind("k", 0) == 0 ||
                  name.rfind(".ima-write-", 0) == 0)
          << name;
  }
}

TEST_F(Interrupts, BatchKilledAtRandomPointsMarksOnlyFinishedSeriesDone) {
  makeModel("m.imamodel", true);
  std::vector<ima::dicomtest::CtPhantom> series(3);
  for (size_t i = 0; i < series.size(); ++i) {
    series[i].columns = series[i].rows = 48;
    series[i].slices = 8;
    series[i].write(work_ / "archive" / ("s" + std::to_string(i)));
  }
  const std::string args = "batch segment --model m.imamodel --input archive --threads 1 --device cpu --quiet --output ";
  const auto started = Clock::now();
  ASSERT_EQ(run(args + "ref").code, 0);
  const auto duration = Clock::now() - started;
  for (unsigned seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    const auto delay = std::chrono::duration_cast<Clock::duration>(
        duration * std::uniform_real_distribution<double>(0.3, 1.0)(random));
    const std::string out = "k" + std::to_string(seed);
    killAfter(args + out, delay);
    // Every series the manifest calls done has its complete output.
    const std::string manifest = readText(work_ / out / "manifest.csv");
    for (const auto& s : series)
      if (manifest.find(s.seriesUid + "," + out + "/" + s.seriesUid + ".nii.gz,ok,") != std::string::npos)
        EXPECT_TRUE(sameLabels(work_ / "ref" / (s.seriesUid + ".nii.gz"), work_ / out / (s.seriesUid + ".nii.gz")));
    const RunResult rerun = run(args + out);
    ASSERT_EQ(rerun.code, 0) << rerun.err;
    EXPECT_NE(rerun.out.find("0 failed of 3 series"), std::string::npos) << rerun.out;
    for (const auto& s : series)
      EXPECT_TRUE(sameLabels(work_ / "ref" / (s.seriesUid + ".nii.gz"), work_ / out / (s.seriesUid + ".nii.gz")));
    std::set<std::string> expected{out, out + "/manifest.csv"};
    for (const auto& s : series) expected.insert(out + "/" + s.seriesUid + ".nii.gz");
    EXPECT_EQ(namesStartingWith(out), expected);  // the rerun removed a killed run's temporaries
  }
}

}  // namespace

}  // namespace imaCLIInterruptGTest
