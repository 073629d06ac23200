"""The simulated detector: error sizes, heavy tails, correlation over time, left/right swaps."""
from __future__ import annotations

import numpy as np

from mmdiff.camera import cameras_for
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
