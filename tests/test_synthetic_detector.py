"""The simulated detector: error sizes, tails, correlation, left/right swaps, heatmap evidence."""
from __future__ import annotations

import numpy as np

from mmdiff.camera import cameras_for
from mmdiff.data.evidence import frame_gmm, peak_points
from mmdiff.data.gmm import image_scale, true_projection
from mmdiff.data.synthetic import detector
from mmdiff.data.synthetic.body import FPS
from mmdiff.data.synthetic.generate import make_sequence


def test_detector_error_sizes_tails_correlation_and_swaps():
    world = make_sequence(3, "S6", "Walking", 1, 400).astype(np.float64)
    cam = cameras_for("S6")[1]
    truth, scale = true_projection(world, cam), image_scale(world, cam)
    det = detector.detect(truth, scale, np.random.default_rng(0), FPS)
    err = np.linalg.norm(det - truth, axis=-1)                           # (F, 17) px
    mean = err.mean(0)
    assert 3.0 < mean[[8, 9, 10]].mean() < 6.5                           # thorax, neck, head
    assert 6.5 < mean[[13, 16]].mean() < 14.0                            # wrists
    assert 5.0 < mean[[3, 6]].mean() < 11.0                              # ankles
    assert 4.0 < err.mean() < 9.0
    assert np.percentile(err, 99.5) / np.median(err) > 3.0               # heavy tail
    e = (det - truth)[..., 0]
    assert np.mean([np.corrcoef(e[1:, j], e[:-1, j])[0, 1] for j in range(17)]) > 0.4
    swapped = np.linalg.norm(det[:, 13] - truth[:, 16], axis=-1) < np.linalg.norm(
        det[:, 13] - truth[:, 13], axis=-1)
    assert swapped.any() and swapped.mean() < 0.2                        # occasional L/R mix-up
    assert np.array_equal(det, detector.detect(truth, scale, np.random.default_rng(0), FPS))


def _walk_views(frames=300):
    world = make_sequence(3, "S6", "Walking", 1, frames).astype(np.float64)
    cam = cameras_for("S6")[1]
    return true_projection(world, cam), image_scale(world, cam), cam


def _fit(det, peaks, scale, res_w):
    return frame_gmm(det.astype(np.float64), *peak_points(peaks), res_w, 3, 0.3 * scale, peaks)


def test_kernels_move_apart_on_left_right_confusions():
    truth, scale, cam = _walk_views()
    often = detector.DetectorModel(swap_rate=3.0, swap_distance_px=400.0, tail_rate=0.0)
    det, peaks = detector.detect_with_evidence(truth, scale, np.random.default_rng(1), FPS, often)
    g = _fit(det, peaks, scale, cam.res_w)                              # (F, 17, 3, 5)
    lw, rw = 13, 16                                                     # LWrist, RWrist
    swapped = np.linalg.norm(det[:, lw] - truth[:, rw], axis=-1) < np.linalg.norm(
        det[:, lw] - truth[:, lw], axis=-1) - 20                        # clearly confused frames
    assert swapped.sum() >= 5
    k = g[swapped, lw]                                                  # (S, 3, 5)
    apart = np.linalg.norm(k[:, 1:, 1:3] - k[:, :1, 1:3], axis=-1).max(-1)   # (S,) px
    assert np.mean(apart > 15) > 0.7                                    # kernels sit apart
    to_other = np.linalg.norm(k[:, 1:, 1:3] - det[swapped, rw, None], axis=-1)   # (S, 2)
    assert np.median(to_other.min(-1)) < 3                              # at the other wrist
    heavy = np.take_along_axis(k[:, 1:, 0], to_other.argmin(-1)[:, None], 1)
    assert np.median(heavy) > 0.3                                       # and heavy
    clean = detector.DetectorModel(swap_rate=0.0, tail_rate=0.0, confusion=0.0)
    det, peaks = detector.detect_with_evidence(truth, scale, np.random.default_rng(1), FPS, clean)
    g = _fit(det, peaks, scale, cam.res_w)
    apart = np.linalg.norm(g[:, :, 1:, 1:3] - g[:, :, :1, 1:3], axis=-1)          # (F, 17, 2)
    assert np.percentile(apart, 99) < 5.0                               # nothing to hesitate on


def test_evidence_weights_and_spreads_change_over_frames():
    truth, scale, cam = _walk_views()
    det, peaks = detector.detect_with_evidence(truth, scale, np.random.default_rng(2), FPS)
    assert np.array_equal(det, detector.detect(truth, scale, np.random.default_rng(2), FPS))
    assert np.allclose(peaks.heights.sum(-1), 1) and np.all(peaks.heights >= 0)
    assert np.array_equal(peaks.centres[:, :, 0], det)                  # main peak = detection
    g = _fit(det, peaks, scale, cam.res_w)
    assert np.abs(np.diff(g[:, :, 0, 0], axis=0)).mean() > 0.005        # weights move
    assert g[:, :, 0, 0].std(0).min() > 0.01
    assert g[:, 13, 0, 3].std() / g[:, 13, 0, 3].mean() > 0.05          # wrist spread moves
    fast = np.linalg.norm(np.gradient(truth[:, 6], axis=0), axis=-1) > 8  # LFoot in swing
    assert g[fast, 6, 0, 3].mean() > g[~fast, 6, 0, 3].mean()           # wider under motion
