// Test helper: expects `f` to throw an ima::Error whose message contains every one of `parts`.
#pragma once
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ima/Error.h"

namespace ima::dicomtest {

template <typename F>
void expectError(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const ima::Error& e) {
    const std::string message = e.what();
    for (const auto& p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
  }
}

}  // namespace ima::dicomtest
