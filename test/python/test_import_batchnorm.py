"""BatchNorm when an imported network is fine-tuned (docs/import.md §1): a scripted MONAI-style
residual U-Net with BatchNorm, fine-tuned for one iteration, has the running statistics PyTorch's
train mode gives on the same batch (oracle: the same module from the same file, run once in train
mode in Python on the same normalised patch: running = (1 - momentum) * running + momentum * batch
statistic, unbiased variance), and the fine-tuned model segments with the running statistics, i.e.
as PyTorch's eval mode, not with the statistics of the batch.

The batch is known here because the image is the patch (the only start is the origin) and is
symmetric under both axis flips, so the trainer's random flips leave it unchanged.
"""
import tempfile
import unittest
from pathlib import Path

import numpy as np

from torchscript_networks import PATCH, ima_ok, monai_scripted, normalized, python_probabilities, save
import torch  # after torchscript_networks, which skips the test without python3-torch

import imaseg


def flip_symmetric_image():
    quarter = np.random.default_rng(7).uniform(-150, 150, (PATCH[0] // 2, PATCH[1] // 2)).astype(np.float32)
    half = np.concatenate([quarter, quarter[:, ::-1]], 1)
    return np.ascontiguousarray(np.concatenate([half, half[::-1]], 0))


def batchnorm_buffers(module):
    return {k: v.clone() for k, v in module.named_buffers() if k.rsplit(".", 1)[-1].startswith(("running", "num_"))}


class BatchNormFineTuningTest(unittest.TestCase):
    def test_running_statistics_follow_pytorch_train_mode_and_eval_uses_them(self):
        image = flip_symmetric_image()
        np.testing.assert_array_equal(image, image[::-1, ::-1])
        labels = (image > 40).astype(np.uint8) + (image > 100).astype(np.uint8)
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            script, meta = save(monai_scripted(), d, "monai")
            imported = imaseg.import_torchscript(script, meta, d / "monai.imamodel")
            tuned = d / "tuned.imamodel"
            imaseg.train([image], [labels], tuned, init=imported, method="standard", epochs=1, iterations=1,
                         batch_size=1, learning_rate=0.01, device="cpu", threads=1)
            ima_ok("export", tuned, "--torchscript", d / "tuned.pt")
            exported = torch.jit.load(str(d / "tuned.pt"))

            oracle = torch.jit.load(str(script))
            before = batchnorm_buffers(oracle)
            oracle.train()
            with torch.no_grad():
                oracle(torch.from_numpy(normalized(image)[None, None].astype(np.float32)))
            expected, got = batchnorm_buffers(oracle), batchnorm_buffers(exported)
            self.assertEqual(expected.keys(), got.keys())
            self.assertEqual(len([k for k in got if k.endswith("running_mean")]), 6)
            for name in expected:
                with self.subTest(name):
                    if name.endswith("num_batches_tracked"):
                        self.assertEqual(int(got[name]), int(before[name]) + 1)
                        continue
                    self.assertGreater((expected[name] - before[name]).abs().max(), 1e-3)  # the batch moved them
                    torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5)

            probs = imaseg.segment(tuned, image, probabilities=True, device="cpu", threads=1)[1]
            np.testing.assert_allclose(probs, python_probabilities(exported, image), atol=1e-5)
            batch_statistics = torch.jit.load(str(d / "tuned.pt")).train()
            with torch.no_grad():
                logits = batch_statistics(torch.from_numpy(normalized(image)[None, None].astype(np.float32)))
            self.assertGreater(np.abs(probs - torch.softmax(logits, 1)[0].numpy()).max(), 1e-3)


if __name__ == "__main__":
    unittest.main()
