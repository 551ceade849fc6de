#!/usr/bin/env bash
# The cost of an IMA fine-tuning epoch as a multiple of a standard one, measured in pairs: each IMA
# setting's fine-tuning runs right after a standard fine-tuning of the same model on the same data,
# and the pair's ratio is the IMA run's epoch seconds (from its training log, validation included)
# over the standard run's; rounds repeat the pairs, so that drift in the machine's speed hits both
# members of a pair alike. 2D: the main job's fine-tuning of its pretrained model (from a finished
# bench/robustness-seeds.sh run: SEED_DIR). 3D: bench/ima-3d.sh's fine-tuning of a 3D U-Net on
# 48^3 phantoms (32^3 patches), pretrained here the first time. bench/ima_epoch_cost.py prints per
# setting the median ratio and its range over rounds. Settings by name from bench/ima-settings.sh.
# Usage: bench/ima-epoch-cost.sh 2d|3d [WORK=/tmp/ima-epoch-cost] [ROUNDS=3] [SETTINGS="k20 k5 k5-warm k2-warm"]
#        [SEED_DIR=/tmp/ima-robustness-seeds/seed-1]   (on a built tree; run it alone)
set -euo pipefail
cd "$(dirname "$0")/.."
dims=$1
work=${2:-/tmp/ima-epoch-cost}/$dims
rounds=${3:-3}
names=${4:-k20 k5 k5-warm k2-warm}
seed_dir=${5:-/tmp/ima-robustness-seeds/seed-1}
ima=build/Module/ima
# shellcheck source=bench/ima-settings.sh
source bench/ima-settings.sh
for name in $names; do ima_setting_flags "$name" > /dev/null; done
mkdir -p "$work"
if [ "$dims" = 2d ]; then
  [ -f "$seed_dir/pretrained.imamodel" ] || { echo "no $seed_dir/pretrained.imamodel: run bench/robustness-seeds.sh"; exit 1; }
  data=$seed_dir/train
  pretrained=$seed_dir/pretrained.imamodel
  tune=(--batch 16 --epochs 4 --iterations 20 --val-fraction 0.2 --threads 2)
  margins=(--eps-max 6 --delta 2)
elif [ "$dims" = 3d ]; then
  data=$work/train
  pretrained=$work/pretrained.imamodel
  if [ ! -f "$pretrained" ]; then
    "$ima" phantoms --out "$data" --count 12 --size 48 --seed 1 --quiet --force
    "$ima" train --images "$data/images" --labels "$data/labels" --out "$pretrained" --dims 3 --patch 32,32,32 \
      --features 8 --stages 3 --batch 2 --epochs 24 --iterations 20 --optimizer adam --val-fraction 0.25 \
      --labels-names organ,lesion --seed 1 --threads 2 --quiet --force
  fi
  tune=(--batch 2 --epochs 4 --iterations 10 --val-fraction 0.25 --threads 2)
  margins=(--eps-max 16 --delta 5)
else
  echo "usage: bench/ima-epoch-cost.sh 2d|3d [WORK] [ROUNDS] [SETTINGS] [SEED_DIR]"; exit 2
fi
tune+=(--images "$data/images" --labels "$data/labels" --init "$pretrained" --optimizer adam --lr 0.001 --seed 2
       --quiet --force)
rm -f "$work/pairs.txt"
for round in $(seq "$rounds"); do
  for name in $names; do
    "$ima" train "${tune[@]}" --out "$work/standard.imamodel" --method standard
    # shellcheck disable=SC2046
    "$ima" train "${tune[@]}" --out "$work/$name.imamodel" --method ima "${margins[@]}" $(ima_setting_flags "$name")
    echo "$round $name $work/standard.imamodel.log.jsonl $work/$name.imamodel.log.jsonl" |
      /usr/bin/python3 bench/ima_epoch_cost.py --pair >> "$work/pairs.txt"
    tail -n 1 "$work/pairs.txt"
  done
done
/usr/bin/python3 bench/ima_epoch_cost.py --summary "$dims" < "$work/pairs.txt"
