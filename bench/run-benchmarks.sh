#!/usr/bin/env bash
# Runs the benchmarks on a built tree (scripts/build.sh) and prints their results:
#  1. sliding-window inference against the raw forward passes over the same patches (ratio);
#  2. peak resident memory of `ima segment` on a 512x512x200 float32 volume against its size;
#  3. one IMA training iteration against standard and PGD-AT (C++), passes counted, and the same
#     iteration in PyTorch (Debian's python3-torch) from the same weights, plain and lean;
#  4. Fashion-MNIST robustness of standard, PGD-AT, TRADES and IMA training (about 40 minutes);
#  5. reading a 512x512x300 DICOM CT series against Debian's dcm2niix (ratio);
#  6. bf16 against fp32 and the bisection tolerance per training iteration, 2D and 3D (ratios);
#  7. IMA's robustness gain over 3 pretraining seeds under PGD-5 and the strong ensemble;
#  8. the strength of every attack on the main job's models, patch-level and whole-volume;
#  9. IMA on 3D volumes, end to end.
# Run it alone: other CPU-heavy processes distort libtorch's OpenMP timings badly.
# THREADS (default 1) sets the thread count of parts 3 and 4.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== sliding window vs raw forward (3D, then 2D slice by slice)"
"$build/bench/imaBenchInference" 3 5
"$build/bench/imaBenchInference" 2 5

for dims in 2 3; do
  echo "== peak memory of ima segment, 512x512x200 float32 volume, ${dims}D model"
  "$build/bench/imaBenchMakeMemoryInputs" "$work/volume.nii" "$work/model.imamodel" 512 512 200 "$dims"
  volume_bytes=$((512 * 512 * 200 * 4))
  model_bytes=$(stat -c %s "$work/model.imamodel")
  /usr/bin/time -f "%M %e" -o "$work/time.txt" \
    "$build/Module/ima" segment --model "$work/model.imamodel" --input "$work/volume.nii" \
    --output "$work/seg.nii.gz" --quiet --force
  read -r peak_kb seconds < "$work/time.txt"
  awk -v peak="$peak_kb" -v vol="$volume_bytes" -v model="$model_bytes" -v s="$seconds" 'BEGIN {
    printf "peak RSS %.0f MiB, volume %.0f MiB, model %.1f MiB, ratio peak/volume %.2f (target <= 4 + model), %.0f s\n",
      peak / 1024, vol / 1048576, model / 1048576, peak * 1024 / vol, s }'
done

threads=${THREADS:-1}
echo "== one IMA iteration vs standard and PGD-AT, 2D U-Net, batch 16 of 64x64 (C++, then PyTorch, plain and lean)"
"$build/bench/imaBenchImaIteration" --repeats 7 --threads "$threads" --save-weights "$work/weights.bin"
/usr/bin/python3 bench/ima_iteration.py --repeats 7 --threads "$threads" --weights "$work/weights.bin"
/usr/bin/python3 bench/ima_iteration.py --repeats 7 --threads "$threads" --weights "$work/weights.bin" --lean
echo "   (for the ratios across the machine's drift: bench/ima-iteration-pairs.sh 6 3)"

echo "== Fashion-MNIST robustness of the training methods (reports in $work/fashion)"
"$build/bench/imaBenchFashionMnist" --threads "$threads" --out "$work/fashion"

echo "== reading a 512x512x300 DICOM CT series vs dcm2niix (warm cache)"
"$build/bench/imaBenchDicomRead" --repeats 9

echo "== bf16 vs fp32 and IMA's bisection tolerance per training iteration, 2D then 3D"
"$build/bench/imaBenchPrecision" --dims 2 --repeats 5 --threads 2
"$build/bench/imaBenchPrecision" --dims 3 --repeats 5 --threads 2

echo "== IMA's robustness gain over 3 pretraining seeds: the main job three times (about 40 minutes)"
bench/robustness-seeds.sh "$work/seeds" "1 2 3"

echo "== how much each attack overestimates robustness, on seed 1's models (patch and whole volume)"
bench/attack-strength.sh "$work/seeds/seed-1"

echo "== IMA on 3D volumes: 3D U-Net, standard vs IMA fine-tuning, PGD-5 and the ensemble"
bench/ima-3d.sh "$work/ima-3d" 1
