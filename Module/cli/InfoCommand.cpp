// `ima info`: what a model file says about itself, for people (default) or programs (--json);
// for a DICOM SEG (.dcm), its segments and the series it references.
#include <cstdio>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ima/Model.h"

#include "Commands.h"
#include "SegOutput.h"

namespace ima::cli {

ArgumentParser infoParser() {
  ArgumentParser p("info", "Print the metadata of a model file (.imamodel): network, labels, normalisation,\n"
                           "patch size, training method, settings and provenance. For a DICOM SEG file\n"
                           "(.dcm): its segments and the series it references.");
  p.positional("MODEL", "model file, or DICOM SEG file (.dcm)")
      .flag("json", "print the metadata as JSON")
      .epilog("examples:\n  ima info model.imamodel\n  ima info model.imamodel --json\n  ima info seg.dcm");
  return p;
}

namespace {

std::string hexColor(const std::array<uint8_t, 3>& c) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", c[0], c[1], c[2]);
  return buffer;
}

// Embedded JSON objects are shown one key per line with compact values; other text as is.
std::string jsonFields(const std::string& text, const std::string& indent) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return " " + text;
  if (j.empty()) return " (none)";
  std::string out;
  for (const auto& [key, value] : j.items())
    out += "\n" + indent + key + ": " + (value.is_string() ? value.get<std::string>() : value.dump());
  return out;
}

std::string code(const CodedConcept& c) { return c.meaning + " (" + c.scheme + " " + c.value + ")"; }

int printSegmentation(const std::string& path, bool asJson) {
  dicom::silenceDcmtkLogging();  // our messages name the file and the reason
  const dicom::SegInfo seg = dicom::describeSegmentation(path);
  if (asJson) {
    nlohmann::json segments = nlohmann::json::array();
    for (const auto& s : seg.segments)
      segments.push_back({{"number", s.label},
                          {"name", s.name},
                          {"color", {s.rgb[0], s.rgb[1], s.rgb[2]}},
                          {"category", {s.category.value, s.category.scheme, s.category.meaning}},
                          {"type", {s.type.value, s.type.scheme, s.type.meaning}}});
    const nlohmann::json j = {{"file", path},
                              {"sop_instance_uid", seg.sopInstanceUid},
                              {"series_instance_uid", seg.seriesInstanceUid},
                              {"referenced_series_uid", seg.referencedSeriesUid},
                              {"frames", seg.frames},
                              {"rows", seg.rows},
                              {"columns", seg.columns},
                              {"segments", segments}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::ostringstream out;
  out << "DICOM SEG:      " << path << "\n"
      << "series:         " << seg.seriesInstanceUid << "\n"
      << "references:     " << (seg.referencedSeriesUid.empty() ? "(no series named)" : seg.referencedSeriesUid) << "\n"
      << "frames:         " << seg.frames << " of " << seg.columns << "x" << seg.rows << "\n"
      << "segments:\n";
  for (const auto& s : seg.segments)
    out << "  " << s.label << "  " << s.name << "  " << hexColor(s.rgb) << "  " << code(s.type) << " in "
        << code(s.category) << "\n";
  std::cout << out.str();
  return 0;
}

}  // namespace

int runInfo(const ArgumentParser& args) {
  const std::string path = args.get("MODEL");
  if (isSegOutput(path)) return printSegmentation(path, args.flagSet("json"));
  const ModelMetadata m = readModelMetadata(path);
  if (args.flagSet("json")) {
    std::cout << m.toJson(2) << "\n";
    return 0;
  }
  const NetworkSpec& n = m.network;
  std::ostringstream out;
  out << "model:          " << path << "\n"
      << "format version: " << m.formatVersion << "\n"
      << "network:        " << n.kind << ", " << n.dims << "D, " << n.inChannels << " input channel"
      << (n.inChannels == 1 ? "" : "s") << ", " << n.classes << " classes (with background)\n";
  if (n.kind == "unet")
    out << "                " << n.stages << " stages, features " << n.baseFeatures << " (max "
        << n.maxFeatures << "), " << n.convsPerStage << " convs per stage, " << n.norm << " norm\n";
  out << "labels:\n";
  out << "  0  background\n";
  for (const auto& l : m.labels) {
    out << "  " << l.value << "  " << (l.name.empty() ? m.labelName(l.value) : l.name) << "  " << hexColor(l.color);
    if (!l.type.empty()) out << "  " << code(l.type);
    if (!l.category.empty()) out << " in " << code(l.category);
    out << "\n";
  }
  out << "normalization:  ";
  if (m.normalization.kind == Normalization::Kind::CTWindow)
    out << "CT window [" << m.normalization.windowLow << ", " << m.normalization.windowHigh
        << "] HU mapped to [-1, 1]\n";
  else
    out << "z-score per volume" << (m.normalization.nonzeroMask ? " over nonzero voxels" : "") << "\n";
  out << "patch size:     ";
  for (size_t i = 0; i < m.patchSize.size(); ++i) out << (i ? "x" : "") << m.patchSize[i];
  out << (m.patchSize.empty() ? "(not set)" : " voxels") << "\n"
      << "training:       " << m.trainingMethod << "\n"
      << "settings:" << jsonFields(m.trainingSettingsJson, "  ") << "\n"
      << "provenance:" << jsonFields(m.provenanceJson, "  ") << "\n";
  std::cout << out.str();
  return 0;
}

}  // namespace ima::cli
