"""imaseg refuses bad input instead of passing it on changed (docs/bad-input.md): label arrays the
uint8 cast would alter, integer options ctypes would wrap, and damaged NIfTI files read through the
C API's file route. Each case states the exact message; the oracle is the damage itself (the value
put in is the value the message must name).

Run by ctest with Debian's python3 (numpy); needs IMA_LIBRARY and wrapping/python on PYTHONPATH.
"""
import struct
import tempfile
import unittest
from pathlib import Path

import numpy as np

import imaseg

SHAPE = (16, 16)


def case(seed):
    rng = np.random.default_rng(seed)
    labels = np.zeros(SHAPE, dtype=np.int64)
    labels[4:10, 5:11] = 1
    return (labels * 80.0 + rng.uniform(0, 5, SHAPE)).astype(np.float32), labels


def nifti_bytes(image):
    """A float32 NIfTI-1 file of a 2D [y, x] array (x fastest), written here byte by byte."""
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 2, image.shape[1], image.shape[0], 1, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 16, 32)  # FLOAT32, 32 bits
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352)  # vox_offset
    struct.pack_into("<hh", header, 252, 0, 1)  # qform_code 0, sform_code 1
    struct.pack_into("<12f", header, 280, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)
    header[344:348] = b"n+1\0"
    return bytes(header) + b"\0" * 4 + image.astype("<f4").tobytes()


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.images, self.labels = zip(*(case(s) for s in (1, 2)))

    def tearDown(self):
        self.tmp.cleanup()

    def train(self, images, labels, **options):
        settings = dict(epochs=1, iterations=1, batch_size=2, features=4, stages=2, device="cpu", threads=1)
        settings.update(options)
        return imaseg.train(images, labels, self.dir / "m.imamodel", **settings)

    def assertRefused(self, message, status="IMA_ERROR_INVALID_ARGUMENT", **options):
        with self.assertRaises(imaseg.Error) as caught:
            self.train(options.pop("images", self.images), options.pop("labels", self.labels), **options)
        self.assertEqual(caught.exception.status, status)
        self.assertIn(message, caught.exception.message)
        self.assertFalse((self.dir / "m.imamodel").exists())

    def test_label_values_outside_0_255_are_refused(self):
        negative = [l.copy() for l in self.labels]
        negative[1][0, 0] = -1  # the uint8 cast would make it 255: a 256-class model
        self.assertRefused("label map 1 holds values -1..1; labels must be in 0..255", labels=negative)
        large = [l.copy() for l in self.labels]
        large[0][3, 3] = 256
        self.assertRefused("label map 0 holds values 0..256; labels must be in 0..255", labels=large)

    def test_non_integer_labels_are_refused(self):
        fractional = [l.astype(np.float64) for l in self.labels]
        fractional[0][2, 2] = 1.5
        self.assertRefused("label map 0 holds non-integer values (e.g. 1.5)", labels=fractional)

    def test_integer_valued_float_labels_are_accepted(self):
        model = self.train(self.images, [l.astype(np.float32) for l in self.labels])
        self.assertEqual(model.classes, 2)

    def test_integer_options_are_range_checked_before_ctypes(self):
        self.assertRefused("epochs = 4294967297 is out of range (-2147483648..2147483647)", epochs=2**32 + 1)
        self.assertRefused("seed = -1 is out of range (0..18446744073709551615)", seed=-1)
        self.assertRefused("batch_size must be a whole number, got 2.5", batch_size=2.5)
        self.assertRefused("patch_size entry = 18446744073709551616 is out of range", patch_size=(2**64, 16))

    def test_training_patch_must_suit_the_init_models_strides(self):
        init = imaseg.train(self.images, self.labels, self.dir / "init.imamodel", epochs=1, iterations=1,
                            batch_size=2, features=4, stages=2, device="cpu", threads=1)
        # 2 stages: sizes must be even; (31, 33) is [y, x] order reversed to ITK's (x, y) = (33, 31).
        self.assertRefused("options.patch_size is 33,31 (expected positive multiples of 2^(stages-1) = 2, at most 4096)",
                           init=init, patch_size=(31, 33))

    def test_nifti_with_nan_sform_is_refused_through_the_file_route(self):
        image_paths, label_paths = [], []
        for i, (image, labels) in enumerate(zip(self.images, self.labels)):
            data = bytearray(nifti_bytes(image))
            if i == 1:
                struct.pack_into("<f", data, 280, float("nan"))  # srow_x[0]
            image_paths.append(self.dir / f"img{i}.nii")
            image_paths[-1].write_bytes(bytes(data))
            label_paths.append(self.dir / f"lab{i}.nii")
            label_paths[-1].write_bytes(nifti_bytes(labels.astype(np.float32)))
        self.assertRefused(f"image '{image_paths[1]}': the NIfTI sform is unusable: srow_x[0] is NaN",
                           status="IMA_ERROR_INPUT", images=[str(p) for p in image_paths],
                           labels=[str(p) for p in label_paths])


if __name__ == "__main__":
    unittest.main()
