"""From a detector's file to one person's Human3.6M-17 keypoints over a video.

    kp = read_keypoints("alphapose-results.json")     # Keypoints, Human3.6M order, pixels
    pose_2d = kp.normalized(width, height)            # (F, 17, 2) the frame's normalisation
    print("\\n".join(kp.notes))                        # what was read, chosen, filled

Steps: read the file (:mod:`~mmdiff.wild.keypoints.readers`, :mod:`~mmdiff.wild.keypoints.arrays`,
:mod:`~mmdiff.wild.keypoints.mediapipe`) -> pick the layout (``auto``: from the file's joint names,
else the point count) -> pick one person (:mod:`~mmdiff.wild.keypoints.tracking`) -> convert to
Human3.6M-17 (:mod:`~mmdiff.wild.keypoints.layouts`) -> fill and flag frames and joints
(:mod:`~mmdiff.wild.keypoints.cleaning`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mmdiff.errors import DataError
from mmdiff.wild.keypoints.cleaning import clean
from mmdiff.wild.keypoints.detections import Detections
from mmdiff.wild.keypoints.layouts import POINTS, check_layout, guess_layout, to_h36m_points
from mmdiff.wild.keypoints.tracking import Person, choose_person, every_person


@dataclass(frozen=True)
class Keypoints:
    """Keypoints of one person over F frames, Human3.6M-17 order.

    pixels: (F, 17, 2) image pixels, NaN in gaps and at joints with no position. scores:
    (F, 17) confidences as detected (1 when the file has none, NaN where not detected).
    source_layout: the file's layout. frame: (F,) frame numbers. filled_frames, gap_frames,
    unseen_frames: (F,) bool; interpolated_joints, low_confidence: (F, 17) bool (see
    :mod:`mmdiff.wild.keypoints.cleaning`). image_size: (width, height) when the file gives it;
    person: the track lifted; notes: what was read and decided, for the user to see."""
    pixels: np.ndarray
    scores: np.ndarray
    source_layout: str
    frame: np.ndarray | None = None
    filled_frames: np.ndarray | None = None
    gap_frames: np.ndarray | None = None
    interpolated_joints: np.ndarray | None = None
    low_confidence: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    person: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    unseen_frames: np.ndarray | None = None

    def __post_init__(self):
        F = len(self.pixels)
        defaults = {"frame": np.arange(F), "filled_frames": np.zeros(F, bool),
                    "gap_frames": np.zeros(F, bool), "interpolated_joints": np.zeros((F, 17), bool),
                    "low_confidence": np.zeros((F, 17), bool), "unseen_frames": np.zeros(F, bool)}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @property
    def lifted(self) -> np.ndarray:
        """(F,) frames that have all 17 2D keypoints (all but the gaps and the unseen frames)."""
        return ~(self.gap_frames | self.unseen_frames)

    def normalized(self, width: int, height: int) -> np.ndarray:
        """(F, 17, 2) float32 in the models' normalised screen coordinates, the frame's own
        framing (:func:`mmdiff.wild.framing.image_framing`: ``u = 2 x / w - 1``,
        ``v = 2 y / w - h / w``); NaN stays NaN. ``mmdiff predict`` frames each person as
        Human3.6M does instead (:mod:`mmdiff.wild.framing`)."""
        from mmdiff.wild.framing import image_framing
        return image_framing(width, height).apply(self.pixels)


def to_h36m(kp, layout: str, source: str = "keypoints", check: bool = True) -> Keypoints:
    """Convert a (F, J, 2|3) array of one person per frame in ``layout`` to :class:`Keypoints`
    (no cleaning: every frame is taken as detected)."""
    kp = np.asarray(kp, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]                                                        # one frame
    if kp.ndim != 3 or kp.shape[-1] not in (2, 3):
        raise DataError(f"{source}: expected keypoints of shape (frames, joints, 2 or 3), "
                        f"found {kp.shape}")
    if not np.isfinite(kp).all():
        raise DataError(f"{source}: keypoints contain NaN or inf")
    _check_count(kp.shape[1], layout, source, kp.shape)
    if check and POINTS[layout] == 17:
        check_layout(kp, layout, source)
    out = to_h36m_points(kp, layout)                                         # (F, 17, C)
    scores = out[..., 2] if out.shape[-1] == 3 else np.ones(out.shape[:2])
    return Keypoints(out[..., :2].astype(np.float32), scores.astype(np.float32), layout)


def _check_count(count: int, layout: str, source: str, shape) -> None:
    if layout not in POINTS:
        raise DataError(f"{source}: unknown layout {layout!r}; expected one of "
                        f"{', '.join(POINTS)}")
    if count != POINTS[layout]:
        raise DataError(f"{source}: layout {layout!r} has {POINTS[layout]} joints, the file has "
                        f"{count} (shape {tuple(shape)}); accepted: "
                        + ", ".join(f"{v} ({k})" for k, v in POINTS.items()))


def read_detections(path, key: str | None = None, video: str | None = None,
                    image_size=None) -> Detections:
    """Every detection of a keypoint file or OpenPose folder (see the readers' modules)."""
    from mmdiff.wild.keypoints.arrays import read_array_detections
    from mmdiff.wild.keypoints.readers import read_json_detections, read_openpose_folder
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such keypoint file")
    if path.is_dir():
        return read_openpose_folder(path)
    if path.suffix == ".json":
        return read_json_detections(path, image_size)
    if path.suffix in (".npz", ".npy"):
        return read_array_detections(path, key, video)
    raise DataError(f"{path}: expected a .json, .npz or .npy keypoint file, or a folder of "
                    f"OpenPose JSON files")


def choose_layout(det: Detections, layout: str = "auto") -> tuple[str, str]:
    """(layout, how it was chosen) for ``det``; DataError when ``layout`` does not fit."""
    if layout != "auto":
        _check_count(det.num_points, layout, det.source, det.points.shape)
        return layout, "--layout"
    if det.layout is not None:
        return det.layout, "named by the file"
    default_17 = "h36m" if det.form == "keypoint array" else "coco"
    return guess_layout(det.num_points, default_17, det.source), f"{det.num_points} points per person"


def _person_keypoints(det: Detections, layout: str, chosen: Person, min_score: float,
                      max_gap: int, max_joint_gap: int, guessed: bool = True) -> Keypoints:
    """One chosen person of ``det`` -> Human3.6M-17 :class:`Keypoints`, filled and flagged; its
    notes are the cleaning's. A 17-point layout that was ``guessed`` from the point count is
    checked (DataError when the points do not look like it); one the file or ``--layout`` named
    is trusted, and a failed check is only said in the notes (poor face points, say)."""
    points = to_h36m_points(chosen.points, layout)                           # (F, 17, 3)
    doubt = ()
    if POINTS[layout] == 17:
        try:
            check_layout(points if layout == "h36m" else chosen.points, layout, det.source)
        except DataError as err:
            if guessed:
                raise
            doubt = (f"track {chosen.track}: {str(err).split(': ', 1)[1].split(';')[0]} "
                     f"(the layout was named, so it is kept)",)
    cleaned = clean(points, chosen.detected, chosen.frame, min_score, max_gap, max_joint_gap)
    return Keypoints(cleaned.pixels.astype(np.float32), cleaned.scores.astype(np.float32), layout,
                     chosen.frame, cleaned.filled_frames, cleaned.gap_frames,
                     cleaned.interpolated_joints, cleaned.low_confidence, det.image_size,
                     chosen.track, doubt + cleaned.notes, cleaned.unseen_frames)


#: Forms whose 17 points may be in either order (Human3.6M or COCO); detectors' own formats
#: write COCO's.
AMBIGUOUS_FORMS = ("keypoint array", "frames of keypoints")


def _checked(det: Detections, layout: str, how: str) -> bool:
    """Whether a 17-point layout must pass :func:`check_layout`: when it was guessed from the
    point count of a plain array, or ``--layout`` names another than the guess; not for a
    detector's own format, when the file names it or ``--layout`` confirms the guess (the user
    has seen the points)."""
    if how == "named by the file" or (how.endswith("per person")
                                      and det.form not in AMBIGUOUS_FORMS):
        return False
    return how != "--layout" or layout != choose_layout(det)[0]


def _file_notes(det: Detections, layout: str, how: str) -> tuple[str, ...]:
    return (f"input: {det.source} read as {det.form}: {len(det)} detections in "
            f"{len(np.unique(det.frame))} frames", f"layout: {layout} ({how})") + det.notes


def read_keypoints(path, layout: str = "auto", key: str | None = None, video: str | None = None,
                   person: int | None = None, min_score: float = 0.3, max_gap: int = 5,
                   max_joint_gap: int = 12, image_size=None) -> Keypoints:
    """One person's 2D keypoints over a video, Human3.6M order, filled and flagged.

    path: a detector's JSON (AlphaPose / COCO results, MMPose / RTMPose, OpenPose, MediaPipe,
        or frames of points), an OpenPose folder, an .npy / .npz array or a VideoPose3D custom npz.
    layout: one of ``mmdiff.wild.keypoints.LAYOUTS`` or 'auto'; key / video: which npz member /
        video.
    person: the track to lift (default: the most confident); min_score, max_gap, max_joint_gap:
        see :mod:`mmdiff.wild.keypoints.cleaning`. image_size: (width, height), needed to read
        normalised MediaPipe landmarks.
    Raises DataError naming the file and the entry at fault."""
    det = read_detections(path, key, video, image_size)
    layout, how = choose_layout(det, layout)
    chosen = choose_person(det, person)
    kp = _person_keypoints(det, layout, chosen, min_score, max_gap, max_joint_gap,
                           _checked(det, layout, how))
    return replace(kp, notes=_file_notes(det, layout, how) + chosen.notes + kp.notes)


def read_people(path, layout: str = "auto", key: str | None = None, video: str | None = None,
                person: int | None = None, min_detections: int = 5, min_score: float = 0.3,
                max_gap: int = 5, max_joint_gap: int = 12,
                image_size=None) -> tuple[tuple[Keypoints, ...], tuple[str, ...]]:
    """(people, notes): every person's 2D keypoints (one :class:`Keypoints` per track, most
    confident first, each over its own frame range and with its own notes), or only track
    ``person``; and the notes on the file and its tracks. Tracks with fewer than
    ``min_detections`` detections are left out (said in the notes). Other arguments as
    :func:`read_keypoints`."""
    det = read_detections(path, key, video, image_size)
    layout, how = choose_layout(det, layout)
    if person is not None:
        chosen = choose_person(det, person)
        people, notes = [chosen], chosen.notes
    else:
        people, notes = every_person(det, min_detections)
    out = tuple(_person_keypoints(det, layout, p, min_score, max_gap, max_joint_gap,
                                  _checked(det, layout, how)) for p in people)
    return out, _file_notes(det, layout, how) + tuple(notes)
