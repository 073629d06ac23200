"""3D poses from a video's 2D keypoints: what ``mmdiff predict`` does, step by step.

    pred = predict_file("alphapose-results.json", cfg, lifter, denoiser)
    print("\\n".join(pred.notes)); print(report_text(pred))
    save_prediction(pred, "pose3d.npz"); write_html(pred, "view.html")

1. :func:`mmdiff.wild.keypoints.read_people`: any supported detector file -> every person's
   (track's) Human3.6M-17 keypoints in pixels, missing frames and low-confidence joints filled
   and flagged (``person=N``: one track);
2. pixels -> the models' normalised units, per person (:mod:`mmdiff.wild.framing`: by default
   the person is framed as Human3.6M frames its subjects, so no image size is needed;
   ``framing="image"`` divides by the frame's width as VideoPose3D does);
   then, by default, the detector's frame-to-frame jitter is smoothed out (a Gaussian of
   ``smooth`` = 1 frame over time, within runs of lifted frames; ``smooth=0``: none);
3. the evaluation pipeline of the config (:class:`mmdiff.pipeline.Pipeline`: lifter, DDIM
   refinement, flip TTA; the lifter alone without a denoiser), frame by frame, on the frames that
   have 2D (gaps stay NaN);
4. :func:`mmdiff.wild.plausibility.plausibility_report` on each person.

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
from mmdiff.wild.framing import Framing, framing_for
from mmdiff.wild.keypoints.cleaning import smooth_over_time
from mmdiff.wild.keypoints.sequence import Keypoints, read_people
from mmdiff.wild.plausibility import PlausibilityReport, plausibility_report

#: ``mmdiff predict``'s default temporal smoothing of the 2D, sigma in frames (``--smooth``).
SMOOTH = 1.0


@dataclass(frozen=True)
class PersonLift:
    """One person (track) lifted. keypoints: the 2D input (:class:`~mmdiff.wild.keypoints.
    Keypoints`, frames ``keypoints.frame``); framing: how its pixels were normalised;
    pose_2d: (F, 17, 2) normalised, what the models took; pose_3d: (F, 17, 3) metres,
    root-relative, camera axes, NaN in frames not lifted; hypotheses: (S, F, 17, 3); report: None
    with fewer than 2 lifted frames; notes: what was decided for this person."""
    keypoints: Keypoints
    framing: Framing
    pose_2d: np.ndarray
    pose_3d: np.ndarray
    hypotheses: np.ndarray
    report: PlausibilityReport | None
    notes: tuple[str, ...]

    @property
    def track(self) -> int:
        return -1 if self.keypoints.person is None else int(self.keypoints.person)


@dataclass(frozen=True)
class Prediction:
    """Every person lifted from one file, most confident first. image_size: (w, h) px when
    known (given or in the file), else None; notes: what was read and decided."""
    people: tuple[PersonLift, ...]
    image_size: tuple[int, int] | None
    notes: tuple[str, ...]

    @property
    def frame(self) -> np.ndarray:
        """(F,) the video's frame numbers from the first person's first frame to the last one's
        last: the frame axis of :meth:`stacked`."""
        first = min(p.keypoints.frame[0] for p in self.people)
        last = max(p.keypoints.frame[-1] for p in self.people)
        return np.arange(first, last + 1)

    def stacked(self, values, fill=np.nan) -> np.ndarray:
        """(P, F, ...) per-person arrays put on the common frame axis: ``values(person)`` gives
        (F_p, ...) over that person's frames; other frames hold ``fill``."""
        frame = self.frame
        parts = [np.asarray(values(p)) for p in self.people]
        out = np.full((len(parts), len(frame)) + parts[0].shape[1:], fill,
                      dtype=np.result_type(parts[0].dtype, np.min_scalar_type(fill)))
        for i, (p, part) in enumerate(zip(self.people, parts)):
            at = p.keypoints.frame - frame[0]
            out[i, at] = part
        return out

    @property
    def pose_3d(self) -> np.ndarray:
        """(P, F, 17, 3) metres, NaN where a person is absent or not lifted."""
        return self.stacked(lambda p: p.pose_3d)


def image_size_for(kp: Keypoints, width: int | None, height: int | None) -> tuple:
    """((width, height) or None, note): the given size, else the file's, else None."""
    if (width is None) != (height is None):
        raise DataError("pass both --width and --height (the image size in pixels)")
    if width is not None:
        if width <= 0 or height <= 0:
            raise DataError(f"image size must be positive, found width={width} height={height}")
        note = f"image: {width} x {height} px (--width/--height)"
        if kp.image_size is not None and tuple(kp.image_size) != (width, height):
            note += f"; the file says {kp.image_size[0]} x {kp.image_size[1]}"
        return (int(width), int(height)), note
    if kp.image_size is None:
        return None, "image: size not given (--width/--height) nor in the file"
    w, h = kp.image_size
    return (w, h), f"image: {w} x {h} px (from the file)"


def predict_sequence(kp: Keypoints, cfg: Config, lifter, denoiser=None, width=None, height=None,
                     device=None, framing: str = "h36m", smooth: float = SMOOTH) -> PersonLift:
    """Lift the frames of one person's ``kp`` that have 2D; see the module docstring."""
    size, _ = image_size_for(kp, width, height)
    lifted = kp.lifted
    if not lifted.any():
        raise DataError(f"track {kp.person}: no frame has 2D keypoints to lift")
    pixels = smooth_over_time(kp.pixels, lifted, smooth)                     # (F, 17, 2)
    frame = framing_for(framing, pixels[lifted], size)
    pose_2d = frame.apply(pixels)                                            # (F, 17, 2)
    pipe = Pipeline.from_config(cfg, lifter, denoiser)
    hyps = pipe.sample(pose_2d[lifted], device=default_device(device))      # (S, F', 17, 3)
    full = np.full((len(hyps), len(kp.pixels), 17, 3), np.nan, np.float32)  # (S, F, 17, 3)
    full[:, lifted] = hyps
    pose_3d = aggregate(full)                                                # (F, 17, 3)
    report = plausibility_report(pose_3d, kp.filled_frames, kp.interpolated_joints,
                                 kp.low_confidence) if lifted.sum() >= 2 else None
    unit = "frame" if smooth == 1 else "frames"
    smoothed = (f"2D smoothed over time: Gaussian, sigma {smooth:g} {unit} (--smooth)" if smooth
                else "2D not smoothed over time (--smooth 0)")
    notes = kp.notes + (smoothed, frame.text(), f"lifted {lifted.sum()} frames: {describe(pipe)}")
    return PersonLift(kp, frame, pose_2d, pose_3d, full, report, notes)


def predict_people(people, cfg: Config, lifter, denoiser=None, width=None, height=None,
                   device=None, framing: str = "h36m", notes=(),
                   smooth: float = SMOOTH) -> Prediction:
    """Lift each :class:`~mmdiff.wild.keypoints.Keypoints` of ``people`` (one per track) with
    :func:`predict_sequence`; ``notes``: what was read (they lead the prediction's notes)."""
    if not people:
        raise DataError("no person to lift")
    size, note = image_size_for(people[0], width, height)
    if size is None and framing == "image":
        raise DataError("the keypoint file does not give the image size: pass --width W "
                        "--height H (pixels), or use --framing h36m")
    liftable = [kp for kp in people if kp.lifted.any()]
    skipped = [kp for kp in people if not kp.lifted.any()]
    notes = tuple(notes) + (note,)
    if skipped:
        notes += tuple(f"track {kp.person}: no frame with all 17 joints, not lifted: "
                       + "; ".join(n.strip() for n in kp.notes if "not lifted" in n)
                       for kp in skipped)
    if not liftable:
        raise DataError("no frame of any person has all 17 joints to lift:\n" + "\n".join(notes))
    lifts = tuple(predict_sequence(kp, cfg, lifter, denoiser, width, height, device, framing,
                                   smooth) for kp in liftable)
    return Prediction(lifts, size, notes)


def predict_file(path, cfg: Config, lifter, denoiser=None, *, width=None, height=None,
                 layout: str = "auto", key=None, video=None, person=None, min_score: float = 0.3,
                 max_gap: int = 5, max_joint_gap: int = 12, min_detections: int = 5,
                 framing: str = "h36m", smooth: float = SMOOTH, device=None) -> Prediction:
    """Read every person of a keypoint file (or track ``person``; see
    :func:`mmdiff.wild.keypoints.read_people` for the options) and lift each with
    :func:`predict_sequence` (the denoiser compiled first when ``eval.compile``)."""
    if denoiser is not None and cfg.eval.compile:
        compile_for_inference(denoiser)
    size = (width, height) if width is not None and height is not None else None
    people, notes = read_people(path, layout=layout, key=key, video=video, person=person,
                                min_detections=min_detections, min_score=min_score,
                                max_gap=max_gap, max_joint_gap=max_joint_gap, image_size=size)
    return predict_people(people, cfg, lifter, denoiser, width, height, device, framing, notes,
                          smooth)


def report_text(pred: Prediction) -> str:
    """Per person: its track, frames, the plausibility report or why there is none."""
    parts = []
    for i, p in enumerate(pred.people):
        f = p.keypoints.frame
        head = f"person {i} (track {p.track}, frames {f[0]}-{f[-1]})"
        body = (p.report.text() if p.report is not None
                else "plausibility: not measured (fewer than 2 lifted frames)")
        parts.append(f"{head}:\n" + "\n".join(f"  {line}" for line in body.splitlines()))
    return "\n".join(parts)


def save_prediction(pred: Prediction, path, hypotheses: bool = False) -> Path:
    """Write the npz ``mmdiff predict`` writes (keys listed in README, section predict): per
    person P on the common frame axis ``frame`` (F,); ``hypotheses`` adds every hypothesis,
    (P, S, F, 17, 3)."""
    st = pred.stacked
    people = pred.people
    arrays = dict(
        pose_3d=st(lambda p: p.pose_3d), pose_2d=st(lambda p: p.pose_2d),
        keypoints_px=st(lambda p: p.keypoints.pixels), scores=st(lambda p: p.keypoints.scores),
        frame=pred.frame, track=np.array([p.track for p in people]),
        frame_range=np.array([[p.keypoints.frame[0], p.keypoints.frame[-1]] for p in people]),
        present=st(lambda p: np.ones(len(p.pose_3d), bool), False),
        filled_frames=st(lambda p: p.keypoints.filled_frames, False),
        gap_frames=st(lambda p: p.keypoints.gap_frames, False),
        unseen_frames=st(lambda p: p.keypoints.unseen_frames, False),
        interpolated_joints=st(lambda p: p.keypoints.interpolated_joints, False),
        low_confidence=st(lambda p: p.keypoints.low_confidence, False),
        bone_variation=np.stack([p.report.variation if p.report else np.full(16, np.nan)
                                 for p in people]),
        image_size=np.array(pred.image_size if pred.image_size else (-1, -1)),
        framing=np.array(people[0].framing.name),
        framing_scale=np.array([p.framing.scale for p in people]),
        source_layout=np.array(people[0].keypoints.source_layout),
        joint_names=np.array(NAMES_17))
    if hypotheses:
        arrays["hypotheses"] = np.moveaxis(st(lambda p: np.moveaxis(p.hypotheses, 0, 1)), 2, 1)
    return save_npz_atomic(path, **arrays)


def _view_args(pred) -> dict:
    """The arguments of :func:`mmdiff.viz.pose_sequence_view` for every person of ``pred`` (a
    :class:`Prediction`, or one :class:`PersonLift`)."""
    if isinstance(pred, PersonLift):
        pred = Prediction((pred,), pred.keypoints.image_size, pred.notes)
    st = pred.stacked
    px = st(lambda p: p.keypoints.pixels)                                     # (P, F, 17, 2)
    size = pred.image_size
    if size is None:                       # the 2D panel spans the keypoints
        size = tuple(int(np.ceil(np.nanmax(px[..., k]) * 1.05)) for k in (0, 1))
        extent = "image size unknown: the keypoints' extent"
    else:
        extent = None
    return dict(pose_3d=pred.pose_3d, keypoints_px=px, image_size=size,
                filled_frames=st(lambda p: p.keypoints.filled_frames, False),
                flagged_joints=st(lambda p: p.keypoints.interpolated_joints
                                  | p.keypoints.low_confidence, False),
                labels=[f"track {p.track}" for p in pred.people], size_note=extent)


def sequence_view(pred: Prediction | PersonLift, title: str = "mmdiff predict", fps: float = 25.0,
                  widget: bool = False):
    """The animated 3D-beside-2D view of every person of a prediction
    (:func:`mmdiff.viz.pose_sequence_view`)."""
    from mmdiff.viz import pose_sequence_view
    return pose_sequence_view(**_view_args(pred), title=title, fps=fps, widget=widget)


def write_html(pred: Prediction | PersonLift, path, title: str = "mmdiff predict",
               fps: float = 25.0) -> Path:
    """The standalone animated page of a prediction (:func:`mmdiff.viz.write_pose_html`)."""
    from mmdiff.viz import write_pose_html
    args = _view_args(pred)
    return write_pose_html(args.pop("pose_3d"), path, title=title, fps=fps, **args)
