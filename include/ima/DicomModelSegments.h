// The segments a SEG describes a model's label map with: one per foreground class, named, coloured
// and coded from the model's label metadata. Shared by the command line (`ima segment --output
// OUT.dcm`) and the ITK layer (itk::IMADicomSegWriter). Part of the DICOM library; it reads only the
// plain fields of ima::ModelMetadata (no torch).
#pragma once
#include <vector>

#include "ima/DicomSeg.h"
#include "ima/ModelMetadata.h"

namespace ima::dicom {

// Segments for labels 1..maxLabel with nothing known about them: name empty (the writer's
// "label N"), codes empty (the writer's defaults), a colour from 3D Slicer's palette for generic
// structures (repeating).
std::vector<SegmentInfo> defaultSegments(int maxLabel);

// One segment per foreground class 1..classes-1 of the model (at most 255): name, colour and
// SNOMED CT codes from its label metadata; classes without metadata as in defaultSegments.
std::vector<SegmentInfo> segmentsOf(const ModelMetadata& metadata);

}  // namespace ima::dicom
