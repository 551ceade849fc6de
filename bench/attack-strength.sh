#!/usr/bin/env bash
# How much each attack overestimates robustness: the main job's standard and IMA models
# (scripts/run-default.sh, its OUT directory) evaluated on its strong set under PGD-5, PGD-20,
# PGD-K with 3 restarts, APGD-K with each of the five losses and their ensemble (K = 100 attacking
# every patch alone, VOLUME_STEPS = 20 attacking the whole volume through the sliding-window
# prediction, which costs more per step); the time each took. Both models run side by side, one
# thread each. bench/attack_strength.py prints the table.
# Usage: bench/attack-strength.sh RUN_DIR [LEVELS="patch volume"]; IMAGES and LABELS override the
# evaluated cases (default: RUN_DIR/strong-set), e.g. for bench/ima-3d.sh's held-out volumes.
set -euo pipefail
cd "$(dirname "$0")/.."
run=$1
levels=${2:-patch volume}
steps=${PATCH_STEPS:-100}
volume_steps=${VOLUME_STEPS:-20}
budgets=${BUDGETS:-0,2,4,6}
images=${IMAGES:-$run/strong-set/images}
labels=${LABELS:-$run/strong-set/labels}
ima=build/Module/ima
out="$run/attack-strength"
mkdir -p "$out"
evaluate() {  # model level name attack-options...
  local model=$1 level=$2 name=$3
  shift 3
  local start end
  start=$(date +%s.%N)
  "$ima" evaluate --model "$run/$model.imamodel" --images "$images" --labels "$labels" \
    --norm l2 --eps "$budgets" --batch "${BATCH:-16}" --attacked "$level" --quiet --threads 1 --force \
    --out "$out/$model-$level-$name.json" "$@"
  end=$(date +%s.%N)
  echo "$model $level $name $(echo "$end - $start" | bc)" >> "$out/times.txt"
}
rm -f "$out/times.txt"
for model in standard ima; do
  (
    for level in $levels; do
      evaluate "$model" "$level" pgd-5 --attack pgd --pgd-steps 5
      evaluate "$model" "$level" pgd-20 --attack pgd --pgd-steps 20
      k=$steps
      [ "$level" = volume ] && k=$volume_steps
      evaluate "$model" "$level" strong --attack strong --apgd-steps "$k" --pgd-steps "$k" --restarts 3
    done
  ) &
done
wait
/usr/bin/env python3 bench/attack_strength.py "$out"
