#!/usr/bin/env bash
# Fuzzes every libFuzzer target of the sanitizer build (docs/reliability.md, "Fuzzing") for SECONDS
# each, PARALLEL targets at a time, each from a copy of its committed corpus; prints per target the
# inputs run and the findings, and leaves crash inputs and the grown corpora in WORK.
# The model and checkpoint targets run with -fork=1 -ignore_crashes=1: crafted TorchScript archives
# crash inside libtorch's importer (documented, not fixable here), and the run must go on past them.
# Usage: scripts/fuzz.sh [SECONDS=600] [PARALLEL=2] [WORK=/tmp/ima-fuzz]   (after scripts/sanitize.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
parallel=${2:-2}
work=${3:-/tmp/ima-fuzz}
build=${BUILD_DIR:-build-asan}
# shellcheck source=/dev/null
source "$build/sanitizer-environment.sh"
export ASAN_OPTIONS=$IMA_FUZZ_ASAN_OPTIONS
fuzz() {
  local target=$1 extra=()
  case $target in FuzzModelFile | FuzzCheckpoint) extra=(-fork=1 -ignore_crashes=1) ;; esac
  rm -rf "$work/$target" && mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
  cp test/fuzz/corpus/"$target"/* "$work/$target/corpus/"
  local start=$SECONDS runs
  "$build/test/fuzz/$target" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 "${extra[@]}" \
    -artifact_prefix="$work/$target/artifacts/" "$work/$target/corpus" > "$work/$target/log" 2>&1 || true
  runs=$(grep -Eo '^#[0-9]+' "$work/$target/log" | tail -1 | tr -d '#')
  echo "$target: $((SECONDS - start)) s, ${runs:-?} inputs run, $(ls "$work/$target/artifacts" | wc -l) finding(s) in $work/$target/artifacts"
}
targets=(FuzzNiftiImage FuzzDicomSeg FuzzCheckpoint FuzzModelFile FuzzBatchManifest FuzzDicomSeries)
for ((i = 0; i < ${#targets[@]}; i += parallel)); do
  for target in "${targets[@]:i:parallel}"; do fuzz "$target" & done
  wait
done
