// The robustness report as JSON (docs/evaluation.md, "JSON"), and read back.
#include "ima/RobustnessReport.h"

#include <string>

#include <nlohmann/json.hpp>

#include "ima/Error.h"
#include "internal/ReportText.h"

namespace ima {
namespace {

constexpr const char* kFormat = "ima-robustness-report";
constexpr int kFormatVersion = 1;

}  // namespace

std::string toJson(const RobustnessReport& report) {
  report.validate();
  using Json = nlohmann::ordered_json;
  const bool seg = segmentation(report);
  Json attacks = Json::array();
  for (const auto& a : report.attacks) {
    Json budgets = Json::array();
    for (const auto& b : a.budgets) {
      Json entry{{"eps", b.eps}};
      if (seg) {
        entry["cases"] = b.caseDice.size();
        entry["class_dice"] = b.classDice();
        entry["mean_voxel_dice"] = b.meanVoxelDice();
        entry["mean_case_dice"] = b.meanCaseDice();
        Json counts = Json::array();
        for (const auto& c : b.classCounts) counts.push_back(Json{{"tp", c.tp}, {"fp", c.fp}, {"fn", c.fn}});
        entry["class_counts"] = counts;
        entry["case_dice"] = b.caseDice;
        if (!a.members.empty()) entry["case_worst_attack"] = b.caseWorstAttack;
      } else {
        entry["samples"] = b.samples;
        entry["correct"] = b.correct;
        entry["accuracy"] = b.accuracy();
      }
      budgets.push_back(entry);
    }
    Json attack{{"name", a.name}, {"description", a.description}, {"clean", report.metric(a.budgets.front())},
                {"auc", report.auc(a)}};
    if (!a.members.empty()) attack["members"] = a.members;
    if (seg) {
      std::vector<double> caseCurve;
      for (const auto& b : a.budgets) caseCurve.push_back(b.meanCaseDice());
      attack["auc_mean_case_dice"] = robustnessAUC(a.epsilons(), caseCurve);
    }
    attack["budgets"] = budgets;
    attacks.push_back(attack);
  }
  Json j{{"format", kFormat},
         {"format_version", kFormatVersion},
         {"title", report.title},
         {"task", report.task},
         {"attacked", report.attacked},
         {"norm", normName(report.norm)},
         {"eps_units", "normalised intensity"},
         {"metric", report.metricName()},
         {"model", report.model},
         {"data", report.data}};
  if (seg) j["labels"] = report.labels();
  j["attacks"] = attacks;
  Json warnings = Json::array();
  for (const MaskingWarning& w : report.maskingWarnings)
    warnings.push_back(Json{{"check", w.check}, {"attack", w.attack}, {"eps", w.eps}, {"message", w.message}});
  j["masking_warnings"] = warnings;
  return j.dump(2) + "\n";
}

RobustnessReport robustnessReportFromJson(const std::string& text) {
  RobustnessReport report;
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.value("format", std::string()) != kFormat)
      throw Error("robustness report: not an " + std::string(kFormat) + " file");
    if (j.at("format_version").get<int>() != kFormatVersion)
      throw Error("robustness report: format version " + std::to_string(j.at("format_version").get<int>()) +
                  " is not supported (this build reads " + std::to_string(kFormatVersion) + ")");
    report.title = j.value("title", std::string());
    report.task = j.at("task").get<std::string>();
    report.attacked = j.at("attacked").get<std::string>();
    report.norm = parseNorm(j.at("norm").get<std::string>(), "robustness report");
    report.model = j.value("model", std::string());
    report.data = j.value("data", std::string());
    if (j.contains("labels")) report.labelNames = j.at("labels").get<std::vector<std::string>>();
    for (const auto& ja : j.at("attacks")) {
      AttackResult a;
      a.name = ja.at("name").get<std::string>();
      a.description = ja.value("description", std::string());
      if (ja.contains("members")) a.members = ja.at("members").get<std::vector<std::string>>();
      for (const auto& jb : ja.at("budgets")) {
        BudgetResult b(jb.at("eps").get<double>());
        if (report.task == "segmentation") {
          for (const auto& jc : jb.at("class_counts"))
            b.classCounts.push_back(
                OverlapCounts{jc.at("tp").get<int64_t>(), jc.at("fp").get<int64_t>(), jc.at("fn").get<int64_t>()});
          b.caseDice = jb.at("case_dice").get<std::vector<double>>();
          if (jb.contains("case_worst_attack"))
            b.caseWorstAttack = jb.at("case_worst_attack").get<std::vector<std::string>>();
        } else {
          b.samples = jb.at("samples").get<int64_t>();
          b.correct = jb.at("correct").get<int64_t>();
        }
        a.budgets.push_back(std::move(b));
      }
      report.attacks.push_back(std::move(a));
    }
    if (j.contains("masking_warnings"))
      for (const auto& jw : j.at("masking_warnings"))
        report.maskingWarnings.push_back({jw.at("check").get<std::string>(), jw.at("attack").get<std::string>(),
                                          jw.at("eps").get<double>(), jw.at("message").get<std::string>()});
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("robustness report: malformed JSON: ") + e.what());
  }
  report.validate();
  return report;
}

}  // namespace ima
