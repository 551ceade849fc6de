"""The project's own U-Net handed back to PyTorch (docs/import.md §4): `ima export --state-dict`
writes its weights, imaseg.unet.load rebuilds the U-Net as a torch.nn.Module with them, and that
module's forward gives the project's probabilities (oracle: `imaseg.segment(..., probabilities=True)`
over the C API, one window covering the image) within 1e-5, for a 2D InstanceNorm and a 3D BatchNorm
U-Net; a trace of it saved with torch.jit.save does the same. `--torchscript` refuses such a model.
"""
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch  # after torchscript_networks, which skips the test without python3-torch

from torchscript_networks import WINDOW, ima, ima_ok, normalized

import imaseg
import imaseg.unet


def labels_of(image):
    return (image > 40).astype(np.uint8) + (image > 100).astype(np.uint8)


class ExportUNetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assertPythonReproducesTheProject(self, model, image):
        exported = self.dir / (model.stem + ".pt")
        ima_ok("export", model, "--state-dict", exported)
        net = imaseg.unet.load(exported)
        self.assertFalse(net.training)
        self.assertEqual(net.metadata, json.loads(ima_ok("info", model, "--json").stdout))
        saved = torch.load(exported)
        self.assertEqual(list(saved["state_dict"].keys()), list(net.state_dict().keys()))
        x = torch.from_numpy(normalized(image)[None, None].astype(np.float32))
        with torch.no_grad():
            python = torch.softmax(net(x), 1)[0].numpy()
        labels, probs = imaseg.segment(model, image, probabilities=True, device="cpu", threads=1)
        np.testing.assert_allclose(python, probs, atol=1e-5)
        np.testing.assert_array_equal(python.argmax(0), labels)
        # The C API's export (imaseg.Model.export_state_dict) writes the same tensors and metadata.
        through_python = self.dir / (model.stem + "-python.pt")
        imaseg.Model(model).export_state_dict(through_python)
        again = torch.load(through_python)
        self.assertEqual(again["metadata"], saved["metadata"])
        self.assertEqual(list(again["state_dict"].keys()), list(saved["state_dict"].keys()))
        for name, tensor in saved["state_dict"].items():
            self.assertTrue(torch.equal(again["state_dict"][name], tensor), name)
        traced = self.dir / (model.stem + "-traced.pt")
        torch.jit.trace(net, x).save(str(traced))
        with torch.no_grad():
            reloaded = torch.softmax(torch.jit.load(str(traced))(x), 1)[0].numpy()
        np.testing.assert_allclose(reloaded, probs, atol=1e-5)
        return net

    def test_2d_instance_norm_unet(self):
        image = np.random.default_rng(1).uniform(-150, 150, (16, 16)).astype(np.float32)
        model = self.dir / "unet2d.imamodel"
        imaseg.train([image], [labels_of(image)], model, epochs=1, iterations=2, batch_size=2, features=4,
                     stages=3, patch_size=(16, 16), normalization="ct", ct_window=WINDOW, device="cpu", threads=1)
        net = self.assertPythonReproducesTheProject(model, image)
        self.assertEqual(net.dims, 2)

    def test_3d_batch_norm_unet(self):
        import nibabel as nib
        rng = np.random.default_rng(2)
        for d in ("images", "labels"):
            (self.dir / d).mkdir()
        for case in ("a", "b"):
            image = rng.uniform(-150, 150, (8, 16, 16)).astype(np.float32)  # [z, y, x]
            nib.save(nib.Nifti1Image(image.T.copy(), np.eye(4)), self.dir / "images" / f"{case}.nii.gz")
            nib.save(nib.Nifti1Image(labels_of(image).T.copy(), np.eye(4)), self.dir / "labels" / f"{case}.nii.gz")
        model = self.dir / "unet3d.imamodel"
        ima_ok("train", "--images", self.dir / "images", "--labels", self.dir / "labels", "--out", model,
               "--dims", "3", "--features", "2", "--stages", "2", "--norm", "batch", "--normalization", "ct",
               "--ct-window", "-100,100", "--patch", "16,16,8", "--batch", "2", "--epochs", "1", "--iterations", "2",
               "--device", "cpu", "--threads", "1", "--quiet")
        net = self.assertPythonReproducesTheProject(model, image)
        self.assertEqual(net.dims, 3)
        moved = [b for k, b in net.state_dict().items() if k.endswith("running_var")]
        self.assertTrue(moved and any(not torch.equal(b, torch.ones_like(b)) for b in moved))

    def tiny_unet(self, name):
        """A one-iteration 2D U-Net of our own (not TorchScript), written to NAME.imamodel."""
        image = np.zeros((16, 16), np.float32)
        image[4:12, 4:12] = 100
        model = self.dir / f"{name}.imamodel"
        imaseg.train([image], [labels_of(image)], model, epochs=1, iterations=1, features=2, stages=2,
                     device="cpu", threads=1)
        return model

    def test_torchscript_export_of_the_unet_is_refused(self):
        model = self.tiny_unet("refused")
        out = self.dir / "refused.pt"
        r = ima("export", model, "--torchscript", out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("only imported TorchScript networks", r.stderr)
        self.assertIn("state dict", r.stderr)
        self.assertFalse(out.exists())
        with self.assertRaisesRegex(imaseg.Error, "only imported TorchScript networks"):
            imaseg.Model(model).export_torchscript(out)
        self.assertFalse(out.exists())
        r = ima("export", model)
        self.assertEqual(r.returncode, 2)
        self.assertIn("exactly one of --torchscript", r.stderr)

    def test_an_export_never_replaces_its_model(self):
        model = self.tiny_unet("kept")
        before = model.read_bytes()
        link = self.dir / "kept-link.pt"
        link.symlink_to(model)
        for spelling in (model, link, self.dir / ".." / self.dir.name / "kept.imamodel"):
            with self.subTest(str(spelling)):
                r = ima("export", model, "--state-dict", spelling, "--force")
                self.assertEqual(r.returncode, 1)
                self.assertIn("is the input", r.stderr)
                with self.assertRaisesRegex(imaseg.Error, "is the input"):
                    imaseg.Model(model).export_state_dict(spelling)
                self.assertEqual(model.read_bytes(), before)


if __name__ == "__main__":
    unittest.main()
