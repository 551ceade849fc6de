#include "ima/ModelMetadata.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "ima/Error.h"
#include "ima/Limits.h"

namespace ima {
using nlohmann::json;

namespace {

// Codes in dcmqi's JSON form, so that entries can be copied from dcmqi/Slicer segment metadata.
json codeJson(const CodedConcept& c) {
  return {{"CodeValue", c.value}, {"CodingSchemeDesignator", c.scheme}, {"CodeMeaning", c.meaning}};
}

CodedConcept codeFromJson(const json& j, const std::string& where) {
  CodedConcept c{j.value("CodeValue", std::string()), j.value("CodingSchemeDesignator", std::string()),
                 j.value("CodeMeaning", std::string())};
  if (c.value.empty() || c.scheme.empty() || c.meaning.empty())
    throw Error(where + " needs a non-empty CodeValue, CodingSchemeDesignator and CodeMeaning");
  return c;
}

}  // namespace

std::string ModelMetadata::toJson(int indent) const {
  json labelsJson = json::array();
  for (const LabelInfo& l : labels) {
    json label = {{"value", l.value}, {"name", l.name}, {"color", {l.color[0], l.color[1], l.color[2]}}};
    if (!l.category.empty()) label["category"] = codeJson(l.category);
    if (!l.type.empty()) label["type"] = codeJson(l.type);
    labelsJson.push_back(label);
  }
  json normJson = {{"kind", normalization.kindName()}};
  if (normalization.kind == Normalization::Kind::ZScore)
    normJson["nonzero_mask"] = normalization.nonzeroMask;
  else
    normJson["window"] = {normalization.windowLow, normalization.windowHigh};
  const json j = {
      {"format", "imamodel"},
      {"format_version", formatVersion},
      {"network",
       {{"kind", network.kind},
        {"dims", network.dims},
        {"in_channels", network.inChannels},
        {"classes", network.classes},
        {"base_features", network.baseFeatures},
        {"max_features", network.maxFeatures},
        {"stages", network.stages},
        {"norm", network.norm},
        {"convs_per_stage", network.convsPerStage}}},
      {"labels", labelsJson},
      {"normalization", normJson},
      {"patch_size", patchSize},
      {"training",
       {{"method", trainingMethod},
        {"settings", json::parse(trainingSettingsJson.empty() ? "{}" : trainingSettingsJson)},
        {"provenance", json::parse(provenanceJson.empty() ? "{}" : provenanceJson)}}}};
  return j.dump(indent);
}

ModelMetadata ModelMetadata::fromJson(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(source + ": metadata is not valid JSON (" + e.what() + ")");
  }
  ModelMetadata m;
  try {
    if (j.contains("format_version")) m.formatVersion = j.at("format_version").get<int>();
    if (m.formatVersion > kModelFormatVersion || m.formatVersion < 1)
      throw Error(source + ": model format version " + std::to_string(m.formatVersion) +
                  " is not supported (this build reads versions 1.." + std::to_string(kModelFormatVersion) + ")");
    const json& n = j.at("network");
    m.network.kind = n.value("kind", std::string("unet"));
    m.network.dims = n.at("dims").get<int>();
    m.network.inChannels = n.at("in_channels").get<int>();
    const int64_t classes = n.at("classes").get<int64_t>();  // read wide: 2^31 must not wrap to a small int
    m.network.classes = static_cast<int>(std::clamp<int64_t>(classes, -1, int64_t{kMaxClasses} + 1));
    m.network.baseFeatures = n.value("base_features", m.network.baseFeatures);
    m.network.maxFeatures = n.value("max_features", m.network.maxFeatures);
    m.network.stages = n.value("stages", m.network.stages);
    m.network.norm = n.value("norm", m.network.norm);
    m.network.convsPerStage = n.value("convs_per_stage", m.network.convsPerStage);
    if (m.network.dims != 2 && m.network.dims != 3)
      throw Error(source + ": network.dims must be 2 or 3, got " + std::to_string(m.network.dims));
    if (m.network.inChannels < 1 || m.network.classes < 2)
      throw Error(source + ": network needs in_channels >= 1 and classes >= 2");
    if (m.network.classes > kMaxClasses)
      throw Error(source + ": network.classes is " + std::to_string(classes) + "; at most " +
                  std::to_string(kMaxClasses) + " classes fit a label map of 0..255");
    if (m.network.inChannels > 1024 || m.network.baseFeatures < 1 || m.network.baseFeatures > 4096 ||
        m.network.maxFeatures < 1 || m.network.maxFeatures > 4096 || m.network.stages < 1 || m.network.stages > 10 ||
        m.network.convsPerStage < 1 || m.network.convsPerStage > 10)
      throw Error(source + ": network hyper-parameters out of range (in_channels <= 1024, base_features and "
                  "max_features 1..4096, stages 1..10, convs_per_stage 1..10)");
    if (j.contains("labels"))
      for (const json& l : j.at("labels")) {
        LabelInfo info;
        info.value = l.at("value").get<int>();
        info.name = l.value("name", std::string());
        if (l.contains("color")) {
          const auto c = l.at("color").get<std::vector<int>>();
          if (c.size() == 3)
            for (int i = 0; i < 3; ++i) info.color[static_cast<size_t>(i)] = static_cast<uint8_t>(c[static_cast<size_t>(i)]);
        }
        const std::string where = source + ": label " + std::to_string(info.value);
        if (l.contains("category")) info.category = codeFromJson(l.at("category"), where + " category");
        if (l.contains("type")) info.type = codeFromJson(l.at("type"), where + " type");
        m.labels.push_back(info);
      }
    if (j.contains("normalization")) {
      const json& nj = j.at("normalization");
      try {
        m.normalization.kind = Normalization::parseKind(nj.value("kind", std::string("zscore")));
      } catch (const Error& e) {
        throw Error(source + ": normalization: " + e.what());
      }
      m.normalization.nonzeroMask = nj.value("nonzero_mask", false);
      if (nj.contains("window")) {
        const auto w = nj.at("window").get<std::vector<float>>();
        if (w.size() != 2) throw Error(source + ": normalization.window needs [low, high]");
        m.normalization.windowLow = w[0];
        m.normalization.windowHigh = w[1];
        if (!std::isfinite(w[0]) || !std::isfinite(w[1]) || !(w[0] < w[1]))
          throw Error(source + ": normalization.window [" + std::to_string(w[0]) + ", " + std::to_string(w[1]) +
                      "] must be two finite numbers, low < high");
      }
    }
    m.patchSize = j.at("patch_size").get<std::vector<int64_t>>();
    if (static_cast<int>(m.patchSize.size()) != m.network.dims)
      throw Error(source + ": patch_size has " + std::to_string(m.patchSize.size()) +
                  " entries but the network is " + std::to_string(m.network.dims) + "D");
    int64_t patchVoxels = 1;
    for (int64_t p : m.patchSize) {
      if (p < 1) throw Error(source + ": patch_size entries must be positive");
      if (p > kMaxPatchVoxels || (patchVoxels *= p) > kMaxPatchVoxels)
        throw Error(source + ": patch_size exceeds the limit of " + std::to_string(kMaxPatchVoxels) + " voxels");
    }
    if (j.contains("training")) {
      const json& t = j.at("training");
      m.trainingMethod = t.value("method", std::string("none"));
      m.trainingSettingsJson = t.contains("settings") ? t.at("settings").dump() : "{}";
      m.provenanceJson = t.contains("provenance") ? t.at("provenance").dump() : "{}";
    }
  } catch (const json::exception& e) {
    throw Error(source + ": metadata is missing a field or has a wrong type (" + e.what() + ")");
  }
  return m;
}

std::string ModelMetadata::labelName(int value) const {
  for (const LabelInfo& l : labels)
    if (l.value == value && !l.name.empty()) return l.name;
  return "label " + std::to_string(value);
}

}  // namespace ima
