// ima::keepFreedMemory against glibc's own accounting: with it a large block comes from the heap
// (not mmap), stays with the process when freed, and reusing it faults no page in again; glibc's
// defaults (threshold 128 KiB at start) would mmap the block, unmap it at free and fault all its
// pages in at every reuse. This executable links no libtorch, so nothing before the test has moved
// glibc's thresholds.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "ima/FreedMemory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#include <sys/resource.h>
#endif

// AddressSanitizer brings its own allocator, which ignores mallopt (it returns 0).
#if defined(__SANITIZE_ADDRESS__)
#define IMA_OWN_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define IMA_OWN_ALLOCATOR 1
#endif
#endif

namespace FreedMemoryGTest {  // this file's names apart from the others' in a unity build

namespace {

#if defined(__GLIBC__)
#if __GLIBC_PREREQ(2, 33)
// Keeps the compiler from dropping a write to a block that is freed next.
void keepWrites(void* block) { asm volatile("" : : "r"(block) : "memory"); }

long minorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

TEST(FreedMemory, LargeBlocksComeFromTheHeapAndTheirPagesAreReused) {
#ifdef IMA_OWN_ALLOCATOR
  GTEST_SKIP() << "a sanitizer's allocator replaces glibc's malloc";
#endif
  ASSERT_TRUE(ima::keepFreedMemory());
  constexpr size_t kBlock = 24u << 20;  // 24 MiB: below the 32 MiB cap, far above the default threshold
  const size_t mappedBefore = mallinfo2().hblks;
  void* block = std::malloc(kBlock);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBlock);
  keepWrites(block);
  EXPECT_EQ(mallinfo2().hblks, mappedBefore);  // not an mmap of its own
  std::free(block);
  EXPECT_GE(mallinfo2().fordblks, kBlock);  // kept free in the heap, not trimmed

  const long faultsBefore = minorFaults();
  for (int i = 0; i < 10; ++i) {
    void* again = std::malloc(kBlock);
    ASSERT_NE(again, nullptr);
    std::memset(again, i, kBlock);
    keepWrites(again);
    std::free(again);
  }
  // Ten reuses of 6144 pages each: a few faults at most, against 61440 if the pages went back.
  EXPECT_LT(minorFaults() - faultsBefore, static_cast<long>(kBlock / 4096 / 4));
}
#else
TEST(FreedMemory, LargeBlocksComeFromTheHeapAndTheirPagesAreReused) { GTEST_SKIP() << "mallinfo2 needs glibc 2.33"; }
#endif
#else
TEST(FreedMemory, LargeBlocksComeFromTheHeapAndTheirPagesAreReused) {
  EXPECT_FALSE(ima::keepFreedMemory());  // no such setting outside glibc
}
#endif

}  // namespace

}  // namespace FreedMemoryGTest
