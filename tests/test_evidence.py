"""Per-frame GMMs from evidence: heatmap pixels, heatmap peaks, confidences."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff.data import evidence
from mmdiff.data.gmm import ErrorMixture
from mmdiff.errors import DataError


def _heatmaps(modes, H=48, W=64):
    """(F, 1, H, W) heatmaps with Gaussian modes given per frame as [(row, col, sd, height)]."""
    r, c = np.mgrid[0:H, 0:W] + 0.5
    out = np.zeros((len(modes), 1, H, W))
    for f, frame in enumerate(modes):
        for row, col, sd, h in frame:
            out[f, 0] += h * np.exp(-0.5 * ((r - row) ** 2 + (c - col) ** 2) / sd ** 2)
    return out


def test_heatmap_points_map_pixels_into_the_image():
    hm = np.zeros((1, 2, 4, 8))
    hm[0, 0, 1, 5] = 1.0                                                # row 1, column 5
    hm[0, 1, 3, 0] = 2.0
    boxes = np.array([[100.0, 200.0, 180.0, 240.0]])                    # 10 px per heatmap pixel
    pts, w, var = evidence.heatmap_points(hm, boxes, top=3)
    assert pts.shape == (1, 2, 3, 2) and w.shape == var.shape == (1, 2, 3)
    best = pts[0, 0, np.argmax(w[0, 0])]
    assert best == pytest.approx([100 + 5.5 * 10, 200 + 1.5 * 10])
    assert pts[0, 1, np.argmax(w[0, 1])] == pytest.approx([105.0, 235.0])
    assert np.allclose(var, 100 / 12)
    with pytest.raises(DataError, match="boxes"):
        evidence.heatmap_points(hm, boxes[:, :3])


def test_kernels_move_apart_when_the_heatmap_has_two_modes():
    """Frame 0: one mode; frame 1: a second mode 20 heatmap pixels away (the other wrist)."""
    hm = _heatmaps([[(24, 30, 1.5, 1.0)], [(24, 30, 1.5, 1.0), (24, 50, 1.5, 0.7)]])
    boxes = np.array([[0.0, 0.0, 256.0, 192.0]] * 2)                    # 4 px per heatmap pixel
    det = np.array([[[30 * 4.0, 24 * 4.0]], [[30 * 4.0, 24 * 4.0]]])   # (F, 1, 2) at mode 1
    pts, w, var = evidence.heatmap_points(hm, boxes, top=64)
    g = evidence.frame_gmm(det, pts, w, var, res_w=1000)
    assert g.shape == (2, 1, 3, 5)
    assert np.array_equal(g[:, 0, 0, 1:3], det[:, 0].astype(np.float32))   # kernel 0 = detection
    far = np.linalg.norm(g[1, 0, 1:, 1:3] - [200.0, 96.0], axis=-1)
    k = 1 + int(np.argmin(far))
    assert far.min() < 2.0 and g[1, 0, k, 0] == pytest.approx(0.7 / 1.7, abs=0.05)
    near = np.linalg.norm(g[:, 0, :, 1:3] - det[:, 0, None], axis=-1) < 6.0     # (F, K) 1 sd
    mass_near = (g[:, 0, :, 0] * near).sum(-1)                          # (F,)
    assert mass_near[0] > 0.98                                          # one mode: all near
    assert mass_near[1] == pytest.approx(1 / 1.7, abs=0.05)             # weights change by frame
    assert g[1, 0, 0, 3] == pytest.approx(1.5 * 4 * 2 / 1000, rel=0.15)  # spread, normalised


def test_confidence_sets_the_detection_kernel_weight():
    det = np.full((2, 17, 2), 500.0)
    conf = np.zeros((2, 17))
    conf[0], conf[1] = 0.95, 0.3
    mix = ErrorMixture(np.tile([0.85, 0.1, 0.05], (17, 1)), np.zeros((17, 3, 2)),
                       np.tile(np.array([3.0, 8.0, 25.0])[:, None], (17, 1, 2)))
    peaks = evidence.confidence_peaks(det, conf, np.ones(2), mix)
    g = evidence.frame_gmm(det, *evidence.peak_points(peaks), res_w=1000, peaks=peaks)
    assert g[0, :, 0, 0].min() > 0.85 and g[1, :, 0, 0].max() < 0.5
    assert np.allclose(g[..., 0].sum(-1), 1, atol=1e-6)
    with pytest.raises(DataError, match="confidences"):
        evidence.confidence_peaks(det, conf[:, :5], np.ones(2), mix)


def test_frame_gmm_checks_shapes_and_handles_empty_evidence():
    det = np.full((1, 2, 2), 100.0)
    pts, w, var = np.full((1, 2, 4, 2), 100.0), np.zeros((1, 2, 4)), np.ones((1, 2, 4))
    w[0, 0] = 1.0
    g = evidence.frame_gmm(det, pts, w, var, res_w=1000)
    assert np.all(np.isfinite(g)) and np.allclose(g[..., 0].sum(-1), 1)
    with pytest.raises(DataError, match="frame_gmm expects"):
        evidence.frame_gmm(det, pts[:, :, :3], w, var, res_w=1000)
