"""imaseg (wrapping/python) against independent oracles: the `ima` command line on the same data
(segment, attack), NIfTI files written and read by nibabel and by ITK (axis order, geometry),
numpy's own overlap counts (evaluate), and the C API's error messages.

Run by ctest with Debian's python3 (python3-numpy, python3-nibabel); needs IMA_LIBRARY (libima.so),
IMA_EXECUTABLE (the ima command line) and wrapping/python on PYTHONPATH.
"""
import math
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

import nibabel as nib
import numpy as np

import imaseg

IMA = os.environ["IMA_EXECUTABLE"]
SHAPE = (24, 32)  # [y, x]


def disk_case(cy, cx, seed):
    """A bright disk (label 1) on a darker noisy background, [y, x]."""
    y, x = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    labels = ((y - cy) ** 2 + (x - cx) ** 2 <= 36).astype(np.uint8)
    noise = np.random.default_rng(seed).uniform(-5, 5, SHAPE)
    return (np.where(labels == 1, 100.0, 20.0) + noise).astype(np.float32), labels


def run_ima(*args):
    result = subprocess.run([IMA, *map(str, args), "--device", "cpu", "--threads", "1", "--quiet"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"ima {' '.join(map(str, args))} failed: {result.stderr}")


def nrrd_header(path):
    """The text header of a .nrrd file (attached data follows a blank line)."""
    head = Path(path).read_bytes().split(b"\n\n", 1)[0].decode()
    return dict(line.split(": ", 1) for line in head.splitlines()[1:] if ": " in line and not line.startswith("#"))


def vectors(text):
    """'(1,0,0) (0,1,0)' -> [[1, 0, 0], [0, 1, 0]]."""
    return [[float(v) for v in group.strip("() ").split(",")] for group in text.split()]


class ImasegTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cases = [disk_case(8, 10, 1), disk_case(14, 20, 2), disk_case(10, 22, 3), disk_case(15, 9, 4)]
        cls.images = [c[0] for c in cases]
        cls.labels = [c[1] for c in cases]
        cls.model = imaseg.train(cls.images, cls.labels, cls.dir / "model.imamodel", epochs=1, iterations=6,
                                 batch_size=2, features=4, stages=2, learning_rate=0.05, device="cpu", threads=1)
        cls.test_image, cls.test_labels = disk_case(12, 16, 5)

    @classmethod
    def tearDownClass(cls):
        cls.model.close()
        cls.tmp.cleanup()

    # ---------------------------------------------------------------- model
    def test_model_and_metadata(self):
        m = self.model
        self.assertEqual((m.dims, m.in_channels, m.classes), (2, 1, 2))
        self.assertEqual(m.labels, {1: "label 1"})
        self.assertEqual(m.metadata["training"]["method"], "standard")
        self.assertEqual(m.metadata["patch_size"], [32, 24])  # ITK order (x, y): the whole slice
        self.assertRegex(imaseg.version(), r"^\d+\.\d+\.\d+$")

    # ---------------------------------------------------------------- segment
    def test_segment_equals_command_line(self):
        spacing, origin = (0.75, 1.25), (-12.5, 40.0)
        affine = np.diag([-spacing[0], -spacing[1], 1.0, 1.0])  # LPS identity direction in RAS
        affine[:2, 3] = [-origin[0], -origin[1]]
        nib.save(nib.Nifti1Image(self.test_image.T, affine), self.dir / "test.nii.gz")
        run_ima("segment", "--model", self.model.path, "--input", self.dir / "test.nii.gz", "--output",
                self.dir / "cli_seg.nii.gz", "--probabilities", self.dir / "cli_prob.nii.gz", "--force")
        cli_labels = np.asarray(nib.load(self.dir / "cli_seg.nii.gz").dataobj).T
        cli_probabilities = np.asarray(nib.load(self.dir / "cli_prob.nii.gz").dataobj).reshape(32, 24, 2).T

        labels, probabilities = imaseg.segment(self.model, self.test_image, spacing, origin, probabilities=True,
                                               device="cpu", threads=1)
        self.assertEqual(labels.shape, SHAPE)
        self.assertEqual(labels.dtype, np.uint8)
        np.testing.assert_array_equal(labels, cli_labels)
        self.assertEqual(probabilities.shape, (2,) + SHAPE)
        np.testing.assert_allclose(probabilities, cli_probabilities, atol=1e-5)
        self.assertTrue(0 < labels.sum() < labels.size)

    def test_nifti_round_trip_axis_order_and_geometry(self):
        # A 3D volume [z, y, x] with distinct extents, oblique and flipped axes, written by nibabel with
        # a RAS affine built by hand, segmented by imaseg (2D model: slice by slice along z) and by
        # `ima segment` (ITK's NIfTI reader and writer).
        volume = np.stack([disk_case(8 + k, 10 + 3 * k, 10 + k)[0] for k in range(5)])
        c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
        ras_axes = np.array([[c, -s, 0], [s, c, 0], [0, 0, -1]])  # columns: x, y, z axis directions (RAS)
        spacing, origin_ras = np.array([0.8, 1.1, 2.5]), np.array([10.0, -20.0, 35.0])
        affine = np.eye(4)
        affine[:3, :3] = ras_axes * spacing
        affine[:3, 3] = origin_ras
        nib.save(nib.Nifti1Image(volume.transpose(), affine), self.dir / "volume.nii.gz")

        array, sp, org, direction = imaseg.from_nibabel(nib.load(self.dir / "volume.nii.gz"))
        np.testing.assert_array_equal(array, volume)  # [z, y, x] back
        labels = imaseg.segment(self.model, array, sp, org, direction, device="cpu", threads=1)
        self.assertEqual(labels.shape, volume.shape)
        for k in range(volume.shape[0]):  # the first numpy axis is z: slice k is a 2D image
            np.testing.assert_array_equal(labels[k], imaseg.segment(self.model, volume[k], device="cpu", threads=1))

        # ITK writes the labels with the input's geometry: nibabel sees the same affine and axes.
        run_ima("segment", "--model", self.model.path, "--input", self.dir / "volume.nii.gz", "--output",
                self.dir / "volume_seg.nii.gz", "--force")
        written = nib.load(self.dir / "volume_seg.nii.gz")
        np.testing.assert_allclose(written.affine, affine, atol=1e-4)
        np.testing.assert_array_equal(imaseg.to_nibabel_array(labels), np.asarray(written.dataobj))

        # What ITK made of the file (LPS), from a NRRD header, equals imaseg's reading of the affine.
        run_ima("segment", "--model", self.model.path, "--input", self.dir / "volume.nii.gz", "--output",
                self.dir / "volume_seg.nrrd", "--force")
        header = nrrd_header(self.dir / "volume_seg.nrrd")
        self.assertEqual(header["space"], "left-posterior-superior")
        self.assertEqual([int(v) for v in header["sizes"].split()], [32, 24, 5])  # x, y, z
        np.testing.assert_allclose(vectors(header["space origin"])[0], org, atol=1e-4)
        itk_axes = np.array(vectors(header["space directions"])).T  # columns = axis vectors (mm)
        np.testing.assert_allclose(itk_axes, np.asarray(direction) * sp, atol=1e-4)
        np.testing.assert_allclose(imaseg.nifti_affine(sp, org, direction), affine, atol=1e-6)

    # ---------------------------------------------------------------- errors
    def test_errors_become_exceptions_with_the_c_message(self):
        with self.assertRaises(imaseg.Error) as e:
            imaseg.Model(self.dir / "missing.imamodel")
        self.assertEqual(e.exception.status, "IMA_ERROR_INPUT")
        self.assertIn("missing.imamodel", e.exception.message)

        with self.assertRaises(imaseg.Error) as e:
            imaseg.segment(self.model, np.zeros((2, 2, 2, 2, 2), np.float32))
        self.assertEqual(e.exception.status, "IMA_ERROR_INVALID_ARGUMENT")
        self.assertIn("image.dims is 5", e.exception.message)

        with self.assertRaises(imaseg.Error) as e:
            imaseg.segment(self.model, self.test_image, device="gpu")
        self.assertIn("device is 'gpu'", e.exception.message)

        nan_image = self.test_image.copy()
        nan_image[3, 4] = np.nan
        with self.assertRaises(imaseg.Error) as e:
            imaseg.segment(self.model, nan_image, threads=1)
        self.assertEqual(e.exception.status, "IMA_ERROR_INPUT")
        self.assertIn("nan", e.exception.message)

        with self.assertRaises(imaseg.Error) as e:
            imaseg.train(self.images, self.labels, self.dir / "bad.imamodel", method="fgsm")
        self.assertIn("options.method is 'fgsm'", e.exception.message)
        with self.assertRaises(imaseg.Error) as e:
            imaseg.train([self.dir / "none.nii.gz"], [self.dir / "none_seg.nii.gz"], self.dir / "bad.imamodel")
        self.assertIn("none.nii.gz", e.exception.message)
        self.assertFalse((self.dir / "bad.imamodel").exists())

    def test_channels_first_for_multichannel_models(self):
        two = [np.stack([image, image[::-1]]) for image in self.images]  # [2, y, x]
        model = imaseg.train(two, self.labels, self.dir / "two.imamodel", channels=2, epochs=1, iterations=1,
                             features=4, stages=2, device="cpu", threads=1)
        self.assertEqual(model.in_channels, 2)
        self.assertEqual(imaseg.segment(model, two[0], threads=1).shape, SHAPE)
        with self.assertRaises(imaseg.Error) as e:
            imaseg.segment(model, np.stack([self.test_image] * 3), threads=1)
        self.assertEqual(e.exception.status, "IMA_ERROR_INPUT")
        self.assertIn("3 channel(s)", e.exception.message)
        self.assertIn("expects 2", e.exception.message)

    # ---------------------------------------------------------------- cancel
    def test_progress_cancels(self):
        calls = []

        def cancel_at_second(fraction, stage):
            calls.append((fraction, stage))
            return len(calls) >= 2

        output = self.dir / "cancelled.imamodel"
        with self.assertRaises(imaseg.Cancelled):
            imaseg.train(self.images, self.labels, output, epochs=1, iterations=10, features=4, stages=2,
                         device="cpu", threads=1, progress=cancel_at_second)
        self.assertEqual(len(calls), 2)
        self.assertEqual(calls[0][1], "train")
        self.assertFalse(output.exists())

        def fails(fraction, stage):
            raise ValueError("from the callback")

        with self.assertRaisesRegex(ValueError, "from the callback"):
            imaseg.segment(self.model, self.test_image, threads=1, progress=fails)

    # ---------------------------------------------------------------- training methods
    def test_ima_hardening_from_a_model(self):
        hardened = imaseg.train(self.images, self.labels, self.dir / "hardened.imamodel", init=self.model,
                                method="ima", epochs=1, iterations=2, bisection_steps=2,
                                eps_max=0.5, device="cpu", threads=1)
        self.assertEqual(hardened.metadata["training"]["method"], "ima")
        # pgd_steps=0 (the default) is IMA's own: 2 steps.
        self.assertEqual(hardened.metadata["training"]["settings"]["adversarial"]["pgd_steps"], 2)
        self.assertEqual(hardened.metadata["training"]["provenance"]["initialized_from"], self.model.path)
        # The handle it started from is unchanged.
        np.testing.assert_array_equal(imaseg.segment(self.model, self.test_image, threads=1),
                                      imaseg.segment(self.model.path, self.test_image, threads=1))

    def test_attack_clamp_is_recorded_and_an_empty_range_rejected(self):
        # Recorded in the model's training settings as `ima train --attack-clamp` records it.
        self.assertIsNone(self.model.metadata["training"]["settings"]["adversarial"]["clamp"])
        clamped = imaseg.train(self.images, self.labels, self.dir / "clamped.imamodel", init=self.model,
                               method="pgd", epochs=1, iterations=1, pgd_steps=2, attack_clamp=(-1.5, 2.5),
                               device="cpu", threads=1)
        self.assertEqual(clamped.metadata["training"]["settings"]["adversarial"]["clamp"], [-1.5, 2.5])
        with self.assertRaises(imaseg.Error) as e:
            imaseg.train(self.images, self.labels, self.dir / "empty.imamodel", method="pgd",
                         attack_clamp=(2, 1))
        self.assertEqual(e.exception.status, "IMA_ERROR_INVALID_ARGUMENT")
        self.assertIn("attack_clamp_range is [2, 1]", e.exception.message)
        self.assertFalse((self.dir / "empty.imamodel").exists())

    def test_warm_start_and_bisection_tolerance_are_recorded_and_a_bad_tolerance_rejected(self):
        # Recorded as `ima train --warm-start off --bisection-tolerance 0.25` records them.
        adversarial = self.model.metadata["training"]["settings"]["adversarial"]
        self.assertEqual((adversarial["warm_start"], adversarial["bisection_tolerance"]), (True, 0.05))
        cheap = imaseg.train(self.images, self.labels, self.dir / "cold.imamodel", init=self.model, method="ima",
                             epochs=1, iterations=1, pgd_steps=2, bisection_steps=3, warm_start=False,
                             bisection_tolerance=0.25, device="cpu", threads=1)
        adversarial = cheap.metadata["training"]["settings"]["adversarial"]
        self.assertEqual((adversarial["warm_start"], adversarial["bisection_tolerance"]), (False, 0.25))
        with self.assertRaises(imaseg.Error) as e:
            imaseg.train(self.images, self.labels, self.dir / "bad.imamodel", method="ima", bisection_tolerance=1.5)
        self.assertEqual(e.exception.status, "IMA_ERROR_INVALID_ARGUMENT")
        self.assertIn("options.bisection_tolerance", e.exception.message)
        self.assertFalse((self.dir / "bad.imamodel").exists())

    # ---------------------------------------------------------------- files
    def test_files_and_buffers_give_the_same_results(self):
        # The same cases as NIfTI files (read by ITK in libima) and as arrays: training with the same
        # seed gives the same model, and evaluation the same report.
        images, labels = [], []
        for i, (image, label) in enumerate(zip(self.images, self.labels)):
            images.append(self.dir / f"case_{i}.nii.gz")
            labels.append(self.dir / f"case_{i}_labels.nii.gz")
            nib.save(nib.Nifti1Image(image.T, np.eye(4)), images[-1])
            nib.save(nib.Nifti1Image(label.T, np.eye(4)), labels[-1])
        settings = dict(epochs=1, iterations=3, batch_size=2, features=4, stages=2, seed=7, device="cpu", threads=1)
        from_files = imaseg.train(images, labels, self.dir / "files.imamodel", **settings)
        from_arrays = imaseg.train(self.images, self.labels, self.dir / "arrays.imamodel", **settings)
        self.assertEqual(from_files.metadata["training"]["provenance"]["training_cases"],
                         [f"case_{i}" for i in range(4)])
        np.testing.assert_array_equal(imaseg.segment(from_files, self.test_image, probabilities=True, threads=1)[1],
                                      imaseg.segment(from_arrays, self.test_image, probabilities=True, threads=1)[1])

        options = dict(attacks=["fgsm", "noise"], budgets=[0, 0.5], seed=4, device="cpu", threads=1)
        report_files = imaseg.evaluate(self.model, images, labels, **options)
        report_arrays = imaseg.evaluate(self.model, self.images, self.labels, **options)
        self.assertEqual(report_files["attacks"], report_arrays["attacks"])

    # ---------------------------------------------------------------- evaluate, attack
    def test_evaluate_clean_counts_equal_segmentation(self):
        report = imaseg.evaluate(self.model, self.images, self.labels, attacks=["fgsm"], budgets=[0, 0.5],
                                 device="cpu", threads=1)
        self.assertEqual(report["format"], "ima-robustness-report")
        self.assertEqual(report["attacked"], "patch")
        clean = report["attacks"][0]["budgets"][0]
        self.assertEqual(clean["eps"], 0)
        # The patch is the whole image, so the clean patch predictions are segment()'s labels.
        tp = fp = fn = 0
        for image, reference in zip(self.images, self.labels):
            predicted = imaseg.segment(self.model, image, threads=1) == 1
            truth = reference == 1
            tp += int(np.sum(predicted & truth))
            fp += int(np.sum(predicted & ~truth))
            fn += int(np.sum(~predicted & truth))
        self.assertEqual(clean["class_counts"][0], {"tp": tp, "fp": fp, "fn": fn})

    def test_strong_ensemble_keeps_each_cases_lowest_member_dice(self):
        report = imaseg.evaluate(self.model, self.images, self.labels, attacks=["strong"], budgets=[0, 1],
                                 apgd_steps=3, pgd_steps=3, device="cpu", threads=1)
        attacks = {a["name"]: a for a in report["attacks"]}
        ensemble = attacks["strong"]
        self.assertEqual(len(ensemble["members"]), 6)
        for budget, eps in enumerate([0, 1]):
            entry = ensemble["budgets"][budget]
            self.assertEqual(entry["eps"], eps)
            for case, dice in enumerate(entry["case_dice"]):
                member_dice = [attacks[m]["budgets"][budget]["case_dice"][case] for m in ensemble["members"]]
                self.assertEqual(dice, min(member_dice))
                self.assertEqual(attacks[entry["case_worst_attack"][case]]["budgets"][budget]["case_dice"][case],
                                 dice)

    def attack_on_command_line(self, name, *options):
        """`ima attack` on the test image and labels (written as NIfTI under `name`), read back."""
        nib.save(nib.Nifti1Image(self.test_image.T, np.eye(4)), self.dir / f"{name}_in.nii.gz")
        nib.save(nib.Nifti1Image(self.test_labels.T, np.eye(4)), self.dir / f"{name}_labels.nii.gz")
        run_ima("attack", "--model", self.model.path, "--input", self.dir / f"{name}_in.nii.gz", "--label",
                self.dir / f"{name}_labels.nii.gz", "--output", self.dir / f"{name}_out.nii.gz", *options, "--force")
        return np.asarray(nib.load(self.dir / f"{name}_out.nii.gz").dataobj).T

    def test_attack_equals_command_line(self):
        cli = self.attack_on_command_line("attack", "--attack", "pgd", "--eps", "1", "--steps", "5", "--seed", "3")
        adversarial = imaseg.attack(self.model, self.test_image, self.test_labels, method="pgd", eps=1, steps=5,
                                    seed=3, device="cpu", threads=1)
        self.assertEqual(adversarial.shape, SHAPE)
        np.testing.assert_allclose(adversarial, cli, atol=1e-3)
        self.assertGreater(np.abs(adversarial - self.test_image).max(), 0.01)
        unchanged = imaseg.attack(self.model, self.test_image, self.test_labels, method="fgsm", eps=0, threads=1)
        np.testing.assert_array_equal(unchanged, self.test_image)

    def test_whole_volume_attack_equals_command_line_and_keeps_segment_clean(self):
        report = imaseg.evaluate(self.model, self.images, self.labels, attacks=["pgd"], budgets=[0, 1], pgd_steps=2,
                                 attacked="volume", device="cpu", threads=1)
        self.assertEqual(report["attacked"], "volume")
        # The clean point is the deployed prediction: segment()'s labels.
        tp = 0
        for image, reference in zip(self.images, self.labels):
            tp += int(np.sum((imaseg.segment(self.model, image, threads=1) == 1) & (reference == 1)))
        self.assertEqual(report["attacks"][0]["budgets"][0]["class_counts"][0]["tp"], tp)
        cli = self.attack_on_command_line("volume", "--attack", "pgd", "--eps", "1", "--steps", "3", "--attacked",
                                          "volume")
        adversarial = imaseg.attack(self.model, self.test_image, self.test_labels, method="pgd", eps=1, steps=3,
                                    attacked="volume", device="cpu", threads=1)
        np.testing.assert_allclose(adversarial, cli, atol=1e-3)
        self.assertGreater(np.abs(adversarial - self.test_image).max(), 0.01)
        with self.assertRaisesRegex(imaseg.Error, "options.overlap"):
            imaseg.attack(self.model, self.test_image, self.test_labels, attacked="volume", overlap=1.5, threads=1)

    # ---------------------------------------------------------------- documentation
    def test_documented_example_runs(self):
        doc = (Path(__file__).resolve().parents[2] / "docs" / "python.md").read_text()
        code = doc.split("<!-- example: imaseg_example.py -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        work = self.dir / "example"
        work.mkdir()
        environment = dict(os.environ, PYTHONPATH=str(Path(imaseg.__file__).resolve().parents[1]),
                           IMA_LIBRARY=str(Path(os.environ["IMA_LIBRARY"]).resolve()))
        result = subprocess.run(["/usr/bin/python3", "-c", code], cwd=work, env=environment, capture_output=True,
                                text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("foreground voxels:", result.stdout)
        written = nib.load(work / "volume_seg.nii.gz")
        self.assertEqual(written.shape, (32, 32, 4))
        np.testing.assert_allclose(written.affine, np.diag([0.8, 0.8, 2.5, 1.0]))


if __name__ == "__main__":
    unittest.main()
