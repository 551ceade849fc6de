// Checks of NIfTI and MetaImage files made on their raw bytes before ITK reads them, for damage
// ITK's readers let through: a NaN/Inf or singular sform/qform (VNL aborts the program while ITK
// computes the direction), a dimension count or size below 1, a voxel spacing of 0 or NaN
// (niftilib silently makes it 1), voxel data shorter than the header promises (truncated files are
// read with the missing voxels as zeros) and NaN/Inf voxel values (niftilib replaces them with 0).
// Each failure is an ima::Error naming the file and the problem (docs/bad-input.md).
#pragma once
#include <string>

namespace ima::io {

// Checks `path` when it is .nii, .nii.gz, .mha or .mhd with its data in the same file; other
// files pass unchecked. `what` names the input in messages ("image", "label image").
void checkRawImageFile(const std::string& path, const std::string& what);

}  // namespace ima::io
