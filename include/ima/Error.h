// Errors the core reports. Messages name the input and the problem (docs/architecture.md §8).
#pragma once
#include <stdexcept>
#include <string>

namespace ima {

// Any failure caused by bad input, bad options or an unusable environment.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown when a progress callback asked to stop; callers treat it as a clean stop, not a failure.
class Cancelled : public std::runtime_error {
public:
  Cancelled() : std::runtime_error("cancelled") {}
};

}  // namespace ima
