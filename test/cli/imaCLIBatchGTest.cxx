// End-to-end tests of `ima batch segment` and `ima batch harden` on small DICOM archives written
// with DCMTK: the manifest, resuming after a kill, shards, and hardening on SEG-labelled series.
#include "CLITestSupport.h"

namespace imaCLIBatchGTest {  // this file's names apart from the others' in a unity build

using namespace imatest::cli;

namespace {

// The rows of a batch manifest as Python's csv module reads them (an independent CSV parser):
// one {"series", "output", "status", "reason"} object per row.
nlohmann::json manifestRows(const fs::path& manifest) {
  const fs::path json = manifest.string() + ".json";
  const std::string command = "/usr/bin/python3 -c \"import csv, json, sys; "
                              "json.dump(list(csv.DictReader(open(sys.argv[1], newline=''))), open(sys.argv[2], 'w'))\" '" +
                              manifest.string() + "' '" + json.string() + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  const auto rows = nlohmann::json::parse(readText(json));
  fs::remove(json);
  return rows;
}

std::map<std::string, nlohmann::json> rowsBySeries(const nlohmann::json& rows) {
  std::map<std::string, nlohmann::json> bySeries;
  for (const auto& row : rows) {
    EXPECT_EQ(bySeries.count(row.at("series").get<std::string>()), 0u) << "two rows for " << row.dump();
    bySeries[row.at("series").get<std::string>()] = row;
  }
  return bySeries;
}

// A tiny archive: two good series (one with a patient name and ID that must never be printed),
// one with a missing slice (uneven spacing: fails), one file damaged before its UID.
struct Archive {
  ima::dicomtest::CtPhantom a, b, broken;
  fs::path damaged;
  explicit Archive(const fs::path& root) {
    a.patientName = "Zyxwvut^Quintessa";
    a.patientId = "PID-73519";
    b.slices = 4;
    broken.slices = 5;
    a.write(root / "patient1" / "ct");
    b.write(root / "patient2");
    const auto paths = broken.write(root / "patient3, \"b\"");  // a comma and quotes: CSV quoting
    fs::remove(paths[2]);
    damaged = root / "patient4" / "IM0001";
    ima::dicomtest::CtPhantom c;
    c.slices = 1;
    c.writeSlice(0, damaged);
    fs::resize_file(damaged, 200);  // inside the file meta header
  }
};

}  // namespace

TEST_F(ImaCLI, BatchSegmentRecordsEverySeriesAndGoesOnAfterFailures) {
  makeModel("m.imamodel", true);
  const Archive archive(work_ / "archive");
  RunResult r = run("batch segment --model m.imamodel --input archive --output out --device cpu --threads 1");
  EXPECT_EQ(r.code, 1) << r.out << r.err;  // a series failed
  const auto rows = manifestRows(work_ / "out" / "manifest.csv");
  ASSERT_EQ(rows.size(), 4u) << rows.dump();
  auto bySeries = rowsBySeries(rows);
  const std::string outA = "out/" + archive.a.seriesUid + ".nii.gz", outB = "out/" + archive.b.seriesUid + ".nii.gz";
  EXPECT_EQ(bySeries[archive.a.seriesUid].at("status"), "ok");
  EXPECT_EQ(bySeries[archive.a.seriesUid].at("output"), outA);
  EXPECT_EQ(bySeries[archive.b.seriesUid].at("status"), "ok");
  EXPECT_EQ(bySeries[archive.b.seriesUid].at("output"), outB);
  const auto& broken = bySeries[archive.broken.seriesUid];
  EXPECT_EQ(broken.at("status"), "failed");
  EXPECT_EQ(broken.at("output"), "");
  EXPECT_NE(broken.at("reason").get<std::string>().find("uneven slice distances"), std::string::npos) << broken;
  EXPECT_NE(broken.at("reason").get<std::string>().find("archive/patient3, \"b\"/"), std::string::npos) << broken;
  const auto& damaged = bySeries[""];  // the damaged file's UID is unknown
  EXPECT_EQ(damaged.at("status"), "failed");
  EXPECT_NE(damaged.at("reason").get<std::string>().find("patient4/IM0001"), std::string::npos) << damaged;
  EXPECT_NE(r.err.find(archive.broken.seriesUid + " failed"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "out" / (archive.broken.seriesUid + ".nii.gz")));

  // Each output is what `ima segment` gives for that series alone.
  ASSERT_EQ(run("segment --model m.imamodel --input archive/patient1 --output ref.nii.gz --device cpu --threads 1 "
                "--quiet").code, 0);
  const auto seg = readImage<Label3>(work_ / outA), reference = readImage<Label3>(work_ / "ref.nii.gz");
  ASSERT_EQ(seg->GetLargestPossibleRegion().GetSize(), reference->GetLargestPossibleRegion().GetSize());
  const size_t n = seg->GetLargestPossibleRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(seg->GetBufferPointer(), seg->GetBufferPointer() + n, reference->GetBufferPointer()));
  EXPECT_EQ(readImage<Label3>(work_ / outB)->GetLargestPossibleRegion().GetSize()[2], 4u);

  // Series are named by UID only: the patient's name and ID appear nowhere.
  const std::string manifest = readText(work_ / "out" / "manifest.csv");
  for (const std::string secret : {"Zyxwvut", "Quintessa", "PID-73519"})
    for (const std::string* text : std::vector<const std::string*>{&r.out, &r.err, &manifest})
      EXPECT_EQ(text->find(secret), std::string::npos) << secret << " in: " << *text;

  // A rerun skips what is done (outputs untouched) and retries the failures; one row per series.
  const auto writtenAt = fs::last_write_time(work_ / outA);
  r = run("batch segment --model m.imamodel --input archive --output out --device cpu --threads 1");
  EXPECT_EQ(r.code, 1) << r.err;
  bySeries = rowsBySeries(manifestRows(work_ / "out" / "manifest.csv"));
  EXPECT_EQ(bySeries.size(), 4u);
  EXPECT_EQ(bySeries[archive.a.seriesUid].at("status"), "skipped");
  EXPECT_EQ(bySeries[archive.a.seriesUid].at("output"), outA);
  EXPECT_EQ(bySeries[archive.b.seriesUid].at("status"), "skipped");
  EXPECT_EQ(bySeries[archive.broken.seriesUid].at("status"), "failed");
  EXPECT_EQ(fs::last_write_time(work_ / outA), writtenAt);

  // Once the broken series is repaired (--allow-uneven here), nothing fails: exit status 0.
  fs::remove_all(work_ / "archive" / "patient4");
  r = run("batch segment --model m.imamodel --input archive --output out --allow-uneven --device cpu --threads 1");
  EXPECT_EQ(r.code, 0) << r.err;
  bySeries = rowsBySeries(manifestRows(work_ / "out" / "manifest.csv"));
  EXPECT_EQ(bySeries[archive.broken.seriesUid].at("status"), "ok");
  EXPECT_TRUE(fs::exists(work_ / "out" / (archive.broken.seriesUid + ".nii.gz")));
}

// An imported TorchScript network (a 1x1 convolution scripted by python3-torch, as nnU-Net or MONAI
// users save theirs) works in batch mode: each series' output is what `ima segment` gives it.
TEST_F(ImaCLI, BatchSegmentTakesAnImportedTorchScriptModel) {
  const std::string save = "cd '" + work_.string() + "' && /usr/bin/python3 - 2>/dev/null <<'PY'\n"
                           "import torch\n"
                           "conv = torch.nn.Conv2d(1, 3, 1)\n"
                           "with torch.no_grad():\n"
                           "    conv.weight.copy_(torch.tensor([0., 1., 2.]).view(3, 1, 1, 1))\n"
                           "    conv.bias.copy_(torch.tensor([0., 0., -0.5]))\n"
                           "torch.jit.script(conv).save('net.pt')\n"
                           "PY";
  if (std::system(save.c_str()) != 0) GTEST_SKIP() << "python3-torch cannot write a TorchScript file here";
  ASSERT_EQ(run("import --torchscript net.pt --dims 2 --patch 16,12 --labels-names organ,lesion --out net.imamodel").code, 0);
  ima::dicomtest::CtPhantom series;
  series.write(work_ / "archive" / "p1");
  const RunResult r = run("batch segment --model net.imamodel --input archive --output out --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = manifestRows(work_ / "out" / "manifest.csv");
  ASSERT_EQ(rows.size(), 1u) << rows.dump();
  EXPECT_EQ(rows[0].at("status"), "ok");
  ASSERT_EQ(run("segment --model net.imamodel --input archive/p1 --output ref.nii.gz --device cpu --threads 1 --quiet").code, 0);
  const auto seg = readImage<Label3>(work_ / "out" / (series.seriesUid + ".nii.gz"));
  const auto reference = readImage<Label3>(work_ / "ref.nii.gz");
  ASSERT_EQ(seg->GetLargestPossibleRegion().GetSize(), reference->GetLargestPossibleRegion().GetSize());
  const size_t n = seg->GetLargestPossibleRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(seg->GetBufferPointer(), seg->GetBufferPointer() + n, reference->GetBufferPointer()));
  const std::set<uint8_t> labels(seg->GetBufferPointer(), seg->GetBufferPointer() + n);
  EXPECT_EQ(labels.size(), 3u);  // the network's three intensity bands, not a constant map
}

// A run killed mid-way leaves a torn manifest line and a temporary directory: the next run drops
// both, keeps what was finished and redoes the rest.
TEST_F(ImaCLI, BatchSegmentResumesAfterAKill) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom a, b;
  a.slices = b.slices = 3;
  a.write(work_ / "archive" / "a");
  b.write(work_ / "archive" / "b");
  ASSERT_EQ(run("batch segment --model m.imamodel --input archive --output out --device cpu --threads 1 --quiet").code, 0);
  const std::string outA = "out/" + a.seriesUid + ".nii.gz", outB = "out/" + b.seriesUid + ".nii.gz";
  // The state a kill while writing b's row would leave: b's row torn, b's output not yet renamed.
  writeText(work_ / "out" / "manifest.csv", "series,output,status,reason,model\n" + a.seriesUid + "," + outA + ",ok,," +
                                                sha256sum(work_ / "m.imamodel") + "\n" + b.seriesUid + ",out/");
  fs::remove(work_ / outB);
  fs::create_directories(work_ / "out" / ".ima-write-Ab12Cd");
  writeText(work_ / "out" / ".ima-write-Ab12Cd" / (b.seriesUid + ".nii.gz"), "partial");
  const auto writtenAt = fs::last_write_time(work_ / outA);

  RunResult r = run("batch segment --model m.imamodel --input archive --output out --device cpu --threads 1");
  EXPECT_EQ(r.code, 0) << r.err;
  auto bySeries = rowsBySeries(manifestRows(work_ / "out" / "manifest.csv"));
  ASSERT_EQ(bySeries.size(), 2u);
  EXPECT_EQ(bySeries[a.seriesUid].at("status"), "skipped");
  EXPECT_EQ(bySeries[b.seriesUid].at("status"), "ok");
  EXPECT_EQ(fs::last_write_time(work_ / outA), writtenAt);
  EXPECT_EQ(readImage<Label3>(work_ / outB)->GetLargestPossibleRegion().GetSize()[2], 3u);
  std::set<std::string> expected = {"out", "out/manifest.csv", outA, outB};
  std::set<std::string> found;
  for (const auto& name : listing())
    if (name.rfind("out", 0) == 0) found.insert(name);
  EXPECT_EQ(found, expected);
  // OUTROOT spelled differently: still the same outputs, nothing redone.
  r = run("batch segment --model m.imamodel --input archive --output ./out/ --device cpu --threads 1 --quiet");
  EXPECT_EQ(r.code, 0) << r.err;
  for (const auto& row : manifestRows(work_ / "out" / "manifest.csv")) EXPECT_EQ(row.at("status"), "skipped") << row;
  EXPECT_EQ(fs::last_write_time(work_ / outA), writtenAt);

  // A file that is not a manifest is not overwritten.
  fs::create_directories(work_ / "other");
  writeText(work_ / "other" / "manifest.csv", "patient,notes\n");
  r = run("batch segment --model m.imamodel --input archive --output other --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not an ima batch manifest"), std::string::npos) << r.err;
  EXPECT_EQ(readText(work_ / "other" / "manifest.csv"), "patient,notes\n");
}

// --shard K/N: the shards' manifests together hold every series exactly once, and a shard always
// gets the same series.
TEST_F(ImaCLI, BatchSegmentShardsAreDisjointAndCoverTheArchive) {
  makeModel("m.imamodel", true);
  std::set<std::string> all;
  for (int i = 0; i < 7; ++i) {
    ima::dicomtest::CtPhantom p;
    p.slices = 2;
    p.columns = p.rows = 8;
    p.write(work_ / "archive" / ("s" + std::to_string(i)));
    all.insert(p.seriesUid);
  }
  std::set<std::string> covered;
  size_t rows = 0;
  for (int k = 1; k <= 3; ++k) {
    const std::string shard = std::to_string(k) + "/3";
    RunResult r = run("batch segment --model m.imamodel --input archive --output out --shard " + shard +
                      " --device cpu --threads 1 --quiet");
    ASSERT_EQ(r.code, 0) << r.err;
    const fs::path manifest = work_ / "out" / ("manifest-shard-" + std::to_string(k) + "-of-3.csv");
    const auto shardRows = manifestRows(manifest);
    std::set<std::string> mine;
    for (const auto& row : shardRows) {
      EXPECT_EQ(row.at("status"), "ok");
      mine.insert(row.at("series").get<std::string>());
      covered.insert(row.at("series").get<std::string>());
      EXPECT_TRUE(fs::exists(work_ / row.at("output").get<std::string>()));
    }
    rows += shardRows.size();
    // The same shard again: the same series, all skipped.
    r = run("batch segment --model m.imamodel --input archive --output out --shard " + shard + " --quiet");
    ASSERT_EQ(r.code, 0) << r.err;
    std::set<std::string> again;
    for (const auto& row : manifestRows(manifest)) {
      EXPECT_EQ(row.at("status"), "skipped");
      again.insert(row.at("series").get<std::string>());
    }
    EXPECT_EQ(again, mine);
  }
  EXPECT_EQ(covered, all);
  EXPECT_EQ(rows, all.size());  // disjoint
  EXPECT_FALSE(fs::exists(work_ / "out" / "manifest.csv"));
  for (const std::string bad : {"0/3", "4/3", "1/0", "x", "1/3/2", "-1/3"}) {
    RunResult r = run("batch segment --model m.imamodel --input archive --output out2 --shard " + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find("--shard"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(work_ / "out2"));
}

// --shard auto: each scheduler's variables pick the shard --shard K/N would (same manifest name,
// same series); unusable variables are usage errors naming the variable.
TEST_F(ImaCLI, BatchSegmentShardAutoTakesTheShardFromTheScheduler) {
  makeModel("m.imamodel", true);
  for (int i = 0; i < 4; ++i) {
    ima::dicomtest::CtPhantom p;
    p.slices = 2;
    p.columns = p.rows = 8;
    p.write(work_ / "archive" / ("s" + std::to_string(i)));
  }
  const std::vector<std::string> variables = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT",
                                              "JOB_COMPLETION_INDEX", "IMA_SHARD_COUNT", "RANK", "WORLD_SIZE"};
  auto withEnvironment = [&](const std::map<std::string, std::string>& env, const std::string& args) {
    for (const auto& v : variables) ::unsetenv(v.c_str());
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    RunResult r = run(args);
    for (const auto& v : variables) ::unsetenv(v.c_str());
    return r;
  };
  const std::string common = "batch segment --model m.imamodel --input archive --device cpu --threads 1 --quiet ";
  // Shard 2 of 3 in each scheduler's numbering: Slurm --array=1-3 (task 2), Kubernetes index 1,
  // torchrun rank 1.
  const std::vector<std::map<std::string, std::string>> schedulers = {
      {{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_COUNT", "3"}},
      {{"JOB_COMPLETION_INDEX", "1"}, {"IMA_SHARD_COUNT", "3"}},
      {{"RANK", "1"}, {"WORLD_SIZE", "3"}}};
  RunResult r = withEnvironment({}, common + "--output explicit --shard 2/3");
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<std::string> expected;
  for (const auto& row : manifestRows(work_ / "explicit" / "manifest-shard-2-of-3.csv")) expected.insert(row.at("series").get<std::string>());
  for (size_t s = 0; s < schedulers.size(); ++s) {
    const std::string out = "auto" + std::to_string(s);
    r = withEnvironment(schedulers[s], common + "--output " + out + " --shard auto");
    ASSERT_EQ(r.code, 0) << r.err;
    std::set<std::string> got;
    for (const auto& row : manifestRows(work_ / out / "manifest-shard-2-of-3.csv")) got.insert(row.at("series").get<std::string>());
    EXPECT_EQ(got, expected) << out;
  }
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> bad = {
      {{}, "no scheduler variables"},
      {{{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_COUNT", "3"}}, "SLURM_ARRAY_TASK_ID"},
      {{{"JOB_COMPLETION_INDEX", "0"}}, "IMA_SHARD_COUNT"},
      {{{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK='x'"}};
  for (const auto& [env, fragment] : bad) {
    r = withEnvironment(env, common + "--output bad --shard auto");
    EXPECT_EQ(r.code, 2) << fragment;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(work_ / "bad"));
}

// ima batch harden: an archive of two series, one labelled by a SEG (written with the library's
// SEG writer), fine-tunes a pretrained model on the labelled one only.
TEST_F(ImaCLI, BatchHardenTrainsOnSeriesLabelledBySegs) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom labelled, unlabelled;
  labelled.columns = labelled.rows = unlabelled.columns = unlabelled.rows = 16;
  labelled.slices = unlabelled.slices = 3;
  labelled.patientName = "Zyxwvut^Quintessa";
  labelled.write(work_ / "archive" / "ct1");
  unlabelled.write(work_ / "archive" / "ct2");

  // No SEG at all: a clear error, no model.
  RunResult r = run("batch harden --model m.imamodel --input archive --out hard.imamodel --epochs 1 --iterations 1 "
                    "--device cpu --threads 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no image series under 'archive' is labelled by a DICOM SEG"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "hard.imamodel"));

  const auto series = ima::dicom::scanDirectory((work_ / "archive" / "ct1").string());
  ASSERT_EQ(series.size(), 1u);
  ima::LabelMap labels(ima::Shape{{16, 16, 3}}, 1, series[0].geometry);
  for (int z = 0; z < 3; ++z)
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x)
        labels.data[static_cast<size_t>((z * 16 + y) * 16 + x)] = static_cast<uint8_t>(x > 4 && x < 11 && y > 3 ? (y > 9 ? 2 : 1) : 0);
  fs::create_directories(work_ / "archive" / "seg");
  ima::dicom::writeSegmentation((work_ / "archive" / "seg" / "labels.dcm").string(), labels, series[0],
                                {{1, "liver", {}, {}, {200, 50, 50}}, {2, "tumour", {}, {}, {50, 200, 50}}});

  // A damaged file elsewhere in the archive is reported and does not stop the run.
  ima::dicomtest::CtPhantom other;
  other.writeSlice(0, work_ / "archive" / "junk" / "IM1");
  fs::resize_file(work_ / "archive" / "junk" / "IM1", 200);
  r = run("batch harden --model m.imamodel --input archive --out hard.imamodel --epochs 2 --iterations 2 --batch 2 "
          "--eps-max 1 --delta 0.1 --pgd-steps 2 --bisection-steps 2 --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("1 series without a SEG"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("junk/IM1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(unlabelled.seriesUid), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("margins mean"), std::string::npos) << r.out;
  for (const std::string* text : std::vector<const std::string*>{&r.out, &r.err})
    EXPECT_EQ(text->find("Zyxwvut"), std::string::npos) << *text;
  const ima::ModelMetadata m = ima::readModelMetadata((work_ / "hard.imamodel").string());
  EXPECT_EQ(m.trainingMethod, "ima");
  const auto provenance = nlohmann::json::parse(m.provenanceJson);
  EXPECT_EQ(provenance.at("training_series"), nlohmann::json::array({labelled.seriesUid}));
  EXPECT_EQ(provenance.at("initialized_from"), "m.imamodel");
  const auto settings = nlohmann::json::parse(m.trainingSettingsJson);
  EXPECT_EQ(settings.at("init"), "m.imamodel");
  EXPECT_DOUBLE_EQ(settings.at("adversarial").at("eps_max").get<double>(), 1.0);
  std::istringstream log(readText(work_ / "hard.imamodel.log.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) lines += nlohmann::json::parse(line).contains("margins");
  EXPECT_EQ(lines, 2);
  // The weights moved away from the pretrained ones.
  EXPECT_NE(readText(work_ / "hard.imamodel"), readText(work_ / "m.imamodel"));
}

// --format seg: one DICOM SEG per series, referencing it, with the labels `ima segment` gives.
TEST_F(ImaCLI, BatchSegmentWritesDicomSegs) {
  makeModel("m.imamodel", true);
  ima::dicomtest::CtPhantom a;
  a.slices = 4;
  a.write(work_ / "archive" / "a");
  const std::string outA = "out/" + a.seriesUid + ".dcm";
  // Left by a killed run: the SEG writer's temporary file.
  fs::create_directories(work_ / "out");
  writeText(work_ / "out" / (a.seriesUid + ".dcm.tmp4242_0"), "partial");
  RunResult r = run("batch segment --model m.imamodel --input archive --output out --format seg --device cpu "
                    "--threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "out" / (a.seriesUid + ".dcm.tmp4242_0")));
  const auto rows = manifestRows(work_ / "out" / "manifest.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("output"), outA);
  EXPECT_EQ(rows[0].at("status"), "ok");
  EXPECT_EQ(ima::dicom::describeSegmentation((work_ / outA).string()).referencedSeriesUid, a.seriesUid);

  ASSERT_EQ(run("segment --model m.imamodel --input archive --output ref.nii.gz --device cpu --threads 1 --quiet").code, 0);
  const auto reference = readImage<Label3>(work_ / "ref.nii.gz");
  const auto series = ima::dicom::scanDirectory((work_ / "archive").string());
  ASSERT_EQ(series.size(), 1u);
  const ima::LabelMap labels = ima::dicom::readSegmentation((work_ / outA).string(), series[0]);
  ASSERT_EQ(labels.data.size(), reference->GetLargestPossibleRegion().GetNumberOfPixels());
  EXPECT_TRUE(std::equal(labels.data.begin(), labels.data.end(), reference->GetBufferPointer()));
  EXPECT_GT(std::count_if(labels.data.begin(), labels.data.end(), [](uint8_t v) { return v > 0; }), 0);  // not trivial

  // The SEGs in the output are not image series: a run over an archive that holds them skips them.
  fs::rename(work_ / "out", work_ / "archive" / "out");
  r = run("batch segment --model m.imamodel --input archive --output out2 --device cpu --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(manifestRows(work_ / "out2" / "manifest.csv").size(), 1u);
}

}  // namespace imaCLIBatchGTest
