"""Bone-length variation and left/right ratios of a lifted sequence."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff.errors import DataError
from mmdiff.skeleton import EDGES_17
from mmdiff.wild.plausibility import STEADY, bone_variation, limb_ratios, plausibility_report


def rigid_sequence(rng, F=20):
    """A fixed skeleton rotating about the vertical axis: every bone keeps its length."""
    pose = rng.normal(size=(17, 3)) * 0.3
    a = np.linspace(0, np.pi, F)
    rot = np.stack([np.stack([np.cos(a), np.zeros(F), np.sin(a)], -1), np.tile([0, 1, 0], (F, 1)),
                    np.stack([-np.sin(a), np.zeros(F), np.cos(a)], -1)], axis=1)  # (F, 3, 3)
    return np.einsum("fij,kj->fki", rot, pose)                               # (F, 17, 3)


def test_rigid_motion_has_no_variation(rng):
    seq = rigid_sequence(rng)
    np.testing.assert_allclose(bone_variation(seq), 0.0, atol=1e-12)


def test_variation_is_std_over_mean_and_nan_frames_are_left_out(rng):
    seq = rigid_sequence(rng)
    seq[1::2, 13] = seq[1::2, 12] + 1.5 * (seq[1::2, 13] - seq[1::2, 12])  # LWrist: forearm x1.5 every other frame
    seq = np.concatenate([seq, np.full((3, 17, 3), np.nan)])
    v = bone_variation(seq)
    forearm = [i for i, (c, p) in enumerate(EDGES_17) if c == 13][0]
    assert v[forearm] == pytest.approx(0.25 / 1.25)                          # lengths L, 1.5 L
    assert np.delete(v, forearm).max() < 1e-12
    report = plausibility_report(seq, filled_frames=np.ones(23, bool))
    assert report.lifted == 20 and report.frames == 23 and report.filled_frames == 23
    assert report.median == pytest.approx(0.0, abs=1e-12) and report.steady
    assert "median over bones 0.0 %" in report.text() and "3 frames not lifted" in report.text()


def test_limb_ratios_and_verdict(rng):
    seq = rigid_sequence(rng)
    ratios = limb_ratios(seq)
    assert set(ratios) == {"hip", "thigh", "shin", "shoulder", "upper arm", "forearm"}
    lengths = np.linalg.norm(seq[0, [5, 2]] - seq[0, [4, 1]], axis=-1)      # left, right thigh
    assert ratios["thigh"] == pytest.approx(lengths[0] / lengths[1])
    noisy = seq + rng.normal(size=seq.shape) * 0.2
    report = plausibility_report(noisy)
    assert report.median > STEADY and "NOT steady" in report.text()


def test_bad_input():
    with pytest.raises(DataError, match=r"expected \(frames, 17, 3\), found \(4, 16, 3\)"):
        bone_variation(np.zeros((4, 16, 3)))
    with pytest.raises(DataError, match="at least 2 lifted frames, found 1"):
        bone_variation(np.concatenate([np.ones((1, 17, 3)), np.full((2, 17, 3), np.nan)]))
