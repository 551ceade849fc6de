#include "ima/FreedMemory.h"

#include <cstdlib>  // any C library header defines __GLIBC__ (on glibc) for the check below

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ima {

bool keepFreedMemory() {
#if defined(__GLIBC__)
  // 32 MiB is glibc's largest mmap threshold on 64-bit systems; a fixed threshold also stops
  // glibc's own adjustment of it, which made the speed of a run depend on its first frees.
  constexpr int kLargestHeapBlock = 32 << 20;
  constexpr int kKeptTop = 1 << 30;  // free memory at the heap's top returned beyond this
  return mallopt(M_MMAP_THRESHOLD, kLargestHeapBlock) == 1 && mallopt(M_TRIM_THRESHOLD, kKeptTop) == 1;
#else
  return false;
#endif
}

}  // namespace ima
