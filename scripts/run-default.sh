#!/usr/bin/env bash
# The main job on the embedded default data (README command one): install and build when needed,
# generate phantoms, train a 2D U-Net on their slices (standard method), then fine-tune it twice
# on the same schedule: with IMA (the paper's "apply IMA to a pretrained model") and, as the
# baseline, with the standard method, so that both final models had the same training. Segment
# held-out phantoms with both, evaluate both under PGD and IFGSM at several L2 budgets, and print
# the comparison. Outputs go to ./out (override with OUT=...). Times each part.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
EPOCHS=${EPOCHS:-12}            # pretraining (standard)
ITERATIONS=${ITERATIONS:-40}
TUNE_EPOCHS=${TUNE_EPOCHS:-4}   # fine-tuning, IMA and standard alike
TUNE_ITERATIONS=${TUNE_ITERATIONS:-20}
TUNE_LR=${TUNE_LR:-0.001}      # fine-tuning learning rate (Adam), decaying
EPS_MAX=${EPS_MAX:-6}           # IMA's largest margin (L2, normalised units, per 64x64 slice)
DELTA=${DELTA:-2}               # IMA's initial margin and growth per epoch
BUDGETS=${BUDGETS:-0,2,4,6}     # evaluation budgets (L2, normalised units, per 64x64 slice), up to EPS_MAX
ATTACK_STEPS=${ATTACK_STEPS:-5} # PGD and IFGSM iterations of the evaluation
THREADS=${THREADS:-0}           # 0 = all cores

t0=$(date +%s)
scripts/build.sh > "${TMPDIR:-/tmp}/ima-build.log" 2>&1 || { tail -40 "${TMPDIR:-/tmp}/ima-build.log"; exit 1; }
t1=$(date +%s)
ima=build/Module/ima
rm -rf "$OUT"
mkdir -p "$OUT"

"$ima" phantoms --out "$OUT/train" --count 16 --size 64 --seed 1
"$ima" phantoms --out "$OUT/heldout" --count 4 --size 64 --seed 2
t2=$(date +%s)

"$ima" train --images "$OUT/train/images" --labels "$OUT/train/labels" --out "$OUT/pretrained.imamodel" \
  --dims 2 --patch 64,64 --features 16 --stages 4 --batch 16 --epochs "$EPOCHS" --iterations "$ITERATIONS" \
  --optimizer adam --val-fraction 0.2 --labels-names organ,lesion --seed 1 --threads "$THREADS"
t3=$(date +%s)

tune=(--images "$OUT/train/images" --labels "$OUT/train/labels" --init "$OUT/pretrained.imamodel" --batch 16
      --epochs "$TUNE_EPOCHS" --iterations "$TUNE_ITERATIONS" --optimizer adam --lr "$TUNE_LR" --val-fraction 0.2
      --seed 2 --threads "$THREADS")
"$ima" train "${tune[@]}" --out "$OUT/standard.imamodel" --method standard
"$ima" train "${tune[@]}" --out "$OUT/ima.imamodel" --method ima --eps-max "$EPS_MAX" --delta "$DELTA" \
  --pgd-steps 5 --bisection-steps 6
t4=$(date +%s)

for model in standard ima; do
  mkdir -p "$OUT/segmentations/$model" "$OUT/dice/$model"
  for image in "$OUT"/heldout/images/*.nii.gz; do
    name=$(basename "$image")
    "$ima" segment --model "$OUT/$model.imamodel" --input "$image" --output "$OUT/segmentations/$model/$name" \
      --quiet --threads "$THREADS"
    "$ima" dice --prediction "$OUT/segmentations/$model/$name" --reference "$OUT/heldout/labels/$name" \
      --classes 3 --json > "$OUT/dice/$model/${name%.nii.gz}.json"
  done
done
t5=$(date +%s)

# The two evaluations run side by side, one thread each: two single-threaded processes keep both
# cores busy without libtorch's busy-waiting OpenMP threads competing.
pids=()
for model in standard ima; do
  "$ima" evaluate --model "$OUT/$model.imamodel" --images "$OUT/heldout/images" --labels "$OUT/heldout/labels" \
    --attack pgd,ifgsm --norm l2 --eps "$BUDGETS" --pgd-steps "$ATTACK_STEPS" --ifgsm-steps "$ATTACK_STEPS" \
    --batch 16 --out "$OUT/robustness-$model.json" --quiet --threads 1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
t6=$(date +%s)

echo
echo "Held-out phantoms, Dice per structure (sliding-window segmentation):"
/usr/bin/env python3 - "$OUT/dice" <<'PY'
import json, os, sys
root = sys.argv[1]
for model in ("standard", "ima"):
    organ, lesion = [], []
    for name in sorted(os.listdir(os.path.join(root, model))):
        dice = {l["label"]: l["dice"] for l in json.load(open(os.path.join(root, model, name)))["labels"]}
        organ.append(dice[1]); lesion.append(dice[2])
    mean = lambda v: sum(v) / len(v)
    m = (mean(organ) + mean(lesion)) / 2
    verdict = "reached" if m >= 0.85 else "NOT reached"
    print(f"  {model:9s} organ {mean(organ):.3f}  lesion {mean(lesion):.3f}  mean {m:.3f}  (target >= 0.85: {verdict})")
PY
echo
echo "Robustness on the held-out phantoms (patch-level L2 attacks; mean voxel Dice per budget, AUC):"
"$ima" compare --reports "$OUT/robustness-standard.json,$OUT/robustness-ima.json" --names standard,ima \
  --out "$OUT/robustness.json" --csv "$OUT/robustness.csv" --plot "$OUT/robustness.svg" --force
echo
echo "Times: install+build $((t1 - t0)) s, phantoms $((t2 - t1)) s, pretraining $((t3 - t2)) s," \
  "fine-tuning (standard + IMA) $((t4 - t3)) s, segmentation $((t5 - t4)) s, robustness evaluation $((t6 - t5)) s"
echo "       main job (everything after the build) $((t6 - t1)) s"
echo "Outputs: $OUT/pretrained.imamodel, $OUT/standard.imamodel, $OUT/ima.imamodel (+ .log.jsonl training logs),"
echo "         $OUT/segmentations/,"
echo "         $OUT/dice/, $OUT/robustness-{standard,ima}.json, $OUT/robustness.{json,csv,svg} (the comparison)"
