"""Safe reading and atomic writing of ``.npz`` files that hold pickled Python objects.

The published Human3.6M files keep a dict of arrays inside a 0-d object array, which numpy
stores with :mod:`pickle`. ``np.load(..., allow_pickle=True)`` would run whatever code such a
pickle names. Here an object member is read by hand instead: the ``.npy`` header is parsed with
``numpy.lib.format`` and the payload goes through :class:`RestrictedUnpickler`, which rebuilds only
numpy arrays, dtypes and scalars, plus the containers and literals pickle encodes without naming a
global (dict, list, tuple, str, bytes, int, float, bool, None). Any other global is refused with a
:class:`~mmdiff.errors.DataError` naming the file, the key and the refused ``module.name``, before
anything is called. Plain (non-object) members are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from mmdiff.engine.atomic import write_atomic
from mmdiff.errors import DataError

try:  # numpy >= 2 keeps the array machinery in numpy._core
    from numpy._core import multiarray as _multiarray, numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray, numeric as _numeric

def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """How protocol-2 pickles spell bytes: ``_codecs.encode(text, 'latin1')``; nothing else."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1")


# (module, name) pairs a pickle may name, and the object each stands for. Files written by
# numpy 1.x say "numpy.core", numpy 2.x says "numpy._core"; both map to the running numpy.
_ALLOWED = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("_codecs", "encode"): _latin1_bytes}
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _multiarray._reconstruct  # ndarray
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _multiarray.scalar              # np.float64(1)
    if hasattr(_numeric, "_frombuffer"):                                          # protocol 5
        _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _numeric._frombuffer


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array/dtype/scalar globals (see module docstring).

    ``where`` is a human-readable location ("file.npz, key 'positions_3d'") used in errors.
    """

    def __init__(self, file, where: str):
        super().__init__(file)
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise DataError(f"{self.where}: refused to unpickle global '{module}.{name}'; only numpy "
                        "arrays, dicts, lists, tuples, strings and numbers are allowed")


def _open_member(zf: zipfile.ZipFile, path: Path, key: str):
    names = zf.namelist()
    member = f"{key}.npy"
    if member not in names:
        available = sorted(n[:-4] for n in names if n.endswith(".npy"))
        raise DataError(f"{path}: missing key '{key}'; the file holds keys {available}")
    return zf.open(member)


def _read_header(fp, where: str):
    """Parse a .npy header; returns (shape, fortran_order, dtype)."""
    version = npformat.read_magic(fp)
    if version == (1, 0):
        return npformat.read_array_header_1_0(fp)
    if version == (2, 0):
        return npformat.read_array_header_2_0(fp)
    raise DataError(f"{where}: unsupported .npy format version {version}; expected (1, 0) or (2, 0)")


def _unpickle_object_array(fp, where: str, shape) -> np.ndarray:
    try:
        arr = RestrictedUnpickler(fp, where).load()
    except DataError:
        raise
    except Exception as exc:  # truncated or corrupt pickle stream
        raise DataError(f"{where}: could not read the pickled object array ({exc})") from exc
    if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape):
        found = f"shape {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise DataError(f"{where}: expected an object array of shape {tuple(shape)}, found {found}")
    return arr


def load_npz_key(path, key: str):
    """Read one member of an ``.npz`` file without running code from it.

    path: the .npz file; key: the member name without ``.npy`` (e.g. "positions_3d").
    Returns a numpy array for plain members. Object members are rebuilt by
    :class:`RestrictedUnpickler`; a 0-d object array is unwrapped to the object it holds (the
    ``.item()`` numpy users write), other object arrays are returned as arrays.
    Raises DataError for a missing file, a file that is not an npz, a missing key, or a pickle
    naming anything but numpy arrays and plain containers.
    """
    path = Path(path)
    where = f"{path}, key '{key}'"
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected an .npz file with key '{key}')")
    try:
        with zipfile.ZipFile(path) as zf:
            with _open_member(zf, path, key) as fp:
                shape, _, dtype = _read_header(fp, where)
                if dtype.hasobject:
                    arr = _unpickle_object_array(fp, where, shape)
                    return arr.item() if arr.ndim == 0 else arr
            with _open_member(zf, path, key) as fp:
                return npformat.read_array(fp, allow_pickle=False)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: not a valid .npz (zip) file ({exc})") from exc
    except (ValueError, EOFError, OSError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{where}: could not read the array ({exc})") from exc


def npz_keys(path) -> list[str]:
    """Names of the arrays stored in an .npz file (no data is read)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with zipfile.ZipFile(path) as zf:
            return sorted(n[:-4] for n in zf.namelist() if n.endswith(".npy"))
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: not a valid .npz (zip) file ({exc})") from exc


def save_npz_atomic(path, compress: bool = True, **arrays) -> Path:
    """Write ``arrays`` to ``path`` as an .npz, atomically (temporary file, then os.replace).

    Values that are not arrays (dicts, lists) are stored as 0-d object arrays, as numpy does, so
    the published layouts round-trip through :func:`load_npz_key`. A crash never leaves a half
    written file at ``path``; the name is used exactly as given (no ``.npz`` is appended).
    Returns the path.
    """
    save = np.savez_compressed if compress else np.savez
    return write_atomic(path, lambda f: save(f, **arrays))


__all__ = ["RestrictedUnpickler", "load_npz_key", "npz_keys", "save_npz_atomic"]
