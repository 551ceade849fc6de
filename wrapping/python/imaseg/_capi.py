"""The C API (include/ima.h) through ctypes: finding libima.so, the structs and the prototypes.

Kept in one module so that the rest of the package never touches ctypes directly. The structs
mirror ima.h field by field; API_VERSION is the ima.h version they were written for.
"""
import ctypes
import ctypes.util
import numbers
import os
from pathlib import Path

API_VERSION = 1

c_int64_3 = ctypes.c_int64 * 3
c_double_3 = ctypes.c_double * 3
c_double_9 = ctypes.c_double * 9

PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p)


_INTEGER_TYPES = (ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_size_t)


def integer_range(ctype):
    """The values a ctypes integer type holds, as (low, high)."""
    bits = 8 * ctypes.sizeof(ctype)
    signed = ctype(-1).value < 0
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def checked_integer(name, value, ctype, error):
    """`value` as a Python int when it is a whole number that `ctype` holds; else error(message).
    ctypes itself would wrap it silently (2**32 becomes 0 in a C int)."""
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise error(f"{name} must be a whole number, got {value!r}")
    low, high = integer_range(ctype)
    if not low <= int(value) <= high:
        raise error(f"{name} = {int(value)} is out of range ({low}..{high})")
    return int(value)


class CheckedStructure(ctypes.Structure):
    """A struct whose integer fields refuse values they cannot hold instead of wrapping them.
    `error(message)` builds the exception (the package sets it to its Error)."""

    error = ValueError

    def __setattr__(self, name, value):
        ctype = dict(self._fields_).get(name)
        if ctype in _INTEGER_TYPES:
            value = checked_integer(name, value, ctype, type(self).error)
        super().__setattr__(name, value)


class Image(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("length", ctypes.c_size_t), ("dims", ctypes.c_int),
                ("size", c_int64_3), ("channels", ctypes.c_int), ("spacing", c_double_3),
                ("origin", c_double_3), ("direction", c_double_9)]


class Case(ctypes.Structure):
    _fields_ = [("image", Image), ("labels", ctypes.POINTER(ctypes.c_uint8)), ("labels_length", ctypes.c_size_t)]


class SegmentOptions(CheckedStructure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("overlap", ctypes.c_double), ("batch_size", ctypes.c_int),
                ("mirror", ctypes.c_int), ("whole_image", ctypes.c_int), ("patch_size", c_int64_3),
                ("device", ctypes.c_char_p), ("threads", ctypes.c_int), ("progress", PROGRESS),
                ("progress_user", ctypes.c_void_p)]


class Model(ctypes.Structure):
    pass


class TrainOptions(CheckedStructure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("method", ctypes.c_char_p), ("epochs", ctypes.c_int),
                ("iterations_per_epoch", ctypes.c_int), ("batch_size", ctypes.c_int), ("patch_size", c_int64_3),
                ("optimizer", ctypes.c_char_p), ("learning_rate", ctypes.c_double), ("seed", ctypes.c_uint64),
                ("eps", ctypes.c_double), ("eps_max", ctypes.c_double), ("delta", ctypes.c_double),
                ("beta", ctypes.c_double), ("trades_beta", ctypes.c_double), ("pgd_steps", ctypes.c_int),
                ("alpha", ctypes.c_double), ("bisection_steps", ctypes.c_int), ("attack_norm", ctypes.c_char_p),
                ("init_model", ctypes.POINTER(Model)), ("dims", ctypes.c_int), ("features", ctypes.c_int),
                ("stages", ctypes.c_int), ("classes", ctypes.c_int), ("normalization", ctypes.c_char_p),
                ("ct_window", ctypes.c_double * 2), ("checkpoint_path", ctypes.c_char_p),
                ("device", ctypes.c_char_p), ("threads", ctypes.c_int), ("progress", PROGRESS),
                ("progress_user", ctypes.c_void_p), ("attack_clamp", ctypes.c_int),
                ("attack_clamp_range", ctypes.c_double * 2), ("warm_start", ctypes.c_int),
                ("bisection_tolerance", ctypes.c_double)]


class EvaluateOptions(CheckedStructure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("attacks", ctypes.c_char_p), ("norm", ctypes.c_char_p),
                ("budgets", ctypes.POINTER(ctypes.c_double)), ("budget_count", ctypes.c_size_t),
                ("pgd_steps", ctypes.c_int), ("ifgsm_steps", ctypes.c_int), ("restarts", ctypes.c_int),
                ("batch_size", ctypes.c_int), ("seed", ctypes.c_uint64), ("device", ctypes.c_char_p),
                ("threads", ctypes.c_int), ("progress", PROGRESS), ("progress_user", ctypes.c_void_p),
                ("apgd_steps", ctypes.c_int), ("masking_checks", ctypes.c_int), ("attacked", ctypes.c_char_p),
                ("overlap", ctypes.c_double)]


class AttackOptions(CheckedStructure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("attack", ctypes.c_char_p), ("eps", ctypes.c_double),
                ("norm", ctypes.c_char_p), ("steps", ctypes.c_int), ("restarts", ctypes.c_int),
                ("batch_size", ctypes.c_int), ("seed", ctypes.c_uint64), ("device", ctypes.c_char_p),
                ("threads", ctypes.c_int), ("progress", PROGRESS), ("progress_user", ctypes.c_void_p),
                ("attacked", ctypes.c_char_p), ("overlap", ctypes.c_double)]


def _candidates():
    """Where libima.so may be: $IMA_LIBRARY, next to the package, a build tree above it, the system."""
    if os.environ.get("IMA_LIBRARY"):
        yield os.environ["IMA_LIBRARY"]
        return
    here = Path(__file__).resolve().parent
    yield from sorted(str(p) for p in here.glob("libima.so*"))
    for parent in here.parents:
        candidate = parent / "build" / "src" / "capi" / "libima.so"
        if candidate.exists():
            yield str(candidate)
    found = ctypes.util.find_library("ima")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
    raise ImportError("imaseg: cannot find libima.so (set IMA_LIBRARY to its path); tried: " +
                      ("; ".join(tried) if tried else "nothing found"))


lib = _load()

_status = ctypes.c_int
_prototypes = {
    "ima_version": (ctypes.c_char_p, []),
    "ima_api_version": (ctypes.c_int, []),
    "ima_last_error": (ctypes.c_char_p, []),
    "ima_status_name": (ctypes.c_char_p, [ctypes.c_int]),
    "ima_free_string": (None, [ctypes.c_void_p]),
    "ima_image_init": (None, [ctypes.POINTER(Image)]),
    "ima_model_load": (_status, [ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(Model))]),
    "ima_model_free": (None, [ctypes.POINTER(Model)]),
    "ima_model_metadata": (_status, [ctypes.POINTER(Model), ctypes.POINTER(ctypes.c_void_p)]),
    "ima_model_import_torchscript": (_status, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                               ctypes.POINTER(ctypes.POINTER(Model))]),
    "ima_model_export": (_status, [ctypes.POINTER(Model), ctypes.c_int, ctypes.c_char_p]),
    "ima_segment_options_init": (None, [ctypes.POINTER(SegmentOptions)]),
    "ima_segment": (_status, [ctypes.POINTER(Model), ctypes.POINTER(Image), ctypes.POINTER(SegmentOptions),
                              ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.POINTER(ctypes.c_float),
                              ctypes.c_size_t]),
    "ima_train_options_init": (None, [ctypes.POINTER(TrainOptions)]),
    "ima_train_files": (_status, [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                  ctypes.POINTER(TrainOptions), ctypes.c_char_p]),
    "ima_train_buffers": (_status, [ctypes.POINTER(Case), ctypes.c_size_t, ctypes.POINTER(TrainOptions),
                                    ctypes.c_char_p]),
    "ima_evaluate_options_init": (None, [ctypes.POINTER(EvaluateOptions)]),
    "ima_evaluate_files": (_status, [ctypes.POINTER(Model), ctypes.POINTER(ctypes.c_char_p),
                                     ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                     ctypes.POINTER(EvaluateOptions), ctypes.POINTER(ctypes.c_void_p)]),
    "ima_evaluate_buffers": (_status, [ctypes.POINTER(Model), ctypes.POINTER(Case), ctypes.c_size_t,
                                       ctypes.POINTER(EvaluateOptions), ctypes.POINTER(ctypes.c_void_p)]),
    "ima_attack_options_init": (None, [ctypes.POINTER(AttackOptions)]),
    "ima_attack": (_status, [ctypes.POINTER(Model), ctypes.POINTER(Case), ctypes.POINTER(AttackOptions),
                             ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]),
}
for _name, (_restype, _argtypes) in _prototypes.items():
    _function = getattr(lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes

if lib.ima_api_version() != API_VERSION:
    raise ImportError(f"imaseg: libima.so has C API version {lib.ima_api_version()}, this package needs "
                      f"{API_VERSION}")


def take_string(pointer):
    """The text of a string the library allocated, which is then freed."""
    try:
        return ctypes.string_at(pointer.value).decode("utf-8")
    finally:
        lib.ima_free_string(pointer)
