"""`ima import` (docs/import.md): an nnU-Net-style scripted network and a MONAI-style traced one,
imported with a sidecar and with flags, segment as PyTorch's own forward does (probabilities within
1e-5, the same argmax).
"""
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np

from torchscript_networks import (LABELS, WINDOW, ima_ok, monai_traced, nnunet_scripted, python_probabilities, save,
                                  test_image)

import imaseg


class ImportCommandTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cls.image, _ = test_image()
        cls.nets = {"nnunet": nnunet_scripted(), "monai": monai_traced()}
        cls.files = {name: save(net, cls.dir, name) for name, net in cls.nets.items()}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assertMatchesPython(self, model, module):
        labels, probs = imaseg.segment(model, self.image, probabilities=True, device="cpu", threads=1)
        expected = python_probabilities(module, self.image)
        np.testing.assert_allclose(probs, expected, atol=1e-5)
        np.testing.assert_array_equal(labels, expected.argmax(0))

    def test_import_with_sidecar_segments_like_python(self):
        for name, (script, meta) in self.files.items():
            with self.subTest(name):
                out = self.dir / f"{name}-cli.imamodel"
                ima_ok("import", "--torchscript", script, "--sidecar", meta, "--out", out)
                info = json.loads(ima_ok("info", out, "--json").stdout)
                self.assertEqual(info["network"]["kind"], "torchscript")
                self.assertEqual([l["name"] for l in info["labels"]], LABELS)
                self.assertMatchesPython(out, self.nets[name])

    def test_import_with_flags_equals_sidecar_import(self):
        out = self.dir / "flags.imamodel"
        ima_ok("import", "--torchscript", self.files["nnunet"][0], "--dims", "2", "--patch", "16,16",
               "--labels-names", ",".join(LABELS), "--normalization", "ct", "--window", "-100,100", "--out", out)
        info = json.loads(ima_ok("info", out, "--json").stdout)
        self.assertEqual(info["network"]["classes"], 3)
        self.assertEqual(info["patch_size"], [16, 16])
        self.assertEqual(info["normalization"]["window"], list(WINDOW))
        self.assertMatchesPython(out, self.nets["nnunet"])


if __name__ == "__main__":
    unittest.main()
