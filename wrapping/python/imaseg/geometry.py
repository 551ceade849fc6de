"""Image geometry between imaseg (ITK's convention) and NIfTI files read with nibabel.

imaseg, like ITK and SimpleITK, describes a grid by spacing and origin in (x, y, z) order and a
direction matrix whose columns are the axis directions, in LPS coordinates (x to the patient's
left, y to the back). NIfTI (nibabel) uses one 4x4 affine in RAS coordinates and arrays indexed
[x, y, z]. ITK's NIfTI reader and writer convert between the two by flipping the first two world
axes; these functions do the same, so that a volume read with nibabel and segmented with imaseg
lines up with what `ima segment` (ITK) reads and writes.
"""
import numpy as np

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def nifti_affine(spacing, origin, direction):
    """The RAS affine (4x4) of a 3D grid given by ITK-style spacing, origin and direction (LPS)."""
    spacing = np.asarray(spacing, dtype=float).reshape(3)
    direction = np.asarray(direction, dtype=float).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = _LPS_TO_RAS @ direction @ np.diag(spacing)
    affine[:3, 3] = _LPS_TO_RAS @ np.asarray(origin, dtype=float).reshape(3)
    return affine


def geometry_from_affine(affine):
    """(spacing, origin, direction) in ITK's convention (LPS) from a NIfTI RAS affine (4x4)."""
    affine = np.asarray(affine, dtype=float)
    linear = _LPS_TO_RAS @ affine[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    direction = linear / spacing
    origin = _LPS_TO_RAS @ affine[:3, 3]
    return tuple(spacing), tuple(origin), direction


def from_nibabel(image):
    """(array [z, y, x] float32, spacing, origin, direction) of a 3D nibabel image, for imaseg."""
    data = np.asarray(image.dataobj, dtype=np.float32)
    if data.ndim != 3:
        raise ValueError(f"from_nibabel: expected a 3D image, got shape {data.shape}")
    spacing, origin, direction = geometry_from_affine(image.affine)
    return np.ascontiguousarray(data.transpose()), spacing, origin, direction


def to_nibabel_array(array):
    """An imaseg array [z, y, x] as nibabel's [x, y, z] (a view)."""
    return np.asarray(array).transpose()
