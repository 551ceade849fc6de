// A coded concept (DICOM Code Sequence Macro: Code Value, Coding Scheme Designator, Code Meaning),
// e.g. {"85756007", "SCT", "Tissue"}. Plain struct of the core: model metadata carries the
// SNOMED CT category and type codes of each label in it, the DICOM SEG writer writes them.
#pragma once
#include <string>

namespace ima {

struct CodedConcept {
  std::string value, scheme = "SCT", meaning;
  bool empty() const { return value.empty(); }
  bool operator==(const CodedConcept& o) const {
    return value == o.value && scheme == o.scheme && meaning == o.meaning;
  }
};

}  // namespace ima
