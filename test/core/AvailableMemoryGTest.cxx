// ima::requireAvailableMemory against MemAvailable read here from /proc/meminfo: a need above it is
// refused with both figures in MiB, a small need passes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>

#include "ima/AvailableMemory.h"
#include "ima/Error.h"

namespace AvailableMemoryGTest {  // this file's names apart from the others' in a unity build

namespace {

double memAvailableBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  double kib = 0;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

TEST(AvailableMemory, ANeedAboveMemAvailableIsRefusedWithBothFigures) {
  const double available = memAvailableBytes();
  if (available <= 0) GTEST_SKIP() << "no MemAvailable in /proc/meminfo";
  const double need = 3.0 * available;
  const std::string expected = "reading a thing needs about " +
                               std::to_string(static_cast<int64_t>(std::ceil(need / (1 << 20)))) +
                               " MiB of memory but only ";
  try {
    ima::requireAvailableMemory(need, "reading a thing");
    FAIL() << "a need of three times MemAvailable passed";
  } catch (const ima::Error& e) {
    const std::string message = e.what();
    ASSERT_EQ(message.rfind(expected, 0), 0u) << message;
    // The available figure may move between the two reads; within 10% of ours.
    const double reported = std::stod(message.substr(expected.size())) * (1 << 20);
    EXPECT_NEAR(reported, available, 0.1 * available) << message;
    EXPECT_EQ(message.substr(message.size() - 14), " are available") << message;
  }
}

TEST(AvailableMemory, ASmallNeedPasses) { EXPECT_NO_THROW(ima::requireAvailableMemory(1 << 20, "reading a thing")); }

TEST(AvailableMemory, MebibytesRoundUp) {
  EXPECT_EQ(ima::mebibytes(1), "1 MiB");
  EXPECT_EQ(ima::mebibytes(1 << 20), "1 MiB");
  EXPECT_EQ(ima::mebibytes((1 << 20) + 1), "2 MiB");
}

}  // namespace

}  // namespace AvailableMemoryGTest
