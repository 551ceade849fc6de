// End-to-end tests of what the command line writes when things go wrong (docs/reliability.md):
// no output ever replaces an input, under any spelling of its name and with --force; a failed
// write (full disk) is an error that leaves nothing behind, for every writer; the batch manifest
// records the model by its SHA-256.
//
// Write failures are injected with a file size limit (`ulimit -f`, SIGXFSZ ignored): write() fails
// with EFBIG exactly where a full disk fails with ENOSPC, on any machine and without privileges.
// One test fills a real 64 KB tmpfs when mounting one is permitted (skipped otherwise).
#include <random>

#include "CLITestSupport.h"

namespace imaCLIOutputSafetyGTest {  // this file's names apart from the others' in a unity build

using namespace imatest::cli;

namespace {

// The shell prefix that makes every file the command writes stop at `blocks` x 512 bytes.
std::string fileSizeLimit(int blocks) { return "ulimit -f " + std::to_string(blocks) + "; trap '' XFSZ;"; }

// A 3D float image of uniform noise: its segmentation by a random network is noisy too, so
// compressed outputs stay large enough to exceed the limits below.
Image3F::Pointer noiseVolume(int n, unsigned seed) {
  auto image = Image3F::New();
  Image3F::RegionType region;
  for (unsigned d = 0; d < 3; ++d) region.SetSize(d, static_cast<itk::SizeValueType>(n));
  image->SetRegions(region);
  image->Allocate();
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 100.0f);
  for (itk::ImageRegionIterator<Image3F> it(image, region); !it.IsAtEnd(); ++it) it.Set(uniform(random));
  return image;
}

class OutputSafety : public ImaCLI {
protected:
  // Names that reach the file `target` (relative to the work directory): itself, through "..", a
  // symbolic link and a hard link (created here; named after the target so its extension stays).
  std::vector<std::string> spellingsOf(const std::string& target) const {
    fs::create_directories(work_ / "sub");
    const std::string name = fs::path(target).filename().string();
    fs::create_symlink(fs::absolute(work_ / target), work_ / ("symlink_" + name));
    fs::create_hard_link(work_ / target, work_ / ("hardlink_" + name));
    return {target, "sub/../" + target, "symlink_" + name, "hardlink_" + name};
  }

  // Every file's bytes (symbolic links as their target's path): what a refused command must keep.
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(work_)) {
      const std::string name = fs::relative(e.path(), work_).string();
      if (e.is_symlink()) files[name] = "-> " + fs::read_symlink(e.path()).string();
      else if (e.is_regular_file()) files[name] = readText(e.path());
      else files[name] = "(directory)";
    }
    return files;
  }

  // `ima ARGS --force` (ARGS alone when the command has no --force) must fail with exit 1 naming
  // `output` as the input `input`, and change no file.
  void expectRefused(const std::string& args, const std::string& output, const std::string& input,
                     bool force = true) const {
    const auto before = snapshot();
    const RunResult r = run(args + (force ? " --force" : ""));
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("'" + output + "' is the input '"), std::string::npos) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(fs::path(input).filename().string()), std::string::npos) << args << "\n" << r.err;
    EXPECT_TRUE(snapshot() == before) << args << ": a file changed";
  }

  // 2D cases (image + labels) in data/images and data/labels, and a model.
  void makeData() const {
    fs::create_directories(work_ / "data" / "images");
    fs::create_directories(work_ / "data" / "labels");
    for (int i = 0; i < 2; ++i) {
      const std::string name = "case_00" + std::to_string(i) + ".nii.gz";
      writeImage(discImage().GetPointer(), work_ / "data" / "images" / name);
      writeImage(discLabels().GetPointer(), work_ / "data" / "labels" / name);
    }
    makeModel("m.imamodel");
  }

  // The names in the work directory other than those in `before`.
  std::set<std::string> newNames(const std::set<std::string>& before) const {
    std::set<std::string> added;
    for (const auto& n : listing())
      if (!before.count(n)) added.insert(n);
    return added;
  }

  // A model and a 40^3 noise image in.nrrd.
  void makeNoiseCase() const {
    makeModel("m.imamodel");
    writeImage(noiseVolume(40, 1).GetPointer(), work_ / "in.nrrd");
  }
  void expectFailedSegmentWrite(const std::string& ext) const;
  void expectFailedWrite(const std::string& args, const std::string& output, int blocks,
                         const std::set<std::string>& allowed = {}) const;

  // Total size of the files named `stem.*` (a header and its data file).
  uintmax_t sizeOfOutput(const std::string& stem) const {
    uintmax_t size = 0;
    for (const auto& e : fs::directory_iterator(work_))
      if (e.path().filename().string().rfind(stem + ".", 0) == 0) size += fs::file_size(e.path());
    return size;
  }
};

// ---- No output replaces an input.

TEST_F(OutputSafety, SegmentNeverReplacesItsInputs) {
  makeData();
  const std::string image = "data/images/case_000.nii.gz";
  for (const std::string& spelling : spellingsOf(image))
    expectRefused("segment --model m.imamodel --input " + image + " --output " + spelling + " --quiet", spelling,
                  image);
  expectRefused("segment --model m.imamodel --input " + image + " --output seg.nii.gz --probabilities symlink_" +
                    fs::path(image).filename().string() + " --quiet",
                "symlink_case_000.nii.gz", image);
  // A DICOM input: the output is checked against the files of the series read (a hard link to a
  // slice, under the .dcm name of a SEG output).
  ima::dicomtest::CtPhantom phantom;
  phantom.slices = 3;
  const auto slices = phantom.write(work_ / "series");
  fs::create_hard_link(slices[1], work_ / "seg.dcm");
  expectRefused("segment --model m.imamodel --input series --output seg.dcm --quiet", "seg.dcm",
                fs::path(slices[1]).filename().string());
}

TEST_F(OutputSafety, AttackNeverReplacesItsInputs) {
  makeData();
  const std::string image = "data/images/case_000.nii.gz", label = "data/labels/case_000.nii.gz";
  fs::create_directories(work_ / "labelcopy");
  fs::copy_file(work_ / label, work_ / "labelcopy" / "l.nii.gz");
  for (const std::string& spelling : spellingsOf("labelcopy/l.nii.gz"))
    expectRefused("attack --model m.imamodel --input " + image + " --label labelcopy/l.nii.gz --attack noise --eps 1 "
                  "--output " + spelling + " --quiet",
                  spelling, "l.nii.gz");
  fs::create_hard_link(work_ / image, work_ / "image_link.nii.gz");
  expectRefused("attack --model m.imamodel --input " + image + " --label " + label + " --attack noise --eps 1 "
                "--output image_link.nii.gz --quiet",
                "image_link.nii.gz", "case_000.nii.gz");
}

TEST_F(OutputSafety, EvaluateNeverReplacesItsInputs) {
  makeData();
  const std::string common = "evaluate --model m.imamodel --images data/images --labels data/labels --attack noise "
                             "--eps 0,1 --quiet";
  for (const std::string& spelling : spellingsOf("m.imamodel"))
    expectRefused(common + " --out " + spelling, spelling, "m.imamodel");
  fs::create_symlink(fs::absolute(work_ / "data" / "labels" / "case_001.nii.gz"), work_ / "labels.csv");
  expectRefused(common + " --out r.json --csv labels.csv", "labels.csv", "case_001.nii.gz");
  fs::create_hard_link(work_ / "data" / "images" / "case_000.nii.gz", work_ / "plot.svg");
  expectRefused(common + " --out r.json --plot plot.svg", "plot.svg", "case_000.nii.gz");
  // Two outputs of one command may not be the same file either.
  const RunResult r = run(common + " --out r.json --csv sub/../r.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("are the same file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "r.json"));
}

TEST_F(OutputSafety, CompareNeverReplacesAnInputReport) {
  makeData();
  ASSERT_EQ(run("evaluate --model m.imamodel --images data/images --labels data/labels --attack noise --eps 0,1 "
                "--out a.json --quiet").code, 0);
  fs::copy_file(work_ / "a.json", work_ / "b.json");
  for (const std::string& spelling : spellingsOf("b.json"))
    expectRefused("compare --reports a.json,b.json --names a,b --out " + spelling + " --quiet", spelling, "b.json");
}

TEST_F(OutputSafety, TrainNeverReplacesItsInputs) {
  makeData();
  const std::string common = "train --images data/images --labels data/labels --epochs 1 --iterations 1 "
                             "--features 4 --stages 2 --val-fraction 0 --threads 1 --quiet";
  for (const std::string& spelling : spellingsOf("data/images/case_001.nii.gz"))
    expectRefused(common + " --out " + spelling, spelling, "case_001.nii.gz");
  const std::string init = "train --images data/images --labels data/labels --epochs 1 --iterations 1 "
                           "--val-fraction 0 --threads 1 --quiet --init m.imamodel";
  fs::create_symlink(fs::absolute(work_ / "m.imamodel"), work_ / "symlink_m.imamodel");
  expectRefused(init + " --out symlink_m.imamodel", "symlink_m.imamodel", "m.imamodel");
  fs::create_hard_link(work_ / "m.imamodel", work_ / "hard.imamodel");
  expectRefused(init + " --out hard.imamodel", "hard.imamodel", "m.imamodel");
  // What training writes next to the model: its checkpoint and its log.
  fs::create_hard_link(work_ / "m.imamodel", work_ / "new.imamodel.ckpt");
  expectRefused(init + " --out new.imamodel", "new.imamodel.ckpt", "m.imamodel");
  fs::create_hard_link(work_ / "data" / "labels" / "case_000.nii.gz", work_ / "other.imamodel.log.jsonl");
  expectRefused(common + " --out other.imamodel", "other.imamodel.log.jsonl", "case_000.nii.gz");
  // The checkpoint to resume from is an input too (the model file may not replace it).
  ASSERT_EQ(run(common + " --out run.imamodel").code, 0);
  expectRefused(common + " --resume run.imamodel.ckpt --out sub/../run.imamodel.ckpt", "sub/../run.imamodel.ckpt",
                "run.imamodel.ckpt");
}

TEST_F(OutputSafety, BatchCommandsNeverReplaceAnArchiveFileOrTheModel) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom phantom;
  phantom.slices = 3;
  const auto slices = phantom.write(work_ / "archive" / "ct");
  // An output of the batch named after the series, which is (a hard link to) a slice of it.
  fs::create_directories(work_ / "out");
  fs::create_hard_link(slices[0], work_ / "out" / (phantom.seriesUid + ".nii.gz"));
  expectRefused("batch segment --model m.imamodel --input archive --output out --threads 1 --quiet",
                "out/" + phantom.seriesUid + ".nii.gz", fs::path(slices[0]).filename().string(), false);
  fs::create_directories(work_ / "out2");
  fs::create_symlink(fs::absolute(slices[2]), work_ / "out2" / "manifest.csv");
  expectRefused("batch segment --model m.imamodel --input archive --output out2 --threads 1 --quiet",
                "out2/manifest.csv", fs::path(slices[2]).filename().string(), false);
  fs::create_symlink(fs::absolute(work_ / "m.imamodel"), work_ / "hardened.imamodel");
  expectRefused("batch harden --model m.imamodel --input archive --out hardened.imamodel --epochs 1 --iterations 1 "
                "--threads 1 --quiet",
                "hardened.imamodel", "m.imamodel");
}

// ---- Failed writes are errors and leave nothing behind.

// Per image format: the unlimited output is larger than the limit (else the test would prove
// nothing); under the limit the command fails, naming the output, and leaves no file, data file or
// temporary directory.
void OutputSafety::expectFailedSegmentWrite(const std::string& ext) const {
  SCOPED_TRACE(ext);
  ASSERT_EQ(run("segment --model m.imamodel --input in.nrrd --output ref." + ext + " --quiet").code, 0);
  ASSERT_GT(sizeOfOutput("ref"), 4096u * 2);
  const auto before = listing();
  const RunResult r = run("segment --model m.imamodel --input in.nrrd --output out." + ext + " --quiet", fileSizeLimit(8));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write 'out." + ext + "'"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("wrote"), std::string::npos) << r.out;
  EXPECT_EQ(listing(), before);
}

TEST_F(OutputSafety, SegmentReportsAFailedNiftiWrite) {
  makeNoiseCase();
  expectFailedSegmentWrite("nii.gz");
  expectFailedSegmentWrite("nii");
}

TEST_F(OutputSafety, SegmentReportsAFailedMetaImageWrite) {
  makeNoiseCase();
  expectFailedSegmentWrite("mha");
  expectFailedSegmentWrite("mhd");
}

TEST_F(OutputSafety, SegmentReportsAFailedNrrdWrite) {
  makeNoiseCase();
  expectFailedSegmentWrite("nrrd");
  expectFailedSegmentWrite("nhdr");
}

// The probabilities fail after the label map was written: neither stays.
TEST_F(OutputSafety, SegmentRemovesTheLabelMapWhenTheProbabilitiesCannotBeWritten) {
  makeNoiseCase();
  const auto before = listing();
  const RunResult r = run("segment --model m.imamodel --input in.nrrd --output s.mhd --probabilities p.nii.gz --quiet",
                          fileSizeLimit(128));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write 'p.nii.gz'"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);
  EXPECT_EQ(run("segment --model m.imamodel --input in.nrrd --output s.mhd --probabilities p.nii.gz --quiet").code, 0);
}

TEST_F(OutputSafety, AFailedDicomSegWriteLeavesNothing) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom phantom;
  phantom.columns = phantom.rows = 64;
  phantom.slices = 6;
  phantom.write(work_ / "series");
  ASSERT_EQ(run("segment --model m.imamodel --input series --output ref.dcm --quiet").code, 0);
  ASSERT_GT(fs::file_size(work_ / "ref.dcm"), 4096u * 2);
  const auto before = listing();
  const RunResult r = run("segment --model m.imamodel --input series --output seg.dcm --quiet", fileSizeLimit(8));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("seg.dcm"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);
}

// `ima ARGS` under a limit of `blocks` x 512 bytes fails naming `output` (a prefix of the file's
// name) and leaves nothing new behind but what `allowed` names; without the limit (and with
// --force) it succeeds, so the limit was the only cause.
void OutputSafety::expectFailedWrite(const std::string& args, const std::string& output, int blocks,
                                     const std::set<std::string>& allowed) const {
  SCOPED_TRACE(args);
  const auto before = listing();
  const RunResult r = run(args, fileSizeLimit(blocks));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write '" + output), std::string::npos) << r.err;
  std::set<std::string> added = newNames(before);
  for (const auto& name : allowed) added.erase(name);
  EXPECT_TRUE(added.empty()) << "left behind: " << *added.begin();
  EXPECT_EQ(run(args + " --force").code, 0) << args;
}

TEST_F(OutputSafety, AttackTrainAndPhantomsReportAFailedWrite) {
  makeData();
  expectFailedWrite("attack --model m.imamodel --input data/images/case_000.nii.gz --label data/labels/case_000.nii.gz "
                    "--attack noise --eps 1 --output adv.nii --quiet",
                    "adv.nii", 1);
  // The checkpoint of the first epoch fails; the log line of the epoch that ran stays.
  expectFailedWrite("train --images data/images --labels data/labels --out t.imamodel --epochs 1 --iterations 1 "
                    "--features 4 --stages 2 --val-fraction 0 --threads 1 --quiet",
                    "t.imamodel", 8, {"t.imamodel.log.jsonl"});
  // phantoms creates its two folders before writing.
  expectFailedWrite("phantoms --out ph --count 2 --size 32 --quiet", "ph/images/case_000.nii.gz", 8,
                    {"ph", "ph/images", "ph/labels"});
}

TEST_F(OutputSafety, ReportWritersReportAFailedWriteAndLeaveNoPartOfTheSet) {
  makeData();
  ASSERT_EQ(run("evaluate --model m.imamodel --images data/images --labels data/labels --attack noise --eps 0,1 "
                "--out a.json --quiet").code, 0);
  ASSERT_GT(fs::file_size(work_ / "a.json"), 512u);
  expectFailedWrite("evaluate --model m.imamodel --images data/images --labels data/labels --attack noise --eps 0,1 "
                    "--out r.json --csv r.csv --plot r.svg --quiet",
                    "r.", 1);
  expectFailedWrite("compare --reports a.json,a.json --names a,b --out c.json --plot c.svg --quiet", "c.", 1);
}

TEST_F(OutputSafety, ABatchRunOnAFullDiskMarksNothingDoneAndARerunRedoesIt) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom a, b;
  a.columns = a.rows = b.columns = b.rows = 64;
  a.slices = b.slices = 4;
  a.write(work_ / "archive" / "a");
  b.write(work_ / "archive" / "b");
  // The manifest (a few hundred bytes) fits under the limit, the SEG outputs do not.
  const RunResult full =
      run("batch segment --model m.imamodel --input archive --output out --format seg --threads 1 --quiet",
          fileSizeLimit(4));
  EXPECT_EQ(full.code, 1) << full.err;
  const std::string manifest = readText(work_ / "out" / "manifest.csv");
  EXPECT_EQ(manifest.find(",ok,"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find(a.seriesUid + ",,failed,"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find(b.seriesUid + ",,failed,"), std::string::npos) << manifest;
  EXPECT_FALSE(fs::exists(work_ / "out" / (a.seriesUid + ".dcm")));
  EXPECT_FALSE(fs::exists(work_ / "out" / (b.seriesUid + ".dcm")));
  const RunResult rerun =
      run("batch segment --model m.imamodel --input archive --output out --format seg --threads 1 --quiet");
  EXPECT_EQ(rerun.code, 0) << rerun.err;
  EXPECT_NE(rerun.out.find("2 ok, 0 skipped, 0 failed"), std::string::npos) << rerun.out;
  for (const auto* p : {&a, &b}) {
    const auto seg = ima::dicom::describeSegmentation((work_ / "out" / (p->seriesUid + ".dcm")).string());
    EXPECT_EQ(seg.referencedSeriesUid, p->seriesUid);
  }
}

// A real full disk: a 64 KB tmpfs (needs the right to mount; skipped without it).
TEST_F(OutputSafety, AFullTmpfsIsAFailedWrite) {
  const fs::path disk = work_ / "disk";
  fs::create_directories(disk);
  if (std::system(("mount -t tmpfs -o size=64k tmpfs '" + disk.string() + "' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "mounting a tmpfs is not permitted here";
  struct Unmount {
    fs::path path;
    ~Unmount() { [[maybe_unused]] const int ignored = std::system(("umount '" + path.string() + "'").c_str()); }
  } unmount{disk};
  makeModel("m.imamodel");
  writeImage(noiseVolume(32, 2).GetPointer(), work_ / "in.nrrd");
  // The label map (~35 KB as .nii) fits, the class probabilities (384 KB) do not.
  const RunResult r = run("segment --model m.imamodel --input in.nrrd --output disk/s.nii --probabilities disk/p.nii "
                          "--quiet");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write 'disk/p.nii'"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(disk)) << fs::directory_iterator(disk)->path();
  EXPECT_EQ(run("segment --model m.imamodel --input in.nrrd --output disk/s.nii --quiet").code, 0);
}

// ---- The manifest records the model.

TEST_F(OutputSafety, BatchManifestRecordsTheModelAndAnotherModelRedoesTheWork) {
  makeModel("m.imamodel", true);
  ima::Model::create(ima::test::tinyUNet2DMetadata("liver", "tumour"), 8).save((work_ / "other.imamodel").string());
  ima::dicomtest::CtPhantom a;
  a.slices = 3;
  a.write(work_ / "archive" / "a");
  const std::string args = " --input archive --output out --threads 1 --quiet";
  ASSERT_EQ(run("batch segment --model m.imamodel" + args).code, 0);
  const std::string output = "out/" + a.seriesUid + ".nii.gz";
  const std::string row = a.seriesUid + "," + output + ",";
  std::string manifest = readText(work_ / "out" / "manifest.csv");
  EXPECT_NE(manifest.find("series,output,status,reason,model\n"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find(row + "ok,," + sha256sum(work_ / "m.imamodel") + "\n"), std::string::npos) << manifest;
  ASSERT_EQ(run("batch segment --model m.imamodel" + args).code, 0);
  manifest = readText(work_ / "out" / "manifest.csv");
  EXPECT_NE(manifest.find(row + "skipped,already done," + sha256sum(work_ / "m.imamodel")), std::string::npos)
      << manifest;
  // Another model: redone, and the output is the other model's (what `ima segment` gives with it).
  ASSERT_EQ(run("batch segment --model other.imamodel" + args).code, 0);
  manifest = readText(work_ / "out" / "manifest.csv");
  EXPECT_NE(manifest.find(row + "ok,," + sha256sum(work_ / "other.imamodel")), std::string::npos) << manifest;
  ASSERT_EQ(run("segment --model other.imamodel --input archive/a --output ref.nii.gz --threads 1 --quiet").code, 0);
  const auto redone = readImage<Label3>(work_ / output), reference = readImage<Label3>(work_ / "ref.nii.gz");
  const size_t voxels = reference->GetLargestPossibleRegion().GetNumberOfPixels();
  ASSERT_EQ(redone->GetLargestPossibleRegion().GetNumberOfPixels(), voxels);
  EXPECT_TRUE(std::equal(reference->GetBufferPointer(), reference->GetBufferPointer() + voxels,
                         redone->GetBufferPointer()));
}

}  // namespace

}  // namespace imaCLIOutputSafetyGTest
