"""imaseg: IMASegmentation from Python, numpy arrays in and out, over the C API (libima.so).

Axis order: an image is a numpy array in C order [z, y, x] (2D: [y, x]), i.e. ITK's index order
(x fastest) reversed, exactly what SimpleITK.GetArrayFromImage returns for a scalar image. A model
with several input channels takes [channels, z, y, x]. Geometry follows ITK: `spacing` and `origin`
in (x, y, z) order, millimetres, LPS; `direction` a 3x3 (2D: 2x2) matrix whose columns are the
directions of the x, y, z axes. It never enters the network; it is checked and, for files, kept.
nibabel arrays are [x, y, z] with a RAS affine: imaseg.geometry converts (docs/python.md).

Errors raise imaseg.Error carrying the C API's status name and message (ima_last_error());
imaseg.Cancelled when a progress callback returned True. Progress callbacks are called as
progress(fraction, stage) with stage "loading", "segment", "train", "evaluate" or "attack".
"""
import ctypes
import json
import os
import warnings

import numpy as np

from . import _capi
from ._capi import lib
from .geometry import from_nibabel, geometry_from_affine, nifti_affine, to_nibabel_array

__all__ = ["Error", "Cancelled", "ConstantImageWarning", "Model", "segment", "train", "evaluate", "attack", "version",
           "from_nibabel", "geometry_from_affine", "nifti_affine", "to_nibabel_array",
           "import_torchscript"]

_OK, _CANCELLED = 0, 4


class Error(Exception):
    """A failed call: `status` is the C API's status name (e.g. "IMA_ERROR_INPUT"), `message` its
    ima_last_error() text, which names the argument or input and the problem."""

    def __init__(self, status, message):
        super().__init__(f"{message} [{status}]")
        self.status = status
        self.message = message


_capi.CheckedStructure.error = staticmethod(lambda message: Error("IMA_ERROR_INVALID_ARGUMENT", message))


def _label_array(labels, index):
    """A label map as uint8, refusing what the cast would change: values outside 0..255 (-1 would
    become 255) and non-integers (1.5 would become 1)."""
    array = np.asarray(labels)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
            or array.dtype == np.bool_):
        raise Error("IMA_ERROR_INVALID_ARGUMENT", f"label map {index} has dtype {array.dtype}; labels must be integers")
    if array.size:
        if np.issubdtype(array.dtype, np.floating):
            finite = np.isfinite(array)
            if not finite.all():
                raise Error("IMA_ERROR_INVALID_ARGUMENT", f"label map {index} holds NaN or infinite values")
            if (array != np.round(array)).any():
                raise Error("IMA_ERROR_INVALID_ARGUMENT", f"label map {index} holds non-integer values "
                            f"(e.g. {float(array[array != np.round(array)].flat[0])!r}); labels must be whole numbers")
        low, high = array.min(), array.max()
        if low < 0 or high > 255:
            raise Error("IMA_ERROR_INVALID_ARGUMENT", f"label map {index} holds values {int(low)}..{int(high)}; labels must be "
                        "in 0..255 (0 = background)")
    return np.ascontiguousarray(array, dtype=np.uint8)


def _patch_axis(value):
    return _capi.checked_integer("patch_size entry", value, ctypes.c_int64,
                                 lambda message: Error("IMA_ERROR_INVALID_ARGUMENT", message))


class Cancelled(Error):
    """The progress callback asked to stop; nothing was written."""


def version():
    """The version of the loaded libima.so, e.g. "0.1.0"."""
    return lib.ima_version().decode()


class _Progress:
    """A Python callback as the C API's ima_progress_fn. An exception raised by the callback
    cancels the work and is re-raised by the call."""

    def __init__(self, callback):
        self.callback, self.error = callback, None
        self.function = _capi.PROGRESS(self._call) if callback else _capi.PROGRESS()

    def _call(self, fraction, stage, _user):
        try:
            return 1 if self.callback(fraction, stage.decode()) else 0
        except BaseException as e:  # noqa: B902 (re-raised after the C call returns)
            self.error = e
            return 1


def _check(status, progress=None):
    if status == _OK:
        return
    if progress is not None and progress.error is not None:
        raise progress.error
    name = lib.ima_status_name(status).decode()
    message = lib.ima_last_error().decode()
    raise (Cancelled if status == _CANCELLED else Error)(name, message)


def _text(value):
    return None if value is None else str(value).encode()


def _init(options_type, init):
    options = options_type()
    init(ctypes.byref(options))
    return options


class _Image:
    """A numpy array (kept alive here) as an ima_image."""

    def __init__(self, array, channels, spacing=None, origin=None, direction=None):
        self.array = np.ascontiguousarray(array, dtype=np.float32)
        # Multi-channel: the first axis is the channel axis, whatever its length (the C API checks it
        # against the model's channel count).
        if channels > 1 and self.array.ndim > 0:
            channels = self.array.shape[0]
        spatial = self.array.shape[1:] if channels > 1 else self.array.shape
        self.shape = tuple(spatial)
        dims = len(spatial)
        self.struct = _capi.Image()
        lib.ima_image_init(ctypes.byref(self.struct))
        s = self.struct
        s.data = self.array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        s.length = self.array.size
        s.dims = dims  # anything but 2 or 3 is reported by the C API
        s.channels = channels
        for axis, extent in enumerate(reversed(spatial[-3:])):
            s.size[axis] = extent
        if spacing is not None:
            for axis, value in enumerate(_vector(spacing, dims, "spacing")):
                s.spacing[axis] = value
        if origin is not None:
            for axis, value in enumerate(_vector(origin, dims, "origin")):
                s.origin[axis] = value
        if direction is not None:
            d = np.asarray(direction, dtype=float)
            n = 3 if d.size == 9 else dims
            if d.size != n * n:
                raise Error("IMA_ERROR_INVALID_ARGUMENT", f"direction has {d.size} values (expected {n * n})")
            matrix = np.eye(3)
            matrix[:n, :n] = d.reshape(n, n)
            for i, value in enumerate(matrix.reshape(9)):
                s.direction[i] = value


def _vector(values, dims, name):
    v = [float(x) for x in np.asarray(values, dtype=float).reshape(-1)]
    if len(v) not in (dims, 3):
        raise Error("IMA_ERROR_INVALID_ARGUMENT", f"{name} has {len(v)} values (expected {dims})")
    return v


class _Cases:
    """Images with reference label maps as an ima_case array (arrays kept alive here)."""

    def __init__(self, images, labels, channels, spacing, origin, direction):
        if len(images) != len(labels):
            raise Error("IMA_ERROR_INVALID_ARGUMENT", f"{len(images)} images but {len(labels)} label maps")
        self.images = [_Image(a, channels, spacing, origin, direction) for a in images]
        self.labels = [_label_array(l, i) for i, l in enumerate(labels)]
        self.array = (_capi.Case * len(images))()
        for i, (image, label) in enumerate(zip(self.images, self.labels)):
            if label.shape != image.shape:
                raise Error("IMA_ERROR_INVALID_ARGUMENT",
                            f"label map {i} has shape {label.shape} but its image {image.shape}")
            self.array[i].image = image.struct
            self.array[i].labels = label.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
            self.array[i].labels_length = label.size


def _path_pairs(images, labels):
    """Image and label file paths as two C string arrays of the same length, and that length."""
    if len(images) != len(labels):
        raise Error("IMA_ERROR_INVALID_ARGUMENT", f"{len(images)} image files but {len(labels)} label files")
    encoded = [[os.fsencode(p) for p in paths] for paths in (images, labels)]
    return [(ctypes.c_char_p * len(e))(*e) for e in encoded] + [len(images)]


def _is_path(value):
    return isinstance(value, (str, bytes, os.PathLike))


class Model:
    """A .imamodel file loaded through the C API. `metadata` is its parsed JSON header."""

    def __init__(self, path):
        handle = ctypes.POINTER(_capi.Model)()
        _check(lib.ima_model_load(os.fsencode(path), ctypes.byref(handle)))
        self._handle = handle
        self.path = os.fspath(path)
        text = ctypes.c_void_p()
        _check(lib.ima_model_metadata(handle, ctypes.byref(text)))
        self.metadata = json.loads(_capi.take_string(text))

    @property
    def dims(self):
        """Spatial dimensions the network convolves over (2 or 3)."""
        return self.metadata["network"]["dims"]

    @property
    def in_channels(self):
        return self.metadata["network"]["in_channels"]

    @property
    def classes(self):
        """Output classes including background."""
        return self.metadata["network"]["classes"]

    @property
    def labels(self):
        """{value: name} of the foreground labels."""
        return {label["value"]: label["name"] for label in self.metadata["labels"]}

    def export_torchscript(self, path):
        """Writes the network of an imported (and possibly hardened) model as a TorchScript file that
        torch.jit.load reads, with its current weights (docs/import.md). The project's own U-Net has
        no TorchScript form: use export_state_dict."""
        _check(lib.ima_model_export(self._handle, 0, os.fsencode(path)))

    def export_state_dict(self, path):
        """Writes the weights of any model as a file torch.load reads: {'state_dict': ...,
        'metadata': JSON}; imaseg.unet.load(path) rebuilds the project's U-Net from it."""
        _check(lib.ima_model_export(self._handle, 1, os.fsencode(path)))

    def close(self):
        if getattr(self, "_handle", None):
            lib.ima_model_free(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def __repr__(self):
        return f"imaseg.Model({self.path!r}, {self.dims}D, {self.in_channels} channel(s), {self.classes} classes)"

    def handle(self):
        if not self._handle:
            raise Error("IMA_ERROR_INVALID_ARGUMENT", f"model '{self.path}' was closed")
        return self._handle

    def segment(self, array, **options):
        return segment(self, array, **options)


def import_torchscript(script, sidecar, output):
    """Imports a TorchScript file (torch.jit.save of a traced or scripted network, e.g. from
    nnU-Net or MONAI) with its JSON metadata sidecar, writes it to `output` (.imamodel) and returns
    it as a Model. TorchScript is code and runs here: import only trusted files (docs/import.md)."""
    _check(lib.ima_model_import_torchscript(os.fsencode(script), os.fsencode(sidecar), os.fsencode(output), None))
    return Model(output)


def _model(model):
    return model if isinstance(model, Model) else Model(model)


class ConstantImageWarning(UserWarning):
    """The image given to segment() has one value per channel: its segmentation says nothing."""


def _warn_if_constant(array, channels):
    # A constant channel z-scores to all zeros: the network answers with whatever its biases favour.
    values = np.asarray(array).reshape(channels, -1) if channels > 1 else np.asarray(array).reshape(1, -1)
    if values.size and np.all(values.min(axis=1) == values.max(axis=1)):
        warnings.warn("the input image is constant (every voxel%s has one value, e.g. %g); its segmentation "
                      "carries no information about the image" % (" of each channel" if channels > 1 else "",
                                                                   float(values.flat[0])),
                      ConstantImageWarning, stacklevel=3)


def segment(model, array, spacing=None, origin=None, direction=None, *, probabilities=False, overlap=0.5,
            batch_size=2, mirror=False, whole_image=False, patch_size=None, device="auto", threads=0,
            progress=None):
    """Sliding-window segmentation of `array` ([z, y, x] or [y, x]; [c, ...] for multi-channel models,
    raw intensities) with `model` (a Model or a .imamodel path). Returns the uint8 label map with the
    array's spatial shape, or (labels, probabilities [classes, z, y, x] float32) when probabilities."""
    model = _model(model)
    image = _Image(array, model.in_channels, spacing, origin, direction)
    _warn_if_constant(array, model.in_channels)
    options = _init(_capi.SegmentOptions, lib.ima_segment_options_init)
    options.overlap, options.batch_size = overlap, batch_size
    options.mirror, options.whole_image = int(bool(mirror)), int(bool(whole_image))
    if patch_size is not None:
        for axis, value in enumerate(reversed(list(patch_size))):  # given [z, y, x] like the array
            options.patch_size[axis] = _patch_axis(value)
    options.device, options.threads = _text(device), threads
    callback = _Progress(progress)
    options.progress = callback.function
    labels = np.zeros(image.shape, dtype=np.uint8)
    probs = np.zeros((model.classes,) + image.shape, dtype=np.float32) if probabilities else None
    status = lib.ima_segment(model.handle(), ctypes.byref(image.struct), ctypes.byref(options),
                             labels.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), labels.size,
                             None if probs is None else probs.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                             0 if probs is None else probs.size)
    _check(status, callback)
    return (labels, probs) if probabilities else labels


def train(images, labels, output, *, spacing=None, origin=None, direction=None, channels=1, method="standard",
          epochs=20, iterations=50, batch_size=0, patch_size=None, optimizer="sgd", learning_rate=0.0, seed=1,
          eps=0.5, eps_max=1.0, delta=0.0, beta=0.5, trades_beta=6.0, pgd_steps=0, alpha=4.0,
          bisection_steps=10, bisection_tolerance=0.05, warm_start=True, attack_norm="l2", attack_clamp=None,
          init=None, dims=0, features=32, stages=4,
          classes=0, normalization="zscore", ct_window=(-1000.0, 1000.0), checkpoint=None, device="auto", threads=0,
          progress=None):
    """Trains a model and writes it to `output` (atomically); returns it loaded as a Model.

    images/labels: lists of arrays (the same shape each pair; geometry from spacing/origin/direction
    for all) or lists of file paths (NIfTI, NRRD, MetaImage; DICOM series directories for images).
    init: a Model (or path) to start from, e.g. to harden it with method="ima"; without it a new U-Net
    (dims, features, stages, classes: 0 = from the data). attack_clamp=(low, high) keeps the training
    attacks' points in [low, high] (normalised units, low < high); None = no clamp. warm_start=False
    starts every IMA attack at random instead of at the sample's previous adversarial point. Options as in
    `ima train` (docs/cli.md); zeros mean the defaults documented in ima.h."""
    init_model = _model(init) if init is not None else None
    options = _init(_capi.TrainOptions, lib.ima_train_options_init)
    for name, value in dict(epochs=epochs, iterations_per_epoch=iterations, batch_size=batch_size,
                            learning_rate=learning_rate, seed=seed, eps=eps, eps_max=eps_max, delta=delta,
                            beta=beta, trades_beta=trades_beta, pgd_steps=pgd_steps, alpha=alpha,
                            bisection_steps=bisection_steps, bisection_tolerance=bisection_tolerance,
                            warm_start=1 if warm_start else 0, dims=dims, features=features, stages=stages,
                            classes=classes, threads=threads).items():
        setattr(options, name, value)
    for name, value in dict(method=method, optimizer=optimizer, attack_norm=attack_norm,
                            normalization=normalization, checkpoint_path=checkpoint, device=device).items():
        setattr(options, name, _text(value))
    if patch_size is not None:
        for axis, value in enumerate(reversed(list(patch_size))):
            options.patch_size[axis] = _patch_axis(value)
    options.ct_window[0], options.ct_window[1] = ct_window
    if attack_clamp is not None:
        low, high = attack_clamp
        options.attack_clamp = 1
        options.attack_clamp_range[0], options.attack_clamp_range[1] = low, high
    if init_model is not None:
        options.init_model = init_model.handle()
    callback = _Progress(progress)
    options.progress = callback.function
    if images and all(_is_path(p) for p in list(images) + list(labels)):
        image_paths, label_paths, count = _path_pairs(images, labels)
        status = lib.ima_train_files(image_paths, label_paths, count, ctypes.byref(options), os.fsencode(output))
    else:
        cases = _Cases(images, labels, channels, spacing, origin, direction)
        status = lib.ima_train_buffers(cases.array, len(cases.images), ctypes.byref(options), os.fsencode(output))
    _check(status, callback)
    return Model(output)


def evaluate(model, images, labels, *, spacing=None, origin=None, direction=None, attacks=("pgd", "ifgsm"),
             norm="l2", budgets=(0, 0.5, 1, 2), pgd_steps=20, ifgsm_steps=10, restarts=1, batch_size=8, seed=0,
             device="auto", threads=0, progress=None, apgd_steps=100, masking_checks=False, attacked="patch",
             overlap=0.5):
    """Robustness evaluation (docs/evaluation.md) of `model` on images with reference labels (arrays
    or file paths, as for train). attacks: names as for `ima evaluate --attack`, e.g. ("strong",)
    for the ensemble of APGD with every loss and PGD with restarts, which keeps per case and budget
    the lowest Dice. masking_checks=True also runs the gradient-masking probes
    (report["masking_warnings"]). attacked="volume" attacks the whole image through the
    sliding-window prediction (windows overlapping by `overlap`) instead of every patch alone.
    Returns the report as a dict."""
    model = _model(model)
    options = _init(_capi.EvaluateOptions, lib.ima_evaluate_options_init)
    options.attacks, options.norm = _text(",".join(attacks)), _text(norm)
    budget_array = (ctypes.c_double * len(budgets))(*budgets)
    options.budgets = ctypes.cast(budget_array, ctypes.POINTER(ctypes.c_double))
    options.budget_count = len(budgets)
    options.pgd_steps, options.ifgsm_steps, options.restarts = pgd_steps, ifgsm_steps, restarts
    options.apgd_steps, options.masking_checks = apgd_steps, int(bool(masking_checks))
    options.attacked, options.overlap = _text(attacked), overlap
    options.batch_size, options.seed, options.device, options.threads = batch_size, seed, _text(device), threads
    callback = _Progress(progress)
    options.progress = callback.function
    report = ctypes.c_void_p()
    if images and all(_is_path(p) for p in list(images) + list(labels)):
        image_paths, label_paths, count = _path_pairs(images, labels)
        status = lib.ima_evaluate_files(model.handle(), image_paths, label_paths, count, ctypes.byref(options),
                                        ctypes.byref(report))
    else:
        cases = _Cases(images, labels, model.in_channels, spacing, origin, direction)
        status = lib.ima_evaluate_buffers(model.handle(), cases.array, len(cases.images), ctypes.byref(options),
                                          ctypes.byref(report))
    _check(status, callback)
    return json.loads(_capi.take_string(report))


def attack(model, array, labels, spacing=None, origin=None, direction=None, *, method="pgd", eps=1.0, norm="l2",
           steps=20, restarts=1, batch_size=8, seed=0, device="auto", threads=0, progress=None, attacked="patch",
           overlap=0.5):
    """The adversarial version of `array` (every patch of the model's grid, or with attacked="volume"
    the whole image through the sliding-window prediction, attacked with the reference `labels`,
    budget `eps` per patch in normalised units), float32 in the array's intensity units."""
    model = _model(model)
    cases = _Cases([array], [labels], model.in_channels, spacing, origin, direction)
    options = _init(_capi.AttackOptions, lib.ima_attack_options_init)
    options.attack, options.eps, options.norm = _text(method), eps, _text(norm)
    options.steps, options.restarts, options.batch_size, options.seed = steps, restarts, batch_size, seed
    options.device, options.threads = _text(device), threads
    options.attacked, options.overlap = _text(attacked), overlap
    callback = _Progress(progress)
    options.progress = callback.function
    output = np.zeros(cases.images[0].array.shape, dtype=np.float32)
    status = lib.ima_attack(model.handle(), cases.array, ctypes.byref(options),
                            output.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), output.size)
    _check(status, callback)
    return output
