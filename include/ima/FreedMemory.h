// Memory the process frees stays with it for reuse instead of going back to the system.
//
// glibc's malloc serves large blocks with mmap and returns them, and the top of its heap, to the
// system when they are freed. Training frees and allocates tensors of the same sizes at every pass,
// so their pages fault in again each time: in the main job's 2D IMA fine-tuning a quarter of the
// CPU time went to page faults (docs/benchmarks.md, "Freed memory kept"). Programs call this once
// at start (`ima` and the Slicer modules do). A library does not change its host's allocator:
// hosts of the C API and Python set the same through GLIBC_TUNABLES (docs/c-api.md, "Memory").
// Blocks above 32 MiB (whole volumes) still come from mmap and are returned when freed.
#pragma once

namespace ima {

// Returns false where the C library has no such setting (not glibc); nothing changes then.
bool keepFreedMemory();

}  // namespace ima
