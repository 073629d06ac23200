"""Small hand-made keypoint files in each detector format, for the keypoint and predict tests.

A standing person in image pixels (x right, y down, 1000 x 1000 image), COCO-17 and Halpe-26
order; writers produce the formats exactly as the tools spell them (see mmdiff.wild.keypoints)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mmdiff.wild.keypoints.layouts import BODY25_TO_COCO, MEDIAPIPE_TO_COCO

# COCO-17 order, pixels.
COCO_PERSON = np.array([
    [500, 100],                          # nose
    [490, 90], [510, 90],                # left eye, right eye (person faces the camera)
    [480, 95], [520, 95],                # left ear, right ear
    [440, 180], [560, 180],              # left shoulder, right shoulder
    [420, 300], [580, 300],              # elbows
    [410, 400], [590, 400],              # wrists
    [460, 420], [540, 420],              # hips
    [460, 600], [540, 600],              # knees
    [460, 780], [540, 780],              # ankles
], dtype=float)
# Halpe-26 adds head (top), neck, hip (pelvis), big toes, small toes, heels.
HALPE_EXTRA = np.array([[500, 50], [500, 165], [500, 420], [455, 800], [545, 800], [470, 800],
                        [530, 800], [460, 790], [540, 790]], dtype=float)
HALPE_PERSON = np.concatenate([COCO_PERSON, HALPE_EXTRA])


def coco_frames(n=3):
    """(n, 17, 3) COCO keypoints moving 1 px per frame, confidences 0.5 .. 1."""
    scores = np.linspace(0.5, 1.0, 17)[None, :, None].repeat(n, 0)
    pts = COCO_PERSON[None].repeat(n, 0) + np.arange(n)[:, None, None]
    return np.concatenate([pts, scores], axis=-1)


def halpe_frames(n=3, shift=(0.0, 0.0), score=0.9):
    """(n, 26, 3) Halpe keypoints moving 2 px per frame in x, plus ``shift``."""
    pts = HALPE_PERSON[None].repeat(n, 0) + np.asarray(shift)
    pts[..., 0] += 2.0 * np.arange(n)[:, None]
    return np.concatenate([pts, np.full((n, 26, 1), score)], axis=-1)


def alphapose_entry(frame, points, score=2.5, track=None, box=True):
    entry = {"image_id": f"{frame}.jpg", "category_id": 1,
             "keypoints": np.asarray(points).ravel().tolist(), "score": score}
    if box:
        lo, hi = points[:, :2].min(0), points[:, :2].max(0)
        entry["box"] = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
    if track is not None:
        entry["idx"] = track
    return entry


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def body25(points17):
    """COCO-17 (..., 17, 3) -> OpenPose BODY_25 (..., 25, 3) (other points zero)."""
    out = np.zeros(points17.shape[:-2] + (25, 3))
    out[..., list(BODY25_TO_COCO), :] = points17
    return out


def mediapipe33(points17):
    """COCO-17 (17, 3) -> 33 BlazePose landmarks as dicts (other points at the nose)."""
    pts = np.repeat(points17[:1], 33, axis=0)
    pts[list(MEDIAPIPE_TO_COCO)] = points17
    return [{"x": float(x), "y": float(y), "z": 0.0, "visibility": float(c)} for x, y, c in pts]
