"""One person across frames: track ids from the file, or tracks linked by box overlap.

When every detection carries a track id and no id repeats within a frame (AlphaPose with
``--pose_track``, OpenPose ``person_id``, MMPose ``track_id``), those ids are the tracks.
Otherwise (AlphaPose writes ``idx`` 0 for everyone when it does not track) detections are linked
frame to frame by box IoU: each track continues with the unclaimed detection whose box overlaps
its last box most (IoU >= ``iou_threshold``, greedy, best overlap first), for up to
``max_link_gap`` unseen frames; a detection no track claims starts a new track (numbered in order
of appearance). :func:`every_person` gives every track long enough to be a person (what
``mmdiff predict`` lifts), most confident first; :func:`choose_person` one track, ``--person N``
(a track id) or by default the one with the highest total person score, i.e. the most confident
person over the most frames.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mmdiff.errors import DataError
from mmdiff.wild.keypoints.detections import Detections, box_iou


@dataclass(frozen=True)
class Person:
    """One person over consecutive frames ``frame[0] .. frame[-1]``.

    frame: (F,) frame numbers; points: (F, P, 3) pixels and confidence, NaN where the person was
    not detected; detected: (F,) bool; track: the chosen track id; notes: how it was chosen."""
    frame: np.ndarray
    points: np.ndarray
    detected: np.ndarray
    track: int
    notes: tuple[str, ...]


def file_tracks_usable(det: Detections) -> tuple[bool, str]:
    """(usable, why not): the file's track ids are usable when all are set and unique per frame."""
    if (det.track < 0).any():
        return False, "the file gives no track ids"
    pairs = set()
    for f, t in zip(det.frame, det.track):
        if (f, t) in pairs:
            return False, f"the file's track ids repeat within frame {f} (id {t})"
        pairs.add((f, t))
    return True, ""


def link_by_iou(det: Detections, iou_threshold: float = 0.3,
                max_link_gap: int = 50) -> np.ndarray:
    """(N,) track ids linking detections frame to frame by box IoU (see the module docstring)."""
    ids = np.full(len(det), -1)
    last_box, last_frame = [], []                                            # per track
    for f in np.unique(det.frame):
        rows = np.nonzero(det.frame == f)[0]
        rows = rows[np.argsort(-det.score[rows], kind="stable")]             # confident first
        active = [t for t in range(len(last_box)) if f - last_frame[t] <= max_link_gap + 1]
        if active:
            iou = box_iou(det.box[rows], np.stack([last_box[t] for t in active]))  # (r, a)
            for r, a in sorted(np.argwhere(iou >= iou_threshold), key=lambda ra: -iou[tuple(ra)]):
                t = active[a]
                if ids[rows[r]] < 0 and last_frame[t] != f:
                    ids[rows[r]] = t
                    last_box[t], last_frame[t] = det.box[rows[r]], f
        for r in rows:
            if ids[r] < 0:
                ids[r] = len(last_box)
                last_box.append(det.box[r])
                last_frame.append(f)
    return ids


def track_table(det: Detections, tracks: np.ndarray) -> list[str]:
    """One line per track: id, frames, detections, mean person score."""
    lines = []
    for t in np.unique(tracks):
        rows = tracks == t
        fr = det.frame[rows]
        lines.append(f"track {t}: frames {fr.min()}-{fr.max()}, {rows.sum()} detections, "
                     f"mean score {det.score[rows].mean():.2f}")
    return lines


def assign_tracks(det: Detections, iou_threshold: float = 0.3,
                  max_link_gap: int = 50) -> tuple[np.ndarray, str]:
    """((N,) track id per detection, how they were found): the file's ids when usable, else
    boxes linked by IoU (see the module docstring)."""
    usable, why = file_tracks_usable(det)
    if usable:
        return det.track, "the file's track ids"
    tracks = link_by_iou(det, iou_threshold, max_link_gap)
    return tracks, f"linked by box IoU >= {iou_threshold} ({why})"


def track_person(det: Detections, tracks: np.ndarray, track: int, notes=()) -> Person:
    """The :class:`Person` of track ``track``: its points from its first to its last frame."""
    rows = np.nonzero(tracks == track)[0]
    first, last = det.frame[rows].min(), det.frame[rows].max()
    frame = np.arange(first, last + 1)                                       # (F,)
    points = np.full((len(frame), det.num_points, 3), np.nan)
    points[det.frame[rows] - first] = det.points[rows]
    detected = np.zeros(len(frame), bool)
    detected[det.frame[rows] - first] = True
    return Person(frame, points, detected, int(track), tuple(notes))


def _track_notes(det: Detections, tracks: np.ndarray, how: str) -> list[str]:
    table = track_table(det, tracks)
    return [f"people: {len(table)} track(s), {how}"] + [f"  {line}" for line in table]


def choose_person(det: Detections, person: int | None = None, iou_threshold: float = 0.3,
                  max_link_gap: int = 50) -> Person:
    """The points of one person per frame (see the module docstring). DataError when ``person``
    names no track (the message lists them)."""
    tracks, how = assign_tracks(det, iou_threshold, max_link_gap)
    notes = _track_notes(det, tracks, how)
    if person is None:
        totals = {t: det.score[tracks == t].sum() for t in np.unique(tracks)}
        chosen, why_chosen = max(totals, key=totals.get), "the highest total person score"
    else:
        _check_person(det, tracks, person, how)
        chosen, why_chosen = int(person), "--person"
    out = track_person(det, tracks, chosen)
    notes.append(f"person: track {chosen} ({why_chosen}), frames {out.frame[0]}-{out.frame[-1]}")
    return replace(out, notes=tuple(notes))


def _check_person(det: Detections, tracks: np.ndarray, person: int, how: str) -> None:
    if person not in set(tracks.tolist()):
        raise DataError(f"{det.source}: no person (track) {person}; tracks ({how}): "
                        + "; ".join(track_table(det, tracks)))


def every_person(det: Detections, min_detections: int = 5, iou_threshold: float = 0.3,
                 max_link_gap: int = 50) -> tuple[list[Person], tuple[str, ...]]:
    """(people, notes): one :class:`Person` per track with at least ``min_detections``
    detections (shorter tracks are passing false detections; the notes list them), ordered by
    total person score, most confident first. When no track is that long, the most confident
    track alone."""
    tracks, how = assign_tracks(det, iou_threshold, max_link_gap)
    notes = _track_notes(det, tracks, how)
    ids = np.unique(tracks)
    totals = {int(t): float(det.score[tracks == t].sum()) for t in ids}
    order = sorted(totals, key=lambda t: -totals[t])
    kept = [t for t in order if (tracks == t).sum() >= min_detections] or order[:1]
    dropped = [t for t in order if t not in kept]
    if dropped:
        notes.append(f"tracks with fewer than {min_detections} detections not lifted: "
                     + ", ".join(map(str, dropped)))
    notes.append(f"people lifted: {len(kept)} (tracks {', '.join(map(str, kept))}, most "
                 f"confident first)")
    return [track_person(det, tracks, t) for t in kept], tuple(notes)
