#include "ima/DicomModelSegments.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace ima::dicom {

std::vector<SegmentInfo> defaultSegments(int maxLabel) {
  static const std::array<std::array<uint8_t, 3>, 6> palette = {
      {{128, 174, 128}, {241, 214, 145}, {177, 122, 101}, {111, 184, 210}, {216, 101, 79}, {221, 130, 101}}};
  std::vector<SegmentInfo> segments;
  for (int label = 1; label <= std::min(maxLabel, 255); ++label) {
    SegmentInfo s;
    s.label = label;
    s.rgb = palette[static_cast<size_t>(label - 1) % palette.size()];
    segments.push_back(s);
  }
  return segments;
}

std::vector<SegmentInfo> segmentsOf(const ModelMetadata& metadata) {
  std::vector<SegmentInfo> segments = defaultSegments(metadata.network.classes - 1);
  for (SegmentInfo& s : segments)
    for (const LabelInfo& l : metadata.labels)
      if (l.value == s.label) {
        s.name = l.name;
        s.rgb = l.color;
        s.category = l.category;
        s.type = l.type;
      }
  return segments;
}

}  // namespace ima::dicom
