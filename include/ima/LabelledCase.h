// One image with its label map: the unit of training, evaluation and attacks. Plain containers
// (no torch), so the image-file library (ima::io) can load cases without the core.
#pragma once
#include <string>

#include "ima/Volume.h"

namespace ima {

struct LabelledCase {
  std::string id;  // stable identifier (file stem)
  Volume image;    // raw intensities; normalised with the model's normalisation
  LabelMap labels; // same shape as image
};

}  // namespace ima
