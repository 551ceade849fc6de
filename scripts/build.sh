#!/usr/bin/env bash
# Installs dependencies (when missing), configures and builds in ./build (Release, all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
