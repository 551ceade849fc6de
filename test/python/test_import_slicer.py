"""Slicer's IMASegment takes a TorchScript file plus its sidecar as the model (docs/slicer.md):
the label map equals the argmax of PyTorch's own forward of the same network.
"""
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

from torchscript_networks import nnunet_scripted, python_probabilities, save, test_image


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


if __name__ == "__main__":
    unittest.main()
