"""Bad files for `ima import` and imaseg.import_torchscript (docs/import.md §2): wrong output shape,
a label map instead of logits, a wrong class count, a patch size the network rejects, a file that is
not TorchScript, a missing sidecar field. Each is exit code 1 / imaseg.Error with a message naming
the culprit file and the problem, and no output file. An import never writes over its own inputs.
"""
import json
import tempfile
import unittest
from pathlib import Path


from torchscript_networks import ima, monai_traced, nnunet_scripted, save, sidecar
import torch  # after torchscript_networks, which skips the test without python3-torch
from torch import nn

import imaseg


class ArgmaxNet(nn.Module):  # returns a label map, not logits
    def forward(self, x):
        return torch.cat([x, -x, x * 0], 1).argmax(1, keepdim=True)


class HalfSizeNet(nn.Module):  # returns logits at half the input size
    def forward(self, x):
        return nn.functional.avg_pool2d(torch.cat([x, -x, x * 0], 1), 2)


class BadFilesTest(unittest.TestCase):
    def test_bad_files_are_clear_errors_without_output(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            save(nnunet_scripted(), d, "nnunet")
            save(monai_traced(), d, "monai")
            torch.jit.script(ArgmaxNet()).save(str(d / "argmax.pt"))
            torch.jit.script(HalfSizeNet()).save(str(d / "half.pt"))
            (d / "notscript.pt").write_text("this is not a TorchScript archive")
            (d / "classes.json").write_text(json.dumps(sidecar(classes=4)))
            (d / "patch18.json").write_text(json.dumps(sidecar(patch=(18, 18))))
            (d / "nopatch.json").write_text(json.dumps(sidecar(drop="patch_size")))
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
                    out = d / "bad.imamodel"
                    r = ima("import", "--torchscript", d / script, "--sidecar", d / meta, "--out", out)
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertIn(message, r.stderr)
                    self.assertIn(culprit, r.stderr)
                    self.assertFalse(out.exists())
                    with self.assertRaises(imaseg.Error) as caught:
                        imaseg.import_torchscript(d / script, d / meta, out)
                    self.assertIn(message, caught.exception.message)
                    self.assertIn(culprit, caught.exception.message)
                    self.assertFalse(out.exists())

    def test_an_import_never_replaces_its_inputs(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            save(nnunet_scripted(), d, "nnunet")
            inputs = {name: (d / name).read_bytes() for name in ("nnunet.pt", "nnunet.json")}
            for name in inputs:
                with self.subTest(output=name):
                    r = ima("import", "--torchscript", d / "nnunet.pt", "--sidecar", d / "nnunet.json",
                            "--out", d / name, "--force")
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertIn("is the input", r.stderr)
                    with self.assertRaisesRegex(imaseg.Error, "is the input"):
                        imaseg.import_torchscript(d / "nnunet.pt", d / "nnunet.json", d / name)
                    for kept, content in inputs.items():
                        self.assertEqual((d / kept).read_bytes(), content, kept)


if __name__ == "__main__":
    unittest.main()
