#include "ima/MarginState.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "ima/Error.h"

namespace ima {
namespace {

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  // Linear interpolation between closest ranks (numpy's default).
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t low = static_cast<size_t>(std::floor(position));
  const size_t high = std::min(low + 1, sorted.size() - 1);
  return sorted[low] + (position - static_cast<double>(low)) * (sorted[high] - sorted[low]);
}

}  // namespace

std::string MarginStatistics::toJson() const {
  return nlohmann::json{{"mean", mean}, {"min", minimum}, {"q10", q10}, {"median", median}, {"q90", q90},
                        {"max", maximum}, {"fraction_expanded", fractionExpanded},
                        {"fraction_to_boundary", fractionToBoundary}, {"fraction_unchanged", fractionUnchanged},
                        {"visited", visited}}
      .dump();
}

MarginState::MarginState(int64_t samples, MarginOptions options)
    : options_(options), eps_(static_cast<size_t>(std::max<int64_t>(samples, 0)), 0.0),
      visits_(eps_.size()) {
  if (samples < 1) throw Error("IMA needs at least one training sample");
  if (!(options.delta > 0)) throw Error("IMA delta must be > 0, got " + std::to_string(options.delta));
  if (!(options.epsMax >= options.delta))
    throw Error("IMA eps_max (" + std::to_string(options.epsMax) + ") must be >= delta (" +
                std::to_string(options.delta) + ")");
  std::fill(eps_.begin(), eps_.end(), options.delta);
}

void MarginState::check(int64_t id) const {
  if (id < 0 || id >= size())
    throw Error("sample id " + std::to_string(id) + " outside 0.." + std::to_string(size() - 1));
}

double MarginState::eps(int64_t id) const {
  check(id);
  return eps_[static_cast<size_t>(id)];
}

void MarginState::recordVisit(int64_t id, bool correct, bool foundAdversarial, double boundaryDistance) {
  check(id);
  Visit& v = visits_[static_cast<size_t>(id)];
  v.visited = true;
  v.correct = correct;
  v.lastClock = clock_++;
  if (correct && foundAdversarial) {
    v.found = true;
    v.distanceSum += boundaryDistance;
    ++v.distanceCount;
  }
}

std::vector<double> MarginState::visitClocks() const {
  std::vector<double> clocks(visits_.size(), 0.0);
  for (size_t i = 0; i < visits_.size(); ++i)
    if (visits_[i].visited) clocks[i] = static_cast<double>(visits_[i].lastClock + 1);
  return clocks;
}

std::vector<double> MarginState::visitSums(const std::vector<double>& latestClocks) const {
  if (latestClocks.size() != visits_.size()) throw Error("visit clocks do not match the margin table");
  std::vector<double> sums(4 * visits_.size(), 0.0);
  for (size_t i = 0; i < visits_.size(); ++i) {
    const Visit& v = visits_[i];
    if (!v.visited) continue;
    sums[4 * i] = static_cast<double>(v.lastClock + 1) == latestClocks[i] && v.correct ? 1.0 : 0.0;
    sums[4 * i + 1] = v.found ? 1.0 : 0.0;
    sums[4 * i + 2] = v.distanceSum;
    sums[4 * i + 3] = static_cast<double>(v.distanceCount);
  }
  return sums;
}

void MarginState::setVisits(const std::vector<double>& latestClocks, const std::vector<double>& sums) {
  if (latestClocks.size() != visits_.size() || sums.size() != 4 * visits_.size())
    throw Error("combined visits do not match the margin table");
  for (size_t i = 0; i < visits_.size(); ++i) {
    Visit v;
    v.visited = latestClocks[i] > 0;
    v.lastClock = v.visited ? static_cast<int64_t>(latestClocks[i]) - 1 : 0;
    v.correct = sums[4 * i] > 0;
    v.found = sums[4 * i + 1] > 0;
    v.distanceSum = sums[4 * i + 2];
    v.distanceCount = static_cast<int64_t>(std::llround(sums[4 * i + 3]));
    visits_[i] = v;
  }
}

MarginStatistics MarginState::endEpoch() {
  int64_t expanded = 0, toBoundary = 0, visited = 0;
  for (size_t i = 0; i < eps_.size(); ++i) {
    Visit& v = visits_[i];
    if (!v.visited) continue;
    ++visited;
    if (v.correct && !v.found) {
      eps_[i] += options_.delta;
      ++expanded;
    } else if (v.correct && v.found) {
      eps_[i] = v.distanceSum / static_cast<double>(v.distanceCount);
      ++toBoundary;
    } else if (options_.resetMisclassified) {
      eps_[i] = options_.delta;
    }
    eps_[i] = std::min(std::max(eps_[i], 0.0), options_.epsMax);
    v = Visit{};
  }
  MarginStatistics s = statistics();
  const double n = static_cast<double>(eps_.size());
  s.visited = visited;
  s.fractionExpanded = static_cast<double>(expanded) / n;
  s.fractionToBoundary = static_cast<double>(toBoundary) / n;
  s.fractionUnchanged = 1.0 - s.fractionExpanded - s.fractionToBoundary;
  return s;
}

MarginStatistics MarginState::statistics() const {
  MarginStatistics s;
  std::vector<double> sorted = eps_;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.empty()) return s;
  double sum = 0;
  for (double e : sorted) sum += e;
  s.mean = sum / static_cast<double>(sorted.size());
  s.minimum = sorted.front();
  s.maximum = sorted.back();
  s.q10 = quantile(sorted, 0.1);
  s.median = quantile(sorted, 0.5);
  s.q90 = quantile(sorted, 0.9);
  return s;
}

std::string MarginState::toJson() const {
  nlohmann::json visits = nlohmann::json::array();
  for (const Visit& v : visits_) visits.push_back({v.visited, v.correct, v.found, v.distanceSum, v.distanceCount});
  return nlohmann::json{{"delta", options_.delta}, {"eps_max", options_.epsMax},
                        {"reset_misclassified", options_.resetMisclassified}, {"eps", eps_}, {"visits", visits}}
      .dump();
}

MarginState MarginState::fromJson(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    MarginOptions o;
    o.delta = j.at("delta").get<double>();
    o.epsMax = j.at("eps_max").get<double>();
    o.resetMisclassified = j.at("reset_misclassified").get<bool>();
    const auto eps = j.at("eps").get<std::vector<double>>();
    MarginState m(static_cast<int64_t>(eps.size()), o);
    m.eps_ = eps;
    const auto& visits = j.at("visits");
    if (visits.size() != eps.size()) throw Error("margin state has " + std::to_string(visits.size()) + " visit records for " + std::to_string(eps.size()) + " samples");
    for (size_t i = 0; i < eps.size(); ++i) {
      const auto& v = visits[i];
      m.visits_[i] = Visit{v.at(0).get<bool>(), v.at(1).get<bool>(), v.at(2).get<bool>(), v.at(3).get<double>(),
                           v.at(4).get<int64_t>()};
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("margin state cannot be read: ") + e.what());
  }
}

}  // namespace ima
