// Checks an image file that ITK has just written before it is renamed into place: ITK's NIfTI and
// MetaImage writers report a failed write (a full disk, a file size limit) on stderr only and leave
// a short file behind, which used to be renamed into place with exit status 0. The check reads the
// file's own structure (no ITK): the header's voxel offset or data file, and every compressed stream
// decoded to its end (gzip's CRC included); the voxel data must have exactly the expected size.
#pragma once
#include <cstdint>
#include <string>

namespace ima::io {

// `file` is a .nii.gz, .nii, .mha, .mhd, .nrrd or .nhdr file written by ITK (a detached data file
// lies next to it); `dataBytes` the size of its voxel data. Throws ima::Error naming `target` (the
// final path the user asked for). The writer then flushes the files (ima::flushFile), so a deferred
// write error is seen before anything takes its final name.
void checkWrittenImageFile(const std::string& file, uint64_t dataBytes, const std::string& target);

}  // namespace ima::io
