// End-to-end tests of the `ima` executable on image files: each test runs the binary in a fresh
// directory and checks the exit code (0 success, 1 failure, 2 usage), the error text on stderr,
// and that a failed run leaves no output or temporary file behind. DICOM input and output are in
// imaCLIDicomGTest.cxx, the batch commands in imaCLIBatchGTest.cxx.
#include "CLITestSupport.h"

namespace imaCLIGTest {  // this file's names apart from the others' in a unity build

using namespace imatest::cli;

namespace {

// ---------------------------------------------------------------- usage

TEST_F(ImaCLI, HelpListsCommandsAndOptions) {
  RunResult r = run("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* command : {"phantoms", "train", "segment", "info", "dice", "import", "export", "batch"}) EXPECT_NE(r.out.find(command), std::string::npos) << command;

  r = run("help train");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--images"), std::string::npos);
  EXPECT_NE(r.out.find("--val-fraction"), std::string::npos);

  r = run("segment --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--force"), std::string::npos);
  EXPECT_TRUE(listing().empty());
}

TEST_F(ImaCLI, UsageErrorsExitWithTwo) {
  RunResult r = run("");
  EXPECT_EQ(r.code, 2);

  r = run("segment --model m.imamodel --input in.nii.gz --output out.nii.gz --bogus");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("ima: error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;

  r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << r.err;

  r = run("phantoms --out data --count abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--count"), std::string::npos) << r.err;

  r = run("segment --input in.nii.gz --output out.nii.gz");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;

  r = run("train --images a --labels b --out m.imamodel --norm weird");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("weird"), std::string::npos) << r.err;

  r = run("segment --model m.imamodel --input in.nii.gz --output out.nii.gz --device tpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("tpu"), std::string::npos) << r.err;

  // Integers out of range, one check shared by every command.
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"phantoms --out data --count 0", "--count must be between 1 and 1000 (got 0)"},
           {"segment --model m.imamodel --input in.nii.gz --output out.nii.gz --threads 2000",
            "--threads must be between 0 and 1024 (got 2000)"},
           {"train --images a --labels b --out m.imamodel --stages 9", "--stages must be between 1 and 8 (got 9)"},
           {"evaluate --model m.imamodel --images a --labels b --out r.json --restarts 0",
            "--restarts must be between 1 and 1000 (got 0)"},
           {"dice --prediction a.nii.gz --reference b.nii.gz --classes 1", "--classes must be between 2 and 256 (got 1)"}}) {
    r = run(args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << ": " << r.err;
  }

  EXPECT_TRUE(listing().empty());  // usage errors touch nothing
}

// ---------------------------------------------------------------- segment

TEST_F(ImaCLI, SegmentReportsMissingInput) {
  makeModel("m.imamodel");
  const RunResult r = run("segment --model m.imamodel --input missing.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("ima: error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel"}));
}

TEST_F(ImaCLI, SegmentReportsMissingModel) {
  writeImage(discImage().GetPointer(), work_ / "in.nii.gz");
  const RunResult r = run("segment --model none.imamodel --input in.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("none.imamodel"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), (std::set<std::string>{"in.nii.gz"}));
}

TEST_F(ImaCLI, SegmentRejectsGarbageImageFiles) {
  makeModel("m.imamodel");
  // Random bytes under names that select each reader by extension.
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919 + 13) % 251);
  for (const std::string name : {"bad.nii.gz", "bad.nrrd", "bad.mha"}) {
    writeText(work_ / name, garbage);
    const RunResult r = run("segment --model m.imamodel --input " + name + " --output out.nii.gz --quiet");
    EXPECT_EQ(r.code, 1) << name;
    EXPECT_NE(r.err.find("ima: error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", name})) << name;
    fs::remove(work_ / name);
  }
}

TEST_F(ImaCLI, SegmentRejectsNaN) {
  makeModel("m.imamodel");
  auto image = discImage();
  image->SetPixel({{3, 4}}, std::numeric_limits<float>::quiet_NaN());
  // NRRD keeps NaN as is; for NIfTI, niftilib turns NaN into 0 while reading, so the CLI has to
  // look at the file's raw values itself.
  for (const std::string name : {"nan.nrrd", "nan.nii.gz", "nan.nii"}) {
    writeImage(image.GetPointer(), work_ / name);
    const RunResult r = run("segment --model m.imamodel --input " + name + " --output out.nii.gz --quiet");
    EXPECT_EQ(r.code, 1) << name;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("NaN"), std::string::npos) << r.err;
    EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", name}));
    fs::remove(work_ / name);
  }
}

TEST_F(ImaCLI, SegmentWritesLabelsOnTheInputGrid) {
  makeModel("m.imamodel");
  writeImage(discImage().GetPointer(), work_ / "in.nrrd");
  const RunResult r =
      run("segment --model m.imamodel --input in.nrrd --output seg.nii.gz --probabilities prob.mha --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nrrd", "seg.nii.gz", "prob.mha"}));

  const FileHeader header = readHeader(work_ / "seg.nii.gz");
  EXPECT_EQ(header.component, itk::IOComponentEnum::UCHAR);
  EXPECT_EQ(header.components, 1u);
  const auto seg = readImage<Label2>(work_ / "seg.nii.gz");
  const auto input = discImage();
  EXPECT_EQ(seg->GetLargestPossibleRegion().GetSize(), input->GetLargestPossibleRegion().GetSize());
  for (unsigned d = 0; d < 2; ++d) {
    EXPECT_NEAR(seg->GetSpacing()[d], input->GetSpacing()[d], 1e-5);
    EXPECT_NEAR(seg->GetOrigin()[d], input->GetOrigin()[d], 1e-5);
  }
  const uint8_t* labels = seg->GetBufferPointer();
  for (size_t i = 0; i < seg->GetLargestPossibleRegion().GetNumberOfPixels(); ++i) ASSERT_LT(labels[i], 3);

  const FileHeader prob = readHeader(work_ / "prob.mha");
  EXPECT_EQ(prob.component, itk::IOComponentEnum::FLOAT);
  EXPECT_EQ(prob.components, 3u);  // one per class
}

// --whole-image and --patch reach the core: a window as large as the image is one forward
// pass, exactly what --whole-image does; a window the U-Net cannot take is named.
TEST_F(ImaCLI, SegmentWholeImageEqualsOneImageSizedWindow) {
  makeModel("m.imamodel");
  writeImage(discImage().GetPointer(), work_ / "in.nrrd");
  const auto size = discImage()->GetLargestPossibleRegion().GetSize();
  RunResult r = run("segment --model m.imamodel --input in.nrrd --output whole.nrrd --whole-image --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("segment --model m.imamodel --input in.nrrd --output window.nrrd --quiet --patch " +
          std::to_string((size[0] + 1) / 2 * 2) + "," + std::to_string((size[1] + 1) / 2 * 2));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto whole = readImage<Label2>(work_ / "whole.nrrd"), window = readImage<Label2>(work_ / "window.nrrd");
  const size_t n = whole->GetLargestPossibleRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(whole->GetBufferPointer(), whole->GetBufferPointer() + n, window->GetBufferPointer()));
  r = run("segment --model m.imamodel --input in.nrrd --output odd.nrrd --quiet --patch 7,7");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a multiple of"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "odd.nrrd"));
}

TEST_F(ImaCLI, SegmentKeepsAnExistingOutputWithoutForce) {
  makeModel("m.imamodel");
  writeImage(discImage().GetPointer(), work_ / "in.nii.gz");
  writeText(work_ / "out.nii.gz", "precious");
  RunResult r = run("segment --model m.imamodel --input in.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("out.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(readText(work_ / "out.nii.gz"), "precious");
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nii.gz", "out.nii.gz"}));

  r = run("segment --model m.imamodel --input in.nii.gz --output out.nii.gz --quiet --force");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(readHeader(work_ / "out.nii.gz").component, itk::IOComponentEnum::UCHAR);
  EXPECT_EQ(listing(), (std::set<std::string>{"m.imamodel", "in.nii.gz", "out.nii.gz"}));
}

TEST_F(ImaCLI, SegmentRejectsWrongChannelCount) {
  makeModel("m.imamodel");
  using VectorImage = itk::Image<itk::Vector<float, 2>, 2>;
  auto image = makeImage<VectorImage>(16, 16, 1, 1, [](int x, int y) {
    VectorImage::PixelType p;
    p[0] = static_cast<float>(x);
    p[1] = static_cast<float>(y);
    return p;
  });
  writeImage(image.GetPointer(), work_ / "two.nii.gz");
  const RunResult r = run("segment --model m.imamodel --input two.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("two.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("channel"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "out.nii.gz"));
}

// ---------------------------------------------------------------- phantoms

TEST_F(ImaCLI, PhantomsWritesMatchingPairs) {
  const RunResult r = run("phantoms --out data --count 3 --size 24 --dims 2 --seed 5 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<std::string> images, labels;
  for (const auto& e : fs::directory_iterator(work_ / "data" / "images")) images.insert(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(work_ / "data" / "labels")) labels.insert(e.path().filename().string());
  EXPECT_EQ(images, (std::set<std::string>{"case_000.nii.gz", "case_001.nii.gz", "case_002.nii.gz"}));
  EXPECT_EQ(labels, images);

  for (const auto& name : images) {
    const fs::path imagePath = work_ / "data" / "images" / name, labelPath = work_ / "data" / "labels" / name;
    EXPECT_EQ(readHeader(imagePath).component, itk::IOComponentEnum::FLOAT);
    EXPECT_EQ(readHeader(labelPath).component, itk::IOComponentEnum::UCHAR);
    EXPECT_EQ(readHeader(imagePath).dims, 2u);
    const auto image = readImage<Image2F>(imagePath);
    const auto label = readImage<Label2>(labelPath);
    EXPECT_EQ(image->GetLargestPossibleRegion().GetSize()[0], 24u);
    EXPECT_EQ(image->GetLargestPossibleRegion().GetSize()[1], 24u);
    EXPECT_EQ(label->GetLargestPossibleRegion().GetSize(), image->GetLargestPossibleRegion().GetSize());
    EXPECT_EQ(label->GetSpacing(), image->GetSpacing());
    EXPECT_EQ(label->GetOrigin(), image->GetOrigin());
    EXPECT_EQ(label->GetDirection(), image->GetDirection());
    bool organ = false;
    for (size_t i = 0; i < label->GetLargestPossibleRegion().GetNumberOfPixels(); ++i) {
      ASSERT_LE(label->GetBufferPointer()[i], 2);
      organ = organ || label->GetBufferPointer()[i] == 1;
    }
    EXPECT_TRUE(organ) << name;
  }

  // A second run must not silently replace the data set.
  const RunResult again = run("phantoms --out data --count 3 --size 24 --dims 2 --quiet");
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
}

TEST_F(ImaCLI, PhantomsWrites3DVolumes) {
  const RunResult r = run("phantoms --out d3 --count 1 --size 16 --dims 3 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const FileHeader h = readHeader(work_ / "d3" / "images" / "case_000.nii.gz");
  EXPECT_EQ(h.dims, 3u);
  const auto label = readImage<itk::Image<uint8_t, 3>>(work_ / "d3" / "labels" / "case_000.nii.gz");
  EXPECT_EQ(label->GetLargestPossibleRegion().GetSize()[2], 16u);
}

// ---------------------------------------------------------------- train

TEST_F(ImaCLI, TrainRejectsMismatchedGeometry) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  writeImage(discImage().GetPointer(), work_ / "images" / "a.nii.gz");
  writeImage(discLabels(20, 18, 0.7, 2.6).GetPointer(), work_ / "labels" / "a.nii.gz");  // other spacing
  const auto before = listing();
  RunResult r = run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("images/a.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("labels/a.nii.gz"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);

  writeImage(discLabels(20, 12).GetPointer(), work_ / "labels" / "a.nii.gz");  // other size
  r = run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("differ in size"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("labels/a.nii.gz"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);
}

TEST_F(ImaCLI, TrainRejectsMissingPartner) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  writeImage(discImage().GetPointer(), work_ / "images" / "a.nii.gz");
  writeImage(discImage().GetPointer(), work_ / "images" / "b.nii.gz");
  writeImage(discLabels().GetPointer(), work_ / "labels" / "a.nii.gz");
  const RunResult r = run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("images/b.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("labels/b.nii.gz"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "m.imamodel"));
}

TEST_F(ImaCLI, TrainRejectsNaN) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  auto image = discImage();
  image->SetPixel({{0, 0}}, std::numeric_limits<float>::infinity());
  for (const std::string name : {"a.mha", "a.nii.gz"}) {
    writeImage(image.GetPointer(), work_ / "images" / name);
    writeImage(discLabels().GetPointer(), work_ / "labels" / name);
    const auto before = listing();
    const RunResult r =
        run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
    EXPECT_EQ(r.code, 1) << name;
    EXPECT_NE(r.err.find("images/" + name), std::string::npos) << r.err;
    EXPECT_EQ(listing(), before);  // no model, checkpoint or log
    fs::remove(work_ / "images" / name);
    fs::remove(work_ / "labels" / name);
  }
}

TEST_F(ImaCLI, TrainRejectsNonLabelValues) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  writeImage(discImage().GetPointer(), work_ / "images" / "a.nii.gz");
  auto labels = makeImage<itk::Image<int16_t, 2>>(20, 18, 0.7, 1.3, [](int x, int) { return static_cast<int16_t>(x == 3 ? 300 : 0); });
  writeImage(labels.GetPointer(), work_ / "labels" / "a.nii.gz");
  const RunResult r = run("train --images images --labels labels --out m.imamodel --epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("labels/a.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("300"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "m.imamodel"));
}

// The whole chain on a tiny problem: phantoms -> train -> info -> segment -> dice.
// Hardening a trained model with IMA (--init + --method ima): the margins reach the epoch line,
// the log and the model's settings; bad adversarial options are usage errors.
TEST_F(ImaCLI, HardensAModelWithIma) {
  ASSERT_EQ(run("phantoms --out data --count 2 --size 24 --dims 2 --quiet").code, 0);
  ASSERT_EQ(run("train --images data/images --labels data/labels --out base.imamodel --epochs 1 --iterations 2 "
                "--batch 2 --features 4 --stages 2 --device cpu --threads 1 --quiet").code, 0);
  RunResult r = run("train --images data/images --labels data/labels --out hard.imamodel --init base.imamodel "
                    "--method ima --eps-max 1 --delta 0.1 --bisection-steps 3 --epochs 2 --iterations 2 "
                    "--batch 2 --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("margins mean"), std::string::npos) << r.out;
  std::istringstream log(readText(work_ / "hard.imamodel.log.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("margins")) << line;
    EXPECT_LE(j.at("margins").at("max").get<double>(), 1.0);
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  const ima::ModelMetadata m = ima::readModelMetadata((work_ / "hard.imamodel").string());
  EXPECT_EQ(m.trainingMethod, "ima");
  const auto settings = nlohmann::json::parse(m.trainingSettingsJson);
  EXPECT_DOUBLE_EQ(settings.at("adversarial").at("eps_max").get<double>(), 1.0);
  EXPECT_EQ(settings.at("init").get<std::string>(), "base.imamodel");
  EXPECT_TRUE(settings.at("adversarial").at("clamp").is_null());  // no clamp unless asked

  // --attack-clamp reaches the trainer's options (recorded with the model); a bad range is a usage error.
  r = run("train --images data/images --labels data/labels --out clamped.imamodel --init base.imamodel "
          "--method pgd --eps 0.5 --pgd-steps 2 --attack-clamp -1.5,2.5 --epochs 1 --iterations 1 --batch 2 "
          "--device cpu --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto clamped = nlohmann::json::parse(ima::readModelMetadata((work_ / "clamped.imamodel").string()).trainingSettingsJson);
  EXPECT_EQ(clamped.at("adversarial").at("clamp"), nlohmann::json::array({-1.5, 2.5}));
  for (const char* bad : {"2,1", "0", "0,1,2"}) {
    r = run(std::string("train --images data/images --labels data/labels --out bad.imamodel --method pgd --attack-clamp ") + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find("--attack-clamp"), std::string::npos) << r.err;
  }

  // --warm-start, --bisection-tolerance and --pgd-steps are recorded with the model (the hard model
  // above: their defaults, IMA's 2 PGD steps); a bad value is a usage error naming the option.
  EXPECT_EQ(settings.at("adversarial").at("warm_start"), true);
  EXPECT_EQ(settings.at("adversarial").at("bisection_tolerance"), 0.05);
  EXPECT_EQ(settings.at("adversarial").at("pgd_steps"), 2);
  r = run("train --images data/images --labels data/labels --out cold.imamodel --init base.imamodel "
          "--method ima --pgd-steps 2 --bisection-steps 3 --warm-start off --bisection-tolerance 0.25 --epochs 1 "
          "--iterations 1 --batch 2 --device cpu --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto cold = nlohmann::json::parse(ima::readModelMetadata((work_ / "cold.imamodel").string()).trainingSettingsJson);
  EXPECT_EQ(cold.at("adversarial").at("warm_start"), false);
  EXPECT_EQ(cold.at("adversarial").at("bisection_tolerance"), 0.25);
  for (const char* bad : {"--warm-start maybe", "--bisection-tolerance 1"}) {
    r = run(std::string("train --images data/images --labels data/labels --out bad.imamodel --method ima ") + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find(std::string(bad).substr(0, std::string(bad).find(' '))), std::string::npos) << r.err;
  }

  r = run("train --images data/images --labels data/labels --out bad.imamodel --method ima --eps-max 0.1 --delta 0.5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--delta"), std::string::npos) << r.err;
  r = run("train --images data/images --labels data/labels --out bad.imamodel --method fgsm");
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(work_ / "bad.imamodel"));
}

TEST_F(ImaCLI, EvaluateWritesConsistentReportsAndRejectsBadInput) {
  makeModel("m.imamodel");
  ASSERT_EQ(run("phantoms --out data --count 2 --size 24 --dims 2 --quiet").code, 0);
  RunResult r = run("evaluate --model m.imamodel --images data/images --labels data/labels --attack pgd,noise "
                    "--eps 0.5,0 --pgd-steps 2 --out r.json --csv r.csv --plot r.svg --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("robustness AUC"), std::string::npos) << r.out;
  const auto report = nlohmann::json::parse(readText(work_ / "r.json"));
  const auto& attacks = report.at("attacks");
  ASSERT_EQ(attacks.size(), 2u);
  // The clean point (eps 0) is the same prediction whatever the attack.
  const auto clean = [&](size_t a) { return attacks[a].at("budgets")[0]; };
  EXPECT_EQ(clean(0).at("eps").get<double>(), 0.0);
  EXPECT_EQ(clean(0).dump(), clean(1).dump());
  EXPECT_EQ(attacks[0].at("budgets").size(), 2u);
  EXPECT_EQ(report.at("attacked").get<std::string>(), "patch");
  EXPECT_NE(readText(work_ / "r.svg").find("<svg"), std::string::npos);
  EXPECT_NE(readText(work_ / "r.csv").find("pgd"), std::string::npos);

  // The whole volume through the sliding-window prediction: the report says so, its CSV too; the
  // clean point differs from the patch grid's only by the windows' overlap, so both are valid Dice.
  r = run("evaluate --model m.imamodel --images data/images --labels data/labels --attack pgd --attacked volume "
          "--overlap 0.25 --eps 0,0.5 --pgd-steps 2 --out v.json --csv v.csv --device cpu --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto volume = nlohmann::json::parse(readText(work_ / "v.json"));
  EXPECT_EQ(volume.at("attacked").get<std::string>(), "volume");
  EXPECT_NE(readText(work_ / "v.csv").find("pgd,l2,volume,0.5,"), std::string::npos) << readText(work_ / "v.csv");
  for (const char* bad : {"--overlap 1", "--attacked slab"}) {
    r = run(std::string("evaluate --model m.imamodel --images data/images --labels data/labels --out w.json ") + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find(std::string(bad).substr(0, std::string(bad).find(' '))), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(work_ / "w.json"));

  r = run("evaluate --model m.imamodel --images data/images --labels data/labels --out r.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  r = run("evaluate --model m.imamodel --images data/images --labels data/labels --attack cw --out x.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("strong"), std::string::npos) << "the valid names are listed: " << r.err;
  r = run("evaluate --model m.imamodel --images data/images --labels missing --out y.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "x.json"));
  EXPECT_FALSE(fs::exists(work_ / "y.json"));
  // A report in a folder that does not exist fails before the model is loaded (it is missing too).
  r = run("evaluate --model missing.imamodel --images data/images --labels data/labels --out r.json --plot "
          "nowhere/r.svg --force");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("plot 'nowhere/r.svg': directory 'nowhere' does not exist"), std::string::npos) << r.err;

  // The strong ensemble: the table lists it and its members, and per budget each case's worst member.
  r = run("evaluate --model m.imamodel --images data/images --labels data/labels --attack strong --eps 1 "
          "--apgd-steps 2 --pgd-steps 2 --out strong.json --csv strong.csv --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto strong = nlohmann::json::parse(readText(work_ / "strong.json"));
  ASSERT_EQ(strong.at("attacks").size(), 7u);
  const auto worst = strong.at("attacks")[0].at("budgets")[1].at("case_worst_attack");
  ASSERT_EQ(worst.size(), 2u);
  EXPECT_NE(r.out.find("strong:apgd-balanced-ce"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("eps 1: case_000 " + worst[0].get<std::string>() + ", case_001 " + worst[1].get<std::string>()),
            std::string::npos)
      << r.out;
  EXPECT_NE(readText(work_ / "strong.csv").find("worst_attack_per_case"), std::string::npos);

  // ima compare: a report against itself differs by 0 in AUC; the combined report holds both.
  r = run("compare --reports r.json,r.json --names a,b --out both.json --plot both.svg");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("b vs a, pgd: AUC +0.0000"), std::string::npos) << r.out;
  const auto both = nlohmann::json::parse(readText(work_ / "both.json"));
  EXPECT_EQ(both.at("attacks").size(), 4u);
  EXPECT_EQ(both.at("attacks")[2].at("name").get<std::string>(), "b pgd");
  r = run("compare --reports r.json,r.csv --names a,b --out bad.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("r.csv"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "bad.json"));
  r = run("compare --reports r.json --names a,b");
  EXPECT_EQ(r.code, 2);
  r = run("compare --reports r.json,r.json --names a,b --out both.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("report 'both.json' already exists (use --force to overwrite)"), std::string::npos) << r.err;
}

// ima attack: eps 0 returns the image unchanged; L2 noise of budget eps gives every patch a
// perturbation of norm exactly eps in normalised units (raw difference times 1/std of the image
// for z-score). The last patch of the 16x16 grid over a 24x24 image (starting at 8,8) is written
// last, so it holds a whole patch's perturbation.
TEST_F(ImaCLI, AttackWritesAPerturbationOfTheRequestedSize) {
  makeModel("m.imamodel");
  ASSERT_EQ(run("phantoms --out data --count 1 --size 24 --dims 2 --quiet").code, 0);
  const std::string common = "attack --model m.imamodel --input data/images/case_000.nii.gz "
                             "--label data/labels/case_000.nii.gz --device cpu --threads 1 --quiet ";
  ASSERT_EQ(run(common + "--eps 0 --output same.nii.gz").code, 0);
  ASSERT_EQ(run(common + "--attack noise --eps 0.5 --output noisy.nii.gz").code, 0);
  RunResult r = run(common + "--attack pgd --steps 2 --eps 0.5 --output pgd.nii.gz");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto input = readImage<Image2F>(work_ / "data" / "images" / "case_000.nii.gz");
  const auto same = readImage<Image2F>(work_ / "same.nii.gz"), noisy = readImage<Image2F>(work_ / "noisy.nii.gz");
  const auto pgd = readImage<Image2F>(work_ / "pgd.nii.gz");
  const size_t n = 24 * 24;
  const float* x = input->GetBufferPointer();
  EXPECT_TRUE(std::equal(x, x + n, same->GetBufferPointer()));
  double mean = 0, var = 0;
  for (size_t i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  for (size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double sd = std::sqrt(var / n);
  double squared = 0;
  for (int yy = 8; yy < 24; ++yy)
    for (int xx = 8; xx < 24; ++xx) {
      const double d = (noisy->GetBufferPointer()[yy * 24 + xx] - x[yy * 24 + xx]) / sd;
      squared += d * d;
    }
  EXPECT_NEAR(std::sqrt(squared), 0.5, 1e-3);
  // --attacked volume: the whole 24x24 image is one sample whose L2 budget keeps the energy per
  // voxel of a 16x16 patch, 0.5 * sqrt(576 / 256) = 0.75; white noise lies on that sphere.
  r = run(common + "--attack noise --eps 0.5 --attacked volume --output volume.nii.gz");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto volumeNoise = readImage<Image2F>(work_ / "volume.nii.gz");
  double volumeSquared = 0;
  for (size_t i = 0; i < n; ++i) volumeSquared += std::pow((volumeNoise->GetBufferPointer()[i] - x[i]) / sd, 2);
  EXPECT_NEAR(std::sqrt(volumeSquared), 0.75, 1e-3);
  EXPECT_FALSE(std::equal(x, x + n, pgd->GetBufferPointer()));
  EXPECT_EQ(pgd->GetSpacing(), input->GetSpacing());
  EXPECT_EQ(pgd->GetOrigin(), input->GetOrigin());

  r = run(common + "--attack deepfool --output bad.nii.gz");
  EXPECT_EQ(r.code, 2);
  r = run("attack --model m.imamodel --input data/images/case_000.nii.gz --label missing.nii.gz --output bad.nii.gz");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.nii.gz"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "bad.nii.gz"));
}

TEST_F(ImaCLI, TrainsATinyModelThatSegments) {
  ASSERT_EQ(run("phantoms --out data --count 2 --size 24 --dims 2 --quiet").code, 0);
  RunResult r = run("train --images data/images --labels data/labels --out m.imamodel --epochs 1 --iterations 2 "
                    "--batch 2 --features 4 --stages 2 --labels-names organ,lesion --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 1/1"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(work_ / "m.imamodel"));
  EXPECT_TRUE(fs::exists(work_ / "m.imamodel.ckpt"));
  std::istringstream log(readText(work_ / "m.imamodel.log.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    EXPECT_EQ(nlohmann::json::parse(line).at("epoch").get<int>(), ++lines);
  }
  EXPECT_EQ(lines, 1);

  const ima::ModelMetadata m = ima::readModelMetadata((work_ / "m.imamodel").string());
  EXPECT_EQ(m.network.dims, 2);
  EXPECT_EQ(m.network.classes, 3);
  EXPECT_EQ(m.network.baseFeatures, 4);
  EXPECT_EQ(m.patchSize, (std::vector<int64_t>{24, 24}));  // whole slice, a multiple of 2
  ASSERT_EQ(m.labels.size(), 2u);
  EXPECT_EQ(m.labels[0].name, "organ");
  EXPECT_EQ(m.labels[1].name, "lesion");
  EXPECT_NE(m.labels[0].color, m.labels[1].color);
  EXPECT_EQ(m.trainingMethod, "standard");
  const auto provenance = nlohmann::json::parse(m.provenanceJson);
  EXPECT_EQ(provenance.at("training_cases").size() + provenance.at("validation_cases").size(), 2u);
  EXPECT_TRUE(provenance.contains("created"));

  r = run("segment --model m.imamodel --input data/images/case_000.nii.gz --output seg.nii.gz --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("dice --prediction seg.nii.gz --reference data/labels/case_000.nii.gz --classes 3 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("labels").size(), 2u);
}

// ---------------------------------------------------------------- info

TEST_F(ImaCLI, InfoPrintsModelMetadata) {
  makeModel("m.imamodel", /*ctWindow=*/true);
  RunResult r = run("info m.imamodel");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* text : {"liver", "tumour", "2D", "CT window", "-200", "300", "16x16", "standard", "2024-01-01",
                           "Liver (SCT 10200004) in Anatomical Structure (SCT 123037004)"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;

  r = run("info m.imamodel --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("network").at("dims").get<int>(), 2);
  EXPECT_EQ(j.at("labels").at(1).at("name").get<std::string>(), "tumour");

  r = run("info missing.imamodel");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.imamodel"), std::string::npos) << r.err;

  writeText(work_ / "junk.imamodel", "not a model at all");
  r = run("info junk.imamodel");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("junk.imamodel"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------- dice

TEST_F(ImaCLI, DiceMatchesAHandComputedValue) {
  // Reference: label 1 on x,y in [0,4) (16 voxels). Prediction: label 1 on x in [2,6), y in [0,4)
  // (16 voxels), overlap 8 -> Dice 2*8/(16+16) = 0.5. Label 2 is absent from both -> 1.
  auto ref = makeImage<Label2>(10, 10, 1, 1, [](int x, int y) { return static_cast<uint8_t>(x < 4 && y < 4); });
  auto pred = makeImage<Label2>(10, 10, 1, 1, [](int x, int y) { return static_cast<uint8_t>(x >= 2 && x < 6 && y < 4); });
  writeImage(ref.GetPointer(), work_ / "ref.nii.gz");
  writeImage(pred.GetPointer(), work_ / "pred.nrrd");
  RunResult r = run("dice --prediction pred.nrrd --reference ref.nii.gz --classes 3 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j.at("labels").at(0).at("dice").get<double>(), 0.5);
  EXPECT_EQ(j.at("labels").at(0).at("tp").get<int>(), 8);
  EXPECT_EQ(j.at("labels").at(0).at("fp").get<int>(), 8);
  EXPECT_EQ(j.at("labels").at(0).at("fn").get<int>(), 8);
  EXPECT_DOUBLE_EQ(j.at("labels").at(1).at("dice").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j.at("meanDice").get<double>(), 0.75);

  r = run("dice --prediction pred.nrrd --reference ref.nii.gz");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("0.5000"), std::string::npos) << r.out;

  auto small = makeImage<Label2>(8, 10, 1, 1, [](int, int) { return uint8_t{0}; });
  writeImage(small.GetPointer(), work_ / "small.nii.gz");
  r = run("dice --prediction small.nii.gz --reference ref.nii.gz");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("small.nii.gz"), std::string::npos) << r.err;
}

}  // namespace

}  // namespace imaCLIGTest
