// Norm names: parsed once at the boundary, named again on the way out.
#include <gtest/gtest.h>

#include <string>

#include "ima/Error.h"
#include "ima/Norm.h"

namespace NormGTest {  // this file's names apart from the others' in a unity build

namespace {

TEST(Norm, TheTwoNamesParseAndNameRoundTrip) {
  EXPECT_EQ(ima::parseNorm("l2"), ima::Norm::L2);
  EXPECT_EQ(ima::parseNorm("linf"), ima::Norm::Linf);
  EXPECT_STREQ(ima::normName(ima::Norm::L2), "l2");
  EXPECT_STREQ(ima::normName(ima::Norm::Linf), "linf");
}

TEST(Norm, AnUnknownNameIsAnErrorNamingTheValueAndTheInput) {
  for (const char* name : {"l1", "L2", "", "linf "}) {
    try {
      ima::parseNorm(name, "--norm");
      ADD_FAILURE() << "'" << name << "' parsed";
    } catch (const ima::Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("--norm"), std::string::npos) << message;
      EXPECT_NE(message.find("'" + std::string(name) + "'"), std::string::npos) << message;
    }
  }
}

}  // namespace

}  // namespace NormGTest
