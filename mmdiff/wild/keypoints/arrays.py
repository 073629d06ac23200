"""Keypoint arrays in ``.npy`` / ``.npz`` files, including VideoPose3D's custom-video files.

* A plain array (F, J, 2|3) pixels (x, y and optionally a confidence), one person per frame:
  ``.npy``, or an ``.npz`` member (``--key``; default ``keypoints``, ``pose_2d``,
  ``positions_2d`` or the only member). Read with ``allow_pickle=False``. A frame whose points
  are all NaN counts as a frame without a detection; a NaN point gets confidence 0.
* VideoPose3D's custom dataset (``data/prepare_data_2d_custom.py``,
  ``data_2d_custom_<name>.npz``): ``positions_2d`` = ``{video: {"custom": [(F, 17, 2) COCO
  pixels]}}`` and ``metadata`` = ``{"layout_name": "coco", "num_joints": 17, "keypoints_symmetry":
  ..., "video_metadata": {video: {"w": W, "h": H}}}``, both pickled: they are read through the
  kit's restricted unpickler (:mod:`mmdiff.data.npz`), which admits only arrays and plain
  containers. ``--video`` picks a video when the file holds several. The file holds no
  confidences (its script already interpolated missing frames) and gives the image size.
* Detectron2 keypoint-RCNN results per video, as VideoPose3D's ``inference/infer_video_d2.py``
  writes them (``<video>.npz``): ``boxes`` (F, 2) and ``keypoints`` (F, 2) object arrays whose
  second column holds the persons of each frame, boxes (N, 5) x1 y1 x2 y2 score and keypoints
  (N, 4, 17) x, y, heatmap logit, probability (COCO order); ``metadata`` ``{"w": W, "h": H}``.
  Every person of every frame is read (the probability as the point's confidence), where
  VideoPose3D's ``prepare_data_2d_custom.py`` keeps the best box per frame.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from mmdiff.data.npz import load_npz_key, npz_keys
from mmdiff.errors import DataError
from mmdiff.wild.keypoints.detections import DetectionRows, Detections

_DEFAULT_KEYS = ("keypoints", "pose_2d", "positions_2d")


def _is_object_member(path: Path, key: str) -> bool:
    """Whether an npz member holds pickled objects (read its header only)."""
    from numpy.lib import format as npformat
    with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fp:
        version = npformat.read_magic(fp)
        header = (npformat.read_array_header_1_0 if version == (1, 0)
                  else npformat.read_array_header_2_0)(fp)
    return header[2].hasobject


def _plain_array(path: Path, key: str | None) -> tuple[np.ndarray, str]:
    """A numeric array from .npy, or a member of .npz (no pickles): (array, what it is)."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), path.name
        names = npz_keys(path)
        if key is None:
            key = next((k for k in _DEFAULT_KEYS if k in names),
                       names[0] if len(names) == 1 else None)
        if key not in names:
            raise DataError(f"{path}: pass --key, one of {names}")
        with np.load(path, allow_pickle=False) as npz:
            return np.asarray(npz[key]), f"key {key!r}"
    except ValueError as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path}: cannot read a numeric array ({err})") from None


def _rows_from_array(arr: np.ndarray, path: Path, what: str, form: str) -> DetectionRows:
    """(F, J, 2|3) one person per frame -> DetectionRows; all-NaN frames are left out."""
    if arr.ndim == 2:
        arr = arr[None]                                                      # one frame
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3) or not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{path}, {what}: expected keypoints of shape (frames, joints, 2 or 3), "
                        f"found {arr.shape} {arr.dtype}")
    arr = arr.astype(np.float64)
    if np.isinf(arr).any():
        raise DataError(f"{path}, {what}: keypoints contain inf")
    if arr.shape[-1] == 2:
        arr = np.concatenate([arr, np.ones(arr.shape[:2] + (1,))], axis=-1)  # (F, J, 3)
    rows = DetectionRows(str(path), form)
    for i, pts in enumerate(arr):
        bad = np.isnan(pts).any(axis=-1)                                     # (J,)
        if bad.all():
            continue
        pts = np.where(bad[:, None], 0.0, pts)
        rows.add(i, pts, f"{what}, frame {i}")
    return rows


def read_videopose3d_custom(path: Path, video: str | None) -> Detections:
    """A VideoPose3D custom-video file (see the module docstring)."""
    positions = load_npz_key(path, "positions_2d")
    if not isinstance(positions, dict) or not positions:
        raise DataError(f"{path}, key 'positions_2d': expected a dict {{video: {{'custom': "
                        f"[array]}}}}, found {type(positions).__name__}")
    if video is None:
        if len(positions) > 1:
            raise DataError(f"{path}: the file holds {len(positions)} videos; pass --video, one "
                            f"of {sorted(positions)}")
        video = next(iter(positions))
    if video not in positions:
        raise DataError(f"{path}: no video {video!r}; the file holds {sorted(positions)}")
    entry = positions[video]
    if not isinstance(entry, dict) or "custom" not in entry or not entry["custom"]:
        found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise DataError(f"{path}, positions_2d[{video!r}]: expected {{'custom': [array]}}, "
                        f"found {found}")
    metadata = load_npz_key(path, "metadata") if "metadata" in npz_keys(path) else {}
    layout = {"coco": "coco", "h36m": "h36m"}.get(str(metadata.get("layout_name", "coco")))
    if layout is None:
        raise DataError(f"{path}, metadata: layout_name {metadata.get('layout_name')!r} is not "
                        f"'coco' or 'h36m'")
    size = (metadata.get("video_metadata") or {}).get(video)
    image_size = None
    if size is not None:
        if not isinstance(size, dict) or "w" not in size or "h" not in size:
            raise DataError(f"{path}, metadata['video_metadata'][{video!r}]: expected "
                            f"{{'w': W, 'h': H}}, found {size!r}")
        image_size = (int(size["w"]), int(size["h"]))
    rows = _rows_from_array(np.asarray(entry["custom"][0]), path,
                            f"positions_2d[{video!r}]['custom'][0]", "VideoPose3D custom npz")
    rows.notes.append(f"VideoPose3D video {video!r}"
                      + (f", image {image_size[0]} x {image_size[1]} from its metadata"
                         if image_size else ", no image size in its metadata")
                      + "; the file holds no confidences (its script interpolated missing frames)")
    return rows.build(layout, image_size)


def _person_rows(value, what: str, path: Path, width: int) -> np.ndarray:
    """The person rows of one detectron2 frame entry ``[[], array]``: (N, ...) float, N may be
    0."""
    try:
        persons = value[1]
    except (TypeError, IndexError, KeyError):
        raise DataError(f"{path}, {what}: expected [other classes, persons], found "
                        f"{type(value).__name__}") from None
    arr = np.asarray(persons, dtype=np.float64)
    return arr.reshape((0,) + arr.shape[1:]) if arr.size == 0 else arr


def read_detectron2(path: Path) -> Detections:
    """Detectron2 results of one video (see the module docstring)."""
    boxes, points = load_npz_key(path, "boxes"), load_npz_key(path, "keypoints")
    if len(boxes) != len(points):
        raise DataError(f"{path}: 'boxes' has {len(boxes)} frames, 'keypoints' {len(points)}")
    meta = load_npz_key(path, "metadata") if "metadata" in npz_keys(path) else {}
    size = (int(meta["w"]), int(meta["h"])) if isinstance(meta, dict) and "w" in meta else None
    rows = DetectionRows(str(path), "Detectron2 results (VideoPose3D infer_video_d2)")
    for f in range(len(boxes)):
        b = _person_rows(boxes[f], f"boxes[{f}]", path, 5)
        k = _person_rows(points[f], f"keypoints[{f}]", path, 17)
        if len(b) != len(k) or (len(k) and k.shape[1:] != (4, 17)) or (len(b) and
                                                                       b.shape[1] != 5):
            raise DataError(f"{path}, frame {f}: expected boxes (N, 5) and keypoints (N, 4, 17), "
                            f"found {b.shape} and {k.shape}")
        for n in range(len(k)):
            pts = k[n][[0, 1, 3]].T                                          # (17, 3) x y prob
            rows.add(f, pts, f"frame {f}, person {n}", score=b[n, 4], box=b[n, :4])
    if size:
        rows.notes.append(f"image {size[0]} x {size[1]} from the file's metadata")
    return rows.build("coco", size)


def read_array_detections(path: Path, key: str | None = None,
                          video: str | None = None) -> Detections:
    """Detections from an .npy / .npz file (plain array, VideoPose3D custom, detectron2)."""
    if path.suffix == ".npz" and key is None:
        names = npz_keys(path)
        if "positions_2d" in names and _is_object_member(path, "positions_2d"):
            return read_videopose3d_custom(path, video)
        if {"boxes", "keypoints"} <= set(names) and _is_object_member(path, "keypoints"):
            return read_detectron2(path)
    arr, what = _plain_array(path, key)
    return _rows_from_array(arr, path, what, "keypoint array").build()
