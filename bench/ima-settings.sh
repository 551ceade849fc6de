# The IMA settings that bench/ima-savings.sh, bench/ima-savings-3d.sh and bench/ima-epoch-cost.sh
# compare, by name (sourced; the margins are each benchmark's own). k20 is the defaults before
# issue 12; k5 the main job's; the others add the warm start, fewer steps and the bisection tolerance.
ima_setting_flags() {
  case $1 in
    k20) echo "--pgd-steps 20 --bisection-steps 10 --warm-start off" ;;
    k5) echo "--pgd-steps 5 --bisection-steps 6 --warm-start off" ;;
    k5-warm) echo "--pgd-steps 5 --bisection-steps 6 --warm-start on" ;;
    k2-warm) echo "--pgd-steps 2 --bisection-steps 6 --bisection-tolerance 0.05 --warm-start on" ;;
    k1-warm) echo "--pgd-steps 1 --bisection-steps 6 --bisection-tolerance 0.05 --warm-start on" ;;
    *) echo "unknown IMA setting '$1' (k20, k5, k5-warm, k2-warm, k1-warm)" >&2; return 2 ;;
  esac
}
