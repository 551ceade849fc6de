#!/usr/bin/env bash
# IMA's robustness gain over several pretraining seeds: the main job (scripts/run-default.sh) once
# per seed (SEED: the pretraining seed; data and fine-tuning seeds fixed), then per seed and as mean
# and sample standard deviation: clean Dice, the PGD-5 AUC on every held-out case, and on the strong
# set the PGD-5 AUC beside the strong ensemble's (bench/robustness_seeds.py). A seed whose
# directory already holds a finished run is not run again.
# Usage: bench/robustness-seeds.sh [WORK=/tmp/ima-robustness-seeds] [SEEDS="1 2 3"]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/ima-robustness-seeds}
seeds=${2:-1 2 3}
mkdir -p "$work"
for seed in $seeds; do
  if [ ! -f "$work/seed-$seed/strong-set-strong-ima.json" ]; then
    echo "== seed $seed ($(date +%T))"
    SEED=$seed OUT="$work/seed-$seed" scripts/run-default.sh > "$work/seed-$seed.log" 2>&1
    grep -E "main job|fine-tuning|robustness evaluation" "$work/seed-$seed.log" || true
  fi
done
# shellcheck disable=SC2086
/usr/bin/env python3 bench/robustness_seeds.py "$work" $seeds
