#!/usr/bin/env bash
# IMA on 3D volumes, end to end: a 3D U-Net pretrained on 48^3 phantoms with 32^3 patches, then
# fine-tuned twice on the same schedule, with IMA (one margin per fixed-grid 32^3 patch: 8 per
# volume) and with the standard method; the held-out volumes segmented (sliding window) and
# evaluated under PGD-5 and the strong ensemble, every patch alone and the whole volume through
# the sliding-window prediction. Prints the Dice, the robustness figures and the time of each
# part. Usage: bench/ima-3d.sh [WORK] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/ima-3d}
seeds=${2:-1}
ima=build/Module/ima
threads=${THREADS:-0}
eps_max=${EPS_MAX:-16}   # L2, normalised units per 32^3 patch (per voxel about the 2D job's 6 per 64^2 slice)
delta=${DELTA:-5}
budgets=${BUDGETS:-0,8,16}
apgd=${APGD_STEPS:-20}
mkdir -p "$work"
"$ima" phantoms --out "$work/train" --count 12 --size 48 --seed 1 --quiet --force
"$ima" phantoms --out "$work/heldout" --count 1 --size 48 --seed 2 --quiet --force
for seed in $seeds; do
  out="$work/seed-$seed"
  mkdir -p "$out"
  t0=$(date +%s)
  "$ima" train --images "$work/train/images" --labels "$work/train/labels" --out "$out/pretrained.imamodel" \
    --dims 3 --patch 32,32,32 --features 8 --stages 3 --batch 2 --epochs 24 --iterations 20 --optimizer adam \
    --val-fraction 0.25 --labels-names organ,lesion --seed "$seed" --threads "$threads" --quiet --force
  t1=$(date +%s)
  tune=(--images "$work/train/images" --labels "$work/train/labels" --init "$out/pretrained.imamodel" --batch 2
        --epochs 4 --iterations 10 --optimizer adam --lr 0.001 --val-fraction 0.25 --seed 2 --threads "$threads"
        --quiet --force)
  "$ima" train "${tune[@]}" --out "$out/standard.imamodel" --method standard
  t2=$(date +%s)
  "$ima" train "${tune[@]}" --out "$out/ima.imamodel" --method ima --eps-max "$eps_max" --delta "$delta" \
    --pgd-steps 5 --bisection-steps 6 --bisection-tolerance 0 --warm-start off  # as measured, before IMA's defaults changed
  t3=$(date +%s)
  for model in standard ima; do
    mkdir -p "$out/seg-$model"
    for image in "$work"/heldout/images/*.nii.gz; do
      name=$(basename "$image")
      "$ima" segment --model "$out/$model.imamodel" --input "$image" --output "$out/seg-$model/$name" --quiet \
        --force --threads "$threads"
      "$ima" dice --prediction "$out/seg-$model/$name" --reference "$work/heldout/labels/$name" --classes 3 --json \
        > "$out/seg-$model/${name%.nii.gz}.json"
    done
  done
  t4=$(date +%s)
  rm -f "$out/times.txt"
  for model in standard ima; do
    (
      common=(--model "$out/$model.imamodel" --images "$work/heldout/images" --labels "$work/heldout/labels"
              --norm l2 --eps "$budgets" --batch 2 --quiet --threads 1 --force)
      for level in patch volume; do
        "$ima" evaluate "${common[@]}" --attacked "$level" --attack pgd --pgd-steps 5 --out "$out/pgd-$level-$model.json"
        start=$(date +%s)
        "$ima" evaluate "${common[@]}" --attacked "$level" --attack strong --apgd-steps "$apgd" --pgd-steps 20 \
          --out "$out/strong-$level-$model.json"
        echo "$model $level strong $(( $(date +%s) - start )) s" >> "$out/times.txt"
      done
    ) &
  done
  wait
  t5=$(date +%s)
  echo "== seed $seed: pretraining $((t1 - t0)) s, standard fine-tuning $((t2 - t1)) s, IMA fine-tuning $((t3 - t2)) s," \
    "segmentation $((t4 - t3)) s, evaluation (both models side by side) $((t5 - t4)) s"
  /usr/bin/env python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
for model in ("standard", "ima"):
    folder = os.path.join(out, f"seg-{model}")
    dice = [json.load(open(os.path.join(folder, f)))["labels"] for f in sorted(os.listdir(folder)) if f.endswith(".json")]
    mean = sum(sum(l["dice"] for l in d if l["label"] in (1, 2)) / 2 for d in dice) / len(dice)
    print(f"  {model:9s} clean Dice (sliding window) {mean:.3f}")
    for level in ("patch", "volume"):
        for name, attack in (("pgd", "pgd"), ("strong", "strong")):
            report = json.load(open(os.path.join(out, f"{name}-{level}-{model}.json")))
            a = next(a for a in report["attacks"] if a["name"] == attack)
            dice = " ".join(f"{b['mean_voxel_dice']:.3f}" for b in a["budgets"])
            print(f"    {level:6s} {'PGD-5' if name == 'pgd' else 'ensemble':8s} Dice {dice}  AUC {a['auc']:.3f}")
print(open(os.path.join(out, "times.txt")).read(), end="")
PY
done
