#!/usr/bin/env bash
# Training throughput of one process with 2 threads against two processes (c10d, Gloo on loopback)
# with 1 thread each, same global batch and data, alternating the two sides ROUNDS times; samples/s
# from the epochs' own timings in the logs (epoch 1, which includes start-up, is left out), and the
# seconds per step of each side. Prints the load average before and after (a shared machine's other
# work changes both sides).
# Usage: bench/distributed-throughput.sh [BUILD_DIR] [ROUNDS] [METHOD]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
method=${3:-standard}
ima=$(realpath "$build/Module/ima")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$ima" phantoms --out data --count 8 --size 32 --dims 2 --quiet
epochs=3 iterations=5 batch=8
args=(train --images data/images --labels data/labels --dims 2 --epochs $epochs --iterations $iterations
      --batch $batch --device cpu --val-fraction 0 --method "$method" --quiet --force)
rate() {  # samples/s over epochs 2..N of a log
  /usr/bin/python3 -c "import json,sys; e=[json.loads(l) for l in open(sys.argv[1])][1:]; print(len(e)*$iterations*$batch/sum(x['seconds'] for x in e))" "$1"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; ++r)); do
  "$ima" "${args[@]}" --threads 2 --out one.imamodel
  one=$(rate one.imamodel.log.jsonl)
  port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=1 LOCAL_RANK=1 "$ima" "${args[@]}" --threads 1 --out two.imamodel &
  MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=0 LOCAL_RANK=0 "$ima" "${args[@]}" --threads 1 --out two.imamodel
  wait
  two=$(rate two.imamodel.log.jsonl)
  echo "round $r: 1 process x 2 threads $one samples/s ($(/usr/bin/python3 -c "print(round($batch/$one, 3))") s/step)," \
       "2 processes x 1 thread $two samples/s ($(/usr/bin/python3 -c "print(round($batch/$two, 3))") s/step)," \
       "ratio $(/usr/bin/python3 -c "print(round($two/$one, 3))")"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
