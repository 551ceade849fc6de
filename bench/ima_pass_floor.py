"""The floor of a default IMA iteration's cost: its passes alone, in plain PyTorch, against a standard
training step, in one process (docs/benchmarks.md, "The floor of a default IMA iteration").

IMA's defaults (K = 2 PGD steps from the warm start) make one iteration do: a clean forward kept for
the weights, two PGD steps (a forward and a backward to the input each), a forward of the last
iterate kept for the weights, and one weight backward through both kept forwards; the bisection and
the crossed samples' extra forwards come on top when samples cross. This script times exactly those
passes, with no bisection, no bookkeeping and no early stop, on the project's U-Net (imaseg.unet)
with the trainer's Dice + cross-entropy loss, so that the ratio it prints is what any implementation
of K = 2 must pay before the bisection. A second variant back-propagates the clean loss right after
the clean forward (its graph freed before the PGD), to see whether the order of the passes matters.

Usage: /usr/bin/python3 bench/ima_pass_floor.py [--dims 2|3] [--repeats R] [--threads T] [--rounds N]
(2D: 16 slices of 64^2, 16 features, 4 stages; 3D: 2 patches of 48^3, 16 features, 3 stages.)
"""
import argparse
import time

import torch
import torch.nn.functional as F

from unet_case import unet_case


def dice_ce(logits, target, per_sample=False):
    """Cross-entropy plus 1 - soft Dice of the foreground classes; per sample (the attack's loss) or
    over the batch (the training loss), as src/core/Losses.cpp defines them."""
    probabilities = logits.softmax(1)
    onehot = torch.zeros_like(probabilities).scatter_(1, target.unsqueeze(1), 1.0)
    spatial = list(range(2, logits.dim()))
    reduce = spatial if per_sample else [0] + spatial
    pf, tf = probabilities[:, 1:], onehot[:, 1:]
    dice = (2 * (pf * tf).sum(reduce) + 1e-5) / (pf.sum(reduce) + tf.sum(reduce) + 1e-5)
    if per_sample:
        ce = F.cross_entropy(logits, target, reduction="none").mean(list(range(1, target.dim())))
        return ce + 1 - dice.mean(1)
    return F.cross_entropy(logits, target) + 1 - dice.mean()


def unit_l2(gradient):
    return gradient / gradient.flatten(1).norm(dim=1).clamp_min(1e-12).view((-1,) + (1,) * (gradient.dim() - 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, choices=(2, 3), default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y, net, optimizer = unet_case(args.dims)
    step = 0.5  # L2 step of each PGD iteration; its value does not change the passes' cost

    def standard():
        optimizer.zero_grad()
        dice_ce(net(x), y).backward()
        optimizer.step()

    def pgd_step(point):
        point = point.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(dice_ce(net(point), y, per_sample=True).sum(), point)
        return (point + step * unit_l2(gradient)).detach()

    def ima(clean_backward_first):
        optimizer.zero_grad()
        clean = dice_ce(net(x), y)
        if clean_backward_first:
            (0.5 * clean).backward()
        point = x + 0.1 * unit_l2(torch.randn_like(x))  # a start inside the ball
        for _ in range(2):
            point = pgd_step(point)
        adversarial = dice_ce(net(point), y)
        (0.5 * adversarial if clean_backward_first else 0.5 * (clean + adversarial)).backward()
        optimizer.step()

    def median_seconds(function):
        function()  # warm-up: oneDNN primitives
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    print(f"{args.dims}D, batch {x.size(0)} of {x.size(-1)}^{args.dims}, torch {torch.__version__}, {args.threads} thread(s), "
          f"medians of {args.repeats}")
    for round_ in range(1, args.rounds + 1):
        s = median_seconds(standard)
        both = median_seconds(lambda: ima(False))
        first = median_seconds(lambda: ima(True))
        print(f"round {round_}: standard {s:.3f} s, IMA passes (K = 2) {both:.3f} s = {both / s:.2f} x, "
              f"clean backward first {first:.3f} s = {first / s:.2f} x")


if __name__ == "__main__":
    main()
