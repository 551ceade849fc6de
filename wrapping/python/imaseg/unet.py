"""The project's U-Net (include/ima/UNet.h) as a PyTorch module, to take a model trained or hardened
by IMASegmentation back into Python (docs/import.md):

    ima export hardened.imamodel --state-dict hardened.pt
    net = imaseg.unet.load("hardened.pt")      # a torch.nn.Module in eval mode, the same weights

The module is built exactly as the C++ one: per stage `convs_per_stage` x (3-conv, norm, LeakyReLU
0.01), the first conv of stages > 0 with stride 2, features min(base * 2^i, max); the decoder
upsamples with a stride-2 transposed conv, concatenates the skip and applies the same block; a
1x1 conv gives the logits. Submodules are registered under the C++ names (encoder0, ..., up2,
decoder2, ..., head), so state_dict() keys are the C++ named_parameters() and named_buffers()
one for one. Input: [N, in_channels, (D,) H, W] normalised as the model's metadata says; output:
logits [N, classes, (D,) H, W]; sizes must be multiples of 2^(stages-1).

Needs torch (Debian: python3-torch); the rest of imaseg does not, so import this module explicitly.
"""
import json

import torch
from torch import nn

__all__ = ["UNet", "load"]


def _conv(dims, cin, cout, kernel, stride):
    return (nn.Conv2d if dims == 2 else nn.Conv3d)(cin, cout, kernel, stride, kernel // 2)


def _norm(dims, kind, features):
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(features, affine=True)
    if kind == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(features)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be instance, batch or none, got {kind!r}")


class UNet(nn.Module):
    """The U-Net of a `.imamodel` whose network kind is "unet"; arguments as its metadata's
    "network" object (`ima info --json`)."""

    def __init__(self, dims=3, in_channels=1, classes=2, base_features=32, max_features=320, stages=4,
                 norm="instance", convs_per_stage=2):
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims}")
        if not 1 <= stages <= 8:
            raise ValueError(f"stages must be in 1..8, got {stages}")
        self.dims, self.stages, self.norm, self.convs_per_stage = dims, stages, norm, convs_per_stage
        features = [min(base_features << s, max_features) for s in range(stages)]
        cin = in_channels
        for s in range(stages):
            setattr(self, f"encoder{s}", self._block(cin, features[s], 1 if s == 0 else 2))
            cin = features[s]
        # Registered in the C++ order (deepest decoder first), which state_dict() keeps.
        for s in range(stages - 2, -1, -1):
            up = (nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d)(features[s + 1], features[s], 2, 2)
            setattr(self, f"up{s}", up)
            setattr(self, f"decoder{s}", self._block(2 * features[s], features[s], 1))
        self.head = _conv(dims, features[0], classes, 1, 1)

    def _block(self, cin, cout, first_stride):
        layers = []
        for i in range(self.convs_per_stage):
            layers += [_conv(self.dims, cin if i == 0 else cout, cout, 3, first_stride if i == 0 else 1),
                       _norm(self.dims, self.norm, cout), nn.LeakyReLU(0.01, inplace=True)]
        return nn.Sequential(*layers)

    def forward(self, x):
        skips = []
        for s in range(self.stages):
            x = getattr(self, f"encoder{s}")(x)
            skips.append(x)
        for s in range(self.stages - 2, -1, -1):
            x = getattr(self, f"up{s}")(x)
            x = getattr(self, f"decoder{s}")(torch.cat([x, skips[s]], 1))
        return self.head(x)

    @classmethod
    def from_metadata(cls, metadata):
        """The (untrained) U-Net a `.imamodel`'s metadata describes (a dict, or its JSON text)."""
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        n = metadata["network"]
        if n.get("kind", "unet") != "unet":
            raise ValueError(f"the model's network is {n['kind']!r}, not the project's U-Net")
        names = ("dims", "in_channels", "classes", "base_features", "max_features", "stages", "norm",
                 "convs_per_stage")
        return cls(**{k: n[k] for k in names if k in n})


def load(path, map_location=None):
    """The U-Net of a file written by `ima export MODEL --state-dict FILE`, with its weights and
    buffers, in eval mode. The model's metadata (labels, normalisation, patch size) is in
    `net.metadata`. Only load files you trust: torch.load unpickles."""
    saved = torch.load(path, map_location=map_location)
    metadata = json.loads(saved["metadata"])
    net = UNet.from_metadata(metadata)
    net.load_state_dict(saved["state_dict"])  # strict: every name and shape must match
    net.metadata = metadata
    return net.eval()
