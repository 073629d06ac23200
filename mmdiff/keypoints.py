"""2D keypoints from detectors, converted to the Human3.6M 17-joint layout the models expect.

Accepted inputs (pixels, one person per frame):
- Human3.6M-17 order (``NAMES_17``: Hip, RHip, RKnee, RFoot, LHip, LKnee, LFoot, Spine, Thorax,
  Neck/Nose, Head, LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist);
- COCO-17 order (nose, left/right eye, left/right ear, shoulders, elbows, wrists, hips, knees,
  ankles; left before right), what most 2D detectors write;
- OpenPose BODY_25 and its COCO-18 model (mapped to COCO-17 first).

COCO-17 -> Human3.6M-17 (documented, as commonly done for in-the-wild lifting):

    Hip (pelvis)  = mid-point of left and right hip
    R/L Hip, Knee, Foot = COCO hip, knee, ankle of that side
    Thorax        = mid-point of left and right shoulder
    Spine         = mid-point of pelvis and thorax
    Neck/Nose     = nose
    Head          = mid-point of the eyes (of the ears when no eye was detected)
    Shoulders, elbows, wrists = COCO's, same side

A derived joint's confidence is the smallest confidence of the points it is made from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmdiff.errors import DataError

COCO_17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
           "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
           "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")

#: OpenPose BODY_25 index of each COCO-17 point.
BODY25_TO_COCO = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
#: OpenPose COCO-18 index of each COCO-17 point (18 adds a neck at 1).
COCO18_TO_COCO = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)

#: Human3.6M joints copied straight from one COCO point: h36m index -> coco index.
_DIRECT = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 9: 0,
           11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}

LAYOUTS = ("h36m", "coco", "openpose25", "openpose18")


@dataclass(frozen=True)
class Keypoints:
    """Keypoints of one person over F frames, Human3.6M-17 order.
    pixels: (F, 17, 2) image pixels. scores: (F, 17) confidences in [0, 1] (1 when not given)."""
    pixels: np.ndarray
    scores: np.ndarray
    source_layout: str

    def normalized(self, width: int, height: int) -> np.ndarray:
        """(F, 17, 2) float32 in the models' normalised screen coordinates: ``u = 2 x / w - 1``,
        ``v = 2 y / w - h / w`` (width maps to [-1, 1], aspect kept)."""
        if width <= 0 or height <= 0:
            raise DataError(f"image size must be positive, found width={width} height={height}")
        scale = np.array([1.0, height / width])
        return (self.pixels / width * 2 - scale).astype(np.float32)


def _mid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a + b) / 2


def coco_to_h36m(kp: np.ndarray) -> np.ndarray:
    """COCO-17 keypoints -> Human3.6M-17 (see the module docstring for each joint).

    kp: (..., 17, 2) positions or (..., 17, 3) positions + confidence. Returns the same trailing
    channels in Human3.6M order; derived joints get the smaller confidence of their sources.
    The input is not modified."""
    kp = np.asarray(kp, dtype=np.float64)
    if kp.shape[-2:] not in ((17, 2), (17, 3)):
        raise DataError(f"COCO keypoints: expected (..., 17, 2|3), found {kp.shape}")
    out = np.zeros_like(kp)  # (..., 17, C)
    for h, c in _DIRECT.items():
        out[..., h, :] = kp[..., c, :]

    def derived(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        joint = _mid(a, b)  # (..., C)
        if kp.shape[-1] == 3:
            joint[..., 2] = np.minimum(a[..., 2], b[..., 2])
        return joint

    pelvis = derived(kp[..., 11, :], kp[..., 12, :])
    thorax = derived(kp[..., 5, :], kp[..., 6, :])
    out[..., 0, :] = pelvis
    out[..., 8, :] = thorax
    out[..., 7, :] = derived(pelvis, thorax)
    eyes = derived(kp[..., 1, :], kp[..., 2, :])
    out[..., 10, :] = eyes
    if kp.shape[-1] == 3:
        ears = derived(kp[..., 3, :], kp[..., 4, :])
        no_eyes = (kp[..., 1, 2] <= 0) & (kp[..., 2, 2] <= 0)  # (...,)
        out[..., 10, :] = np.where(no_eyes[..., None], ears, eyes)
    return out


def openpose_to_coco(kp: np.ndarray) -> np.ndarray:
    """OpenPose BODY_25 (…, 25, C) or COCO-18 (…, 18, C) keypoints -> COCO-17 (…, 17, C)."""
    kp = np.asarray(kp)
    table = {25: BODY25_TO_COCO, 18: COCO18_TO_COCO}.get(kp.shape[-2])
    if table is None:
        raise DataError(f"OpenPose keypoints: expected 25 (BODY_25) or 18 (COCO-18) points, "
                        f"found {kp.shape[-2]}")
    return kp[..., list(table), :]


def face_cluster_ratio(kp: np.ndarray) -> float:
    """How tightly points 0-4 cluster, relative to the body's size (median over frames).

    COCO's points 0-4 are the face (nose, eyes, ears): ratio about 0.05. In Human3.6M order they
    are pelvis, right leg and left hip: ratio 0.2 or more. kp: (F, 17, >=2) pixels."""
    xy = np.asarray(kp, dtype=np.float64)[..., :2]  # (F, 17, 2)
    face = xy[:, :5]  # (F, 5, 2)
    spread = np.linalg.norm(face - face.mean(axis=1, keepdims=True), axis=-1).max(axis=1)  # (F,)
    extent = np.linalg.norm(xy.max(axis=1) - xy.min(axis=1), axis=-1)  # (F,) bbox diagonal
    ok = extent > 0
    if not ok.any():
        return float("nan")
    return float(np.median(spread[ok] / extent[ok]))


def check_layout(kp: np.ndarray, layout: str, source: str) -> None:
    """Raise DataError when 17-point keypoints clearly are not in ``layout`` ('h36m' or 'coco')."""
    ratio = face_cluster_ratio(kp)
    if np.isnan(ratio):
        return
    if layout == "h36m" and ratio < 0.1:
        raise DataError(f"{source}: keypoints 0-4 form a tight cluster (ratio {ratio:.2f}) like "
                        f"COCO's face points, not Human3.6M's pelvis and legs; pass --layout coco")
    if layout == "coco" and ratio > 0.15:
        raise DataError(f"{source}: keypoints 0-4 are spread over the body (ratio {ratio:.2f}), "
                        f"not COCO's face points; pass --layout h36m if they are Human3.6M-ordered")


def to_h36m(kp: np.ndarray, layout: str, source: str = "keypoints", check: bool = True) -> Keypoints:
    """Convert (F, J, 2|3) keypoints in ``layout`` to :class:`Keypoints` (Human3.6M-17)."""
    kp = np.asarray(kp, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]  # one frame
    if kp.ndim != 3 or kp.shape[-1] not in (2, 3):
        raise DataError(f"{source}: expected keypoints of shape (frames, joints, 2 or 3), "
                        f"found {kp.shape}")
    if not np.isfinite(kp).all():
        raise DataError(f"{source}: keypoints contain NaN or inf")
    expected = {"h36m": 17, "coco": 17, "openpose25": 25, "openpose18": 18}
    if layout not in expected:
        raise DataError(f"{source}: unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if kp.shape[1] != expected[layout]:
        raise DataError(f"{source}: layout {layout!r} has {expected[layout]} joints, the file has "
                        f"{kp.shape[1]} (shape {kp.shape}); accepted: 17 (h36m, coco), "
                        f"18 (openpose18), 25 (openpose25)")
    if layout.startswith("openpose"):
        kp = openpose_to_coco(kp)
    elif check:
        check_layout(kp, layout, source)
    if layout != "h36m":
        kp = coco_to_h36m(kp)
    scores = kp[..., 2] if kp.shape[-1] == 3 else np.ones(kp.shape[:2])
    return Keypoints(kp[..., :2].astype(np.float32), scores.astype(np.float32), layout)


# ----------------------------------------------------------------------------- files

def _flat_to_points(values, source: str) -> np.ndarray:
    """[x, y, s, x, y, s, ...] or [[x, y(, s)], ...] -> (J, 2|3)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        if arr.size % 3:
            raise DataError(f"{source}: a flat keypoint list must hold x, y, score triples, "
                            f"found {arr.size} numbers")
        arr = arr.reshape(-1, 3)
    return arr


def _best_person(people: list, key: str, source: str):
    """The keypoints of the most confident person in a frame (None when nobody)."""
    best, best_score = None, -np.inf
    for person in people:
        if key not in person:
            raise DataError(f"{source}: a person entry lacks {key!r} (keys: {sorted(person)})")
        pts = _flat_to_points(person[key], source)
        score = person.get("score", pts[:, 2].mean() if pts.shape[1] == 3 else 0.0)
        if score > best_score:
            best, best_score = pts, score
    return best


def _frames_from_json(data, source: str) -> tuple[list, str | None]:
    """Per-frame keypoint arrays (None for an empty frame) and a layout hint."""
    if isinstance(data, dict) and "people" in data:  # one OpenPose frame
        data = [data]
    if isinstance(data, dict) and "annotations" in data:  # COCO dataset-style file
        data = data["annotations"]
    if not isinstance(data, list) or not data:
        raise DataError(f"{source}: expected a list of frames or detections, or an OpenPose "
                        f"dict with 'people'")
    first = data[0]
    if isinstance(first, dict) and "people" in first:  # OpenPose frames
        return [_best_person(f["people"], "pose_keypoints_2d", source) for f in data], "openpose"
    if isinstance(first, dict) and "keypoints" in first:
        if "image_id" in first:  # COCO results: several people per image, keep the best
            by_image: dict = {}
            for det in data:
                by_image.setdefault(det["image_id"], []).append(det)
            order = sorted(by_image, key=lambda k: (str(type(k)), k))
            return [_best_person(by_image[k], "keypoints", source) for k in order], "coco"
        return [_flat_to_points(f["keypoints"], source) for f in data], "coco"
    return [_flat_to_points(f, source) for f in data], None


def _fill_empty(frames: list, source: str) -> np.ndarray:
    """Stack frames; a frame without a person takes the nearest earlier (else later) frame."""
    found = [i for i, f in enumerate(frames) if f is not None]
    if not found:
        raise DataError(f"{source}: no person was detected in any frame")
    filled = []
    for i, f in enumerate(frames):
        if f is None:
            earlier = [j for j in found if j < i]
            f = frames[earlier[-1] if earlier else found[0]]
        filled.append(f)
    shapes = {f.shape for f in filled}
    if len(shapes) > 1:
        raise DataError(f"{source}: frames have different keypoint shapes {sorted(shapes)}")
    return np.stack(filled)


def read_keypoints(path: str | Path, layout: str = "auto", key: str | None = None) -> Keypoints:
    """Read one person's 2D keypoints (pixels) from an .npz/.npy or a detector's .json.

    layout: 'h36m', 'coco', 'openpose25', 'openpose18' or 'auto' (OpenPose files: by point count;
        COCO-style JSON: 'coco'; npz/npy: 'h36m'). 17-point input is checked against the layout.
    key: the npz array to read (default: 'keypoints', 'pose_2d', 'positions_2d' or the only one).
    Returns Keypoints in Human3.6M order; raises DataError naming the file on a bad layout.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such keypoint file")
    source = str(path)
    hint = None
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise DataError(f"{source}: not valid JSON: {err}") from None
        frames, hint = _frames_from_json(data, source)
        kp = _fill_empty(frames, source)
    elif path.suffix in (".npz", ".npy"):
        kp = _read_array(path, key)
        hint = "h36m"
    else:
        raise DataError(f"{source}: expected a .json, .npz or .npy keypoint file")
    if layout == "auto":
        layout = hint or "coco"
        if layout == "openpose" or (kp.ndim == 3 and kp.shape[1] in (18, 25)):
            layout = {18: "openpose18", 25: "openpose25"}.get(kp.shape[1], "openpose25")
    return to_h36m(kp, layout, source)


def _read_array(path: Path, key: str | None) -> np.ndarray:
    """A numeric array from .npy, or a key of .npz (no pickles)."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.keys())
            if key is None:
                key = next((k for k in ("keypoints", "pose_2d", "positions_2d") if k in names),
                           names[0] if len(names) == 1 else None)
            if key not in names:
                raise DataError(f"{path}: pass --key, one of {names}")
            return np.asarray(npz[key])
    except ValueError as err:
        raise DataError(f"{path}: cannot read a numeric array ({err})") from None
