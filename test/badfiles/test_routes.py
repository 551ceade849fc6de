"""Every damaged file of the corpus through every route: the command line (`ima segment`), the C
API (`ima_train_files`, from the C program imaBadFilesCAPI) and Python (`imaseg.train` with
paths). Each must refuse the file with the corpus's message naming it, exit non-zero (status not
IMA_OK, imaseg.Error), write no output and leave every input byte for byte as it was.

pydicom's own test files, each as a one-file series, go the same ways: each is either read, and
then its segmentation has the size and pixel spacing pydicom reads from the file, or refused with
the message listed for its kind below. A pydicom file in none of the lists fails the test, so a new
file's behaviour is decided, not assumed.

Needs IMA_EXECUTABLE, IMA_LIBRARY, IMA_BADFILES_CAPI and wrapping/python on PYTHONPATH (ctest
sets them). Run with Debian's python3 (numpy, nibabel, pydicom).
"""
import hashlib
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import nibabel
import numpy as np
import pydicom

import corpus
import imaseg

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"

# pydicom's files by the behaviour they must get. Refused on every route:
REFUSED = {
    "which DCMTK cannot decode": [  # JPEG 2000 transfer syntaxes
        "693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm", "J2K_pixelrep_mismatch.dcm",
        "JPEG2000-embedded-sequence-delimiter.dcm", "JPEG2000.dcm", "MR_small_jp2klossless.dcm",
        "SC_rgb_gdcm_KY.dcm"],
    "(truncated or damaged file?)": ["MR_truncated.dcm", "SC_rgb_jpeg.dcm", "rtplan_truncated.dcm"],
    "has an invalid Number of Frames (0028,0008) '1A' (not a whole number)": ["badVR.dcm"],
    "has no Series Instance UID (0020,000E)": ["meta_missing_tsyntax.dcm", "nested_priv_SQ.dcm"],
    # Chroma-subsampled YCbCr: its pixel data has the 4:2:2 size, and the colour model is not read.
    "has photometric interpretation 'YBR_FULL_422' with 3 samples per pixel": ["SC_ybr_full_422_uncompressed.dcm"],
    "no DICOM image series in": [  # no pixel data (reports, plans, structures, waveforms), a SEG, not DICOM
        "ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm", "README.txt", "UN_sequence.dcm",
        "empty_charset_LEI.dcm", "liver_1frame.dcm", "liver_expb_1frame.dcm", "no_meta.dcm",
        "no_meta_group_length.dcm", "priv_SQ.dcm", "reportsi.dcm", "reportsi_with_empty_number_tags.dcm",
        "rtplan.dcm", "rtplan.dump", "rtstruct.dcm", "rtstruct.dump", "test-SR.dcm", "test1.json",
        "test_PN.json", "waveform_ecg.dcm", "zipMR.gz"],
}
# Read, but refused by a one-channel model (colour images): `ima segment` only, since training a
# new model takes their three channels.
COLOUR = ["ExplVR_BigEnd.dcm", "SC_jpeg_no_color_transform.dcm", "SC_jpeg_no_color_transform_2.dcm",
          "SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm", "SC_rgb_dcmtk_+eb+cy+n2.dcm",
          "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb_dcmtk_+eb+cy+s4.dcm",
          "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_jpeg_dcmd.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_jpeg_gdcm.dcm",
          "SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_rle.dcm", "SC_rgb_rle_16bit.dcm", "SC_rgb_rle_16bit_2frame.dcm",
          "SC_rgb_rle_2frame.dcm", "SC_rgb_rle_32bit.dcm", "SC_rgb_rle_32bit_2frame.dcm", "SC_rgb_small_odd.dcm",
          "SC_rgb_small_odd_jpeg.dcm"]
# A folder of 24 series (a DICOMDIR's): `ima segment` asks for --series.
SEVERAL_SERIES = {"dicomdirtests": "holds 24 DICOM series; choose one with --series"}
# Read and segmented.
READ = ["CT_small.dcm", "JPEG-lossy.dcm", "JPGExtended.dcm", "MR_small.dcm", "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_implicit.dcm", "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm", "image_dfl.dcm", "rtdose.dcm", "rtdose_1frame.dcm", "rtdose_expb.dcm",
        "rtdose_expb_1frame.dcm", "rtdose_rle.dcm", "rtdose_rle_1frame.dcm"]


def digest(directory):
    """Every file under directory with the SHA-256 of its bytes: inputs must not change."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).rglob("*")) if p.is_file()}


def refused_pydicom_series(root):
    """(series folder, message) of the pydicom files refused on every route, one folder each."""
    cases = []
    for message, names in REFUSED.items():
        for name in names:
            cases.append((one_file_series(root, name), message))
    return cases


def one_file_series(root, name):
    folder = Path(root) / "series" / name
    if not folder.exists():
        folder.mkdir(parents=True)
        source = PYDICOM_FILES / name
        (shutil.copytree(source, folder / name) if source.is_dir() else shutil.copy(source, folder / name))
    return folder


class Corpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cls.files, cls.labels = corpus.write(cls.dir / "bad")
        cls.pydicom = refused_pydicom_series(cls.dir)
        cls.out = cls.dir / "out" / "result.nii.gz"
        cls.out.parent.mkdir()
        # A tiny 2D model for `ima segment` (it segments 3D volumes slice by slice).
        rng = np.random.default_rng(1)
        labels = np.zeros((16, 16), dtype=np.uint8)
        labels[4:10, 5:11] = 1
        cls.model = cls.dir / "model.imamodel"
        imaseg.train([(labels * 50 + rng.uniform(0, 5, labels.shape)).astype(np.float32)] * 2, [labels] * 2,
                     cls.model, epochs=1, iterations=1, batch_size=2, features=4, stages=2, device="cpu", threads=1)
        cls.before = digest(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def tearDown(self):
        self.assertFalse(self.out.exists(), "an output was written")
        self.assertEqual(list(self.out.parent.iterdir()), [], "a file was left in the output folder")
        self.assertEqual(digest(self.dir / "bad"), {p: h for p, h in self.before.items() if "bad" in p.parts})

    def segment(self, image):
        return subprocess.run([os.environ["IMA_EXECUTABLE"], "segment", "--model", str(self.model), "--input",
                               str(image), "--output", str(self.out), "--quiet", "--threads", "1"],
                              capture_output=True, text=True, timeout=120)

    def assertCliRefuses(self, image, message):
        r = self.segment(image)
        self.assertEqual(r.returncode, 1, f"{image}: {r.stderr}")
        self.assertIn(message, r.stderr, image)
        self.assertIn(str(image), r.stderr, "the message names the input")
        self.assertFalse(self.out.exists(), image)


class CommandLine(Corpus):
    def test_every_damaged_image_is_refused(self):
        for path, message in self.files:
            with self.subTest(path.name):
                self.assertCliRefuses(path, message)

    def test_pydicom_files_refused_with_their_kind(self):
        for folder, message in self.pydicom:
            with self.subTest(folder.name):
                self.assertCliRefuses(folder, message)
        for name in COLOUR:
            with self.subTest(name):
                self.assertCliRefuses(one_file_series(self.dir, name), "has 3 channel(s) but model")
        for name, message in SEVERAL_SERIES.items():
            with self.subTest(name):
                self.assertCliRefuses(one_file_series(self.dir, name), message)

    def test_pydicom_files_read_have_the_size_and_spacing_pydicom_reads(self):
        for name in READ:
            with self.subTest(name):
                r = self.segment(one_file_series(self.dir, name))
                self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
                try:
                    ds = pydicom.dcmread(PYDICOM_FILES / name)
                    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
                    result = nibabel.load(str(self.out))
                    self.assertEqual(result.shape[:2], (ds.Columns, ds.Rows))
                    self.assertEqual(int(np.prod(result.shape[2:])), frames)
                    # Pixel Spacing, else Imager Pixel Spacing, else 1 mm (docs/dicom.md).
                    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing") or (1, 1)
                    row_spacing, column_spacing = (float(v) for v in spacing)
                    np.testing.assert_allclose(result.header.get_zooms()[:2], (column_spacing, row_spacing),
                                               rtol=1e-5)
                finally:
                    self.out.unlink(missing_ok=True)

    def test_no_list_misses_a_pydicom_file(self):
        listed = set(COLOUR) | set(SEVERAL_SERIES) | set(READ) | {n for names in REFUSED.values() for n in names}
        present = {p.name for p in PYDICOM_FILES.iterdir()} - {"__pycache__", "__init__.py"}
        self.assertEqual(present - listed, set(), "decide how each of these files must be handled")


class CApi(Corpus):
    def test_every_damaged_file_is_refused(self):
        listing = self.dir / "list.tsv"
        listing.write_text("".join(f"{p}\t{m}\n" for p, m in self.files + self.pydicom))
        r = subprocess.run([os.environ["IMA_BADFILES_CAPI"], str(listing), str(self.labels),
                            str(self.out.with_name("trained.imamodel"))],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{len(self.files) + len(self.pydicom)} of {len(self.files) + len(self.pydicom)} damaged", r.stdout)
        listing.unlink()


class Python(Corpus):
    def test_every_damaged_file_is_refused(self):
        for path, message in self.files + self.pydicom:
            with self.subTest(path.name):
                with self.assertRaises(imaseg.Error) as caught:
                    imaseg.train([str(path)], [str(self.labels)], self.out.with_name("trained.imamodel"), epochs=1, iterations=1, features=4,
                                 stages=2, device="cpu", threads=1)
                self.assertNotEqual(caught.exception.status, "IMA_OK")
                self.assertIn(message, caught.exception.message)
                self.assertIn(str(path), caught.exception.message)


if __name__ == "__main__":
    unittest.main()
