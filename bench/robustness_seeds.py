"""Summarises bench/robustness-seeds.sh: one row per pretraining seed and the mean and sample
standard deviation over seeds, as a Markdown table (standard / IMA / gain)."""
import json
import os
import statistics
import sys


def auc(path, attack):
    report = json.load(open(path))
    return next(a for a in report["attacks"] if a["name"] == attack)["auc"]


def clean_dice(run, model):
    """Mean over held-out cases of the mean of organ and lesion Dice (sliding-window segmentation)."""
    folder = os.path.join(run, "dice", model)
    values = []
    for name in sorted(os.listdir(folder)):
        labels = json.load(open(os.path.join(folder, name)))["labels"]
        values.append(sum(l["dice"] for l in labels if l["label"] in (1, 2)) / 2)
    return sum(values) / len(values)


def measures(run):
    rows = {}
    for model in ("standard", "ima"):
        rows[model] = (clean_dice(run, model),
                       auc(os.path.join(run, f"robustness-{model}.json"), "pgd"),
                       auc(os.path.join(run, f"strong-set-pgd-{model}.json"), "pgd"),
                       auc(os.path.join(run, f"strong-set-strong-{model}.json"), "strong"))
    return rows


def main():
    work, seeds = sys.argv[1], sys.argv[2:]
    names = ("clean Dice", "PGD-5 AUC, all held-out", "PGD-5 AUC, strong set", "ensemble AUC, strong set")
    print("| seed | " + " | ".join(f"{n} (standard / IMA / gain)" for n in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    per_seed = []
    for seed in seeds:
        m = measures(os.path.join(work, f"seed-{seed}"))
        per_seed.append(m)
        cells = [f"{s:.3f} / {i:.3f} / {i - s:+.3f}" for s, i in zip(m["standard"], m["ima"])]
        print(f"| {seed} | " + " | ".join(cells) + " |")
    cells = []
    for k in range(len(names)):
        s = [m["standard"][k] for m in per_seed]
        i = [m["ima"][k] for m in per_seed]
        g = [b - a for a, b in zip(s, i)]
        sd = (lambda v: statistics.stdev(v) if len(v) > 1 else float("nan"))
        cells.append(f"{statistics.mean(s):.3f} ± {sd(s):.3f} / {statistics.mean(i):.3f} ± {sd(i):.3f} / "
                     f"**{statistics.mean(g):+.3f} ± {sd(g):.3f}**")
    print(f"| mean ± sd over {len(seeds)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
