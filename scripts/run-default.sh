#!/usr/bin/env bash
# The main job on the embedded default data (README command one): install and build when needed,
# generate phantoms, train a 2D U-Net on their slices (standard method), then fine-tune it twice
# on the same schedule: with IMA (the paper's "apply IMA to a pretrained model") and, as the
# baseline, with the standard method, so that both final models had the same training. Segment
# held-out phantoms with both, evaluate both under PGD-5 and IFGSM-5 at several L2 budgets and,
# on a subset of held-out slices, under the strong attack ensemble beside PGD-5, and print the
# comparison. Outputs go to ./out (override with OUT=...). Times each part.
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
ATTACK_STEPS=${ATTACK_STEPS:-5} # PGD and IFGSM iterations of the weak evaluation
STRONG_CASES=${STRONG_CASES:-2} # held-out cases whose central slices form the strong set
STRONG_SLICES=${STRONG_SLICES:-8} # central slices per case in the strong set
APGD_STEPS=${APGD_STEPS:-20}    # iterations of each APGD member of the ensemble
SEED=${SEED:-1}                 # pretraining seed (data and fine-tuning seeds stay fixed)
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
  --optimizer adam --val-fraction 0.2 --labels-names organ,lesion --seed "$SEED" --threads "$THREADS"
t3=$(date +%s)

tune=(--images "$OUT/train/images" --labels "$OUT/train/labels" --init "$OUT/pretrained.imamodel" --batch 16
      --epochs "$TUNE_EPOCHS" --iterations "$TUNE_ITERATIONS" --optimizer adam --lr "$TUNE_LR" --val-fraction 0.2
      --seed 2 --threads "$THREADS")
"$ima" train "${tune[@]}" --out "$OUT/standard.imamodel" --method standard
"$ima" train "${tune[@]}" --out "$OUT/ima.imamodel" --method ima --eps-max "$EPS_MAX" --delta "$DELTA"
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

# The evaluations of the two models run side by side, one thread each: two single-threaded
# processes keep both cores busy without libtorch's busy-waiting OpenMP threads competing.
# Per model: the weak attacks (PGD-5, IFGSM-5) on every held-out case; then, on the strong set
# (the STRONG_SLICES central slices of the first STRONG_CASES held-out cases, where the organ is),
# the strong ensemble (APGD with five losses and PGD-20 with 3 restarts, the worst per case and
# budget) and PGD-5 on the same slices, side by side.
mkdir -p "$OUT/strong-set/images" "$OUT/strong-set/labels"
/usr/bin/python3 - "$OUT" "$STRONG_CASES" "$STRONG_SLICES" <<'PY'
import os, sys
import nibabel as nib
out, cases, slices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for name in sorted(os.listdir(f"{out}/heldout/images"))[:cases]:
    for kind in ("images", "labels"):
        volume = nib.load(f"{out}/heldout/{kind}/{name}")
        first = (volume.shape[2] - slices) // 2
        nib.save(volume.slicer[:, :, first:first + slices], f"{out}/strong-set/{kind}/{name}")
PY
evaluate() {
  local model=$1
  local common=(--model "$OUT/$model.imamodel" --norm l2 --eps "$BUDGETS" --batch 16 --quiet --threads 1)
  "$ima" evaluate "${common[@]}" --images "$OUT/heldout/images" --labels "$OUT/heldout/labels" \
    --attack pgd,ifgsm --pgd-steps "$ATTACK_STEPS" --ifgsm-steps "$ATTACK_STEPS" --out "$OUT/robustness-$model.json"
  "$ima" evaluate "${common[@]}" --images "$OUT/strong-set/images" --labels "$OUT/strong-set/labels" \
    --attack pgd --pgd-steps "$ATTACK_STEPS" --out "$OUT/strong-set-pgd-$model.json"
  "$ima" evaluate "${common[@]}" --images "$OUT/strong-set/images" --labels "$OUT/strong-set/labels" \
    --attack strong --apgd-steps "$APGD_STEPS" --pgd-steps 20 --out "$OUT/strong-set-strong-$model.json"
}
pids=()
for model in standard ima; do
  evaluate "$model" &
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
echo "Strong ensemble beside PGD-5 on the same slices (the strong set: the $STRONG_SLICES central slices of" \
  "$(ls "$OUT/strong-set/images" | tr '\n' ' '));"
echo "mean voxel Dice per budget and robustness AUC:"
/usr/bin/env python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def rows(path):
    report = json.load(open(path))
    attacks = {a["name"]: a for a in report["attacks"]}
    return report, attacks
for model in ("standard", "ima"):
    _, weak = rows(f"{out}/strong-set-pgd-{model}.json")
    _, strong = rows(f"{out}/strong-set-strong-{model}.json")
    for label, attack in (("PGD-5", weak["pgd"]), ("strong ensemble", strong["strong"])):
        dice = " ".join(f"{b['mean_voxel_dice']:.3f}" for b in attack["budgets"])
        print(f"  {model:9s} {label:16s} Dice {dice}   AUC {attack['auc']:.3f}")
PY
echo
echo "Times: install+build $((t1 - t0)) s, phantoms $((t2 - t1)) s, pretraining $((t3 - t2)) s," \
  "fine-tuning (standard + IMA) $((t4 - t3)) s, segmentation $((t5 - t4)) s, robustness evaluation $((t6 - t5)) s"
echo "       main job (everything after the build) $((t6 - t1)) s"
echo "Outputs: $OUT/pretrained.imamodel, $OUT/standard.imamodel, $OUT/ima.imamodel (+ .log.jsonl training logs),"
echo "         $OUT/segmentations/,"
echo "         $OUT/dice/, $OUT/robustness-{standard,ima}.json, $OUT/robustness.{json,csv,svg} (the comparison),"
echo "         $OUT/strong-set-{pgd,strong}-{standard,ima}.json (PGD-5 and the strong ensemble on the strong set)"
