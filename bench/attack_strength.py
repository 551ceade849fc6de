"""Prints the table of bench/attack-strength.sh: per model, level and attack, the mean voxel Dice
per budget, the robustness AUC and the time of the evaluation run that produced it (an ensemble
member's time is its whole ensemble run's)."""
import json
import os
import sys


def main():
    out = sys.argv[1]
    times = {}
    for line in open(os.path.join(out, "times.txt")):
        model, level, name, seconds = line.split()
        times[(model, level, name)] = float(seconds)
    budgets = None
    rows = []
    for model in ("standard", "ima"):
        for level in ("patch", "volume"):
            for name in ("pgd-5", "pgd-20", "strong"):
                path = os.path.join(out, f"{model}-{level}-{name}.json")
                if not os.path.exists(path):
                    continue
                report = json.load(open(path))
                for a in report["attacks"]:
                    label = {"pgd-5": "PGD-5", "pgd-20": "PGD-20"}.get(name)
                    if name == "strong":
                        label = "ensemble" if a["name"] == "strong" else a["name"].replace("strong:", "")
                        steps = next(a2 for a2 in report["attacks"] if a2["name"] == "strong:pgd")["description"]
                        k = "".join(c for c in steps.split(",")[0] if c.isdigit())
                        label = f"PGD-{k}, 3 restarts" if label == "pgd" else label.replace("apgd-", f"APGD-{k} ")
                    budgets = [b["eps"] for b in a["budgets"]]
                    dice = " | ".join(f"{b['mean_voxel_dice']:.3f}" for b in a["budgets"])
                    seconds = f"{times[(model, level, name)]:.0f}" if (model, level, name) in times else "?"
                    rows.append(f"| {model} | {level} | {label} | {dice} | {a['auc']:.3f} | {seconds} |")
    print("| model | attacked | attack | " + " | ".join(f"eps {e:g}" for e in budgets) + " | AUC | run time (s) |")
    print("|---" * (len(budgets) + 5) + "|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
