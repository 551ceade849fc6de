"""Bring your own network (docs/import.md): small networks built in Python the way nnU-Net and MONAI
build them are saved as TorchScript, imported through the `ima` command line and through imaseg
(the C API), hardened, and exported back. Oracle: PyTorch's own forward of the same module on the
same input (probabilities within 1e-5); bad files must fail with a clear message and no output.

Needs Debian's python3-torch; without it the whole module is skipped (ctest reports it skipped).
"""
import json
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as e:  # python3-torch missing: skip, saying why
    raise unittest.SkipTest(f"python3-torch is not importable by {os.sys.executable}: {e}")

import imaseg

IMA = os.environ["IMA_EXECUTABLE"]
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
    """MONAI's UNet with residual units and BatchNorm, two levels; traced."""

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


class ArgmaxNet(nn.Module):  # returns a label map, not logits
    def forward(self, x):
        return torch.cat([x, -x, x * 0], 1).argmax(1, keepdim=True)


class HalfSizeNet(nn.Module):  # returns logits at half the input size
    def forward(self, x):
        return nn.functional.avg_pool2d(torch.cat([x, -x, x * 0], 1), 2)


def sidecar(classes=3, patch=(16, 16), drop=None):
    """The metadata sidecar, patch in ITK order (x, y)."""
    meta = {"network": {"dims": 2, "in_channels": 1, "classes": classes},
            "labels": [{"value": i + 1, "name": n} for i, n in enumerate(LABELS)],
            "normalization": {"kind": "ct", "window": list(WINDOW)},
            "patch_size": list(reversed(patch))}
    if drop:
        meta.pop(drop)
    return meta


def normalized(array):
    return np.clip(array, *WINDOW) / 100.0


def python_probabilities(module, array):
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


class ImportTorchScriptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(3)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        rng = np.random.default_rng(5)
        cls.image = rng.uniform(-150, 150, PATCH).astype(np.float32)
        cls.labels = (cls.image > 40).astype(np.uint8) + (cls.image > 100).astype(np.uint8)
        example = torch.zeros(1, 1, *PATCH)
        nnunet = PlainConvUNet()
        monai = ResidualUNet().eval()
        with torch.no_grad():  # non-trivial BatchNorm statistics, as a trained network has
            for bn in [m for m in monai.modules() if isinstance(m, nn.BatchNorm2d)]:
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 1.5)
        cls.nets = {"nnunet": torch.jit.script(nnunet), "monai": torch.jit.trace(monai, example)}
        for name, module in cls.nets.items():
            module.save(str(cls.dir / f"{name}.pt"))
            (cls.dir / f"{name}.json").write_text(json.dumps(sidecar()))
        cls.bad = {"argmax": torch.jit.script(ArgmaxNet()), "half": torch.jit.script(HalfSizeNet())}
        for name, module in cls.bad.items():
            module.save(str(cls.dir / f"{name}.pt"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return self.dir / name

    def assertMatchesPython(self, model, module):
        labels, probs = imaseg.segment(model, self.image, probabilities=True, device="cpu", threads=1)
        expected = python_probabilities(module, self.image)
        np.testing.assert_allclose(probs, expected, atol=1e-5)
        np.testing.assert_array_equal(labels, expected.argmax(0))

    def test_cli_import_with_sidecar_segments_like_python(self):
        for name in self.nets:
            with self.subTest(name):
                out = self.path(f"{name}-cli.imamodel")
                ima_ok("import", "--torchscript", self.path(f"{name}.pt"), "--sidecar", self.path(f"{name}.json"),
                       "--out", out)
                meta = json.loads(ima_ok("info", out, "--json").stdout)
                self.assertEqual(meta["network"]["kind"], "torchscript")
                self.assertEqual([l["name"] for l in meta["labels"]], LABELS)
                self.assertMatchesPython(out, self.nets[name])

    def test_cli_import_with_flags_equals_sidecar_import(self):
        out = self.path("flags.imamodel")
        ima_ok("import", "--torchscript", self.path("nnunet.pt"), "--dims", "2", "--patch", "16,16",
               "--labels-names", ",".join(LABELS), "--normalization", "ct", "--window", "-100,100", "--out", out)
        meta = json.loads(ima_ok("info", out, "--json").stdout)
        self.assertEqual(meta["network"]["classes"], 3)
        self.assertEqual(meta["patch_size"], [16, 16])
        self.assertEqual(meta["normalization"]["window"], list(WINDOW))
        self.assertMatchesPython(out, self.nets["nnunet"])

    def test_python_import_through_the_c_api_segments_like_python(self):
        for name in self.nets:
            with self.subTest(name):
                model = imaseg.import_torchscript(self.path(f"{name}.pt"), self.path(f"{name}.json"),
                                                  self.path(f"{name}-py.imamodel"))
                self.assertEqual(model.classes, 3)
                self.assertMatchesPython(model, self.nets[name])

    def test_ima_epoch_changes_weights_and_export_reproduces_the_project(self):
        for name in self.nets:
            with self.subTest(name):
                imported = imaseg.import_torchscript(self.path(f"{name}.pt"), self.path(f"{name}.json"),
                                                     self.path(f"{name}-h0.imamodel"))
                hardened = self.path(f"{name}-ima.imamodel")
                imaseg.train([self.image], [self.labels], hardened, init=imported, method="ima", epochs=1,
                             iterations=2, batch_size=1, pgd_steps=2, bisection_steps=2, learning_rate=0.01,
                             device="cpu", threads=1)
                exported = self.path(f"{name}-ima.pt")
                ima_ok("export", hardened, "--torchscript", exported)
                loaded = torch.jit.load(str(exported))
                before = dict(self.nets[name].named_parameters())
                after = dict(loaded.named_parameters())
                self.assertEqual(before.keys(), after.keys())
                self.assertTrue(all(torch.isfinite(p).all() for p in after.values()))
                self.assertTrue(any(not torch.equal(before[k], after[k]) for k in before), "no weight changed")
                self.assertMatchesPython(hardened, loaded)

    def test_bad_files_are_clear_errors_without_output(self):
        (self.path("notscript.pt")).write_text("this is not a TorchScript archive")
        (self.path("classes.json")).write_text(json.dumps(sidecar(classes=4)))
        (self.path("patch18.json")).write_text(json.dumps(sidecar(patch=(18, 18))))
        (self.path("nopatch.json")).write_text(json.dumps(sidecar(drop="patch_size")))
        # (script, sidecar, the file the message must name, what it must say)
        cases = [("half.pt", "nnunet.json", "half.pt", "spatial size 8x8"),
                 ("argmax.pt", "nnunet.json", "argmax.pt", "floating-point logits"),
                 ("nnunet.pt", "classes.json", "classes.json", "declares 4 classes"),
                 ("nnunet.pt", "patch18.json", "nnunet.pt", "rejects input of 1 channel(s) at the patch size 18x18"),
                 ("monai.pt", "patch18.json", "monai.pt", "patch size 18x18"),
                 ("notscript.pt", "nnunet.json", "notscript.pt", "cannot be loaded"),
                 ("nnunet.pt", "nopatch.json", "nopatch.json", "key 'patch_size' not found")]
        for script, meta, culprit, message in cases:
            with self.subTest(script=script, sidecar=meta):
                out = self.path("bad.imamodel")
                r = ima("import", "--torchscript", self.path(script), "--sidecar", self.path(meta), "--out", out)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertIn(culprit, r.stderr)
                self.assertFalse(out.exists())
                with self.assertRaises(imaseg.Error) as caught:
                    imaseg.import_torchscript(self.path(script), self.path(meta), out)
                self.assertIn(message, caught.exception.message)
                self.assertFalse(out.exists())

    def test_slicer_segment_module_takes_a_torchscript_file_and_sidecar(self):
        import nibabel as nib
        volume, output = self.path("slicer-in.nii.gz"), self.path("slicer-out.nii.gz")
        nib.save(nib.Nifti1Image(self.image.T.copy(), np.eye(4)), volume)  # nibabel arrays are [x, y]
        r = subprocess.run([os.environ["IMA_SLICER_SEGMENT"], "--model", self.path("nnunet.pt"), "--modelSidecar",
                            self.path("nnunet.json"), "--device", "cpu", volume, output], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        labels = np.asarray(nib.load(output).dataobj).T
        np.testing.assert_array_equal(labels, python_probabilities(self.nets["nnunet"], self.image).argmax(0))

    def test_export_of_the_projects_own_unet_is_refused(self):
        unet = self.path("unet.imamodel")
        imaseg.train([self.image], [self.labels], unet, epochs=1, iterations=1, features=2, stages=2,
                     device="cpu", threads=1)
        out = self.path("unet.pt")
        r = ima("export", unet, "--torchscript", out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("only imported TorchScript networks", r.stderr)
        self.assertFalse(out.exists())


if __name__ == "__main__":
    unittest.main()
