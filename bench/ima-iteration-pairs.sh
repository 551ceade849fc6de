#!/usr/bin/env bash
# The C++ IMA iteration against plain PyTorch, in rounds run in turn (C++, Python plain, Python
# --lean, C++, ...), so that drift in the machine's speed hits all alike. Per round, the ratio of
# the processes' median iteration times for standard, PGD-AT and IMA: C++ / plain Python (the IMA
# iteration as one writes it in PyTorch) and C++ / lean Python (the same work-saving as the C++
# trainer: crossed samples leave the PGD, only they are bisected); then the median ratios. The
# Python runs start from the C++ run's pre-trained weights and use its seeds, so lean Python and
# C++ do the same work. The C++ benchmark keeps freed memory as the ima program does
# (ima/FreedMemory.h); a fourth process per round runs plain Python with the same glibc setting
# (GLIBC_TUNABLES), to show what the allocator alone is worth.
# usage: bench/ima-iteration-pairs.sh [ROUNDS=5] [REPEATS=3]   (on a built tree; run it alone)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
repeats=${2:-3}
build=${BUILD:-build}
weights=$(mktemp)
trap 'rm -f "$weights"' EXIT
medians() { grep '^median of' | sed -E 's/.*standard ([0-9.]+) s, pgd-at ([0-9.]+) s, ima ([0-9.]+) s.*/\1 \2 \3/'; }
for p in $(seq "$rounds"); do
  c=$("$build/bench/imaBenchImaIteration" --repeats "$repeats" --threads 1 --save-weights "$weights" | medians)
  plain=$(/usr/bin/python3 bench/ima_iteration.py --repeats "$repeats" --threads 1 --weights "$weights" | medians)
  lean=$(/usr/bin/python3 bench/ima_iteration.py --repeats "$repeats" --threads 1 --weights "$weights" --lean | medians)
  kept=$(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824 \
         /usr/bin/python3 bench/ima_iteration.py --repeats "$repeats" --threads 1 --weights "$weights" | medians)
  echo "$p $c $plain $lean $kept"
done | /usr/bin/python3 -c '
import statistics, sys
rows = [list(map(float, line.split()))[1:] for line in sys.stdin]
names = ("standard", "pgd-at", "ima")
for k, r in enumerate(rows, 1):
    print(f"round {k}: C++ " + " / ".join(f"{v:.3f}" for v in r[0:3]) + " s | plain Python " +
          " / ".join(f"{v:.3f}" for v in r[3:6]) + " s | lean Python " + " / ".join(f"{v:.3f}" for v in r[6:9]) +
          " s | plain Python, freed memory kept " + " / ".join(f"{v:.3f}" for v in r[9:12]) +
          f" s | IMA C++/plain {r[2]/r[5]:.2f}, C++/lean {r[2]/r[8]:.2f}, C++/plain kept {r[2]/r[11]:.2f}")
for label, off in (("plain", 3), ("lean", 6), ("plain (freed memory kept)", 9)):
    ratios = [[r[i] / r[i + off] for r in rows] for i in range(3)]
    print(f"median C++/{label} Python over {len(rows)} rounds: " + ", ".join(
        f"{name} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for name, v in zip(names, ratios)) +
        f"; IMA below 1 in {sum(v < 1 for v in ratios[2])} of {len(rows)}")
'
