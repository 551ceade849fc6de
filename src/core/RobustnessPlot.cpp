// The robustness report as an SVG plot (docs/evaluation.md, "The plot"): the metric against the
// budget, one line per attack.
#include "ima/RobustnessReport.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "internal/ReportText.h"

namespace ima {
namespace {

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

std::string normLabel(Norm norm) { return norm == Norm::Linf ? "Linf" : "L2"; }

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

}  // namespace ima
