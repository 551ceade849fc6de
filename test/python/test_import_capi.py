"""imaseg.import_torchscript (the C API's ima_model_import_torchscript, docs/import.md): the
nnU-Net-style scripted and the MONAI-style traced network segment as PyTorch's own forward does
(probabilities within 1e-5, the same argmax), and the file the C API exports back
(ima_model_export) gives the same output under torch.jit.load; evaluation and attacks take the imported model
(oracles: the clean TP/FP/FN of PyTorch's argmax against the labels; the attack's budget).
"""
import tempfile
import unittest
from pathlib import Path

import numpy as np
from torchscript_networks import monai_traced, nnunet_scripted, python_probabilities, save, test_image

import torch  # after torchscript_networks, which skips the test without python3-torch

import imaseg


class ImportThroughTheCApiTest(unittest.TestCase):
    def test_python_import_segments_like_python(self):
        image, _ = test_image()
        with tempfile.TemporaryDirectory() as tmp:
            for name, net in {"nnunet": nnunet_scripted(), "monai": monai_traced()}.items():
                with self.subTest(name):
                    script, meta = save(net, Path(tmp), name)
                    model = imaseg.import_torchscript(script, meta, Path(tmp) / f"{name}.imamodel")
                    self.assertEqual(model.classes, 3)
                    self.assertEqual(model.metadata["network"]["kind"], "torchscript")
                    labels, probs = imaseg.segment(model, image, probabilities=True, device="cpu", threads=1)
                    expected = python_probabilities(net, image)
                    np.testing.assert_allclose(probs, expected, atol=1e-5)
                    np.testing.assert_array_equal(labels, expected.argmax(0))
                    # Handed back through the C API: the file torch.jit.load reads gives the same output.
                    exported = Path(tmp) / f"{name}-exported.pt"
                    model.export_torchscript(exported)
                    np.testing.assert_allclose(python_probabilities(torch.jit.load(str(exported)), image),
                                               probs, atol=1e-5)

    def test_evaluate_and_attack_take_an_imported_model(self):
        image, labels = test_image()
        net = nnunet_scripted()
        with tempfile.TemporaryDirectory() as tmp:
            script, meta = save(net, Path(tmp), "nnunet")
            model = imaseg.import_torchscript(script, meta, Path(tmp) / "nnunet.imamodel")
            report = imaseg.evaluate(model, [image], [labels], attacks=("pgd",), budgets=(0, 0.5), pgd_steps=2,
                                     device="cpu", threads=1)
            clean = report["attacks"][0]["budgets"][0]
            self.assertEqual(clean["eps"], 0)
            predicted = python_probabilities(net, image).argmax(0)
            expected = [{"tp": int(((predicted == k) & (labels == k)).sum()),
                         "fp": int(((predicted == k) & (labels != k)).sum()),
                         "fn": int(((predicted != k) & (labels == k)).sum())} for k in (1, 2)]
            self.assertEqual(clean["class_counts"], expected)
            adversarial = imaseg.attack(model, image, labels, method="pgd", eps=0.5, norm="l2", steps=2,
                                        device="cpu", threads=1)
            # The budget is in normalised units: the CT window maps 100 HU to 1.
            distance = np.linalg.norm((adversarial - image).astype(np.float64)) / 100.0
            self.assertGreater(distance, 0.0)
            self.assertLessEqual(distance, 0.5 + 1e-4)


if __name__ == "__main__":
    unittest.main()
