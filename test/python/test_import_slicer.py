"""Slicer's IMASegment, IMAEvaluate and IMAHarden take a TorchScript file plus its sidecar as the
model (docs/slicer.md). Oracles: IMASegment's label map is the argmax of PyTorch's own forward of
the same network; IMAEvaluate's clean counts are that argmax's TP/FP/FN against the labels;
IMAHarden's output is an imported model whose exported TorchScript file gives, under PyTorch, the
probabilities the project computes with it, and that differ from the network it started from.
"""
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

from torchscript_networks import ima_ok, nnunet_scripted, python_probabilities, save, test_image

import torch  # after torchscript_networks, which skips the test without python3-torch

import imaseg


class SlicerSidecarTest(unittest.TestCase):
    def setUp(self):
        import nibabel as nib
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = Path(self.tmp.name)
        self.image, self.labels = test_image()
        self.net = nnunet_scripted()
        self.script, self.meta = save(self.net, self.dir, "nnunet")
        self.volume, self.label = self.dir / "slicer-in.nii.gz", self.dir / "slicer-label.nii.gz"
        nib.save(nib.Nifti1Image(self.image.T.copy(), np.eye(4)), self.volume)  # nibabel arrays are [x, y]
        nib.save(nib.Nifti1Image(self.labels.T.copy(), np.eye(4)), self.label)

    def run_module(self, variable, *args):
        """Runs the Slicer module named by the environment variable with the TorchScript model."""
        r = subprocess.run([os.environ[variable], "--model", self.script, "--modelSidecar", self.meta,
                            "--device", "cpu", *map(str, args)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_slicer_segment_module_takes_a_torchscript_file_and_sidecar(self):
        import nibabel as nib
        output = self.dir / "slicer-out.nii.gz"
        self.run_module("IMA_SLICER_SEGMENT", self.volume, output)
        labels = np.asarray(nib.load(output).dataobj).T
        np.testing.assert_array_equal(labels, python_probabilities(self.net, self.image).argmax(0))

    def test_slicer_evaluate_module_takes_a_torchscript_file_and_sidecar(self):
        import json
        report = self.dir / "report.json"
        self.run_module("IMA_SLICER_EVALUATE", "--report", report, "--budgets", "0", "--steps", "1", "--threads", "1",
                        self.volume, self.label)
        clean = json.loads(report.read_text())["attacks"][0]["budgets"][0]
        predicted, labels = python_probabilities(self.net, self.image).argmax(0), self.labels
        expected = [{"tp": int(((predicted == k) & (labels == k)).sum()),
                     "fp": int(((predicted == k) & (labels != k)).sum()),
                     "fn": int(((predicted != k) & (labels == k)).sum())} for k in (1, 2)]
        self.assertEqual(clean["class_counts"], expected)

    def test_slicer_harden_module_takes_a_torchscript_file_and_sidecar(self):
        hardened, exported = self.dir / "hardened.imamodel", self.dir / "hardened.pt"
        self.run_module("IMA_SLICER_HARDEN", "--outputModel", hardened, "--epochs", "1", "--iterations", "2",
                        "--batch", "2", "--pgdSteps", "2", "--bisectionSteps", "2", "--learningRate", "0.01",
                        "--threads", "1", self.volume, self.label)
        ima_ok("export", hardened, "--torchscript", exported)
        _, probs = imaseg.segment(hardened, self.image, probabilities=True, device="cpu", threads=1)
        reloaded = python_probabilities(torch.jit.load(str(exported)), self.image)
        np.testing.assert_allclose(reloaded, probs, atol=1e-5)
        self.assertGreater(np.abs(probs - python_probabilities(self.net, self.image)).max(), 1e-4)


if __name__ == "__main__":
    unittest.main()
