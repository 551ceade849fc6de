"""The bad-file corpus of docs/bad-input.md: every kind of damaged image file, made here byte by
byte from one valid NIfTI-1 (or MetaImage) volume, with the message every route must print.

The oracle is the damage itself: the field or value put in is the one the message must name. The
same files go through the command line, the C API and Python (test_routes.py), so the three
routes are held to one behaviour.
"""
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

SHAPE = (4, 8, 8)  # [z, y, x]; x varies fastest on disk
NAN, INF = float("nan"), float("inf")


def image_array():
    rng = np.random.default_rng(3)
    return (rng.uniform(0, 100, SHAPE)).astype("<f4")


def label_array():
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[1:3, 2:6, 3:7] = 1
    return labels


def nifti_header(datatype, bitpix):
    """A valid NIfTI-1 header of SHAPE, spacing 1, identity qform and sform."""
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, 3, SHAPE[2], SHAPE[1], SHAPE[0], 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, datatype, bitpix)
    struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", h, 108, 352)  # vox_offset: header + 4-byte extension flag
    struct.pack_into("<f", h, 112, 1)  # scl_slope
    struct.pack_into("<hh", h, 252, 1, 1)  # qform_code, sform_code
    struct.pack_into("<6f", h, 256, 0, 0, 0, 0, 0, 0)  # identity quaternion, zero offsets
    struct.pack_into("<12f", h, 280, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)
    h[344:348] = b"n+1\0"
    return h


def nifti(data, header=None):
    h = header if header is not None else nifti_header(16, 32)
    return bytes(h) + b"\0" * 4 + data.tobytes()


def damaged_header(offset, fmt, *values):
    h = nifti_header(16, 32)
    struct.pack_into(fmt, h, offset, *values)
    return h


def metaimage(data, compressed):
    body = zlib.compress(data.tobytes()) if compressed else data.tobytes()
    header = ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
              f"CompressedData = {'True' if compressed else 'False'}\n"
              + (f"CompressedDataSize = {len(body)}\n" if compressed else "")
              + f"DimSize = {SHAPE[2]} {SHAPE[1]} {SHAPE[0]}\nElementSpacing = 1 1 1\n"
              "ElementType = MET_FLOAT\nElementDataFile = LOCAL\n").encode()
    return header, body


def decodable(stream, wbits):
    """How many bytes zlib recovers from the start of a cut stream (what a reader can hold)."""
    return len(zlib.decompressobj(wbits).decompress(stream))


def cases():
    """(file name, bytes, message excerpt) for every kind of damaged image file."""
    image = image_array()
    full = nifti(image)
    data_bytes = image.nbytes
    nan_voxel, inf_voxel = image.copy(), image.copy()
    nan_voxel.flat[37] = NAN
    inf_voxel.flat[200] = -INF
    mha_header, mha_body = metaimage(image, False)
    mhz_header, mhz_body = metaimage(image, True)
    cut_stream = gzip.compress(full, mtime=0)[:200]
    half_stream = len(mhz_body) // 2
    out = [
        ("sform_nan.nii", nifti(image, damaged_header(280, "<f", NAN)),
         "the NIfTI sform is unusable: srow_x[0] is NaN"),
        ("sform_inf.nii", nifti(image, damaged_header(324, "<f", INF)),
         "the NIfTI sform is unusable: srow_z[3] is Inf"),
        ("sform_singular.nii", nifti(image, damaged_header(280, "<12f", *([0.0] * 12))),
         "the NIfTI sform is unusable: its 3x3 matrix is singular"),
        ("qform_inf.nii", nifti(image, damaged_header(252, "<hhf", 1, 0, INF)),
         "the NIfTI qform is unusable: quatern_b is Inf"),
        ("qform_offset_nan.nii", nifti(image, damaged_header(252, "<hh", 1, 0)[:272]
                                       + struct.pack("<f", NAN) + damaged_header(252, "<hh", 1, 0)[276:]),
         "the NIfTI qform is unusable: qoffset_y is NaN"),
        ("dim0_zero.nii", nifti(image, damaged_header(40, "<h", 0)),
         "NIfTI dim[0] (the number of dimensions) is 0; it must be 1..7"),
        ("dim0_negative.nii", nifti(image, damaged_header(40, "<h", -3)),
         "NIfTI dim[0] (the number of dimensions) is -3; it must be 1..7"),
        ("dim0_eight.nii", nifti(image, damaged_header(40, "<h", 8)),
         "NIfTI dim[0] (the number of dimensions) is 8; it must be 1..7"),
        ("axis_zero.nii", nifti(image, damaged_header(44, "<h", 0)),
         "NIfTI dim[2] (the size of axis 2) is 0; it must be at least 1"),
        ("axis_negative.nii", nifti(image, damaged_header(46, "<h", -4)),
         "NIfTI dim[3] (the size of axis 3) is -4; it must be at least 1"),
        ("pixdim_zero.nii", nifti(image, damaged_header(80, "<f", 0.0)),
         "NIfTI pixdim[1] (the voxel spacing along axis 1) is 0"),
        ("pixdim_nan.nii", nifti(image, damaged_header(84, "<f", NAN)),
         "NIfTI pixdim[2] (the voxel spacing along axis 2) is NaN"),
        ("truncated.nii", full[:352 + data_bytes // 2],
         f"is truncated: it holds {data_bytes // 2} of the {data_bytes} bytes of voxel data its header declares"),
        ("header_only.nii", full[:352],
         f"is truncated: it holds 0 of the {data_bytes} bytes of voxel data its header declares"),
        ("truncated.nii.gz", gzip.compress(full[:352 + data_bytes // 4], mtime=0),
         f"is truncated: it holds {data_bytes // 4} of the {data_bytes} bytes of voxel data its header declares"),
        ("cut_stream.nii.gz", cut_stream,
         f"is truncated: it holds {decodable(cut_stream, 31) - 352} of the {data_bytes} bytes of voxel data"),
        ("nan_voxel.nii", nifti(nan_voxel), "the value at linear index 37 is NaN"),
        ("inf_voxel.nii", nifti(inf_voxel), "the value at linear index 200 is infinite"),
        ("truncated.mha", mha_header + mha_body[:700],
         f"is truncated: it holds 700 of the {data_bytes} bytes of voxel data its header declares"),
        ("truncated_compressed.mha", mhz_header + mhz_body[:half_stream],
         f"is truncated: it holds {decodable(mhz_body[:half_stream], 15)} of the {data_bytes} bytes of voxel data"),
        ("noise.nii", bytes(np.random.default_rng(5).integers(0, 256, 2000, dtype=np.uint8)),
         "not a readable NIfTI, NRRD or MetaImage file"),
        ("empty.nii.gz", b"", "not a readable NIfTI, NRRD or MetaImage file"),
    ]
    return out


def write(directory):
    """Writes the corpus and a valid label file into directory; returns [(path, message)] and the label."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    labels = directory / "labels.nii"
    labels.write_bytes(nifti(label_array(), nifti_header(2, 8)))
    written = []
    for name, content, message in cases():
        path = directory / name
        path.write_bytes(content)
        written.append((path, message))
    return written, labels


if __name__ == "__main__":
    import sys
    for path, message in write(sys.argv[1])[0]:
        print(f"{path}\t{message}")
