#!/usr/bin/env bash
# The sanitizer job of CI (docs/reliability.md, "Sanitizers"): configures ./build-asan with clang-14,
# AddressSanitizer + UndefinedBehaviorSanitizer and the fuzz targets (cmake/Sanitizers.cmake),
# builds it and runs the whole test suite under it, the replay of the fuzz corpora included.
# Any sanitizer finding aborts its process and fails its test. BUILD_DIR overrides ./build-asan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${BUILD_DIR:-build-asan}
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DIMA_SANITIZE=address,undefined -DIMA_FUZZ=ON -DIMA_BUILD_BENCHMARKS=OFF
cmake --build "$build" -j"$(nproc)"
# shellcheck source=/dev/null
source "$build/sanitizer-environment.sh"
# Label PYTORCH: the tests that build networks with python3-torch in an uninstrumented Python run
# for minutes under the preloaded ASan runtime (each passed its 120 s limit); the C++ paths they
# drive (import, export, segmentation of TorchScript networks) run under the sanitizers in the CLI
# and model-file tests and the fuzz replays (docs/reliability.md, "Sanitizers").
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -LE PYTORCH
