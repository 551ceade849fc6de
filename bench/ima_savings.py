"""Summarises bench/ima-savings.sh: per IMA setting, its fine-tuning time as a multiple of the
standard fine-tuning's (same seed, same machine, run one after the other), the ensemble's and
PGD-5's AUC on the strong set, each as mean and sample standard deviation over the seeds, and the
ensemble AUC's difference to the first setting (the reference) per seed and as mean and sample
standard deviation of those paired differences."""
import json
import os
import statistics
import sys


def auc(path, attack):
    return next(a for a in json.load(open(path))["attacks"] if a["name"] == attack)["auc"]


def spread(values):
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main():
    work, names, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
    rows = {}
    for name in names:
        cost, strong, weak = [], [], []
        for seed in seeds:
            run = os.path.join(work, f"seed-{seed}")
            seconds = float(open(os.path.join(run, f"{name}.seconds")).read())
            cost.append(seconds / float(open(os.path.join(run, "standard.seconds")).read()))
            strong.append(auc(os.path.join(run, f"{name}-strong.json"), "strong"))
            weak.append(auc(os.path.join(run, f"{name}-pgd.json"), "pgd"))
        rows[name] = (cost, strong, weak)
    base = rows[names[0]][1]
    print(f"| setting | fine-tuning time / standard | ensemble AUC, strong set | PGD-5 AUC, strong set | "
          f"ensemble AUC − {names[0]}'s, per seed ({', '.join(seeds)}) | paired difference, mean ± sd |")
    print("|---|---|---|---|---|---|")
    for name in names:
        cost, strong, weak = rows[name]
        differences = [s - b for s, b in zip(strong, base)]
        per_seed = ", ".join(f"{d:+.3f}" for d in differences)
        print(f"| {name} | {statistics.mean(cost):.2f}× (" + ", ".join(f"{c:.2f}" for c in cost) + ") | "
              f"{spread(strong)} | {spread(weak)} | {per_seed} | {spread(differences)} |")


if __name__ == "__main__":
    main()
