"""Halpe-26 keypoints placed on a 32-joint Human3.6M pose: where a detector's annotators would
put them, for making realistic detector files from the kit's motion.

Human3.6M has no face or foot-tip joints, so they are placed from the head and foot frames:
with ``u`` the head's up axis (Neck/Nose -> Head), ``r`` the body's right (left -> right
shoulder, made perpendicular to ``u``) and ``f = u x r`` forward (all unit vectors):

    head (top)  Head + 4 cm u               neck   Thorax + 2 cm u        hip  Hip (pelvis)
    nose        Neck/Nose + 9 cm f + 3 cm u
    eyes        nose + 3.5 cm u - 2 cm f -+ 3.2 cm r (left eye at -r)
    ears        Neck/Nose + 5 cm u - 2 cm f -+ 7.5 cm r
    big toe     ToeBase + 4 cm along the foot, 1.5 cm inward; small toe 2 cm along, 3 cm outward
    heel        ankle - 5 cm along the foot - 5 cm up

Shoulders, elbows, wrists, hips, knees and ankles are Human3.6M's joints.
"""
from __future__ import annotations

import numpy as np

from mmdiff.errors import DataError
from mmdiff.wild.keypoints.layouts import HALPE_26

J32 = {"Hip": 0, "RHip": 1, "RKnee": 2, "RFoot": 3, "RToeBase": 4, "LHip": 6, "LKnee": 7,
       "LFoot": 8, "LToeBase": 9, "Thorax": 13, "Neck/Nose": 14, "Head": 15, "LShoulder": 17,
       "LElbow": 18, "LWrist": 19, "RShoulder": 25, "RElbow": 26, "RWrist": 27}
#: Halpe point -> the Human3.6M joint it is (for the points that are joints).
_SAME = {"left_shoulder": "LShoulder", "right_shoulder": "RShoulder", "left_elbow": "LElbow",
         "right_elbow": "RElbow", "left_wrist": "LWrist", "right_wrist": "RWrist",
         "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee", "right_knee": "RKnee",
         "left_ankle": "LFoot", "right_ankle": "RFoot", "hip": "Hip"}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def head_axes(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(up, right, forward) unit vectors (F, 3) each of (F, 32, 3) world poses."""
    up = _unit(pose[:, J32["Head"]] - pose[:, J32["Neck/Nose"]])
    right = pose[:, J32["RShoulder"]] - pose[:, J32["LShoulder"]]
    right = _unit(right - (right * up).sum(-1, keepdims=True) * up)          # perpendicular to up
    return up, right, np.cross(up, right)


def halpe_from_h36m(pose: np.ndarray) -> np.ndarray:
    """(F, 32, 3) world metres, z up -> (F, 26, 3) Halpe-26 points in HALPE_26 order (a new array)."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.ndim != 3 or pose.shape[1:] != (32, 3):
        raise DataError(f"halpe_from_h36m expects (F, 32, 3) poses, found {pose.shape}")
    u, r, f = head_axes(pose)
    j = lambda name: pose[:, J32[name]]                                      # (F, 3)
    pts = {k: j(v) for k, v in _SAME.items()}
    pts["head"] = j("Head") + 0.04 * u
    pts["neck"] = j("Thorax") + 0.02 * u
    pts["nose"] = j("Neck/Nose") + 0.09 * f + 0.03 * u
    for side, sign in (("left", -1.0), ("right", 1.0)):
        pts[f"{side}_eye"] = pts["nose"] + 0.035 * u - 0.02 * f + sign * 0.032 * r
        pts[f"{side}_ear"] = j("Neck/Nose") + 0.05 * u - 0.02 * f + sign * 0.075 * r
        s = side[0].upper()
        along = _unit(j(f"{s}ToeBase") - j(f"{s}Foot"))                      # (F, 3) foot axis
        outward = sign * r
        pts[f"{side}_big_toe"] = j(f"{s}ToeBase") + 0.04 * along - 0.015 * outward
        pts[f"{side}_small_toe"] = j(f"{s}ToeBase") + 0.02 * along + 0.03 * outward
        pts[f"{side}_heel"] = j(f"{s}Foot") - 0.05 * along - np.array([0.0, 0.0, 0.05])
    return np.stack([pts[name] for name in HALPE_26], axis=1)                # (F, 26, 3)
