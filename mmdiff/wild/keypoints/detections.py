"""Every person a detector found in a video, one row per detection, before any choice is made.

Readers (:mod:`mmdiff.wild.keypoints.readers`, :mod:`mmdiff.wild.keypoints.arrays`) turn a file into
:class:`Detections`; :mod:`mmdiff.wild.keypoints.tracking` picks one person per frame from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmdiff.errors import DataError


@dataclass(frozen=True)
class Detections:
    """All detections of a file.

    frame: (N,) int frame numbers (as the file counts them; frames may be missing).
    points: (N, P, 3) pixels x (right), y (down) and the point's confidence, in ``layout``.
    score: (N,) the person's confidence. box: (N, 4) x1, y1, x2, y2 pixels (from the file, else
    around the confident points). track: (N,) int track id from the file, -1 where it has none.
    layout: the points' layout (see :mod:`mmdiff.wild.keypoints.layouts`), or None to be guessed.
    source: the file; form: what the file was read as ("AlphaPose results", ...);
    image_size: (width, height) pixels when the file says; notes: what the reader decided.
    """
    frame: np.ndarray
    points: np.ndarray
    score: np.ndarray
    box: np.ndarray
    track: np.ndarray
    layout: str | None
    source: str
    form: str
    image_size: tuple[int, int] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def num_points(self) -> int:
        return self.points.shape[1]

    def frame_range(self) -> tuple[int, int]:
        """(first, last) frame number holding a detection."""
        return int(self.frame.min()), int(self.frame.max())


def box_from_points(points: np.ndarray) -> np.ndarray:
    """(P, 3) points -> (4,) x1, y1, x2, y2 around the points with confidence > 0 (all points
    when none has)."""
    keep = points[:, 2] > 0
    xy = points[keep, :2] if keep.any() else points[:, :2]                   # (P', 2)
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes a (N, 4) and b (M, 4), x1 y1 x2 y2. Returns (N, M)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])                          # (N, M, 2)
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])                          # (N, M, 2)
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)                     # (N, M)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=-1)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass
class DetectionRows:
    """Collects detections one at a time (what a reader fills), then :meth:`build` checks and
    stacks them. Each ``add`` names the entry it came from, so errors can point at it."""
    source: str
    form: str
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def add(self, frame: int, points, entry: str, score=None, box=None, track=None) -> None:
        """points: (P, 2|3) or a flat x, y, c list; box: x1, y1, x2, y2 pixels or None."""
        try:
            pts = np.asarray(points, dtype=np.float64)
            frame = int(frame)
            score = None if score is None else float(score)
        except (TypeError, ValueError, OverflowError) as err:
            raise DataError(f"{self.source}, {entry}: expected numbers for the keypoints, frame "
                            f"and score ({err})") from None
        if not 0 <= frame < 2 ** 31:
            raise DataError(f"{self.source}, {entry}: frame number {frame} is not a frame of a "
                            f"video (0 .. 2^31)")
        if pts.ndim == 1:
            if pts.size % 3:
                raise DataError(f"{self.source}, {entry}: a flat keypoint list holds x, y, score "
                                f"triples, found {pts.size} numbers")
            pts = pts.reshape(-1, 3)
        if pts.ndim != 2 or pts.shape[1] not in (2, 3) or len(pts) == 0:
            raise DataError(f"{self.source}, {entry}: expected keypoints of shape (points, 2|3), "
                            f"found {pts.shape}")
        if pts.shape[1] == 2:
            pts = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)      # (P, 3) confidence 1
        if not np.isfinite(pts).all():
            raise DataError(f"{self.source}, {entry}: keypoints contain NaN or inf")
        if score is None:
            score = float(pts[:, 2].mean())
        b = box_from_points(pts) if box is None else np.asarray(box, dtype=np.float64)
        if b.shape != (4,) or not np.isfinite(b).all():
            raise DataError(f"{self.source}, {entry}: expected a box of 4 numbers, found {box!r}")
        self.rows.append((int(frame), pts, float(score), b, -1 if track is None else int(track),
                          entry))

    def build(self, layout: str | None = None, image_size=None) -> Detections:
        if not self.rows:
            raise DataError(f"{self.source}: no person was detected in any frame")
        counts = {}
        for r in self.rows:
            counts.setdefault(len(r[1]), r[5])
        if len(counts) > 1:
            raise DataError(f"{self.source}: detections have different point counts "
                            + ", ".join(f"{n} (first at {e})" for n, e in counts.items()))
        top = max(float(r[1][:, 2].max()) for r in self.rows)
        if top > 1:
            self.notes.append(f"point confidences up to {top:.3g} (above 1: the detector's own "
                              f"scale); kept as they are, --min-score compares with them")
        order = sorted(range(len(self.rows)), key=lambda i: self.rows[i][0])
        rows = [self.rows[i] for i in order]
        return Detections(frame=np.array([r[0] for r in rows]),
                          points=np.stack([r[1] for r in rows]),
                          score=np.array([r[2] for r in rows]), box=np.stack([r[3] for r in rows]),
                          track=np.array([r[4] for r in rows]), layout=layout, source=self.source,
                          form=self.form, image_size=image_size, notes=tuple(self.notes))
