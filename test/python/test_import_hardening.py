"""Hardening an imported network (docs/import.md §3, §4): one IMA epoch through imaseg changes the
weights of the nnU-Net-style scripted and the MONAI-style traced network and keeps them finite, and
the file `ima export --torchscript` writes loads with torch.jit.load and gives the project's output
(oracle: PyTorch's forward of the exported module, within 1e-5). `ima train --init` fine-tunes an
imported model with pgd, trades and standard too.
"""
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np

from torchscript_networks import ima_ok, monai_traced, nnunet_scripted, python_probabilities, save, test_image
import torch  # after torchscript_networks, which skips the test without python3-torch

import imaseg


def changed_and_finite(test, before, after):
    """`after` (name -> tensor) has the parameters of `before`, all finite, at least one changed."""
    test.assertEqual(before.keys(), after.keys())
    test.assertTrue(all(torch.isfinite(p).all() for p in after.values()))
    test.assertTrue(any(not torch.equal(before[k], after[k]) for k in before), "no weight changed")


class HardenImportedNetworkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cls.image, cls.labels = test_image()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_ima_epoch_changes_weights_and_export_reproduces_the_project(self):
        for name, net in {"nnunet": nnunet_scripted(), "monai": monai_traced()}.items():
            with self.subTest(name):
                script, meta = save(net, self.dir, name)
                imported = imaseg.import_torchscript(script, meta, self.dir / f"{name}.imamodel")
                hardened = self.dir / f"{name}-ima.imamodel"
                imaseg.train([self.image], [self.labels], hardened, init=imported, method="ima", epochs=1,
                             iterations=2, batch_size=1, pgd_steps=2, bisection_steps=2, learning_rate=0.01,
                             device="cpu", threads=1)
                exported = self.dir / f"{name}-ima.pt"
                ima_ok("export", hardened, "--torchscript", exported)
                loaded = torch.jit.load(str(exported))
                changed_and_finite(self, dict(net.named_parameters()), dict(loaded.named_parameters()))
                labels, probs = imaseg.segment(hardened, self.image, probabilities=True, device="cpu", threads=1)
                expected = python_probabilities(loaded, self.image)
                np.testing.assert_allclose(probs, expected, atol=1e-5)
                np.testing.assert_array_equal(labels, expected.argmax(0))

    def test_cli_train_init_fine_tunes_with_every_baseline_method(self):
        import nibabel as nib
        net = nnunet_scripted()
        script, meta = save(net, self.dir, "cli")
        model = self.dir / "cli.imamodel"
        ima_ok("import", "--torchscript", script, "--sidecar", meta, "--out", model)
        for d in ("images", "labels"):
            (self.dir / d).mkdir()
        for case, seed in (("a", 5), ("b", 6)):  # one training case, one validation case
            image, labels = test_image(seed)
            nib.save(nib.Nifti1Image(image.T.copy(), np.eye(4)), self.dir / "images" / f"{case}.nii.gz")
            nib.save(nib.Nifti1Image(labels.T.copy(), np.eye(4)), self.dir / "labels" / f"{case}.nii.gz")
        for method in ("standard", "pgd", "trades"):
            with self.subTest(method):
                out = self.dir / f"cli-{method}.imamodel"
                ima_ok("train", "--images", self.dir / "images", "--labels", self.dir / "labels", "--init", model,
                       "--out", out, "--method", method, "--epochs", "1", "--iterations", "2", "--batch", "1",
                       "--pgd-steps", "2", "--eps", "0.5", "--device", "cpu", "--threads", "1", "--quiet")
                info = json.loads(ima_ok("info", out, "--json").stdout)
                self.assertEqual(info["network"]["kind"], "torchscript")
                self.assertEqual(info["training"]["method"], method)
                exported = self.dir / f"cli-{method}.pt"
                ima_ok("export", out, "--torchscript", exported)
                changed_and_finite(self, dict(net.named_parameters()),
                                   dict(torch.jit.load(str(exported)).named_parameters()))


if __name__ == "__main__":
    unittest.main()
