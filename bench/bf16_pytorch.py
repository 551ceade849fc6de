"""bf16 autocast against fp32 for one U-Net training step in plain PyTorch: the issue-12 reference
figure, taken the way imaBenchPrecision takes the C++ one (bench/PrecisionBenchmark.cpp): the
project's U-Net (imaseg.unet, the C++ core's layers on the same ATen kernels), one fixed batch (2D:
16 slices of 64^2, 16 features, 4 stages; 3D: 2 patches of 48^3, 16 features, 3 stages), one
training step (forward, cross-entropy, backward, Adam step) in fp32 and under CPU bf16 autocast in
turn, in one process, so that machine noise hits both alike. Prints the medians and fp32 / bf16.

Run it once with glibc's default allocator settings and once with
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824 (what
`ima` sets for itself, docs/cli.md): without them every step faults its tensors' pages in again,
which costs fp32 (twice the bytes) more than bf16.

Usage: /usr/bin/python3 bench/bf16_pytorch.py [--dims 2|3] [--repeats R] [--threads T]
"""
import argparse
import os
import time

import torch

from unet_case import unet_case


def step_seconds(net, x, y, optimizer, bf16):
    start = time.perf_counter()
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = net(x)
    loss = torch.nn.functional.cross_entropy(logits.float(), y)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, choices=(2, 3), default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y, net, optimizer = unet_case(args.dims)
    for bf16 in (False, True):  # warm-up: oneDNN primitive creation
        step_seconds(net, x, y, optimizer, bf16)
    times = {False: [], True: []}
    for _ in range(args.repeats):
        for bf16 in (False, True):
            times[bf16].append(step_seconds(net, x, y, optimizer, bf16))
    fp32, bf16 = (sorted(times[b])[len(times[b]) // 2] for b in (False, True))
    tunables = os.environ.get("GLIBC_TUNABLES", "glibc defaults")
    print(f"{args.dims}D, torch {torch.__version__}, {args.threads} thread(s), {tunables}: "
          f"fp32 {fp32:.3f} s, bf16 {bf16:.3f} s, fp32 / bf16 {fp32 / bf16:.2f} (medians of {args.repeats})")


if __name__ == "__main__":
    main()
