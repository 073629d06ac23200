"""Missing frames and low-confidence joints: interpolated and flagged, or reported."""
from __future__ import annotations

import numpy as np

from mmdiff.wild.keypoints.cleaning import clean, runs


def track(F=12, J=3):
    """(F, J, 3): joint j at x = 10 f + j, y = 5 f, confidence 0.9."""
    f = np.arange(F, dtype=float)[:, None].repeat(J, 1)
    return np.stack([10 * f + np.arange(J), 5 * f, np.full((F, J), 0.9)], axis=-1)


def test_runs():
    assert runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert runs(np.zeros(3, bool)) == []


def test_short_missing_run_is_interpolated_and_flagged():
    pts, detected = track(), np.ones(12, bool)
    pts[4:6], detected[4:6] = np.nan, False
    before = pts.copy()
    out = clean(pts, detected, np.arange(100, 112), max_gap=2, names="abc")
    np.testing.assert_allclose(out.pixels[4:6], track()[4:6, :, :2])        # linear motion back
    assert out.filled_frames.tolist() == [False] * 4 + [True] * 2 + [False] * 6
    assert out.interpolated_joints[4:6].all() and not out.interpolated_joints[:4].any()
    assert not out.gap_frames.any() and np.isnan(out.scores[4:6]).all()
    assert "2 filled by interpolation (--max-gap 2) at 104-105" in out.notes[0]
    np.testing.assert_array_equal(np.isnan(pts), np.isnan(before))          # input unchanged


def test_long_gap_is_not_lifted_and_reported():
    pts, detected = track(), np.ones(12, bool)
    pts[3:8], detected[3:8] = np.nan, False
    out = clean(pts, detected, np.arange(12), max_gap=4, names="abc")
    assert out.gap_frames[3:8].all() and np.isnan(out.pixels[3:8]).all()
    assert not out.filled_frames.any()
    assert any("longer than --max-gap 4" in n and "frames 3-7" in n for n in out.notes)
    np.testing.assert_allclose(out.pixels[8:], track()[8:, :, :2])


def test_low_confidence_joint_interpolated_or_reported():
    pts = track()
    pts[5:7, 1, :2] += 50.0                                                 # wrong and unsure
    pts[5:7, 1, 2] = 0.1
    pts[0:2, 2, :2] += 50.0                                                 # at the start: no frame before
    pts[0:2, 2, 2] = 0.2
    out = clean(pts, np.ones(12, bool), np.arange(12), min_score=0.3, names="abc")
    np.testing.assert_allclose(out.pixels[5:7, 1], track()[5:7, 1, :2])
    assert out.interpolated_joints[5:7, 1].all() and out.interpolated_joints.sum() == 2
    np.testing.assert_allclose(out.pixels[0:2, 2], pts[0:2, 2, :2])          # kept as detected
    assert out.low_confidence[0:2, 2].all() and out.low_confidence.sum() == 2
    assert any("4 of 36 in detected frames; 2 interpolated" in n and "2 kept as detected" in n
               for n in out.notes)
    assert any("cannot interpolate c at frames 0-1: no confident frame before it" in n
               for n in out.notes)


def test_max_joint_gap_limits_interpolation():
    pts = track()
    pts[2:9, 0, 2] = 0.1                                                    # 7 frames unsure
    out = clean(pts, np.ones(12, bool), np.arange(12), max_joint_gap=6, names="abc")
    assert out.low_confidence[2:9, 0].all() and not out.interpolated_joints.any()
    assert any("longer than --max-joint-gap" in n for n in out.notes)
    out = clean(pts, np.ones(12, bool), np.arange(12), max_joint_gap=7, names="abc")
    assert out.interpolated_joints[2:9, 0].all()


def test_missing_frame_inside_an_unbounded_joint_run_holds_the_detected_values():
    pts, detected = track(), np.ones(12, bool)
    pts[:4, 0, 2] = 0.1                                                     # joint 0 unsure at the start
    pts[2], detected[2] = np.nan, False
    out = clean(pts, detected, np.arange(12), names="abc")
    np.testing.assert_allclose(out.pixels[2, 0], track()[2, 0, :2])          # between frames 1 and 3
    assert out.low_confidence[2, 0] and out.interpolated_joints[2, 1:].all()


def test_smoothing_over_time_stays_within_runs(rng):
    """A Gaussian over time: a still point stays put, jitter shrinks, a ramp keeps its slope
    inside the run, and frames across a gap are not mixed."""
    from mmdiff.wild.keypoints.cleaning import smooth_over_time
    F = 40
    ramp = np.arange(F, dtype=float)[:, None, None] * np.ones((F, 17, 2))
    noisy = ramp + rng.normal(size=ramp.shape)
    lifted = np.ones(F, bool)
    lifted[20:22] = False                                                    # a gap
    out = smooth_over_time(noisy, lifted, 2.0)
    assert np.std(out[5:15] - ramp[5:15]) < 0.6 * np.std(noisy[5:15] - ramp[5:15])
    np.testing.assert_allclose(smooth_over_time(ramp, lifted, 2.0)[6:14], ramp[6:14], atol=1e-9)
    np.testing.assert_array_equal(out[20:22], noisy[20:22])                 # gap untouched
    assert out[19, 0, 0] < 19.5 and out[22, 0, 0] > 21.5                    # no mixing
    np.testing.assert_array_equal(smooth_over_time(noisy, lifted, 0), noisy)
