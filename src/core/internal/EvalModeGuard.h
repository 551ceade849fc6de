// Puts a network in eval mode for a scope and restores its previous mode, so inference never
// changes the caller's train/eval state behind its back.
#pragma once
#include "ima/Network.h"

namespace ima {
class EvalModeGuard {
public:
  explicit EvalModeGuard(Network& net) : net_(net), wasTraining_(net.isTraining()) { net_.setTraining(false); }
  ~EvalModeGuard() { net_.setTraining(wasTraining_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

private:
  Network& net_;
  bool wasTraining_;
};
}  // namespace ima
