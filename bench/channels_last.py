"""Channels-last against the default (contiguous, channels-first) memory layout for the project's
U-Net (imaseg.unet, the same layers the C++ core builds, running on the same ATen kernels): one
training step (forward, Dice-free cross-entropy loss, backward, SGD step) in 2D (16 x 64^2) and
3D (2 x 32^3 and 2 x 48^3), instance norm and batch norm, fp32. Both layouts run alternately in
one process, so that machine noise hits both alike; the table gives the medians and the ratio
(above 1: channels-last is faster).

Usage: /usr/bin/python3 bench/channels_last.py [--repeats R] [--threads T]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "wrapping", "python"))
from imaseg.unet import UNet  # noqa: E402


def step_seconds(net, x, y, optimizer):
    start = time.perf_counter()
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def measure(dims, batch, size, norm, features, repeats):
    torch.manual_seed(0)
    shape = (batch, 1) + (size,) * dims
    x = torch.randn(shape)
    y = torch.randint(0, 3, (batch,) + (size,) * dims)
    layout = torch.channels_last if dims == 2 else torch.channels_last_3d
    nets = {}
    for name in ("contiguous", "channels-last"):
        torch.manual_seed(1)
        net = UNet(dims=dims, classes=3, base_features=features, stages=4, norm=norm)
        if name == "channels-last":
            net = net.to(memory_format=layout)
        nets[name] = (net, torch.optim.SGD(net.parameters(), lr=1e-3),
                      x.contiguous(memory_format=layout) if name == "channels-last" else x)
    times = {name: [] for name in nets}
    for name, (net, optimizer, xi) in nets.items():  # warm-up (oneDNN primitive creation)
        step_seconds(net, xi, y, optimizer)
    for _ in range(repeats):
        for name, (net, optimizer, xi) in nets.items():
            times[name].append(step_seconds(net, xi, y, optimizer))
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    return median["contiguous"], median["channels-last"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} steps each\n")
    print("| case | norm | contiguous (s) | channels-last (s) | speed-up of channels-last |")
    print("|---|---|---|---|---|")
    for dims, batch, size, features in ((2, 16, 64, 16), (3, 2, 32, 16), (3, 2, 48, 16)):
        for norm in ("instance", "batch"):
            c, cl = measure(dims, batch, size, norm, features, args.repeats)
            case = f"{dims}D {batch} x {size}^{dims}, {features} features"
            print(f"| {case} | {norm} | {c:.3f} | {cl:.3f} | {c / cl:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
