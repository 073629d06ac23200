"""3D poses from a video's 2D keypoints: what ``mmdiff predict`` does, step by step.

    pred = predict_file("alphapose-results.json", cfg, lifter, denoiser, width=1920, height=1080)
    print("\\n".join(pred.notes)); print(pred.report.text())
    save_prediction(pred, "pose3d.npz"); write_html(pred, "view.html")

1. :func:`mmdiff.wild.keypoints.read_keypoints`: any supported detector file -> one person's
   Human3.6M-17 keypoints in pixels, missing frames and low-confidence joints filled and flagged;
2. pixels -> normalised screen coordinates with the image size (``u = 2x/w - 1``);
3. the evaluation pipeline of the config (:class:`mmdiff.pipeline.Pipeline`: lifter, DDIM
   refinement, flip TTA; the lifter alone without a denoiser), frame by frame, on the frames that
   have 2D (gaps stay NaN);
4. :func:`mmdiff.wild.plausibility.plausibility_report` on the result.

The 3D is root-relative, in metres, in the camera's axes (x right, y down, z forward).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmdiff.config import Config
from mmdiff.data.npz import save_npz_atomic
from mmdiff.engine.runtime import default_device
from mmdiff.errors import DataError
from mmdiff.models.kernels import compile_for_inference
from mmdiff.pipeline import Pipeline, aggregate, describe
from mmdiff.skeleton import NAMES_17
from mmdiff.wild.keypoints import Keypoints, read_keypoints
from mmdiff.wild.plausibility import PlausibilityReport, plausibility_report


@dataclass(frozen=True)
class Prediction:
    """keypoints: the 2D input (:class:`~mmdiff.wild.keypoints.Keypoints`); image_size: (w, h) px;
    pose_2d: (F, 17, 2) normalised; pose_3d: (F, 17, 3) metres, root-relative, camera axes, NaN
    in frames not lifted; hypotheses: (S, F, 17, 3); report: None with fewer than 2 lifted
    frames; notes: what was decided."""
    keypoints: Keypoints
    image_size: tuple[int, int]
    pose_2d: np.ndarray
    pose_3d: np.ndarray
    hypotheses: np.ndarray
    report: PlausibilityReport | None
    notes: tuple[str, ...]


def image_size_for(kp: Keypoints, width: int | None, height: int | None) -> tuple[tuple, str]:
    """((width, height), note): the given size, else the file's; DataError when neither."""
    if width is not None and height is not None:
        note = f"image: {width} x {height} px (--width/--height)"
        if kp.image_size is not None and tuple(kp.image_size) != (width, height):
            note += f"; the file says {kp.image_size[0]} x {kp.image_size[1]}"
        return (int(width), int(height)), note
    if (width is None) != (height is None):
        raise DataError("pass both --width and --height (the image size in pixels)")
    if kp.image_size is None:
        raise DataError("the keypoint file does not give the image size: pass --width W "
                        "--height H (pixels)")
    return tuple(kp.image_size), f"image: {kp.image_size[0]} x {kp.image_size[1]} px (from the file)"


def predict_sequence(kp: Keypoints, cfg: Config, lifter, denoiser=None, width=None, height=None,
                     device=None) -> Prediction:
    """Lift the frames of ``kp`` that have 2D; see the module docstring."""
    size, note = image_size_for(kp, width, height)
    pose_2d = kp.normalized(*size)                                           # (F, 17, 2)
    lifted = kp.lifted
    if not lifted.any():
        raise DataError("no frame has 2D keypoints to lift")
    pipe = Pipeline.from_config(cfg, lifter, denoiser)
    hyps = pipe.sample(pose_2d[lifted], device=default_device(device))      # (S, F', 17, 3)
    full = np.full((len(hyps), len(kp.pixels), 17, 3), np.nan, np.float32)  # (S, F, 17, 3)
    full[:, lifted] = hyps
    pose_3d = aggregate(full)                                                # (F, 17, 3)
    report = plausibility_report(pose_3d, kp.filled_frames, kp.interpolated_joints,
                                 kp.low_confidence) if lifted.sum() >= 2 else None
    what = describe(pipe)
    notes = kp.notes + (note, f"lifted {lifted.sum()} frames: {what}")
    return Prediction(kp, size, pose_2d, pose_3d, full, report, notes)


def predict_file(path, cfg: Config, lifter, denoiser=None, *, width=None, height=None,
                 layout: str = "auto", key=None, video=None, person=None, min_score: float = 0.3,
                 max_gap: int = 5, max_joint_gap: int = 12, device=None) -> Prediction:
    """Read a keypoint file (see :func:`mmdiff.wild.keypoints.read_keypoints` for the options) and
    lift it with :func:`predict_sequence` (the denoiser compiled first when ``eval.compile``)."""
    if denoiser is not None and cfg.eval.compile:
        compile_for_inference(denoiser)
    size = (width, height) if width is not None and height is not None else None
    kp = read_keypoints(path, layout=layout, key=key, video=video, person=person,
                        min_score=min_score, max_gap=max_gap, max_joint_gap=max_joint_gap,
                        image_size=size)
    return predict_sequence(kp, cfg, lifter, denoiser, width, height, device)


def report_text(pred: Prediction) -> str:
    """The plausibility report, or why there is none."""
    if pred.report is None:
        return "plausibility: not measured (fewer than 2 lifted frames)"
    return pred.report.text()


def save_prediction(pred: Prediction, path, hypotheses: bool = False) -> Path:
    """Write the npz ``mmdiff predict`` writes (keys listed in README, section predict);
    ``hypotheses`` adds every hypothesis, (S, F, 17, 3)."""
    kp = pred.keypoints
    arrays = dict(pose_3d=pred.pose_3d, pose_2d=pred.pose_2d, keypoints_px=kp.pixels,
                  scores=kp.scores, frame=kp.frame, image_size=np.array(pred.image_size),
                  filled_frames=kp.filled_frames, gap_frames=kp.gap_frames,
                  interpolated_joints=kp.interpolated_joints, low_confidence=kp.low_confidence,
                  bone_variation=pred.report.variation if pred.report else np.full(16, np.nan),
                  source_layout=np.array(kp.source_layout),
                  person=np.array(-1 if kp.person is None else kp.person),
                  joint_names=np.array(NAMES_17))
    if hypotheses:
        arrays["hypotheses"] = pred.hypotheses
    return save_npz_atomic(path, **arrays)


def sequence_view(pred: Prediction, title: str = "mmdiff predict", fps: float = 25.0,
                  widget: bool = False):
    """The animated 3D-beside-2D view of a prediction (:func:`mmdiff.viz.pose_sequence_view`)."""
    from mmdiff.viz import pose_sequence_view
    kp = pred.keypoints
    return pose_sequence_view(pred.pose_3d, kp.pixels, pred.image_size, title=title,
                              filled_frames=kp.filled_frames,
                              flagged_joints=kp.interpolated_joints | kp.low_confidence,
                              fps=fps, widget=widget)


def write_html(pred: Prediction, path, title: str = "mmdiff predict", fps: float = 25.0) -> Path:
    """The standalone animated page of a prediction (:func:`mmdiff.viz.write_pose_html`)."""
    from mmdiff.viz import write_pose_html
    kp = pred.keypoints
    return write_pose_html(pred.pose_3d, path, title=title, keypoints_px=kp.pixels,
                           image_size=pred.image_size, filled_frames=kp.filled_frames,
                           flagged_joints=kp.interpolated_joints | kp.low_confidence, fps=fps)
