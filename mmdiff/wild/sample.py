"""A synthetic in-the-wild detector file: AlphaPose Halpe-26 results of a short video.

Made from the kit's own motion (:mod:`mmdiff.data.synthetic`: a test subject's body and motion
programme, here at video frame rate), seen through a Human3.6M camera (:mod:`mmdiff.camera`,
with lens distortion), with what a real detector adds:

* keypoint noise correlated over time, sized per point like a top-down detector's (2.5 px on the
  face to 6 px on the wrists at 200 px per metre), and confidences around 0.8-0.95;
* episodes in which a limb point is off by tens of pixels and its confidence drops below 0.3;
* a second person (another subject, standing to the side and 2 m farther back) in frames
  100-224, for frames 110-139 with a higher person score than the main one (so picking the best
  person per frame would jump between the two);
* frames with no detection of the main person, and frames with no detection at all (AlphaPose
  then writes nothing for that image).

300 frames at 25 fps, S9's body walking, camera 1 of S9 (1000 x 1000 px). The file is what
``AlphaPose`` writes without tracking: a flat list of ``{"image_id": "12.jpg",
"category_id": 1, "keypoints": [x, y, c] * 26, "score", "box": [x, y, w, h], "idx": 0}``,
rounded to 0.1 px. ``python -m mmdiff.wild.sample data/sample/alphapose_halpe26.json``
writes the committed sample; :func:`make_alphapose_sample` also returns the true 3D poses.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmdiff.camera import cameras_for, camera_to_world, project_to_2d, world_to_camera
from mmdiff.data.gmm import image_scale
from mmdiff.data.h36m import ACTIONS
from mmdiff.data.synthetic import animate_in_view, subject_rng
from mmdiff.data.synthetic.actions import PROGRAMMES
from mmdiff.data.synthetic.body import sample_offsets
from mmdiff.data.synthetic.programme import Ctx, sample_style
from mmdiff.engine.atomic import write_atomic
from mmdiff.skeleton import reduce_32_to_17
from mmdiff.wild.keypoints.halpe import halpe_from_h36m

#: Per-point noise (px per axis at 200 px per metre), HALPE_26 order.
SIGMA_PX = (2.5, 2.5, 2.5, 3.0, 3.0, 3.5, 3.5, 4.5, 4.5, 6.0, 6.0, 4.5, 4.5, 4.5, 4.5, 5.0, 5.0,
            4.0, 3.5, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0)
#: Points that have low-confidence episodes: elbows, wrists, knees, ankles, toes, heels.
LIMB_POINTS = (7, 8, 9, 10, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25)
#: Frames where the main person is not detected, and where nobody is.
MAIN_MISSING = (57, 180, 233, 234, 235)
ALL_MISSING = (140, 141)


@dataclass(frozen=True)
class Sample:
    """entries: the AlphaPose JSON list; image_size: (width, height); pose_3d: (F, 17, 3) true
    camera-frame metres of the main person; main_missing: frames without the main person."""
    entries: list
    image_size: tuple[int, int]
    pose_3d: np.ndarray
    main_missing: tuple[int, ...]


def video_motion(seed: int, subject: str, action: str, frames: int, fps: float) -> np.ndarray:
    """(F, 32, 3) world metres: the subject's body doing ``action`` at ``fps``."""
    offsets = sample_offsets(subject_rng(seed, subject, "body"))
    style = sample_style(subject_rng(seed, subject, "style"))
    rng = subject_rng(seed, subject, "motion", ACTIONS.index(action), 1, 1000)
    motion = PROGRAMMES[action](Ctx(frames, fps, rng, style), 1)
    return animate_in_view(offsets, motion, subject, fps=fps)


def _ar1(rng, frames: int, shape: tuple, rho: float) -> np.ndarray:
    """Unit-variance noise (F, *shape), lag-1 correlation rho."""
    out = np.empty((frames,) + shape)
    out[0] = rng.standard_normal(shape)
    for f in range(1, frames):
        out[f] = rho * out[f - 1] + np.sqrt(1 - rho ** 2) * rng.standard_normal(shape)
    return out


def detector_output(true_px: np.ndarray, scale: np.ndarray, rng, fps: float) -> np.ndarray:
    """(F, 26, 2) true pixels, (F,) size -> (F, 26, 3) detections: x, y, confidence."""
    F = len(true_px)
    sigma = np.asarray(SIGMA_PX)[None, :, None] * scale[:, None, None]      # (F, 26, 1)
    rho = np.exp(-1.0 / (fps * 0.25))
    xy = true_px + sigma * _ar1(rng, F, (26, 2), rho)                        # (F, 26, 2)
    conf = rng.uniform(0.8, 0.95, 26) + 0.04 * _ar1(rng, F, (26,), rho)      # (F, 26)
    for j in LIMB_POINTS:                                                    # low-confidence episodes
        for start in np.flatnonzero(rng.uniform(size=F) < 0.004):
            n = int(rng.integers(3, 9))
            offset = rng.standard_t(3, 2) * 12.0 * scale[start]              # (2,) px
            bump = np.sin(np.pi * (np.arange(n) + 0.5) / n)[: F - start]
            xy[start:start + n, j] += bump[:, None] * offset
            conf[start:start + n, j] = rng.uniform(0.05, 0.25, len(bump))
    return np.concatenate([xy, np.clip(conf, 0.02, 0.99)[..., None]], axis=-1)


def _entry(frame: int, points: np.ndarray, score: float) -> dict:
    lo, hi = points[:, :2].min(0), points[:, :2].max(0)
    pad = 0.1 * (hi - lo)
    box = np.concatenate([lo - pad, hi - lo + 2 * pad])
    kp = np.column_stack([points[:, :2].round(1), points[:, 2].round(3)]).ravel()
    return {"image_id": f"{frame}.jpg", "category_id": 1,
            "keypoints": [float(v) for v in kp], "score": round(float(score), 3),
            "box": [round(float(v), 1) for v in box], "idx": 0}


def _person_score(points: np.ndarray, rng) -> float:
    """AlphaPose's proposal score: mean point confidence + box score + 1.25 max confidence."""
    return points[:, 2].mean() + rng.uniform(0.85, 0.95) + 1.25 * points[:, 2].max()


def make_alphapose_sample(seed: int = 0, frames: int = 300, fps: float = 25.0,
                          subject: str = "S9", action: str = "Walking", camera: int = 1,
                          other: tuple = ("S11", "Waiting", 100, 225, 2.2, 2.0)) -> Sample:
    """The sample video's detections (see the module docstring); ``other`` = (subject, action,
    first frame, end frame, metres to the camera's right and metres farther from the camera than
    the main person's start) of the second person."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(77,)))
    cam = cameras_for(subject)[camera]
    main = video_motion(seed, subject, action, frames, fps)                 # (F, 32, 3) world
    on_floor = lambda v: np.r_[v[:2] / np.linalg.norm(v[:2]), 0.0]
    side = on_floor(camera_to_world(np.array([1.0, 0.0, 0.0]), cam) - cam.translation)  # right
    away = on_floor(camera_to_world(np.array([0.0, 0.0, 1.0]), cam) - cam.translation)  # forward
    second = video_motion(seed, other[0], other[1], frames, fps)            # (F, 32, 3) world
    second = second + (main[0, 0] - second[0, 0]) * [1, 1, 0] + other[4] * side + other[5] * away
    people = []
    for world in (main, second):
        halpe = halpe_from_h36m(world)                                       # (F, 26, 3)
        px = project_to_2d(world_to_camera(halpe, cam), cam)                 # (F, 26, 2)
        people.append(detector_output(px, image_scale(world, cam), rng, fps))
    entries = []
    for f in range(frames):
        if f in ALL_MISSING:
            continue
        scores = [_person_score(p[f], rng) for p in people]
        if 110 <= f < 140:
            scores[1] = scores[0] + 0.2                                      # the other looks better
        if f not in MAIN_MISSING:
            entries.append(_entry(f, people[0][f], scores[0]))
        if other[2] <= f < other[3]:
            entries.append(_entry(f, people[1][f], scores[1]))
    pose_3d = world_to_camera(reduce_32_to_17(main), cam)                    # (F, 17, 3)
    return Sample(entries, (cam.res_w, cam.res_h), pose_3d - pose_3d[:, :1],
                  tuple(sorted(MAIN_MISSING + ALL_MISSING)))


def write_alphapose_sample(path, **kwargs) -> Path:
    """Write :func:`make_alphapose_sample`'s entries as AlphaPose JSON (one entry per line)."""
    sample = make_alphapose_sample(**kwargs)
    text = "[\n" + ",\n".join(json.dumps(e, separators=(",", ":")) for e in sample.entries) + "\n]\n"
    return write_atomic(path, lambda f: f.write(text.encode()))


if __name__ == "__main__":
    print(write_alphapose_sample(sys.argv[1] if len(sys.argv) > 1 else
                                 "data/sample/alphapose_halpe26.json"))
