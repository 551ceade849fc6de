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


def write_case(directory, image, labels):
    import nibabel as nib
    volume, label = directory / "slicer-in.nii.gz", directory / "slicer-label.nii.gz"
    nib.save(nib.Nifti1Image(image.T.copy(), np.eye(4)), volume)  # nibabel arrays are [x, y]
    nib.save(nib.Nifti1Image(labels.T.copy(), np.eye(4)), label)
    return volume, label


class SlicerSidecarTest(unittest.TestCase):
    def test_slicer_segment_module_takes_a_torchscript_file_and_sidecar(self):
        import nibabel as nib
        image, _ = test_image()
        net = nnunet_scripted()
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            script, meta = save(net, d, "nnunet")
            volume, output = d / "slicer-in.nii.gz", d / "slicer-out.nii.gz"
            nib.save(nib.Nifti1Image(image.T.copy(), np.eye(4)), volume)  # nibabel arrays are [x, y]
            r = subprocess.run([os.environ["IMA_SLICER_SEGMENT"], "--model", script, "--modelSidecar", meta,
                                "--device", "cpu", volume, output], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            labels = np.asarray(nib.load(output).dataobj).T
            np.testing.assert_array_equal(labels, python_probabilities(net, image).argmax(0))

    def test_slicer_evaluate_module_takes_a_torchscript_file_and_sidecar(self):
        import json
        image, labels = test_image()
        net = nnunet_scripted()
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            script, meta = save(net, d, "nnunet")
            volume, label = write_case(d, image, labels)
            report = d / "report.json"
            r = subprocess.run([os.environ["IMA_SLICER_EVALUATE"], "--model", script, "--modelSidecar", meta,
                                "--report", report, "--budgets", "0", "--steps", "1", "--device", "cpu",
                                "--threads", "1", volume, label], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            clean = json.loads(report.read_text())["attacks"][0]["budgets"][0]
            predicted = python_probabilities(net, image).argmax(0)
            expected = [{"tp": int(((predicted == k) & (labels == k)).sum()),
                         "fp": int(((predicted == k) & (labels != k)).sum()),
                         "fn": int(((predicted != k) & (labels == k)).sum())} for k in (1, 2)]
            self.assertEqual(clean["class_counts"], expected)

    def test_slicer_harden_module_takes_a_torchscript_file_and_sidecar(self):
        image, labels = test_image()
        net = nnunet_scripted()
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            script, meta = save(net, d, "nnunet")
            volume, label = write_case(d, image, labels)
            hardened = d / "hardened.imamodel"
            r = subprocess.run([os.environ["IMA_SLICER_HARDEN"], "--model", script, "--modelSidecar", meta,
                                "--outputModel", hardened, "--epochs", "1", "--iterations", "2", "--batch", "2",
                                "--pgdSteps", "2", "--bisectionSteps", "2", "--learningRate", "0.01",
                                "--device", "cpu", "--threads", "1", volume, label], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            exported = d / "hardened.pt"
            ima_ok("export", hardened, "--torchscript", exported)
            _, probs = imaseg.segment(hardened, image, probabilities=True, device="cpu", threads=1)
            np.testing.assert_allclose(python_probabilities(torch.jit.load(str(exported)), image), probs, atol=1e-5)
            self.assertGreater(np.abs(probs - python_probabilities(net, image)).max(), 1e-4)


if __name__ == "__main__":
    unittest.main()
