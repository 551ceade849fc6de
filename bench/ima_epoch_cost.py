"""bench/ima-epoch-cost.sh's arithmetic. --pair reads "ROUND NAME STANDARD_LOG IMA_LOG" and prints
"ROUND NAME STANDARD_S IMA_S": the mean seconds per epoch of each training log (JSON lines with
"seconds"). --summary DIMS reads those lines and prints, per setting, the ratio IMA / standard of
each round and their median and range."""
import json
import statistics
import sys


def epoch_seconds(log):
    seconds = [json.loads(line)["seconds"] for line in open(log) if line.strip()]
    return sum(seconds) / len(seconds)


def main():
    if sys.argv[1] == "--pair":
        round_, name, standard, ima = sys.stdin.read().split()
        print(f"{round_} {name} {epoch_seconds(standard):.2f} {epoch_seconds(ima):.2f}")
        return
    dims = sys.argv[2]
    ratios, seconds = {}, {}
    for line in sys.stdin:
        _, name, standard, ima = line.split()
        ratios.setdefault(name, []).append(float(ima) / float(standard))
        seconds.setdefault(name, []).append((float(standard), float(ima)))
    print(f"{dims}: IMA epoch / standard epoch, pairs run one after the other")
    print("| setting | ratio per round | median (min-max) | s per epoch, standard / IMA (medians) |")
    print("|---|---|---|---|")
    for name, r in ratios.items():
        s = seconds[name]
        print(f"| {name} | {', '.join(f'{v:.2f}' for v in r)} | {statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f}) | "
              f"{statistics.median(a for a, _ in s):.1f} / {statistics.median(b for _, b in s):.1f} |")


if __name__ == "__main__":
    main()
