"""Generating the embedded dataset: motion per take, detections and GMMs per camera, files.

``write_dataset(out_dir, seed)`` (``mmdiff data synth``) writes, deterministically from the seed::

    data_3d_h36m_synth.npz             positions_3d {subject: {action: (F, 32, 3) world metres}}
    data_2d_h36m_synth_det.npz         positions_2d {subject: {action: [4 x (F, 17, 2) px]}}
    data_2d_h36m_synth_det_gmm.npz     positions_2d {subject: {action: [4 x (F, 17, K, 5)]}}
    data_2d_h36m_synth_gt_gmm.npz      the same layout, kernels on the true projection

in exactly the published layouts (see :mod:`mmdiff.data.h36m`), so one loader serves these and the
real files. Subjects S1 S5 S6 S7 S8 (train) and S9 S11 (test), the 15 actions with two takes each
("Walking 1", "Walking 2"). Each subject has its own bones and style, drawn from its own random
stream, and every take's timing from another: test subjects share no motion with training ones.
Frame rate :data:`mmdiff.data.synthetic.body.FPS` (12.5 fps, Human3.6M's 50 Hz with stride 4).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mmdiff.camera import camera_to_world, cameras_for
from mmdiff.data.gmm import DEFAULT_KERNELS, true_projection
from mmdiff.data.h36m import ACTIONS, TEST_SUBJECTS, TRAIN_SUBJECTS, save_positions_3d
from mmdiff.data.synthetic.actions import PROGRAMMES
from mmdiff.data.synthetic.body import (FPS, forward_kinematics, local_rotations, place_on_floor,
                                        root_rotation, sample_offsets)
from mmdiff.data.synthetic.contact import plant_feet, rest_hands
from mmdiff.data.synthetic.observe import observation_files, observe, write_observations
from mmdiff.data.synthetic.programme import Ctx, sample_style
from mmdiff.errors import DataError

SUBJECTS = TRAIN_SUBJECTS + TEST_SUBJECTS
#: Mean frames per take of the default dataset (each take varies by +-20 %); 8 s at 12.5 fps.
FRAMES_PER_TAKE = 100
#: The committed sample (data/sample/): two train and two test subjects, three actions, two takes
#: of about SAMPLE_FRAMES frames each (~240 frames, about 1 MB in all).
SAMPLE_FRAMES = 10
SAMPLE_SUBJECTS = ("S1", "S5", "S9", "S11")
SAMPLE_ACTIONS = ("Directions", "Sitting", "Walking")
#: Pixels kept free at the image border: every joint stays at least this far inside.
MARGIN_PX = 10.0
FILES = {"3d": "data_3d_h36m_synth.npz", **observation_files("synth")}
_PURPOSE = {"body": 0, "style": 1, "motion": 2}


def subject_rng(seed: int, subject: str, purpose: str, *extra: int) -> np.random.Generator:
    """An independent random stream per (seed, subject, purpose, extra...): no two subjects (or
    takes) draw the same numbers."""
    key = (_PURPOSE[purpose], SUBJECTS.index(subject)) + tuple(extra)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


# --- motion -------------------------------------------------------------------------------------
def animate(offsets: np.ndarray, motion, fps: float = FPS) -> np.ndarray:
    """A programme's Motion -> world joints (F, 32, 3) metres: on the floor (z = 0) or its seat,
    hands resting on the floor rather than through it, feet planted in stance
    (:mod:`~mmdiff.data.synthetic.contact`)."""
    F = len(motion.heading)
    local = local_rotations(motion.angles, F)                           # (F, 32, 3, 3)
    root = root_rotation(motion.heading, motion.pitch)                  # (F, 3, 3)
    root_pos = np.concatenate([motion.xy, np.zeros((F, 1))], 1)         # (F, 3)
    pos, _ = forward_kinematics(offsets, local, root, root_pos)
    pos, seated = place_on_floor(pos, motion.seat, motion.sitting)
    forward = root[:, :, 0]                                             # (F, 3) body's +x
    return plant_feet(rest_hands(pos, offsets, forward), offsets, seated, forward, fps)


#: Height (m) at which the cameras aim: a standing subject's pelvis.
AIM_HEIGHT = 0.9


def area_centre(subject: str) -> np.ndarray:
    """Centre of the capture area (2,) metres: the mean of the points where the subject's four
    cameras' optical axes cross the horizontal plane at AIM_HEIGHT (the cameras aim at the
    body's middle, not at the floor)."""
    hits = []
    for cam in cameras_for(subject):
        direction = camera_to_world(np.array([0.0, 0.0, 1.0]), cam) - cam.translation   # (3,)
        t = (AIM_HEIGHT - cam.translation[2]) / direction[2]
        hits.append(cam.translation[:2] + t * direction[:2])
    return np.mean(hits, axis=0)


def _inside(world: np.ndarray, subject: str, margin: float) -> np.ndarray:
    """(F,) True where every joint projects inside all four images with ``margin`` px."""
    ok = np.ones(len(world), bool)
    for cam in cameras_for(subject):
        uv = true_projection(world, cam)                                # (F, 17, 2)
        cam_ok = (uv[..., 0] >= margin) & (uv[..., 0] <= cam.res_w - margin) & \
                 (uv[..., 1] >= margin) & (uv[..., 1] <= cam.res_h - margin)
        ok &= cam_ok.all(1)
    return ok


def animate_in_view(offsets: np.ndarray, motion, subject: str,
                    margin: float = MARGIN_PX, fps: float = FPS) -> np.ndarray:
    """:func:`animate` at the subject's :func:`area_centre`, the root path shrunk toward it
    (by 0.85 at a time) until all four cameras see every joint with ``margin`` px to spare.

    motion.xy is relative to the centre. Returns (F, 32, 3) world metres.
    """
    centre = area_centre(subject)
    for factor in 0.85 ** np.arange(12):
        world = animate(offsets, replace(motion, xy=motion.xy * factor + centre), fps)
        if _inside(world, subject, margin).all():
            return world
    raise DataError(f"{subject}: motion leaves the cameras' view even at the area centre")


def make_sequence(seed: int, subject: str, action: str, take: int, num_frames: int) -> np.ndarray:
    """One take: (F, 32, 3) float32 world metres, z up, inside all four cameras' view."""
    offsets = sample_offsets(subject_rng(seed, subject, "body"))
    style = sample_style(subject_rng(seed, subject, "style"))
    rng = subject_rng(seed, subject, "motion", ACTIONS.index(action), take)
    motion = PROGRAMMES[action](Ctx(num_frames, FPS, rng, style), take)
    return animate_in_view(offsets, motion, subject).astype(np.float32)


def make_positions_3d(seed: int = 0, subjects=SUBJECTS, frames: int = FRAMES_PER_TAKE,
                      actions=ACTIONS) -> dict:
    """{subject: {"<Action> <take>": (F, 32, 3) float32 world metres}}, takes 1 and 2; take
    lengths vary by +-20 % around ``frames``."""
    out = {}
    for subject in subjects:
        out[subject] = {}
        for action in actions:
            for take in (1, 2):
                rng = subject_rng(seed, subject, "motion", ACTIONS.index(action), take, 99)
                n = int(round(frames * rng.uniform(0.8, 1.2)))
                out[subject][f"{action} {take}"] = make_sequence(seed, subject, action, take, n)
    return out


# --- observations -----------------------------------------------------------------------------
def make_observations(positions_3d: dict, seed: int = 0, num_kernels: int = DEFAULT_KERNELS):
    """Detections and GMMs for every take and camera (:func:`~.observe.observe` at FPS).

    Returns (det, det_gmm, gt_gmm), each {subject: {action: [4 per-camera arrays]}}: (F, 17, 2)
    float32 px; (F, 17, K, 5) float32 fitted per frame to the detector's evidence; (F, 17, K, 5)
    on the truth.
    """
    return observe(positions_3d, seed, FPS, num_kernels)


def _write_all(out_dir, positions_3d, seed) -> dict[str, Path]:
    det, det_gmm, gt = make_observations(positions_3d, seed)
    paths = {"3d": Path(save_positions_3d(Path(out_dir) / FILES["3d"], positions_3d))}
    paths.update(write_observations(out_dir, det, det_gmm, gt, "synth"))
    return paths


def write_dataset(out_dir="data/synthetic", seed: int = 0) -> dict[str, Path]:
    """Generate the embedded dataset in ``out_dir`` (each file written atomically).

    7 subjects x 15 actions x 2 takes of about FRAMES_PER_TAKE frames at 12.5 fps, 4 cameras
    each. Same seed -> identical arrays. Returns {"3d", "det", "det_gmm", "gt_gmm": path}.
    """
    return _write_all(out_dir, make_positions_3d(seed), seed)


def write_sample(out_dir="data/sample", seed: int = 0) -> dict[str, Path]:
    """The small committed sample for unit tests, made by the same code: SAMPLE_SUBJECTS x
    SAMPLE_ACTIONS x 2 takes of about SAMPLE_FRAMES frames. Returns the same dict as
    :func:`write_dataset`."""
    positions = make_positions_3d(seed, SAMPLE_SUBJECTS, SAMPLE_FRAMES, SAMPLE_ACTIONS)
    return _write_all(out_dir, positions, seed)
