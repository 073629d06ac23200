"""MediaPipe BlazePose landmarks (33 per person) saved as JSON.

MediaPipe has no file format of its own; its results serialise (``MessageToDict``, or by hand
from ``PoseLandmarkerResult``) as landmarks ``{"x": .., "y": .., "z": .., "visibility": ..,
"presence": ..}``. Accepted: a JSON list of frames, each

* a list of 33 landmarks (one person), or
* an object with ``"pose_landmarks"`` (``PoseLandmarkerResult``: a list of people, each 33
  landmarks, or one person's 33), ``"landmarks"`` or ``"landmark"`` (a ``NormalizedLandmarkList``),
  or ``"keypoints"`` (a list of 33 landmark objects, as hand-written savers do; an empty list is
  a frame without a person), and optionally ``"frame"`` / ``"frame_id"`` / ``"frame_index"``
  (else the list position, said in the notes: frames a saver skipped then cannot be seen), or
* an object keyed by landmark index, ``{"0": {...}, ..., "32": {...}}``.

Coordinates are image pixels, or MediaPipe's normalised [0, 1] (x by the width, y by the height):
when every |x|, |y| is at most 2 the landmarks are taken as normalised and scaled by the image
size (``--width`` / ``--height``), and the notes say so. The confidence is ``visibility`` (else
``presence``, else 1); values outside [0, 1] are logits and go through a sigmoid (said too).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mmdiff.errors import DataError
from mmdiff.wild.keypoints.detections import DetectionRows, Detections

NUM_LANDMARKS = 33
_PEOPLE_KEYS = ("pose_landmarks", "landmarks", "landmark", "keypoints")
_INDEX_KEYS = {str(j) for j in range(33)}
_FRAME_KEYS = ("frame", "frame_id", "frame_index")


def _is_landmark(x) -> bool:
    return isinstance(x, dict) and "x" in x and "y" in x


def is_mediapipe(frame) -> bool:
    """Whether a JSON frame looks like MediaPipe landmarks."""
    if isinstance(frame, dict):
        if set(frame) == _INDEX_KEYS:
            return all(_is_landmark(v) for v in frame.values())
        if "keypoints" in frame:
            people = frame["keypoints"]
            return isinstance(people, list) and (not people or _is_landmark(people[0]))
        return any(k in frame for k in _PEOPLE_KEYS)
    return isinstance(frame, list) and bool(frame) and isinstance(frame[0], dict) and "x" in frame[0]


def _people(frame, where: str, source: Path) -> list:
    """The people of one frame, each a list of landmark dicts."""
    if isinstance(frame, dict) and set(frame) == _INDEX_KEYS:
        return [[frame[str(j)] for j in range(NUM_LANDMARKS)]]
    if isinstance(frame, dict):
        key = next((k for k in _PEOPLE_KEYS if k in frame), None)
        if key is None:
            raise DataError(f"{source}, {where}: expected one of {list(_PEOPLE_KEYS)}, found keys "
                            f"{sorted(frame)}")
        frame = frame[key]
    if not isinstance(frame, list):
        raise DataError(f"{source}, {where}: expected a list of landmarks, found "
                        f"{type(frame).__name__}")
    if not frame or isinstance(frame[0], dict):
        return [frame] if frame else []
    return frame                                                             # several people


def _landmarks(person, where: str, source: Path) -> np.ndarray:
    """33 landmark dicts -> (33, 4) x, y, visibility, presence (NaN when absent)."""
    if not isinstance(person, list) or len(person) != NUM_LANDMARKS:
        n = len(person) if isinstance(person, list) else type(person).__name__
        raise DataError(f"{source}, {where}: expected {NUM_LANDMARKS} landmarks, found {n}")
    out = np.full((NUM_LANDMARKS, 4), np.nan)
    for j, lm in enumerate(person):
        if not isinstance(lm, dict) or "x" not in lm or "y" not in lm:
            raise DataError(f"{source}, {where}, landmark {j}: expected an object with 'x' and "
                            f"'y', found {lm!r}")
        try:
            out[j] = [float(lm["x"]), float(lm["y"]), float(lm.get("visibility", np.nan)),
                      float(lm.get("presence", np.nan))]
        except (TypeError, ValueError):
            raise DataError(f"{source}, {where}, landmark {j}: coordinates must be numbers, "
                            f"found {lm!r}") from None
    return out


def _confidence(lms: np.ndarray, notes: list) -> np.ndarray:
    """(N, 33, 4) -> (N, 33) confidence: visibility, else presence, else 1; logits -> sigmoid."""
    conf = np.where(np.isnan(lms[..., 2]), lms[..., 3], lms[..., 2])
    conf = np.where(np.isnan(conf), 1.0, conf)
    if (conf < 0).any() or (conf > 1).any():
        notes.append("MediaPipe visibility values outside [0, 1] were taken as logits (sigmoid)")
        conf = 1 / (1 + np.exp(-conf))
    return conf


def read_mediapipe(data: list, source: Path, image_size=None) -> Detections:
    """A JSON list of MediaPipe frames (see the module docstring) -> Detections (pixels)."""
    entries = []                                                             # (frame, where, (33, 4))
    numbered = 0
    for i, frame in enumerate(data):
        key = next((k for k in _FRAME_KEYS if k in frame), None) if isinstance(frame, dict) else None
        number = i if key is None else frame[key]
        numbered += key is not None
        for k, person in enumerate(_people(frame, f"frame {i}", source)):
            where = f"frame {i}, person {k}"
            entries.append((number, where, _landmarks(person, where, source)))
    if not entries:
        raise DataError(f"{source}: no person was detected in any frame")
    lms = np.stack([e[2] for e in entries])                                  # (N, 33, 4)
    rows = DetectionRows(str(source), "MediaPipe landmarks")
    if numbered < len(data):
        rows.notes.append("MediaPipe frames carry no frame numbers: numbered by their position "
                          "in the file, so frames the saver skipped cannot be seen")
    conf = _confidence(lms, rows.notes)                                      # (N, 33)
    xy = lms[..., :2]
    if np.abs(xy).max() <= 2.0:
        if image_size is None:
            raise DataError(f"{source}: MediaPipe landmarks are normalised to [0, 1]; pass the "
                            f"image size (--width W --height H) to turn them into pixels")
        w, h = image_size
        xy = xy * np.array([w, h], dtype=np.float64)
        rows.notes.append(f"MediaPipe landmarks are normalised to [0, 1]: scaled to pixels by "
                          f"the image size {w} x {h} (--width/--height)")
    for (number, where, _), p, c in zip(entries, xy, conf):
        rows.add(number, np.concatenate([p, c[:, None]], axis=1), where)
    return rows.build("mediapipe33")
