#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "ima/Error.h"
#include "ima/RobustnessReport.h"

namespace RobustnessReportGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

namespace {

std::string readText(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) result.push_back(line);
  return result;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

// Two labels, two cases per budget, counts (tp, fp, fn) per label small enough to check by hand.
ima::RobustnessReport segmentationReport() {
  ima::RobustnessReport r;
  r.title = "test report";
  r.task = "segmentation";
  r.attacked = "volume";
  r.norm = ima::Norm::L2;
  r.labelNames = {"liver", "tumour, small"};  // a comma: the CSV header must quote it
  auto& pgd = r.attack("pgd-20");
  pgd.description = "PGD, 20 steps";
  // Case A: label 1 Dice 2*1/(2+1+1) = 0.5, label 2 Dice 1 (empty vs empty) -> case Dice 0.75.
  // Case B: label 1 Dice 2*2/(4+0+0) = 1,   label 2 Dice 2*1/(2+1+1) = 0.5 -> case Dice 0.75.
  // Summed: label 1 tp 3, fp 1, fn 1 -> 0.75; label 2 tp 1, fp 1, fn 1 -> 0.5; mean 0.625.
  pgd.budget(0).addCase({{1, 1, 1}, {0, 0, 0}});
  pgd.budget(0).addCase({{2, 0, 0}, {1, 1, 1}});
  // At eps 1: case A loses everything (Dice 0 on label 1, label 2 empty/empty 1) -> 0.5;
  //           case B label 1 tp 1 fp 0 fn 2 -> 0.5, label 2 tp 0 fp 1 fn 1 -> 0 -> 0.25.
  pgd.budget(1).addCase({{0, 1, 2}, {0, 0, 0}});
  pgd.budget(1).addCase({{1, 0, 2}, {0, 1, 1}});
  auto& noise = r.attack("noise");
  noise.budget(0).addCase({{1, 1, 1}, {0, 0, 0}});
  noise.budget(0).addCase({{2, 0, 0}, {1, 1, 1}});
  noise.budget(2).addCase({{1, 1, 1}, {0, 0, 0}});
  noise.budget(2).addCase({{2, 0, 0}, {1, 1, 1}});
  return r;
}

ima::RobustnessReport classificationReport() {
  ima::RobustnessReport r;
  r.task = "classification";
  r.attacked = "image";
  r.norm = ima::Norm::Linf;
  auto& fgsm = r.attack("fgsm");
  for (int i = 0; i < 4; ++i) fgsm.budget(0).addPrediction(i < 3, i < 3);  // 3 of 4 clean
  // At 0.1: one sample flips; the clean mistake stays an error even though the attack "fixes" it.
  fgsm.budget(0.1).addPrediction(true, true);
  fgsm.budget(0.1).addPrediction(true, true);
  fgsm.budget(0.1).addPrediction(true, false);
  fgsm.budget(0.1).addPrediction(false, true);
  return r;
}

TEST(RobustnessAUC, HandComputedCases) {
  // ((1 + 0.5)/2 * 1 + (0.5 + 0.5)/2 * 1) / 2 = 0.625
  EXPECT_DOUBLE_EQ(ima::robustnessAUC({0, 1, 2}, {1, 0.5, 0.5}), 0.625);
  // Uneven spacing: ((0.8+0.6)/2 * 0.5 + (0.6+0.2)/2 * 1.5) / 2 = (0.35 + 0.6) / 2 = 0.475
  EXPECT_DOUBLE_EQ(ima::robustnessAUC({0, 0.5, 2}, {0.8, 0.6, 0.2}), 0.475);
  // A constant curve has that constant as its AUC; a single clean point is the clean metric.
  EXPECT_DOUBLE_EQ(ima::robustnessAUC({0, 0.1, 0.3}, {0.9, 0.9, 0.9}), 0.9);
  EXPECT_DOUBLE_EQ(ima::robustnessAUC({0}, {0.7}), 0.7);
}

TEST(RobustnessAUC, RejectsBadBudgets) {
  EXPECT_THROW(ima::robustnessAUC({0, 2, 1}, {1, 0.5, 0.5}), ima::Error);   // unsorted
  EXPECT_THROW(ima::robustnessAUC({0, 1, 1}, {1, 0.5, 0.5}), ima::Error);   // duplicate
  EXPECT_THROW(ima::robustnessAUC({0, 1}, {1, 0.5, 0.5}), ima::Error);      // size mismatch
  EXPECT_THROW(ima::robustnessAUC({0.5, 1}, {1, 0.5}), ima::Error);         // no clean point
  EXPECT_THROW(ima::robustnessAUC({}, {}), ima::Error);
  EXPECT_THROW(ima::robustnessAUC({0, 1}, {1, std::nan("")}), ima::Error);
}

TEST(RobustnessReport, SegmentationMetricsMatchHandCounts) {
  const auto r = segmentationReport();
  const auto& pgd = r.attacks[0];
  ASSERT_EQ(pgd.epsilons(), (std::vector<double>{0, 1}));
  EXPECT_EQ(pgd.budgets[0].classDice(), (std::vector<double>{0.75, 0.5}));
  EXPECT_DOUBLE_EQ(pgd.budgets[0].meanVoxelDice(), 0.625);
  EXPECT_DOUBLE_EQ(pgd.budgets[0].meanCaseDice(), 0.75);
  // eps 1 summed: label 1 tp 1 fp 1 fn 4 -> 2/7; label 2 tp 0 fp 1 fn 1 -> 0.
  EXPECT_DOUBLE_EQ(pgd.budgets[1].classDice()[0], 2.0 / 7.0);
  EXPECT_DOUBLE_EQ(pgd.budgets[1].classDice()[1], 0.0);
  EXPECT_DOUBLE_EQ(pgd.budgets[1].meanCaseDice(), 0.375);
  EXPECT_DOUBLE_EQ(r.auc(pgd), (0.625 + 1.0 / 7.0) / 2);
  EXPECT_EQ(r.metricName(), "mean_voxel_dice");
}

TEST(RobustnessReport, ClassificationCountsCleanMistakesAsErrors) {
  const auto r = classificationReport();
  EXPECT_DOUBLE_EQ(r.attacks[0].budgets[0].accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(r.attacks[0].budgets[1].accuracy(), 0.5);
  EXPECT_DOUBLE_EQ(r.auc(r.attacks[0]), 0.625);
}

TEST(RobustnessReport, ValidationNamesTheProblem) {
  auto r = segmentationReport();
  r.attacks[0].budgets[0].eps = 0.5;  // budgets {0.5, 1}: no clean point
  try {
    r.validate();
    FAIL() << "expected an error";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("pgd-20"), std::string::npos) << e.what();
  }
  auto unsorted = segmentationReport();
  std::swap(unsorted.attacks[1].budgets[0].eps, unsorted.attacks[1].budgets[1].eps);
  EXPECT_THROW(unsorted.validate(), ima::Error);
  auto wrongTarget = classificationReport();
  wrongTarget.attacked = "volume";
  EXPECT_THROW(ima::toJson(wrongTarget), ima::Error);
  auto mixed = segmentationReport();
  EXPECT_THROW(mixed.attacks[0].budget(0).addCase({{1, 0, 0}}), ima::Error);  // 1 label, not 2
  mixed.attacks[0].budget(2).addCase({{1, 0, 0}});  // a new budget over 1 label: caught by validate()
  EXPECT_THROW(mixed.validate(), ima::Error);
}

TEST(RobustnessReport, JsonRoundTrip) {
  const auto r = segmentationReport();
  const std::string text = ima::toJson(r);
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.at("format"), "ima-robustness-report");
  EXPECT_EQ(j.at("task"), "segmentation");
  EXPECT_EQ(j.at("attacked"), "volume");
  EXPECT_EQ(j.at("norm"), "l2");
  EXPECT_EQ(j.at("metric"), "mean_voxel_dice");
  EXPECT_EQ(j.at("labels"), (std::vector<std::string>{"liver", "tumour, small"}));
  ASSERT_EQ(j.at("attacks").size(), 2u);
  const auto& pgd = j.at("attacks")[0];
  EXPECT_EQ(pgd.at("name"), "pgd-20");
  EXPECT_DOUBLE_EQ(pgd.at("auc").get<double>(), (0.625 + 1.0 / 7.0) / 2);
  EXPECT_DOUBLE_EQ(pgd.at("clean").get<double>(), 0.625);
  EXPECT_DOUBLE_EQ(pgd.at("auc_mean_case_dice").get<double>(), (0.75 + 0.375) / 2);
  ASSERT_EQ(pgd.at("budgets").size(), 2u);
  const auto& b1 = pgd.at("budgets")[1];
  EXPECT_DOUBLE_EQ(b1.at("eps").get<double>(), 1.0);
  EXPECT_EQ(b1.at("cases"), 2);
  EXPECT_DOUBLE_EQ(b1.at("mean_case_dice").get<double>(), 0.375);
  EXPECT_EQ(b1.at("class_counts")[0].at("fn"), 4);

  const auto back = ima::robustnessReportFromJson(text);
  EXPECT_EQ(ima::toJson(back), text);
  const auto c = classificationReport();
  EXPECT_EQ(ima::toJson(ima::robustnessReportFromJson(ima::toJson(c))), ima::toJson(c));
  EXPECT_EQ(nlohmann::json::parse(ima::toJson(c)).at("attacks")[0].at("budgets")[1].at("accuracy"), 0.5);

  EXPECT_THROW(ima::robustnessReportFromJson("{\"format\": \"something else\"}"), ima::Error);
  EXPECT_THROW(ima::robustnessReportFromJson("not json"), ima::Error);
  // A norm the project does not know is refused where the file is read, naming the value.
  auto unknownNorm = nlohmann::json::parse(text);
  unknownNorm["norm"] = "l3";
  try {
    ima::robustnessReportFromJson(unknownNorm.dump());
    ADD_FAILURE() << "a report in norm l3 was read";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'l3'"), std::string::npos) << e.what();
  }
}

TEST(RobustnessReport, CsvHasHeaderRowsAndValues) {
  const auto rows = lines(ima::toCsv(segmentationReport()));
  ASSERT_EQ(rows.size(), 1u + 4u);  // header + 2 attacks x 2 budgets
  EXPECT_EQ(rows[0],
            "attack,norm,attacked,eps,cases,dice_liver,\"dice_tumour, small\",mean_voxel_dice,mean_case_dice,"
            "auc_mean_voxel_dice,auc_mean_case_dice");
  EXPECT_EQ(rows[1], "pgd-20,l2,volume,0,2,0.750000,0.500000,0.625000,0.750000,0.383929,0.562500");
  EXPECT_EQ(rows[2], "pgd-20,l2,volume,1,2,0.285714,0.000000,0.142857,0.375000,0.383929,0.562500");
  EXPECT_EQ(rows[4], "noise,l2,volume,2,2,0.750000,0.500000,0.625000,0.750000,0.625000,0.750000");

  const auto c = lines(ima::toCsv(classificationReport()));
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], "attack,norm,attacked,eps,samples,accuracy,auc_accuracy");
  EXPECT_EQ(c[2], "fgsm,linf,image,0.1,4,0.500000,0.625000");
}

TEST(RobustnessReport, SvgHasOneLinePerAttackAndALegend) {
  const auto r = segmentationReport();
  const std::string svg = ima::toSvgPlot(r);
  EXPECT_EQ(occurrences(svg, "<polyline"), r.attacks.size());
  EXPECT_NE(svg.find(">pgd-20 (AUC 0.384)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">noise (AUC 0.625)</text>"), std::string::npos);
  EXPECT_NE(svg.find("epsilon (L2, normalised units)"), std::string::npos);
  EXPECT_NE(svg.find("mean voxel Dice"), std::string::npos);
  EXPECT_NE(svg.find("test report"), std::string::npos);
}

TEST(RobustnessReport, WritesFilesAtomicallyAndTheSvgIsXml) {
  const fs::path dir = fs::temp_directory_path() / ("ima_report_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto r = segmentationReport();
  r.attacks[0].name = "pgd <&> \"quoted\"";  // must be escaped in the SVG
  const fs::path json = dir / "report.json", csv = dir / "report.csv", svg = dir / "report.svg";
  ima::writeReportFiles(r, json.string(), csv.string(), svg.string());
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
  EXPECT_EQ(files, 3u);
  EXPECT_EQ(readText(json), ima::toJson(r));
  EXPECT_EQ(readText(csv), ima::toCsv(r));
  EXPECT_EQ(readText(svg), ima::toSvgPlot(r));

  // Empty paths are skipped; an invalid report writes nothing at all.
  const fs::path only = dir / "only.csv";
  ima::writeReportFiles(r, "", only.string(), "");
  EXPECT_TRUE(fs::exists(only));
  auto invalid = r;
  invalid.attacks.clear();
  EXPECT_THROW(ima::writeReportFiles(invalid, (dir / "x.json").string(), "", ""), ima::Error);
  EXPECT_FALSE(fs::exists(dir / "x.json"));
  EXPECT_THROW(ima::writeReportFiles(r, json.string(), json.string(), ""), ima::Error);

  if (!fs::exists("/usr/bin/python3")) {
    fs::remove_all(dir);
    GTEST_SKIP() << "/usr/bin/python3 not found: SVG not checked by an XML parser";
  }
  const std::string command = "/usr/bin/python3 -c \"import sys, xml.etree.ElementTree as E; "
                              "E.parse(sys.argv[1])\" '" + svg.string() + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  fs::remove_all(dir);
}

}  // namespace

namespace {

// Two models' reports combined: attacks renamed per model, curves and AUCs carried over unchanged
// (the hand-computed values of segmentationReport), and incompatible reports refused.
TEST(CombineReports, RenamesAttacksPerModelAndKeepsTheirCurves) {
  const ima::RobustnessReport a = segmentationReport();
  ima::RobustnessReport b = segmentationReport();
  b.attacks.pop_back();  // only pgd-20
  const ima::RobustnessReport c = ima::combineReports({a, b}, {"standard", "ima"});
  ASSERT_EQ(c.attacks.size(), 3u);
  EXPECT_EQ(c.attacks[0].name, "standard pgd-20");
  EXPECT_EQ(c.attacks[1].name, "standard noise");
  EXPECT_EQ(c.attacks[2].name, "ima pgd-20");
  EXPECT_EQ(c.curve(c.attacks[2]), a.curve(a.attacks[0]));
  EXPECT_DOUBLE_EQ(c.auc(c.attacks[0]), a.auc(a.attacks[0]));
  EXPECT_NE(c.title.find("standard vs ima"), std::string::npos) << c.title;
  EXPECT_EQ(ima::robustnessReportFromJson(ima::toJson(c)).attacks.size(), 3u);

  EXPECT_THROW(ima::combineReports({a, b}, {"same", "same"}), ima::Error);
  EXPECT_THROW(ima::combineReports({a, b}, {"one"}), ima::Error);
  EXPECT_THROW(ima::combineReports({}, {}), ima::Error);
  ima::RobustnessReport linf = segmentationReport();
  linf.norm = ima::Norm::Linf;
  EXPECT_THROW(ima::combineReports({a, linf}, {"l2", "linf"}), ima::Error);
  EXPECT_THROW(ima::combineReports({a, classificationReport()}, {"seg", "cls"}), ima::Error);
  ima::RobustnessReport otherBudgets = segmentationReport();
  otherBudgets.attacks[0].budget(3).addCase({{1, 1, 1}, {0, 0, 0}});
  otherBudgets.attacks[0].budget(3).addCase({{1, 1, 1}, {0, 0, 0}});
  try {
    ima::combineReports({a, otherBudgets}, {"a", "b"});
    FAIL() << "different budgets must be refused";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("pgd-20"), std::string::npos) << e.what();
  }
}

TEST(CombineReports, ReadingANonReportNamesTheFile) {
  const fs::path path = fs::temp_directory_path() / ("ima-not-a-report-" + std::to_string(getpid()) + ".json");
  std::ofstream(path) << "{\"format\": \"something else\"}";
  try {
    ima::readRobustnessReport(path.string());
    FAIL() << "not a report";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  fs::remove(path);
  EXPECT_THROW(ima::readRobustnessReport(path.string()), ima::Error);
}

}  // namespace

namespace {

TEST(EvaluationBudgets, SortedWithoutRepeatsWithTheCleanBudget) {
  EXPECT_EQ(ima::evaluationBudgets({2, 0.5, 2}), (std::vector<double>{0, 0.5, 2}));
  EXPECT_EQ(ima::evaluationBudgets({}), (std::vector<double>{0}));
  EXPECT_EQ(ima::evaluationBudgets({0, 1}), (std::vector<double>{0, 1}));
  EXPECT_THROW(ima::evaluationBudgets({1, -0.5}), ima::Error);
  EXPECT_THROW(ima::evaluationBudgets({std::nan("")}), ima::Error);
  EXPECT_THROW(ima::evaluationBudgets({INFINITY}), ima::Error);
}

}  // namespace

}  // namespace RobustnessReportGTest
