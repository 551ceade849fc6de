#!/usr/bin/env bash
# IMA's savings in 3D: bench/ima-savings.sh's comparison on bench/ima-3d.sh's task. Per pretraining
# seed, a 3D U-Net (8 features, 3 stages, 32^3 patches, batch 2) is pretrained on twelve 48^3
# phantoms, then fine-tuned (4 epochs x 10 iterations, Adam 1e-3) once with the standard method and
# once per IMA setting (L2 margins per 32^3 patch, eps-max 16, delta 5), one after the other; each IMA
# model is evaluated on the held-out 48^3 phantom, every 32^3 patch attacked alone, with the strong
# ensemble (APGD-20 with five losses, PGD-20 with 3 restarts) and with PGD-5 at budgets 0, 8, 16,
# two evaluations at a time, one thread each. bench/ima_savings.py summarises. A finished part is
# not run again.
# Usage: bench/ima-savings-3d.sh [WORK=/tmp/ima-savings-3d] [SEEDS="1 2 3"] [SETTINGS="k20 k2-warm k1-warm"]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/ima-savings-3d}
seeds=${2:-1 2 3}
names=${3:-k20 k2-warm k1-warm}
ima=build/Module/ima
# shellcheck source=bench/ima-settings.sh
source bench/ima-settings.sh
for name in $names; do ima_setting_flags "$name" > /dev/null; done
mkdir -p "$work"
[ -d "$work/train" ] || "$ima" phantoms --out "$work/train" --count 12 --size 48 --seed 1 --quiet
[ -d "$work/heldout" ] || "$ima" phantoms --out "$work/heldout" --count 1 --size 48 --seed 2 --quiet
evaluate() {  # model json-prefix
  local common=(--model "$1" --images "$work/heldout/images" --labels "$work/heldout/labels" --attacked patch
                --norm l2 --eps 0,8,16 --batch 2 --quiet --threads 1)
  [ -f "$2-pgd.json" ] || "$ima" evaluate "${common[@]}" --attack pgd --pgd-steps 5 --out "$2-pgd.json"
  [ -f "$2-strong.json" ] || "$ima" evaluate "${common[@]}" --attack strong --apgd-steps 20 --pgd-steps 20 \
    --out "$2-strong.json"
}
for seed in $seeds; do
  out="$work/seed-$seed"
  mkdir -p "$out"
  [ -f "$out/pretrained.imamodel" ] ||
    "$ima" train --images "$work/train/images" --labels "$work/train/labels" --out "$out/pretrained.imamodel" \
      --dims 3 --patch 32,32,32 --features 8 --stages 3 --batch 2 --epochs 24 --iterations 20 --optimizer adam \
      --val-fraction 0.25 --labels-names organ,lesion --seed "$seed" --threads 2 --quiet
  tune=(--images "$work/train/images" --labels "$work/train/labels" --init "$out/pretrained.imamodel" --batch 2
        --epochs 4 --iterations 10 --optimizer adam --lr 0.001 --val-fraction 0.25 --seed 2 --threads 2 --quiet)
  ima_finetune_settings "$out" "$names" "--eps-max 16 --delta 5" "${tune[@]}"
  ima_evaluate_settings "$out" "$names"
done
# shellcheck disable=SC2086
/usr/bin/python3 bench/ima_savings.py "$work" "$names" $seeds
