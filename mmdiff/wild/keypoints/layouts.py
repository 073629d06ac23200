"""Keypoint layouts of common 2D detectors, and their conversion to the Human3.6M 17 joints.

Layouts (name: points, who writes it):

    h36m            17  Human3.6M order (``NAMES_17``), what the kit's own files hold
    coco            17  COCO: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles
                        (left before right); AlphaPose / MMPose / RTMPose / Detectron COCO models
    halpe26         26  COCO-17 + head (top), neck, hip (pelvis), big toes, small toes, heels:
                        AlphaPose and RTMPose "Halpe-26" models (MotionBERT's input)
    halpe136       136  Halpe full body: the 26 above, then 68 face and 42 hand points
    coco_wholebody 133  COCO-WholeBody: COCO-17, 6 foot, 68 face, 42 hand points
    openpose25      25  OpenPose BODY_25 (COCO + neck, mid-hip, feet; right before left)
    openpose18      18  OpenPose COCO-18 (COCO + neck)
    mediapipe33     33  MediaPipe BlazePose landmarks (face, hands and feet points)

Mapping to Human3.6M-17 (derived joints get the smallest confidence of their sources):

* COCO-17 (also openpose25 / openpose18 / mediapipe33 / coco_wholebody, read through their
  COCO-17 points): Hip (pelvis) = mid-hips; Thorax = mid-shoulders; Spine = mid(pelvis, thorax);
  Neck/Nose = nose; Head = mid-eyes; hips, knees, feet
  (ankles), shoulders, elbows, wrists one to one. COCO has no head top and no neck: Head and
  Thorax are approximations, which is why COCO input gives less steady bones. The face is
  often half seen (a person in profile or seen from behind: OpenPose then places no nose and
  one eye or none), so per frame Head falls back to the eyes that were placed, then the ears,
  then the nose, and Neck/Nose to the eyes, then the ears ("placed": confidence above 0).
* Halpe-26 (also halpe136): Hip = Halpe "hip" (pelvis); Thorax = Halpe "neck" (base of the
  neck, where Human3.6M's thorax joint sits); Spine = mid(pelvis, neck); Neck/Nose = nose;
  Head = Halpe "head" (head top, as Human3.6M's head joint); limbs one to one. Toes and heels
  are not used. This is the mapping MotionBERT uses for AlphaPose Halpe-26 input.
* MediaPipe BlazePose: its nose (0), eyes (2, 5), ears (7, 8), shoulders (11, 12), elbows
  (13, 14), wrists (15, 16), hips (23, 24), knees (25, 26) and ankles (27, 28) are COCO's 17
  points; the rest (eye corners, mouth, fingers, heels, foot tips) are not used.
* OpenPose BODY_25 / COCO-18: their COCO points by name (``BODY25_TO_COCO``,
  ``COCO18_TO_COCO``); neck and mid-hip are not used.
"""
from __future__ import annotations

import numpy as np

from mmdiff.errors import DataError

COCO_17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
           "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
           "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
HALPE_26 = COCO_17 + ("head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
                      "right_small_toe", "left_heel", "right_heel")
MEDIAPIPE_33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index")

#: OpenPose BODY_25 index of each COCO-17 point.
BODY25_TO_COCO = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
#: OpenPose COCO-18 index of each COCO-17 point (18 adds a neck at 1).
COCO18_TO_COCO = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
#: MediaPipe BlazePose index of each COCO-17 point.
MEDIAPIPE_TO_COCO = tuple(MEDIAPIPE_33.index(n) for n in COCO_17)

#: Points per detection of each layout.
POINTS = {"h36m": 17, "coco": 17, "halpe26": 26, "halpe136": 136, "coco_wholebody": 133,
          "openpose25": 25, "openpose18": 18, "mediapipe33": 33}
LAYOUTS = tuple(POINTS)

#: Human3.6M joints copied straight from one COCO point: h36m index -> coco index.
_COCO_DIRECT = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 9: 0,
                11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}
#: Human3.6M joints copied straight from one Halpe-26 point: h36m index -> halpe index.
_HALPE_DIRECT = {0: 19, 1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 8: 18, 9: 0, 10: 17,
                 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}


def _check_points(kp, count: int, what: str) -> np.ndarray:
    kp = np.asarray(kp, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-2] != count or kp.shape[-1] not in (2, 3):
        raise DataError(f"{what} keypoints: expected (..., {count}, 2|3), found {kp.shape}")
    return kp


def _derived(kp: np.ndarray, a: int, b: int) -> np.ndarray:
    """Mid-point of points a and b of (..., J, C); the confidence is the smaller one."""
    joint = (kp[..., a, :] + kp[..., b, :]) / 2                               # (..., C)
    if kp.shape[-1] == 3:
        joint[..., 2] = np.minimum(kp[..., a, 2], kp[..., b, 2])
    return joint


def coco_to_h36m(kp) -> np.ndarray:
    """COCO-17 keypoints -> Human3.6M-17 (see the module docstring for each joint).

    kp: (..., 17, 2) positions or (..., 17, 3) positions + confidence. Returns the same trailing
    channels in Human3.6M order; derived joints get the smaller confidence of their sources.
    The input is not modified."""
    kp = _check_points(kp, 17, "COCO")
    out = np.zeros_like(kp)                                                   # (..., 17, C)
    for h, c in _COCO_DIRECT.items():
        out[..., h, :] = kp[..., c, :]
    out[..., 0, :] = _derived(kp, 11, 12)                                     # pelvis
    out[..., 8, :] = _derived(kp, 5, 6)                                       # thorax
    out[..., 7, :] = _derived(out, 0, 8)                                      # spine
    out[..., 10, :] = _derived(kp, 1, 2)                                      # head: mid-eyes
    if kp.shape[-1] == 3:                                                    # half-seen faces
        out[..., 10, :] = _first_placed(kp, ((1, 2), (3, 4), (0,)))
        out[..., 9, :] = _first_placed(kp, ((0,), (1, 2), (3, 4)))
    return out


def _first_placed(kp: np.ndarray, groups) -> np.ndarray:
    """(..., 3): per frame, the mean of the placed points (confidence > 0) of the first group
    of ``groups`` (tuples of point indices of (..., J, 3)) that has one; the confidence is the
    smallest of those used; 0 where no group has."""
    out = np.zeros(kp.shape[:-2] + (3,))
    found = np.zeros(kp.shape[:-2], bool)
    for group in groups:
        pts = kp[..., list(group), :]                                         # (..., G, 3)
        placed = pts[..., 2] > 0                                             # (..., G)
        n = placed.sum(axis=-1)                                              # (...,)
        use = ~found & (n > 0)
        mean = (pts[..., :2] * placed[..., None]).sum(axis=-2) / np.maximum(n, 1)[..., None]
        conf = np.where(placed, pts[..., 2], np.inf).min(axis=-1)
        out[use] = np.concatenate([mean, conf[..., None]], axis=-1)[use]
        found |= use
    return out


def halpe_to_h36m(kp) -> np.ndarray:
    """Halpe-26 keypoints (..., 26, 2|3) -> Human3.6M-17 (..., 17, 2|3): head top and neck
    give Head and Thorax, the Halpe pelvis gives Hip, Spine is mid(pelvis, neck). Input unchanged."""
    kp = _check_points(kp, 26, "Halpe-26")
    out = np.zeros(kp.shape[:-2] + (17, kp.shape[-1]))                       # (..., 17, C)
    for h, c in _HALPE_DIRECT.items():
        out[..., h, :] = kp[..., c, :]
    out[..., 7, :] = _derived(out, 0, 8)                                      # spine
    return out


def openpose_to_coco(kp) -> np.ndarray:
    """OpenPose BODY_25 (…, 25, C) or COCO-18 (…, 18, C) keypoints -> COCO-17 (…, 17, C)."""
    kp = np.asarray(kp)
    table = {25: BODY25_TO_COCO, 18: COCO18_TO_COCO}.get(kp.shape[-2])
    if table is None:
        raise DataError(f"OpenPose keypoints: expected 25 (BODY_25) or 18 (COCO-18) points, "
                        f"found {kp.shape[-2]}")
    return kp[..., list(table), :]


def mediapipe_to_coco(kp) -> np.ndarray:
    """MediaPipe BlazePose (..., 33, C) landmarks -> COCO-17 (..., 17, C)."""
    return _check_points(kp, 33, "MediaPipe")[..., list(MEDIAPIPE_TO_COCO), :]


def to_h36m_points(kp, layout: str) -> np.ndarray:
    """(..., J, 2|3) keypoints in ``layout`` -> (..., 17, 2|3) in Human3.6M order (a new array)."""
    if layout not in POINTS:
        raise DataError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    kp = _check_points(kp, POINTS[layout], f"layout {layout!r}")
    if layout == "h36m":
        return kp.copy()
    if layout in ("halpe26", "halpe136"):
        return halpe_to_h36m(kp[..., :26, :])
    coco = {"coco": lambda k: k, "coco_wholebody": lambda k: k[..., :17, :],
            "openpose25": openpose_to_coco, "openpose18": openpose_to_coco,
            "mediapipe33": mediapipe_to_coco}[layout](kp)
    return coco_to_h36m(coco)


def layout_from_names(names) -> str | None:
    """The layout whose joint names these are (MMPose's ``keypoint_id2name``), else None."""
    from mmdiff.skeleton import NAMES_17
    names = tuple(str(n).lower() for n in names)
    for layout, table in (("coco", COCO_17), ("halpe26", HALPE_26), ("mediapipe33", MEDIAPIPE_33),
                          ("h36m", tuple(n.lower() for n in NAMES_17))):
        if names == table:
            return layout
    if len(names) in (133, 136) and names[:17] == COCO_17:
        return "coco_wholebody" if len(names) == 133 else "halpe136"
    return None


def guess_layout(num_points: int, default_17: str = "coco", source: str = "keypoints") -> str:
    """The layout of detections with ``num_points`` points; 17 points -> ``default_17`` (COCO
    for detector files, Human3.6M for the kit's arrays). DataError for an unknown count."""
    if num_points == 17:
        return default_17
    by_count = {v: k for k, v in POINTS.items() if v != 17}
    if num_points not in by_count:
        raise DataError(f"{source}: no known layout has {num_points} points per person; accepted: "
                        + ", ".join(f"{v} ({k})" for k, v in POINTS.items()))
    return by_count[num_points]


def face_cluster_ratio(kp) -> float:
    """How tightly points 0-4 cluster, relative to the body's size (median over frames).

    COCO's points 0-4 are the face (nose, eyes, ears): ratio about 0.05. In Human3.6M order they
    are pelvis, right leg and left hip: ratio 0.2 or more. kp: (F, 17, >=2) pixels."""
    xy = np.asarray(kp, dtype=np.float64)[..., :2]                           # (F, 17, 2)
    face = xy[:, :5]                                                         # (F, 5, 2)
    spread = np.linalg.norm(face - face.mean(axis=1, keepdims=True), axis=-1).max(axis=1)  # (F,)
    extent = np.linalg.norm(xy.max(axis=1) - xy.min(axis=1), axis=-1)       # (F,) bbox diagonal
    ok = np.isfinite(spread) & np.isfinite(extent) & (extent > 0)
    if not ok.any():
        return float("nan")
    return float(np.median(spread[ok] / extent[ok]))


def check_layout(kp, layout: str, source: str) -> None:
    """Raise DataError when 17-point keypoints clearly are not in ``layout`` ('h36m' or 'coco')."""
    ratio = face_cluster_ratio(kp)
    if np.isnan(ratio):
        return
    if layout == "h36m" and ratio < 0.1:
        raise DataError(f"{source}: keypoints 0-4 form a tight cluster (ratio {ratio:.2f}) like "
                        f"COCO's face points, not Human3.6M's pelvis and legs; pass --layout coco")
    if layout == "coco" and ratio > 0.15:
        raise DataError(f"{source}: keypoints 0-4 are spread over the body (ratio {ratio:.2f}), "
                        f"not COCO's face points; pass --layout h36m if they are Human3.6M-ordered "
                        f"(--layout coco reads them as COCO all the same)")
