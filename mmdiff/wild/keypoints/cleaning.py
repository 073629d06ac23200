"""Frames without a detection and joints of low confidence, filled over time and flagged.

* A run of frames without a detection of at most ``max_gap`` frames is filled by linear
  interpolation between the frames around it (``filled_frames``). A longer run is a *gap*: its
  frames are not lifted (NaN in the output, ``gap_frames``) and reported.
* A joint whose confidence is below ``min_score`` (and every joint of a filled frame) is
  interpolated linearly between the nearest frames where it is confident, when such frames exist
  on both sides within the same stretch between gaps and the run is at most ``max_joint_gap``
  frames (``interpolated_joints``). Otherwise it cannot be: the joint keeps its detected position
  (in a filled frame: interpolated between the detected positions around it), is flagged
  ``low_confidence`` and reported.
* A joint of confidence 0 was not placed by the detector (OpenPose writes ``0, 0, 0`` for a point
  it did not find, often one outside the image): its coordinates mean nothing. When it cannot be
  interpolated as above, and no placed positions of it surround it within ``max_joint_gap``
  frames, it has no position (NaN): the frame is *unseen* (``unseen_frames``), not lifted, and
  reported with the joints at fault. A lifter of all 17 joints cannot lift a person whose feet
  are out of the picture, and a guessed foot would only corrupt the rest.

:func:`smooth_over_time` then (in ``mmdiff predict``, ``--smooth``) takes the detector's
frame-to-frame jitter out of the 2D the lifter sees: a Gaussian over time within each run of
lifted frames.

Nothing is changed silently: every filled frame and joint is flagged, and :class:`Cleaned`
carries report lines that ``mmdiff predict`` prints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmdiff.skeleton import NAMES_17


@dataclass(frozen=True)
class Cleaned:
    """pixels: (F, J, 2) with NaN in gap frames and at joints without a position; scores:
    (F, J) as detected (NaN where not); filled_frames, gap_frames, unseen_frames: (F,);
    interpolated_joints, low_confidence: (F, J); notes."""
    pixels: np.ndarray
    scores: np.ndarray
    filled_frames: np.ndarray
    gap_frames: np.ndarray
    interpolated_joints: np.ndarray
    low_confidence: np.ndarray
    unseen_frames: np.ndarray
    notes: tuple[str, ...]


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1D bool array (stop exclusive)."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2])]


def _frames_text(frame: np.ndarray, spans, limit: int = 6) -> str:
    parts = [f"{frame[s]}" if e - s == 1 else f"{frame[s]}-{frame[e - 1]}" for s, e in spans]
    return ", ".join(parts[:limit]) + (f", ... ({len(parts)} runs)" if len(parts) > limit else "")


def _interpolate(values: np.ndarray, s: int, e: int) -> np.ndarray:
    """Linear values for frames s..e-1 between values[s - 1] and values[e]: (e - s, C)."""
    w = (np.arange(s, e) - (s - 1)) / (e - (s - 1))                          # (e - s,)
    return values[s - 1] + w[:, None] * (values[e] - values[s - 1])


def _fill_holes(values: np.ndarray, placed: np.ndarray, s: int, e: int, a: int, b: int,
                longest: int) -> np.ndarray:
    """(e - s, C) values for frames s..e-1: kept where ``placed``; each run of frames not placed
    interpolated between the placed values around it when both lie in the stretch a..b-1 and
    the run is at most ``longest`` frames; NaN otherwise."""
    out = values[s:e].copy()
    for hs, he in runs(~placed[s:e]):
        hs, he = hs + s, he + s
        if hs > a and he < b and placed[hs - 1] and placed[he] and he - hs <= longest:
            out[hs - s:he - s] = _interpolate(values, hs, he)
        else:
            out[hs - s:he - s] = np.nan
    return out


def clean(points: np.ndarray, detected: np.ndarray, frame: np.ndarray, min_score: float = 0.3,
          max_gap: int = 5, max_joint_gap: int = 12, names=NAMES_17) -> Cleaned:
    """Fill and flag one person's keypoints (see the module docstring).

    points: (F, J, 3) pixels and confidence, NaN in frames without a detection (detected False);
    frame: (F,) frame numbers (for the report). The first and last frames must be detected.
    The input is not modified."""
    points = np.asarray(points, dtype=np.float64)
    F, J, _ = points.shape
    missing = ~np.asarray(detected, bool)
    if F == 0 or missing[0] or missing[-1]:
        raise ValueError("clean: the first and last frames must hold a detection")
    gap = np.zeros(F, bool)
    long_runs = [(s, e) for s, e in runs(missing) if e - s > max_gap]
    for s, e in long_runs:
        gap[s:e] = True
    xy = points[..., :2].copy()                                              # (F, J, 2)
    score = points[..., 2]
    bad = ((score < min_score) | missing[:, None]) & ~gap[:, None]           # (F, J)
    placed = ~missing[:, None] & (score > 0)                                 # (F, J)
    interpolated = np.zeros((F, J), bool)
    low = np.zeros((F, J), bool)
    failed = []                                                              # (joint, s, e, why)
    for a, b in runs(~gap):
        for j in range(J):
            for s, e in runs(bad[a:b, j]):
                s, e = s + a, e + a
                if s > a and e < b and e - s <= max_joint_gap:
                    xy[s:e, j] = _interpolate(xy[:, j], s, e)
                    interpolated[s:e, j] = True
                    continue
                low[s:e, j] = True
                xy[s:e, j] = _fill_holes(xy[:, j], placed[:, j], s, e, a, b, max_joint_gap)
                why = ("longer than --max-joint-gap" if s > a and e < b else
                       "no confident frame before it" if s == a and e < b else
                       "no confident frame after it" if e == b and s > a else "never confident")
                failed.append((j, s, e, why))
    xy[gap] = np.nan
    unseen = ~gap & np.isnan(xy).any(axis=(1, 2))                            # (F,)
    filled = missing & ~gap
    notes = [f"frames: {F} ({frame[0]}-{frame[-1]}); {missing.sum()} without a detection: "
             f"{filled.sum()} filled by interpolation (--max-gap {max_gap})"
             + (f" at {_frames_text(frame, runs(filled))}" if filled.any() else "")]
    if long_runs:
        notes.append(f"gaps longer than --max-gap {max_gap} frames, not lifted (NaN in the "
                     f"output): frames {_frames_text(frame, long_runs)}")
    weak = (score < min_score) & ~missing[:, None]
    notes.append(f"joints below --min-score {min_score}: {weak.sum()} of {(~missing).sum() * J} "
                 f"in detected frames; {(interpolated & weak).sum()} interpolated "
                 f"(--max-joint-gap {max_joint_gap}), {(low & weak).sum()} kept as detected")
    for j, s, e, why in failed[:8]:
        notes.append(f"  cannot interpolate {names[j]} at frames "
                     f"{_frames_text(frame, [(s, e)])}: {why}")
    if len(failed) > 8:
        notes.append(f"  ... and {len(failed) - 8} more runs")
    if unseen.any():
        lost = np.isnan(xy[unseen]).any(axis=-1).sum(axis=0)                # (J,) frames
        notes.append(f"frames not lifted, a joint never placed by the detector (confidence 0, "
                     f"outside the image?): {unseen.sum()} of {F}, at "
                     f"{_frames_text(frame, runs(unseen))}; joints: "
                     + ", ".join(f"{names[j]} {lost[j]}" for j in np.argsort(-lost) if lost[j]))
    return Cleaned(xy, np.where(missing[:, None], np.nan, score), filled, gap, interpolated, low,
                   unseen, tuple(notes))


def smooth_over_time(pixels: np.ndarray, lifted: np.ndarray, sigma: float) -> np.ndarray:
    """(F, J, 2) pixels averaged over time with a Gaussian of ``sigma`` frames (truncated at
    3 sigma, renormalised at the ends), separately within each run of ``lifted`` (F,) frames;
    other frames are returned as they are. ``sigma`` 0 returns a copy."""
    out = np.array(pixels, dtype=np.float64)
    if sigma < 0:
        raise ValueError(f"smoothing sigma must be >= 0 frames, found {sigma}")
    if sigma == 0:
        return out
    r = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)             # (2r + 1,)
    for a, b in runs(lifted):
        x = out[a:b]                                                         # (n, J, 2)
        n = len(x)
        pad = np.pad(x, ((r, r), (0, 0), (0, 0)))
        ones = np.pad(np.ones(n), r)
        num = sum(kernel[k] * pad[k:k + n] for k in range(2 * r + 1))
        den = sum(kernel[k] * ones[k:k + n] for k in range(2 * r + 1))
        out[a:b] = num / den[:, None, None]
    return out
