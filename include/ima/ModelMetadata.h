// What a model file says about itself (docs/architecture.md §4): everything needed to rebuild the network,
// prepare its input and interpret its output. Stored as JSON at the head of a .imamodel file.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ima/CodedConcept.h"
#include "ima/Normalization.h"

namespace ima {

constexpr int kModelFormatVersion = 1;

struct NetworkSpec {
  std::string kind = "unet";  // "unet" (built here) | "torchscript" (imported, trusted code)
  int dims = 3;               // spatial dimensions the network convolves over: 2 or 3
  int inChannels = 1;
  int classes = 2;            // output channels including background
  // U-Net hyper-parameters (nnU-Net PlainConvUNet defaults).
  int baseFeatures = 32;
  int maxFeatures = 320;      // cap on features per stage (nnU-Net: 320 in 3D, 512 in 2D)
  int stages = 4;             // resolution levels; input sizes must be multiples of 2^(stages-1)
  std::string norm = "instance";  // "instance" | "batch" | "none"
  int convsPerStage = 2;
};

struct LabelInfo {
  int value = 1;
  std::string name;
  std::array<uint8_t, 3> color{255, 0, 0};
  // What the label is, as DICOM SEG writes it: SNOMED CT Segmented Property Category and Type
  // (e.g. {"123037004", "SCT", "Anatomical Structure"} and {"10200004", "SCT", "Liver"}). Empty when
  // not given (a SEG then says "Tissue"). JSON: "category"/"type" objects with the keys of dcmqi's
  // segment metadata: {"CodeValue", "CodingSchemeDesignator", "CodeMeaning"}.
  CodedConcept category, type;
};

struct ModelMetadata {
  int formatVersion = kModelFormatVersion;
  NetworkSpec network;
  std::vector<LabelInfo> labels;           // foreground labels 1..K
  Normalization normalization;
  std::vector<int64_t> patchSize;          // voxels, ITK order (x, y[, z]); size == network.dims
  std::string trainingMethod = "none";     // "none" | "standard" | later "pgd" | "trades" | "ima"
  std::string trainingSettingsJson = "{}"; // the options the model was trained with
  std::string provenanceJson = "{}";       // who/when/what data: dates, software version, cases

  std::string toJson(int indent = 2) const;
  // Throws ima::Error naming `source` and the problem on malformed or unsupported metadata.
  static ModelMetadata fromJson(const std::string& json, const std::string& source);
  std::string labelName(int value) const;  // "label N" when unnamed
};

}  // namespace ima
