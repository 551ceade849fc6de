#include "ima/RobustnessReport.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <locale>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ima/Error.h"
#include "internal/Files.h"

namespace ima {
namespace {

constexpr const char* kFormat = "ima-robustness-report";
constexpr int kFormatVersion = 1;

// Numbers in reports must not depend on the process locale (hosts such as Slicer set one).
std::string general(double value, int significant = 6) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << std::setprecision(significant) << value;
  return out.str();
}

std::string fixed(double value, int decimals) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << std::fixed << std::setprecision(decimals) << value;
  return out.str();
}

std::string where(const AttackResult& attack, const BudgetResult& budget) {
  return "attack '" + attack.name + "' at eps " + general(budget.eps);
}

bool segmentation(const RobustnessReport& report) { return report.task == "segmentation"; }

const AttackResult* findAttack(const RobustnessReport& report, const std::string& name) {
  for (const auto& a : report.attacks)
    if (a.name == name) return &a;
  return nullptr;
}

// An ensemble's members exist, share its budgets and case count, and name each case's worst.
void validateEnsemble(const RobustnessReport& report, const AttackResult& a) {
  const std::string which = "robustness report: ensemble '" + a.name + "'";
  if (a.members.empty()) {
    for (const auto& b : a.budgets)
      if (!b.caseWorstAttack.empty()) throw Error("robustness report: " + where(a, b) + " names worst attacks but has no members");
    return;
  }
  if (!segmentation(report)) throw Error(which + ": ensembles are for segmentation reports");
  for (const std::string& m : a.members) {
    const AttackResult* member = findAttack(report, m);
    if (!member || member == &a) throw Error(which + ": member '" + m + "' is not an attack of the report");
    if (member->epsilons() != a.epsilons()) throw Error(which + ": member '" + m + "' has other budgets");
    for (size_t i = 0; i < a.budgets.size(); ++i)
      if (member->budgets[i].caseDice.size() != a.budgets[i].caseDice.size())
        throw Error(which + ": member '" + m + "' has another number of cases");
  }
  for (const auto& b : a.budgets) {
    if (b.caseWorstAttack.size() != b.caseDice.size())
      throw Error("robustness report: " + where(a, b) + " names the worst attack of " +
                  std::to_string(b.caseWorstAttack.size()) + " of " + std::to_string(b.caseDice.size()) + " cases");
    for (const std::string& w : b.caseWorstAttack)
      if (std::find(a.members.begin(), a.members.end(), w) == a.members.end())
        throw Error("robustness report: " + where(a, b) + " names '" + w + "', which is not one of its members");
  }
}

// ---- CSV -------------------------------------------------------------------------------------

std::string csvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

// ---- SVG -------------------------------------------------------------------------------------

std::string xmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string normLabel(const std::string& norm) { return norm == "linf" ? "Linf" : "L2"; }

// A step of 1, 2, 2.5 or 5 times a power of ten giving about `target` intervals over [0, range].
double niceStep(double range, int target) {
  const double raw = range / target;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * power >= raw * (1 - 1e-9)) return m * power;
  return 10 * power;
}

// Decimals needed to print multiples of `step` exactly (2.5e-2 -> 3).
int decimalsFor(double step) {
  for (int d = 0; d < 10; ++d) {
    const double scaled = step * std::pow(10.0, d);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * scaled) return d;
  }
  return 10;
}

// Roughly the width of `text` in a sans-serif font of `size` px; used only to size the legend.
double textWidth(const std::string& text, double size) {
  int characters = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++characters;  // count UTF-8 code points, not bytes
  return 0.6 * size * characters;
}

const char* const kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                "#E69F00", "#56B4E9", "#000000", "#7F7F7F"};  // Okabe-Ito + grey

// One marker shape per attack (circle, square, triangle, diamond), so lines stay apart in grey.
// `tooltip` (shown by browsers on hover) may be empty.
std::string marker(int index, double x, double y, const std::string& colour, const std::string& tooltip) {
  index += index / 8;  // after the 8 colours have been used, shift the shapes
  std::string tag, geometry;
  auto point = [](double px, double py) { return fixed(px, 1) + "," + fixed(py, 1); };
  switch (index % 4) {
    case 0:
      tag = "circle";
      geometry = "cx=\"" + fixed(x, 1) + "\" cy=\"" + fixed(y, 1) + "\" r=\"4.5\"";
      break;
    case 1:
      tag = "rect";
      geometry = "x=\"" + fixed(x - 4, 1) + "\" y=\"" + fixed(y - 4, 1) + "\" width=\"8\" height=\"8\"";
      break;
    case 2:
      tag = "polygon";
      geometry = "points=\"" + point(x, y - 5.5) + " " + point(x + 5, y + 4) + " " + point(x - 5, y + 4) + "\"";
      break;
    default:
      tag = "polygon";
      geometry = "points=\"" + point(x, y - 5.5) + " " + point(x + 5.5, y) + " " + point(x, y + 5.5) + " " +
                 point(x - 5.5, y) + "\"";
  }
  const std::string open = "<" + tag + " " + geometry + " fill=\"" + colour + "\" stroke=\"white\" stroke-width=\"1\"";
  if (tooltip.empty()) return open + "/>";
  return open + "><title>" + xmlEscape(tooltip) + "</title></" + tag + ">";
}

std::string text(double x, double y, const std::string& content, const std::string& attributes = "") {
  return "<text x=\"" + fixed(x, 1) + "\" y=\"" + fixed(y, 1) + "\"" + (attributes.empty() ? "" : " ") +
         attributes + ">" + xmlEscape(content) + "</text>\n";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& attributes) {
  return "<line x1=\"" + fixed(x1, 1) + "\" y1=\"" + fixed(y1, 1) + "\" x2=\"" + fixed(x2, 1) + "\" y2=\"" +
         fixed(y2, 1) + "\" " + attributes + "/>\n";
}

}  // namespace

double robustnessAUC(const std::vector<double>& budgets, const std::vector<double>& metric) {
  if (budgets.size() != metric.size())
    throw Error("robustness AUC: " + std::to_string(budgets.size()) + " budgets but " +
                std::to_string(metric.size()) + " metric values");
  if (budgets.empty()) throw Error("robustness AUC: no budgets");
  for (size_t i = 0; i < budgets.size(); ++i) {
    if (!std::isfinite(budgets[i]) || !std::isfinite(metric[i]))
      throw Error("robustness AUC: budget or metric " + std::to_string(i) + " is not finite");
    if (i > 0 && !(budgets[i] > budgets[i - 1]))
      throw Error("robustness AUC: budgets must be strictly ascending, got " + general(budgets[i]) +
                  " after " + general(budgets[i - 1]));
  }
  if (budgets.front() != 0.0)
    throw Error("robustness AUC: budgets must start at 0 (the clean point), got " + general(budgets.front()));
  if (budgets.size() == 1) return metric.front();
  double area = 0;
  for (size_t i = 1; i < budgets.size(); ++i)
    area += 0.5 * (metric[i] + metric[i - 1]) * (budgets[i] - budgets[i - 1]);
  return area / budgets.back();
}

// ---- BudgetResult ----------------------------------------------------------------------------

void BudgetResult::addCase(const std::vector<OverlapCounts>& counts) {
  if (counts.empty()) throw Error("a segmentation case needs counts for at least one label");
  if (!classCounts.empty() && classCounts.size() != counts.size())
    throw Error("case with " + std::to_string(counts.size()) + " labels added to results over " +
                std::to_string(classCounts.size()) + " labels");
  if (classCounts.empty()) classCounts.resize(counts.size());
  double sum = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    classCounts[c].tp += counts[c].tp;
    classCounts[c].fp += counts[c].fp;
    classCounts[c].fn += counts[c].fn;
    sum += counts[c].dice();
  }
  caseDice.push_back(sum / static_cast<double>(counts.size()));
}

void BudgetResult::addPrediction(bool cleanCorrect, bool attackedCorrect) {
  ++samples;
  if (cleanCorrect && attackedCorrect) ++correct;
}

std::vector<double> BudgetResult::classDice() const {
  std::vector<double> dice;
  dice.reserve(classCounts.size());
  for (const auto& c : classCounts) dice.push_back(c.dice());
  return dice;
}

double BudgetResult::meanVoxelDice() const {
  if (classCounts.empty()) throw Error("no segmentation results at eps " + general(eps));
  double sum = 0;
  for (const auto& c : classCounts) sum += c.dice();
  return sum / static_cast<double>(classCounts.size());
}

double BudgetResult::meanCaseDice() const {
  if (caseDice.empty()) throw Error("no segmentation cases at eps " + general(eps));
  double sum = 0;
  for (double d : caseDice) sum += d;
  return sum / static_cast<double>(caseDice.size());
}

double BudgetResult::accuracy() const {
  if (samples <= 0) throw Error("no classification samples at eps " + general(eps));
  return static_cast<double>(correct) / static_cast<double>(samples);
}

// ---- AttackResult / RobustnessReport ---------------------------------------------------------

BudgetResult& AttackResult::budget(double eps) {
  auto it = std::lower_bound(budgets.begin(), budgets.end(), eps,
                             [](const BudgetResult& b, double e) { return b.eps < e; });
  if (it != budgets.end() && it->eps == eps) return *it;
  return *budgets.insert(it, BudgetResult(eps));
}

std::vector<double> AttackResult::epsilons() const {
  std::vector<double> eps;
  eps.reserve(budgets.size());
  for (const auto& b : budgets) eps.push_back(b.eps);
  return eps;
}

AttackResult& RobustnessReport::attack(const std::string& name) {
  for (auto& a : attacks)
    if (a.name == name) return a;
  attacks.push_back(AttackResult{name, "", {}});
  return attacks.back();
}

void RobustnessReport::validate() const {
  if (task != "segmentation" && task != "classification")
    throw Error("robustness report: task must be 'segmentation' or 'classification', got '" + task + "'");
  if (segmentation(*this) && attacked != "patch" && attacked != "volume")
    throw Error("robustness report: a segmentation attack perturbs a 'patch' or a 'volume', got '" +
                attacked + "'");
  if (!segmentation(*this) && attacked != "image")
    throw Error("robustness report: a classification attack perturbs the 'image', got '" + attacked + "'");
  if (norm != "l2" && norm != "linf")
    throw Error("robustness report: norm must be 'l2' or 'linf', got '" + norm + "'");
  if (attacks.empty()) throw Error("robustness report: no attacks");
  std::set<std::string> names;
  size_t labelCount = labelNames.size();
  for (const auto& a : attacks) {
    if (a.name.empty()) throw Error("robustness report: an attack has no name");
    if (!names.insert(a.name).second) throw Error("robustness report: attack '" + a.name + "' appears twice");
    if (a.budgets.empty()) throw Error("robustness report: attack '" + a.name + "' has no budgets");
    if (a.budgets.front().eps != 0.0)
      throw Error("robustness report: attack '" + a.name + "' must start at budget 0 (the clean point), got " +
                  general(a.budgets.front().eps));
    for (size_t i = 0; i < a.budgets.size(); ++i) {
      const BudgetResult& b = a.budgets[i];
      if (!std::isfinite(b.eps) || (i > 0 && !(b.eps > a.budgets[i - 1].eps)))
        throw Error("robustness report: attack '" + a.name + "': budgets must be finite and strictly ascending, got " +
                    general(b.eps) + (i > 0 ? " after " + general(a.budgets[i - 1].eps) : std::string()));
      if (segmentation(*this)) {
        if (b.classCounts.empty() || b.caseDice.empty())
          throw Error("robustness report: " + where(a, b) + " has no segmentation cases");
        if (labelCount == 0) labelCount = b.classCounts.size();
        if (b.classCounts.size() != labelCount)
          throw Error("robustness report: " + where(a, b) + " has " + std::to_string(b.classCounts.size()) +
                      " labels, expected " + std::to_string(labelCount));
        for (const auto& c : b.classCounts)
          if (c.tp < 0 || c.fp < 0 || c.fn < 0)
            throw Error("robustness report: " + where(a, b) + " has negative overlap counts");
        for (double d : b.caseDice)
          if (!(d >= 0 && d <= 1)) throw Error("robustness report: " + where(a, b) + " has a case Dice outside [0, 1]");
      } else if (b.samples <= 0 || b.correct < 0 || b.correct > b.samples) {
        throw Error("robustness report: " + where(a, b) + " has " + std::to_string(b.correct) + " correct of " +
                    std::to_string(b.samples) + " samples");
      }
    }
  }
  for (const auto& a : attacks) validateEnsemble(*this, a);
}

std::string RobustnessReport::metricName() const { return segmentation(*this) ? "mean_voxel_dice" : "accuracy"; }

double RobustnessReport::metric(const BudgetResult& result) const {
  return segmentation(*this) ? result.meanVoxelDice() : result.accuracy();
}

std::vector<double> RobustnessReport::curve(const AttackResult& attack) const {
  std::vector<double> values;
  values.reserve(attack.budgets.size());
  for (const auto& b : attack.budgets) values.push_back(metric(b));
  return values;
}

double RobustnessReport::auc(const AttackResult& attack) const { return robustnessAUC(attack.epsilons(), curve(attack)); }

std::vector<std::string> RobustnessReport::labels() const {
  if (!labelNames.empty()) return labelNames;
  std::vector<std::string> names;
  if (!attacks.empty() && !attacks.front().budgets.empty())
    for (size_t c = 0; c < attacks.front().budgets.front().classCounts.size(); ++c)
      names.push_back("label" + std::to_string(c + 1));
  return names;
}

// ---- JSON ------------------------------------------------------------------------------------

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
         {"norm", report.norm},
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
    report.norm = j.at("norm").get<std::string>();
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

// ---- CSV -------------------------------------------------------------------------------------

std::string toCsv(const RobustnessReport& report) {
  report.validate();
  const bool seg = segmentation(report);
  // The column naming each case's worst member (separated by ';') appears only with an ensemble.
  const bool ensembles =
      std::any_of(report.attacks.begin(), report.attacks.end(), [](const AttackResult& a) { return !a.members.empty(); });
  // Likewise the column of gradient-masking warnings, on the row of the attack and budget concerned.
  const bool warned = !report.maskingWarnings.empty();
  const auto warningsAt = [&](const AttackResult& a, const BudgetResult& b) {
    std::string text;
    for (const MaskingWarning& w : report.maskingWarnings)
      // A warning beyond the attack's budgets (the very large budget) goes on its last row.
      if (w.attack == a.name && (w.eps == b.eps || (&b == &a.budgets.back() && w.eps > b.eps)))
        text += (text.empty() ? "" : " | ") + w.message;
    return csvField(text);
  };
  std::ostringstream out;
  out << "attack,norm,attacked,eps," << (seg ? "cases" : "samples");
  if (seg) {
    for (const auto& name : report.labels()) out << ',' << csvField("dice_" + name);
    out << ",mean_voxel_dice,mean_case_dice,auc_mean_voxel_dice,auc_mean_case_dice"
        << (ensembles ? ",worst_attack_per_case" : "") << (warned ? ",masking_warnings" : "") << '\n';
  } else {
    out << ",accuracy,auc_accuracy" << (warned ? ",masking_warnings" : "") << '\n';
  }
  for (const auto& a : report.attacks) {
    const std::string auc = fixed(report.auc(a), 6);
    std::string aucCase;
    if (seg) {
      std::vector<double> caseCurve;
      for (const auto& b : a.budgets) caseCurve.push_back(b.meanCaseDice());
      aucCase = fixed(robustnessAUC(a.epsilons(), caseCurve), 6);
    }
    for (const auto& b : a.budgets) {
      out << csvField(a.name) << ',' << report.norm << ',' << report.attacked << ',' << general(b.eps, 10) << ',';
      if (seg) {
        out << b.caseDice.size();
        for (double d : b.classDice()) out << ',' << fixed(d, 6);
        out << ',' << fixed(b.meanVoxelDice(), 6) << ',' << fixed(b.meanCaseDice(), 6) << ',' << auc << ','
            << aucCase;
        if (ensembles) {
          std::string worst;
          for (const std::string& w : b.caseWorstAttack) worst += (worst.empty() ? "" : ";") + w;
          out << ',' << csvField(worst);
        }
        if (warned) out << ',' << warningsAt(a, b);
        out << '\n';
      } else {
        out << b.samples << ',' << fixed(b.accuracy(), 6) << ',' << auc;
        if (warned) out << ',' << warningsAt(a, b);
        out << '\n';
      }
    }
  }
  return out.str();
}

// ---- SVG -------------------------------------------------------------------------------------

std::string toSvgPlot(const RobustnessReport& report) {
  report.validate();
  const bool seg = segmentation(report);
  const std::string metricLabel = seg ? "mean voxel Dice" : "accuracy";

  std::string title = report.title;
  if (title.empty()) title = "Robustness: " + metricLabel + " against attack budget";
  std::string subtitle = report.task + ", ";
  subtitle += report.attacked == "volume"  ? "whole volumes attacked (sliding-window inference)"
              : report.attacked == "patch" ? "network patches attacked"
                                           : "whole images attacked";
  subtitle += ", " + normLabel(report.norm) + " budgets";
  const auto& first = report.attacks.front().budgets.front();
  subtitle += seg ? ", " + std::to_string(first.caseDice.size()) + " cases"
                  : ", " + std::to_string(first.samples) + " samples";
  if (!report.model.empty()) subtitle += ", model " + report.model;

  // The clean point (eps 0) is normally shared by all attacks; if the report combines runs
  // where it is not, give its range.
  double cleanLow = 1, cleanHigh = 0;
  for (const auto& a : report.attacks) {
    cleanLow = std::min(cleanLow, report.metric(a.budgets.front()));
    cleanHigh = std::max(cleanHigh, report.metric(a.budgets.front()));
  }
  const std::string cleanNote = "clean (eps 0): " + metricLabel + " " + fixed(cleanLow, 3) +
                                (fixed(cleanLow, 3) == fixed(cleanHigh, 3) ? "" : " to " + fixed(cleanHigh, 3));
  const std::string aucNote = "AUC: area under curve / largest eps";

  // Legend entries first: their width decides the canvas width.
  const double legendFont = 13, noteFont = 11, legendRow = 22;
  std::vector<std::string> entries;
  double legendContent = std::max({textWidth("attack (robustness AUC)", legendFont) * 1.1,
                                   textWidth(cleanNote, noteFont), textWidth(aucNote, noteFont)});
  for (const auto& a : report.attacks) {
    entries.push_back(a.name + " (AUC " + fixed(report.auc(a), 3) + ")");
    legendContent = std::max(legendContent, 32 + textWidth(entries.back(), legendFont));
  }
  const double left = 78, top = 74, plotWidth = 540, plotHeight = 360, bottom = 62;
  const double legendX = left + plotWidth + 28, legendWidth = legendContent + 24;
  const double legendHeight = 40 + legendRow * static_cast<double>(entries.size()) + 36;
  const double width = std::ceil(std::max({legendX + legendWidth + 16, left + textWidth(subtitle, 13) + 16,
                                           left + 1.1 * textWidth(title, 18) + 16}));
  const double height = std::ceil(std::max(top + plotHeight + bottom, top + legendHeight + 16));

  double maxEps = 0;
  for (const auto& a : report.attacks) maxEps = std::max(maxEps, a.budgets.back().eps);
  const double xStep = niceStep(maxEps > 0 ? maxEps : 1.0, 6);
  const double xMax = maxEps > 0 ? std::ceil(maxEps / xStep - 1e-9) * xStep : 1.0;
  const int xDecimals = decimalsFor(xStep);
  auto px = [&](double eps) { return left + plotWidth * eps / xMax; };
  auto py = [&](double value) { return top + plotHeight * (1.0 - std::min(1.0, std::max(0.0, value))); };

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << fixed(width, 0) << "\" height=\""
      << fixed(height, 0) << "\" viewBox=\"0 0 " << fixed(width, 0) << ' ' << fixed(height, 0)
      << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
      << "<title>" << xmlEscape(title) << "</title>\n"
      << "<rect x=\"0\" y=\"0\" width=\"" << fixed(width, 0) << "\" height=\"" << fixed(height, 0)
      << "\" fill=\"white\"/>\n";
  svg << text(left, 30, title, "font-size=\"18\" font-weight=\"bold\" fill=\"#222\"");
  svg << text(left, 52, subtitle, "font-size=\"13\" fill=\"#555\"");

  // Grid, ticks and tick labels.
  svg << "<g id=\"axes\" font-size=\"12\" fill=\"#333\">\n";
  for (int i = 0; i <= 10; ++i) {
    const double y = py(i / 10.0);
    svg << line(left, y, left + plotWidth, y, i % 5 == 0 ? "stroke=\"#d0d0d0\"" : "stroke=\"#ececec\"");
    svg << line(left - 5, y, left, y, "stroke=\"#333\"");
    svg << text(left - 9, y + 4, fixed(i / 10.0, 1), "text-anchor=\"end\"");
  }
  const int xTicks = static_cast<int>(std::lround(xMax / xStep));
  for (int i = 0; i <= xTicks; ++i) {
    const double x = px(i * xStep);
    svg << line(x, top, x, top + plotHeight, "stroke=\"#ececec\"");
    svg << line(x, top + plotHeight, x, top + plotHeight + 5, "stroke=\"#333\"");
    svg << text(x, top + plotHeight + 20, fixed(i * xStep, xDecimals), "text-anchor=\"middle\"");
  }
  svg << "<rect x=\"" << fixed(left, 1) << "\" y=\"" << fixed(top, 1) << "\" width=\"" << fixed(plotWidth, 1)
      << "\" height=\"" << fixed(plotHeight, 1) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  svg << text(left + plotWidth / 2, top + plotHeight + 46,
              "epsilon (" + normLabel(report.norm) + ", normalised units)",
              "font-size=\"14\" text-anchor=\"middle\" fill=\"#222\"");
  const double yLabelX = 24, yLabelY = top + plotHeight / 2;
  svg << text(yLabelX, yLabelY, metricLabel,
              "font-size=\"14\" text-anchor=\"middle\" fill=\"#222\" transform=\"rotate(-90 " + fixed(yLabelX, 1) +
                  " " + fixed(yLabelY, 1) + ")\"");
  svg << "</g>\n";

  // One polyline with markers per attack.
  for (size_t i = 0; i < report.attacks.size(); ++i) {
    const auto& a = report.attacks[i];
    const std::string colour = kColours[i % (sizeof(kColours) / sizeof(kColours[0]))];
    const auto values = report.curve(a);
    svg << "<g class=\"attack\">\n<polyline fill=\"none\" stroke=\"" << colour
        << "\" stroke-width=\"2.2\" stroke-linejoin=\"round\" points=\"";
    for (size_t k = 0; k < values.size(); ++k)
      svg << (k ? " " : "") << fixed(px(a.budgets[k].eps), 1) << ',' << fixed(py(values[k]), 1);
    svg << "\"/>\n";
    for (size_t k = 0; k < values.size(); ++k)
      svg << marker(static_cast<int>(i), px(a.budgets[k].eps), py(values[k]), colour,
                    a.name + ", eps " + general(a.budgets[k].eps) + ": " + metricLabel + " " + fixed(values[k], 3))
          << '\n';
    svg << "</g>\n";
  }

  // Legend: attack name and AUC, with a sample of its line and marker.
  svg << "<g id=\"legend\" font-size=\"" << fixed(legendFont, 0) << "\" fill=\"#222\">\n";
  svg << "<rect x=\"" << fixed(legendX, 1) << "\" y=\"" << fixed(top, 1) << "\" width=\"" << fixed(legendWidth, 1)
      << "\" height=\"" << fixed(legendHeight, 1) << "\" fill=\"white\" stroke=\"#bbb\" rx=\"4\"/>\n";
  svg << text(legendX + 12, top + 22, "attack (robustness AUC)", "font-weight=\"bold\"");
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string colour = kColours[i % (sizeof(kColours) / sizeof(kColours[0]))];
    const double y = top + 44 + legendRow * static_cast<double>(i);
    svg << line(legendX + 12, y - 4, legendX + 36, y - 4, "stroke=\"" + colour + "\" stroke-width=\"2.2\"");
    svg << marker(static_cast<int>(i), legendX + 24, y - 4, colour, "") << '\n';
    svg << text(legendX + 44, y, entries[i]);
  }
  svg << text(legendX + 12, top + legendHeight - 28, cleanNote, "font-size=\"11\" fill=\"#555\"");
  svg << text(legendX + 12, top + legendHeight - 12, aucNote, "font-size=\"11\" fill=\"#555\"");
  svg << "</g>\n</svg>\n";
  return svg.str();
}

std::vector<double> evaluationBudgets(std::vector<double> budgets) {
  for (double b : budgets)
    if (!(b >= 0) || !std::isfinite(b)) throw Error("budgets must be finite and >= 0, got " + std::to_string(b));
  budgets.push_back(0);
  std::sort(budgets.begin(), budgets.end());
  budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
  return budgets;
}

RobustnessReport readRobustnessReport(const std::string& path) {
  const std::string text = readFileBytes(path, "robustness report");
  try {
    return robustnessReportFromJson(text);
  } catch (const Error& e) {
    throw Error("robustness report '" + path + "': " + e.what());
  }
}

RobustnessReport combineReports(const std::vector<RobustnessReport>& reports, const std::vector<std::string>& names) {
  if (reports.empty()) throw Error("combining reports: no reports given");
  if (names.size() != reports.size())
    throw Error("combining reports: " + std::to_string(reports.size()) + " reports but " + std::to_string(names.size()) +
                " names");
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) throw Error("combining reports: report " + std::to_string(i + 1) + " has an empty name");
    for (size_t k = 0; k < i; ++k)
      if (names[k] == names[i]) throw Error("combining reports: the name '" + names[i] + "' is given twice");
  }
  const RobustnessReport& first = reports.front();
  RobustnessReport combined;
  combined.task = first.task;
  combined.attacked = first.attacked;
  combined.norm = first.norm;
  combined.labelNames = first.labelNames;
  combined.data = first.data;
  for (size_t i = 0; i < reports.size(); ++i) {
    const RobustnessReport& r = reports[i];
    const std::string which = "combining reports: '" + names[i] + "'";
    r.validate();
    if (r.task != first.task || r.attacked != first.attacked || r.norm != first.norm)
      throw Error(which + " is a " + r.task + " report (" + r.attacked + ", " + r.norm + ") but '" + names[0] +
                  "' is " + first.task + " (" + first.attacked + ", " + first.norm + ")");
    if (r.labels() != first.labels()) throw Error(which + " has other labels than '" + names[0] + "'");
    for (const AttackResult& a : r.attacks) {
      for (size_t k = 0; k < i; ++k)
        for (const AttackResult& earlier : reports[k].attacks)
          if (earlier.name == a.name && earlier.epsilons() != a.epsilons())
            throw Error(which + ": attack " + a.name + " has other budgets than in '" + names[k] +
                        "'; robustness AUCs are comparable only over the same budgets");
      AttackResult renamed = a;
      renamed.name = names[i] + " " + a.name;
      for (std::string& m : renamed.members) m = names[i] + " " + m;
      for (BudgetResult& b : renamed.budgets)
        for (std::string& w : b.caseWorstAttack) w = names[i] + " " + w;
      combined.attacks.push_back(std::move(renamed));
    }
    for (MaskingWarning w : r.maskingWarnings) {
      w.attack = names[i] + " " + w.attack;
      combined.maskingWarnings.push_back(std::move(w));
    }
    combined.title += (i == 0 ? "" : " vs ") + names[i];
  }
  combined.title += ": " + std::string(combined.task == "segmentation" ? "mean Dice" : "accuracy") + " against budget";
  combined.validate();
  return combined;
}

void writeReportFiles(const RobustnessReport& report, const std::string& jsonPath, const std::string& csvPath,
                      const std::string& svgPath) {
  const std::vector<std::string> paths{jsonPath, csvPath, svgPath};
  for (size_t i = 0; i < paths.size(); ++i)
    for (size_t k = i + 1; k < paths.size(); ++k)
      if (!paths[i].empty() && paths[i] == paths[k])
        throw Error("robustness report: the same path '" + paths[i] + "' was given for two outputs");
  // Produce every text before writing, so an invalid report writes nothing.
  const std::string json = jsonPath.empty() ? std::string() : toJson(report);
  const std::string csv = csvPath.empty() ? std::string() : toCsv(report);
  const std::string svg = svgPath.empty() ? std::string() : toSvgPlot(report);
  // A failed write (a full disk) takes back the files this call created, so the set is written
  // whole or not at all (files it replaced are not restored: they were asked to be replaced).
  std::vector<std::string> created;
  try {
    for (const auto& [path, text] : {std::pair{jsonPath, json}, std::pair{csvPath, csv}, std::pair{svgPath, svg}}) {
      if (path.empty()) continue;
      std::error_code ec;
      const bool existed = std::filesystem::exists(path, ec);
      writeFileAtomically(path, text);
      if (!existed) created.push_back(path);
    }
  } catch (...) {
    for (const std::string& path : created) std::remove(path.c_str());
    throw;
  }
}

}  // namespace ima
