#!/usr/bin/env bash
# IMA's savings against today's IMA (K = 20 PGD steps, B = 10 bisection steps, no warm start): the
# cost and the robustness of each cheaper setting, on the main job's fine-tuning (docs/benchmarks.md,
# "IMA's savings"). Per pretraining seed, the main job's pretrained model (from a finished
# bench/robustness-seeds.sh run) is fine-tuned once with the standard method and once per IMA
# setting, on the main job's schedule and data, one after the other on the same machine; each IMA
# model is then evaluated on the main job's strong set with the strong ensemble (APGD-20 with five
# losses and PGD-20 with 3 restarts) and with PGD-5, two evaluations at a time, one thread each.
# bench/ima_savings.py prints, per setting, the fine-tuning time against the standard one's, and the
# AUCs as mean and sample standard deviation over seeds. A finished part is not run again.
# Usage: bench/ima-savings.sh [SEEDS_WORK=/tmp/ima-robustness-seeds] [WORK=/tmp/ima-savings] [SEEDS="1 2 3"]
#        [SETTINGS="k20 k5 k5-warm k2-warm"]   (names from bench/ima-settings.sh; the first is the reference)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds_work=${1:-/tmp/ima-robustness-seeds}
work=${2:-/tmp/ima-savings}
seeds=${3:-1 2 3}
ima=build/Module/ima
names=${4:-k20 k5 k5-warm k2-warm}
# shellcheck source=bench/ima-settings.sh
source bench/ima-settings.sh
for name in $names; do ima_setting_flags "$name" > /dev/null; done
mkdir -p "$work"
evaluate() {  # model json-prefix, on the seed's strong set
  local common=(--model "$1" --norm l2 --eps 0,2,4,6 --batch 16 --quiet --threads 1
                --images "$strong_set/images" --labels "$strong_set/labels")
  [ -f "$2-pgd.json" ] || "$ima" evaluate "${common[@]}" --attack pgd --pgd-steps 5 --out "$2-pgd.json"
  [ -f "$2-strong.json" ] || "$ima" evaluate "${common[@]}" --attack strong --apgd-steps 20 --pgd-steps 20 \
    --out "$2-strong.json"
}
for seed in $seeds; do
  from="$seeds_work/seed-$seed"
  [ -f "$from/pretrained.imamodel" ] || { echo "no $from/pretrained.imamodel: run bench/robustness-seeds.sh first"; exit 1; }
  out="$work/seed-$seed"
  mkdir -p "$out"
  tune=(--images "$from/train/images" --labels "$from/train/labels" --init "$from/pretrained.imamodel" --batch 16
        --epochs 4 --iterations 20 --optimizer adam --lr 0.001 --val-fraction 0.2 --seed 2 --threads 2 --quiet)
  ima_finetune_settings "$out" "$names" "--eps-max 6 --delta 2" "${tune[@]}"
  strong_set=$from/strong-set
  ima_evaluate_settings "$out" "$names"
done
/usr/bin/python3 bench/ima_savings.py "$work" "$names" $seeds
