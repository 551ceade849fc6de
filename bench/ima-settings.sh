# The IMA settings that bench/ima-savings.sh, bench/ima-savings-3d.sh and bench/ima-epoch-cost.sh
# compare, by name (sourced; the margins are each benchmark's own). k20 is the defaults before
# issue 12 and k5 the main job's setting then; k2-warm is IMA's defaults now (written out, so that
# the benchmark stays the same if the defaults move); the others add the warm start, fewer steps
# and the bisection tolerance; k2-warm-bf16 runs the default under bf16 autocast (--precision bf16).
ima_setting_flags() {
  case $1 in
    k20) echo "--pgd-steps 20 --bisection-steps 10 --bisection-tolerance 0 --warm-start off" ;;
    k5) echo "--pgd-steps 5 --bisection-steps 6 --bisection-tolerance 0 --warm-start off" ;;
    k5-warm) echo "--pgd-steps 5 --bisection-steps 6 --bisection-tolerance 0 --warm-start on" ;;
    k2-warm) echo "--pgd-steps 2 --bisection-steps 6 --bisection-tolerance 0.05 --warm-start on" ;;
    k1-warm) echo "--pgd-steps 1 --bisection-steps 6 --bisection-tolerance 0.05 --warm-start on" ;;
    k2-warm-bf16) echo "--pgd-steps 2 --bisection-steps 6 --bisection-tolerance 0.05 --warm-start on --precision bf16" ;;
    *) echo "unknown IMA setting '$1' (k20, k5, k5-warm, k2-warm, k1-warm, k2-warm-bf16)" >&2; return 2 ;;
  esac
}

# Fine-tunes into OUT the standard model and one IMA model per setting, one after the other, each
# timed (OUT/NAME.seconds); a part already there is kept. $ima is the caller's ima binary.
# Usage: ima_finetune_settings OUT "NAMES" "MARGIN FLAGS" COMMON-TRAIN-ARGUMENTS...
ima_finetune_settings() {
  local out=$1 names=$2 margins=$3 start name
  shift 3
  if [ ! -f "$out/standard.seconds" ]; then
    start=$(date +%s.%N)
    "$ima" train "$@" --out "$out/standard.imamodel" --method standard --force
    awk "BEGIN { print $(date +%s.%N) - $start }" > "$out/standard.seconds"
  fi
  for name in $names; do
    if [ ! -f "$out/$name.seconds" ]; then
      start=$(date +%s.%N)
      # shellcheck disable=SC2046,SC2086
      "$ima" train "$@" --out "$out/$name.imamodel" --method ima $margins $(ima_setting_flags "$name") --force
      awk "BEGIN { print $(date +%s.%N) - $start }" > "$out/$name.seconds"
    fi
    echo "$out $name: $(cat "$out/$name.seconds") s (standard $(cat "$out/standard.seconds") s)"
  done
}

# Runs the caller's `evaluate MODEL JSON-PREFIX` on every setting's model in OUT, two at a time.
ima_evaluate_settings() {
  local out=$1 names=$2 name
  local pids=()
  for name in $names; do
    evaluate "$out/$name.imamodel" "$out/$name" &
    pids+=($!)
    if [ ${#pids[@]} -eq 2 ]; then wait "${pids[@]}"; pids=(); fi
  done
  [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
}
