"""The fixed training case of the plain-PyTorch benchmarks (bench/bf16_pytorch.py,
bench/ima_pass_floor.py), with bench/PrecisionBenchmark.cpp's shapes: 2D 16 slices of 64^2 with a
4-stage U-Net, 3D 2 patches of 48^3 with a 3-stage one, 16 features, 3 classes, instance norm (the
project's U-Net, imaseg.unet), random inputs and labels, Adam."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "wrapping", "python"))
from imaseg.unet import UNet  # noqa: E402


def unet_case(dims):
    """(x, y, net, optimizer) of the case in `dims` (2 or 3), the same on every call."""
    batch, size, stages = (16, 64, 4) if dims == 2 else (2, 48, 3)
    torch.manual_seed(0)
    x = torch.randn((batch, 1) + (size,) * dims)
    y = torch.randint(0, 3, (batch,) + (size,) * dims)
    torch.manual_seed(1)
    net = UNet(dims=dims, classes=3, base_features=16, stages=stages, norm="instance")
    return x, y, net, torch.optim.Adam(net.parameters(), lr=1e-4)
