"""Is a lifted sequence plausible? Bone-length steadiness and left/right symmetry over time.

A person's bones do not change length, and left and right limbs are (nearly) equally long. A
lifter that works on one frame at a time knows neither, so both are quick checks of a lift from
video, with no ground truth:

* per bone, the variation of its length over the sequence, ``std / mean`` (coefficient of
  variation); the median over the 16 bones summarises it (a few per cent for a good lift of clean
  2D, more for noisy or mis-mapped keypoints);
* per limb segment (upper arm, forearm, thigh, shin, hip, shoulder), the ratio of the mean left
  length to the mean right length (1.0 for a symmetric skeleton).

Frames that were not lifted (NaN) are left out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmdiff.errors import DataError
from mmdiff.skeleton import EDGES_17, NAMES_17, bone_lengths

#: Left / right bone pairs, by the bone's child joint (Human3.6M-17 indices).
LIMB_PAIRS = {"hip": (4, 1), "thigh": (5, 2), "shin": (6, 3), "shoulder": (11, 14),
              "upper arm": (12, 15), "forearm": (13, 16)}
#: The median bone variation at or below which ``mmdiff predict`` calls the bones steady.
STEADY = 0.12


def _lengths(pose_3d) -> np.ndarray:
    """(F, 17, 3) metres -> (F', 16) bone lengths of the frames without NaN."""
    pose = np.asarray(pose_3d, dtype=np.float64)
    if pose.ndim != 3 or pose.shape[1:] != (17, 3):
        raise DataError(f"pose_3d: expected (frames, 17, 3), found {pose.shape}")
    lengths = bone_lengths(pose)                                             # (F, 16)
    lengths = lengths[np.isfinite(lengths).all(axis=1)]
    if len(lengths) < 2:
        raise DataError(f"pose_3d: need at least 2 lifted frames, found {len(lengths)}")
    return lengths


def bone_variation(pose_3d) -> np.ndarray:
    """(16,) std / mean of each bone's length over the frames, bones in ``EDGES_17`` order."""
    lengths = _lengths(pose_3d)
    return lengths.std(axis=0) / lengths.mean(axis=0)


def limb_ratios(pose_3d) -> dict[str, float]:
    """{segment: mean left length / mean right length} over the frames."""
    mean = _lengths(pose_3d).mean(axis=0)                                    # (16,)
    index = {child: i for i, (child, _) in enumerate(EDGES_17)}
    return {k: float(mean[index[l]] / mean[index[r]]) for k, (l, r) in LIMB_PAIRS.items()}


@dataclass(frozen=True)
class PlausibilityReport:
    """variation: (16,) per bone; median: their median; ratios: left / right per segment;
    frames, lifted, filled_frames: counts; filled_joints: joint values interpolated (of
    low-confidence or filled-frame joints); low_confidence: joints kept below the threshold."""
    variation: np.ndarray
    median: float
    ratios: dict
    frames: int
    lifted: int
    filled_frames: int
    filled_joints: int
    low_confidence: int

    @property
    def steady(self) -> bool:
        return self.median <= STEADY

    def text(self) -> str:
        import textwrap
        bones = ", ".join(f"{NAMES_17[p]}-{NAMES_17[c]} {100 * v:.1f}"
                          for (c, p), v in zip(EDGES_17, self.variation))
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in self.ratios.items())
        verdict = "steady" if self.steady else "NOT steady: check the layout, person and 2D"
        return "\n".join([
            f"plausibility: bone length variation (std/mean over {self.lifted} lifted frames): "
            f"median over bones {100 * self.median:.1f} % ({verdict}; <= {100 * STEADY:.0f} %)",
            *textwrap.wrap(f"per bone (%): {bones}", 96, initial_indent="  ",
                           subsequent_indent="    "),
            f"  left/right length ratios: {ratios}",
            f"  filled: {self.filled_frames} of {self.frames} frames, {self.filled_joints} joint "
            f"values interpolated, {self.low_confidence} low-confidence joints kept; "
            f"{self.frames - self.lifted} frames not lifted"])


def plausibility_report(pose_3d, filled_frames=None, interpolated_joints=None,
                        low_confidence=None) -> PlausibilityReport:
    """The report of a lifted sequence. pose_3d: (F, 17, 3) metres, NaN in frames not lifted;
    the flags as in :class:`mmdiff.wild.keypoints.Keypoints` (None counts as none)."""
    variation = bone_variation(pose_3d)
    lifted = int(np.isfinite(np.asarray(pose_3d)).all(axis=(1, 2)).sum())
    count = lambda m: 0 if m is None else int(np.asarray(m).sum())
    return PlausibilityReport(variation, float(np.median(variation)), limb_ratios(pose_3d),
                              len(pose_3d), lifted, count(filled_frames),
                              count(interpolated_joints), count(low_confidence))
