"""2D keypoints from detectors' files, one person over a video, in the Human3.6M 17-joint layout
the models expect.

    layouts     joint names of each detector layout, the mapping to Human3.6M-17 (notes there)
    detections  every detection of a file (frame, points, score, box, track)
    readers     AlphaPose / COCO results, MMPose / RTMPose, OpenPose JSON (file or folder)
    mediapipe   MediaPipe BlazePose landmarks (pixels, or normalised with the image size)
    arrays      .npy / .npz arrays and VideoPose3D custom-video npz files
    tracking    one person across frames: track ids, or boxes linked by IoU
    cleaning    missing frames and low-confidence joints, interpolated and flagged
    sequence    read_keypoints: all of the above -> Keypoints
"""
from __future__ import annotations

import importlib

_NAMES = {
    "layouts": ("BODY25_TO_COCO", "COCO18_TO_COCO", "COCO_17", "HALPE_26", "LAYOUTS",
                "MEDIAPIPE_33", "MEDIAPIPE_TO_COCO", "POINTS", "check_layout", "coco_to_h36m",
                "face_cluster_ratio", "guess_layout", "halpe_to_h36m", "mediapipe_to_coco",
                "openpose_to_coco", "to_h36m_points"),
    "sequence": ("Keypoints", "read_detections", "read_keypoints", "to_h36m"),
}
_WHERE = {name: module for module, names in _NAMES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    """Names are loaded on first use, so that ``mmdiff.wild.keypoints.layouts`` (what the command
    line's option list needs) imports no torch."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"mmdiff.wild.keypoints.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'mmdiff.wild.keypoints' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
