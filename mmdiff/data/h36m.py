"""The published Human3.6M ``.npz`` layouts (VideoPose3D and DiffPose), read and written safely.

Layouts (all read through :func:`mmdiff.data.npz.load_npz_key`, so no pickle code runs)::

    data_3d_h36m.npz          positions_3d: {subject: {action: (F, 32, 3) world coords, metres}}
    data_2d_h36m_<det>.npz    positions_2d: {subject: {action: [per camera (F, 17, 2) pixels]}}
                              metadata:     {'layout_name': 'h36m', 'num_joints': 17,
                                             'keypoints_symmetry': [left, right]}
    data_2d_h36m_<det>_gmm.npz (DiffPose)
                              positions_2d: {subject: {action: [per camera (F, 17, K, 5)]}}
                              last axis per mixture kernel: (weight, mean u, mean v,
                              spread u, spread v), means in pixels, spreads
                              in normalised units (px * 2 / res_w, as DiffPose
                              uses them unchanged).

Action names carry a take number ("Walking 1"); :func:`action_base` maps them to the 15 base
actions of :data:`ACTIONS`. Loaders check every array (type, shape, finite values) and raise
:class:`~mmdiff.errors.DataError` naming the file, subject, action and camera at fault.
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.npz import load_npz_key, npz_keys, save_npz_atomic
from mmdiff.errors import DataError
from mmdiff.skeleton import LEFT_17, NUM_JOINTS, RIGHT_17

#: The 15 Human3.6M actions, in the order of the published tables.
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
           "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
           "WalkTogether")
#: Standard protocol split.
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")

# Other spellings of the base names found in Human3.6M file names.
_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog", "WalkingTogether": "WalkTogether"}
_ALIASES.update({a.lower(): a for a in ACTIONS})
_ALIASES.update({k.lower(): v for k, v in list(_ALIASES.items())})

#: VideoPose3D's metadata for 17-joint Human3.6M 2D files.
DEFAULT_METADATA_2D = {"layout_name": "h36m", "num_joints": NUM_JOINTS,
                       "keypoints_symmetry": [list(LEFT_17), list(RIGHT_17)]}


def action_base(name: str) -> str:
    """Base action of a sequence name: "Walking 1" -> "Walking", "TakingPhoto_1" -> "Photo".

    Drops the take number (after a space or underscore) and maps the other published spellings
    ("TakingPhoto", "WalkingDog", any letter case). Raises DataError for an unknown action.
    """
    base = str(name).replace("_", " ").split(" ")[0]
    if base in ACTIONS:
        return base
    mapped = _ALIASES.get(base, _ALIASES.get(base.lower()))
    if mapped is None:
        raise DataError(f"unknown Human3.6M action {name!r}; expected one of {list(ACTIONS)} "
                        "optionally followed by a take number")
    return mapped


# --- validation -----------------------------------------------------------------------------
def _check_dict(obj, where: str, what: str) -> dict:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a dict of {what}, found {type(obj).__name__}")
    return obj


def _check_array(arr, where: str, expected: str, ndim: int, tail: tuple) -> np.ndarray:
    """Check a float array: ndim, trailing shape (None = any size), finite values."""
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{where}: expected an array {expected}, found {type(arr).__name__}")
    if arr.ndim != ndim or any(t is not None and s != t for s, t in zip(arr.shape[1:], tail)):
        raise DataError(f"{where}: expected shape {expected}, found {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"{where}: expected a float array {expected}, found dtype {arr.dtype}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{where}: {int(bad.sum())} NaN/inf values (first at index {first}); "
                        "expected finite numbers")
    return arr


def _check_3d(arr, where: str) -> np.ndarray:
    _check_array(arr, where, "(F, 32, 3) or (F, 17, 3)", 3, (None, 3))
    if arr.shape[1] not in (32, NUM_JOINTS):
        raise DataError(f"{where}: expected shape (F, 32, 3) or (F, 17, 3), found {arr.shape}")
    return arr


def _check_2d(arr, where: str) -> np.ndarray:
    """(F, 17, 2) detections or (F, 17, K, 5) GMM kernels with non-negative weights summing to 1."""
    expected = "(F, 17, 2) or (F, 17, K, 5)"
    if not isinstance(arr, np.ndarray) or arr.ndim not in (3, 4):
        found = arr.shape if isinstance(arr, np.ndarray) else type(arr).__name__
        raise DataError(f"{where}: expected an array {expected}, found {found}")
    tail = (NUM_JOINTS, 2) if arr.ndim == 3 else (NUM_JOINTS, None, 5)
    _check_array(arr, where, expected, arr.ndim, tail)
    if arr.ndim == 4:
        weights = arr[..., 0]                                           # (F, 17, K)
        if (weights < 0).any() or not np.allclose(weights.sum(-1), 1.0, atol=1e-3):
            raise DataError(f"{where}: GMM kernel weights (channel 0) must be >= 0 and sum to 1 "
                            f"per joint; found sums in [{weights.sum(-1).min():.4f}, "
                            f"{weights.sum(-1).max():.4f}]")
    return arr


def _camera_list(value, where: str) -> list:
    if isinstance(value, (list, tuple, np.ndarray)):   # an ndarray: (cameras, F, ...) stacked
        return list(value)
    raise DataError(f"{where}: expected a list with one array per camera, "
                    f"found {type(value).__name__}")


# --- loaders --------------------------------------------------------------------------------
def load_positions_3d(path) -> dict[str, dict[str, np.ndarray]]:
    """Read ``positions_3d`` from a VideoPose3D-layout 3D file.

    Returns {subject: {action: (F, 32, 3) float32 world coordinates in metres}} (17-joint files,
    (F, 17, 3), are accepted too). Raises DataError naming the file, subject and action for a
    missing file or key, a wrong layout or shape, or NaN/inf values.
    """
    data = _check_dict(load_npz_key(path, "positions_3d"), f"{path} positions_3d", "subjects")
    out = {}
    for subject, actions in data.items():
        _check_dict(actions, f"{path} [{subject!r}]", "actions")
        out[subject] = {action: _check_3d(arr, f"{path} [{subject!r}][{action!r}]")
                        .astype(np.float32, copy=False) for action, arr in actions.items()}
    return out


def load_positions_2d(path) -> dict[str, dict[str, list[np.ndarray]]]:
    """Read ``positions_2d`` from a VideoPose3D 2D file or a DiffPose GMM file.

    Returns {subject: {action: [per camera array]}} with float32 arrays in pixels, either
    (F, 17, 2) detections or (F, 17, K, 5) GMM kernels (weight, mean u, mean v, spread u,
    spread v). All arrays of one file must be of one kind. Raises DataError naming the file,
    subject, action and camera for a wrong layout or shape, NaN/inf values or bad GMM weights.
    """
    data = _check_dict(load_npz_key(path, "positions_2d"), f"{path} positions_2d", "subjects")
    out, kinds = {}, set()
    for subject, actions in data.items():
        _check_dict(actions, f"{path} [{subject!r}]", "actions")
        out[subject] = {}
        for action, cams in actions.items():
            where = f"{path} [{subject!r}][{action!r}]"
            arrays = [_check_2d(arr, f"{where} camera {c}").astype(np.float32, copy=False)
                      for c, arr in enumerate(_camera_list(cams, where))]
            kinds.update(a.shape[2:] for a in arrays)
            out[subject][action] = arrays
    if len(kinds) > 1:
        raise DataError(f"{path}: mixes 2D layouts {sorted(kinds)} (trailing shapes); expected "
                        "one kind: (F, 17, 2) or (F, 17, K, 5) with one K")
    return out


def load_metadata_2d(path) -> dict | None:
    """The ``metadata`` dict of a VideoPose3D 2D file, or None when the file has none."""
    if "metadata" not in npz_keys(path):
        return None
    return _check_dict(load_npz_key(path, "metadata"), f"{path} metadata", "metadata entries")


# --- writers --------------------------------------------------------------------------------
def save_positions_3d(path, positions: dict):
    """Write {subject: {action: (F, 32, 3) metres}} as key ``positions_3d`` (atomic)."""
    clean = {}
    for subject, actions in _check_dict(positions, f"{path} positions_3d", "subjects").items():
        clean[subject] = {a: _check_3d(np.asarray(arr), f"{path} [{subject!r}][{a!r}]")
                          for a, arr in _check_dict(actions, f"{path} [{subject!r}]",
                                                    "actions").items()}
    return save_npz_atomic(path, positions_3d=clean)


def save_positions_2d(path, positions: dict, metadata: dict | None = None):
    """Write {subject: {action: [per camera (F, 17, 2) or (F, 17, K, 5) pixels]}} (atomic).

    The file gets keys ``positions_2d`` and ``metadata`` (VideoPose3D's 17-joint metadata when
    None is given), the layout VideoPose3D and DiffPose read.
    """
    clean = {}
    for subject, actions in _check_dict(positions, f"{path} positions_2d", "subjects").items():
        clean[subject] = {}
        for action, cams in _check_dict(actions, f"{path} [{subject!r}]", "actions").items():
            where = f"{path} [{subject!r}][{action!r}]"
            clean[subject][action] = [_check_2d(np.asarray(arr), f"{where} camera {c}")
                                      for c, arr in enumerate(_camera_list(cams, where))]
    meta = dict(DEFAULT_METADATA_2D if metadata is None else metadata)
    return save_npz_atomic(path, positions_2d=clean, metadata=meta)
