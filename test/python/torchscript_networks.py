"""Shared by the test_import_*.py tests (docs/import.md): small networks built in Python the way
nnU-Net and MONAI build them, their sidecars, PyTorch's own forward (the oracle) and `ima` calls.

Needs Debian's python3-torch; without it every importing test module is skipped (ctest reports it
skipped, see SKIP_REGULAR_EXPRESSION in CMakeLists.txt).
"""
import json
import os
import subprocess
import unittest

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as e:  # python3-torch missing: skip, saying why
    raise unittest.SkipTest(f"python3-torch is not importable by {os.sys.executable}: {e}")

IMA = os.environ.get("IMA_EXECUTABLE", "ima")
PATCH = (16, 16)          # [y, x]; both networks need sizes divisible by 4
WINDOW = (-100.0, 100.0)  # CT window: x -> (clip(x) - 0) / 100, easy to reproduce here
LABELS = ["organ", "lesion"]


class PlainConvUNet(nn.Module):
    """nnU-Net's PlainConvUNet in miniature: conv-InstanceNorm-LeakyReLU stages, strided-conv down,
    transposed-conv up, and deep supervision (one output per decoder level, full size first) in
    training mode; scripted."""

    def __init__(self, classes=3):
        super().__init__()

        def stage(cin, cout, stride):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.InstanceNorm2d(cout, affine=True),
                                 nn.LeakyReLU(0.01))
        self.enc0, self.enc1, self.enc2 = stage(1, 4, 1), stage(4, 8, 2), stage(8, 8, 2)
        self.up1, self.dec1 = nn.ConvTranspose2d(8, 8, 2, 2), stage(16, 8, 1)
        self.up0, self.dec0 = nn.ConvTranspose2d(8, 4, 2, 2), stage(8, 4, 1)
        self.seg1, self.seg0 = nn.Conv2d(8, classes, 1), nn.Conv2d(4, classes, 1)

    def forward(self, x):
        s0 = self.enc0(x)
        s1 = self.enc1(s0)
        d1 = self.dec1(torch.cat([self.up1(self.enc2(s1)), s1], 1))
        d0 = self.dec0(torch.cat([self.up0(d1), s0], 1))
        if self.training:
            return [self.seg0(d0), self.seg1(d1)]
        return [self.seg0(d0)]


class ResidualUnit(nn.Module):
    """MONAI's ResidualUnit: two conv-BatchNorm-PReLU layers plus a 1x1 (strided) conv shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.PReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.PReLU())
        self.residual = nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x):
        return self.conv(x) + self.residual(x)


class ResidualUNet(nn.Module):
    """MONAI's UNet with residual units and BatchNorm, two levels."""

    def __init__(self, classes=3):
        super().__init__()
        self.down0, self.down1, self.bottom = ResidualUnit(1, 4, 2), ResidualUnit(4, 8, 2), ResidualUnit(8, 8, 1)
        self.up1 = nn.ConvTranspose2d(16, 4, 3, 2, 1, output_padding=1)
        self.up0 = nn.ConvTranspose2d(8, classes, 3, 2, 1, output_padding=1)

    def forward(self, x):
        a = self.down0(x)
        b = self.down1(a)
        c = self.bottom(b)
        return self.up0(torch.cat([self.up1(torch.cat([c, b], 1)), a], 1))


def trained_like_batchnorm(module):
    """`module` with non-trivial BatchNorm statistics, as a trained network has."""
    with torch.no_grad():
        for bn in [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]:
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    return module


def nnunet_scripted():
    torch.manual_seed(3)
    return torch.jit.script(PlainConvUNet())


def monai_traced():
    """Traced in eval mode, as the tests of the last session did (docs/import.md: a trace keeps
    the mode it was traced in)."""
    torch.manual_seed(4)
    return torch.jit.trace(trained_like_batchnorm(ResidualUNet().eval()), torch.zeros(1, 1, *PATCH))


def monai_scripted():
    """Scripted: follows train()/eval() like the Python module (BatchNorm fine-tuning)."""
    torch.manual_seed(4)
    return torch.jit.script(trained_like_batchnorm(ResidualUNet()))


def sidecar(classes=3, patch=PATCH, drop=None):
    """The metadata sidecar, patch in ITK order (x, y)."""
    meta = {"network": {"dims": 2, "in_channels": 1, "classes": classes},
            "labels": [{"value": i + 1, "name": n} for i, n in enumerate(LABELS)],
            "normalization": {"kind": "ct", "window": list(WINDOW)},
            "patch_size": list(reversed(patch))}
    if drop:
        meta.pop(drop)
    return meta


def save(module, directory, name):
    """Writes NAME.pt and NAME.json into `directory`; returns (script path, sidecar path)."""
    script, meta = directory / f"{name}.pt", directory / f"{name}.json"
    module.save(str(script))
    meta.write_text(json.dumps(sidecar()))
    return script, meta


def test_image(seed=5):
    """A [y, x] image in HU over the CT window's range, and labels from two thresholds."""
    image = np.random.default_rng(seed).uniform(-150, 150, PATCH).astype(np.float32)
    labels = (image > 40).astype(np.uint8) + (image > 100).astype(np.uint8)
    return image, labels


def normalized(array):
    return np.clip(array, *WINDOW) / 100.0


def python_probabilities(module, array):
    """The oracle: PyTorch's own eval-mode forward of `module` on the normalised image, softmaxed."""
    module.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(normalized(array)[None, None].astype(np.float32)))
    if isinstance(out, (list, tuple)):
        out = out[0]
    return torch.softmax(out, 1)[0].numpy()


def ima(*args):
    return subprocess.run([IMA, *map(str, args)], capture_output=True, text=True)


def ima_ok(*args):
    r = ima(*args)
    if r.returncode != 0:
        raise AssertionError(f"ima {' '.join(map(str, args))} failed: {r.stderr}")
    return r
