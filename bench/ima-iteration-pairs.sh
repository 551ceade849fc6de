#!/usr/bin/env bash
# The C++ IMA iteration against the plain PyTorch one, as pairs run in turn (C++, Python, C++, ...),
# so that drift in the machine's speed hits both alike: per pair, the ratio of the two processes'
# median iteration times (C++ / Python) for standard, PGD-AT and IMA; then the median ratio.
# usage: bench/ima-iteration-pairs.sh [PAIRS=5] [REPEATS=3]   (on a built tree; run it alone)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-5}
repeats=${2:-3}
build=${BUILD:-build}
medians() { grep '^median of' | sed -E 's/.*standard ([0-9.]+) s, pgd-at ([0-9.]+) s, ima ([0-9.]+) s.*/\1 \2 \3/'; }
for p in $(seq "$pairs"); do
  c=$("$build/bench/imaBenchImaIteration" --repeats "$repeats" --threads 1 | medians)
  py=$(/usr/bin/python3 bench/ima_iteration.py --repeats "$repeats" --threads 1 | medians)
  echo "$p $c $py"
done | /usr/bin/python3 -c '
import statistics, sys
rows = [list(map(float, line.split()))[1:] for line in sys.stdin]
for k, r in enumerate(rows, 1):
    print(f"pair {k}: C++ standard {r[0]:.3f} s, pgd-at {r[1]:.3f} s, ima {r[2]:.3f} s | Python {r[3]:.3f} s, "
          f"{r[4]:.3f} s, {r[5]:.3f} s | C++/Python {r[0]/r[3]:.2f}, {r[1]/r[4]:.2f}, {r[2]/r[5]:.2f}")
ratios = [[r[i] / r[i + 3] for r in rows] for i in range(3)]
print(f"median C++/Python over {len(rows)} pairs: " + ", ".join(
    f"{name} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for name, v in zip(("standard", "pgd-at", "ima"), ratios)))
'
