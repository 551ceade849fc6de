#!/usr/bin/env bash
# The main job on the embedded default data (README command one): install and build when needed,
# generate phantoms, train a 2D U-Net on their slices, segment held-out phantoms and print the
# Dice per structure. Outputs go to ./out (override with OUT=...). Times each part.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
EPOCHS=${EPOCHS:-16}
ITERATIONS=${ITERATIONS:-40}

t0=$(date +%s)
scripts/build.sh > "${TMPDIR:-/tmp}/ima-build.log" 2>&1 || { tail -40 "${TMPDIR:-/tmp}/ima-build.log"; exit 1; }
t1=$(date +%s)
ima=build/Module/ima
rm -rf "$OUT"
mkdir -p "$OUT"

"$ima" phantoms --out "$OUT/train" --count 16 --size 64 --seed 1
"$ima" phantoms --out "$OUT/heldout" --count 4 --size 64 --seed 2
t2=$(date +%s)

"$ima" train --images "$OUT/train/images" --labels "$OUT/train/labels" --out "$OUT/model.imamodel" \
  --dims 2 --patch 64,64 --features 16 --stages 4 --batch 16 --epochs "$EPOCHS" --iterations "$ITERATIONS" \
  --optimizer adam --val-fraction 0.2 --labels-names organ,lesion --seed 1
t3=$(date +%s)

mkdir -p "$OUT/segmentations"
mkdir -p "$OUT/dice"
for image in "$OUT"/heldout/images/*.nii.gz; do
  name=$(basename "$image")
  "$ima" segment --model "$OUT/model.imamodel" --input "$image" --output "$OUT/segmentations/$name" --quiet
  "$ima" dice --prediction "$OUT/segmentations/$name" --reference "$OUT/heldout/labels/$name" --classes 3 --json \
    > "$OUT/dice/${name%.nii.gz}.json"
done
t4=$(date +%s)

echo
echo "Held-out phantoms, Dice per structure:"
/usr/bin/env python3 - "$OUT"/dice/*.json <<'PY'
import json, os, sys
organ, lesion = [], []
for path in sys.argv[1:]:
    name = os.path.basename(path)[:-5]
    dice = {l["label"]: l["dice"] for l in json.load(open(path))["labels"]}
    organ.append(dice[1]); lesion.append(dice[2])
    print(f"  {name:20s} organ {dice[1]:.3f}  lesion {dice[2]:.3f}")
mean = lambda v: sum(v) / len(v)
m = (mean(organ) + mean(lesion)) / 2
print(f"  {'mean':20s} organ {mean(organ):.3f}  lesion {mean(lesion):.3f}  overall {m:.3f}")
print("  target: mean Dice >= 0.85 ->", "reached" if m >= 0.85 else "NOT reached")
PY
echo
echo "Times: install+build $((t1 - t0)) s, phantoms $((t2 - t1)) s, training $((t3 - t2)) s, segmentation $((t4 - t3)) s"
echo "       main job (phantoms + training + segmentation) $((t4 - t1)) s"
echo "Outputs: $OUT/model.imamodel (+ .log.jsonl training log), $OUT/segmentations/, $OUT/dice/*.json (Dice per held-out case)"
