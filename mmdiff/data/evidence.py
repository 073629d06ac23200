"""Per-frame GMMs from a detector's own evidence: heatmaps, heatmap peaks or confidences.

DiffPose fits its GMM inputs to each frame's detector heatmap: where a heatmap detector hesitates
(a left wrist that could be the right one, a joint hidden behind the body) its heatmap has more
than one mode, and the fitted kernels sit apart, with weights and spreads that change frame by
frame. This module turns evidence into weighted 2D points and fits K kernels to them per frame
and joint with :func:`mmdiff.data.em.fit_weighted_gmm`, kernel 0's mean held at the detection:

- :func:`heatmap_points`: a real detector's heatmaps (F, J, H, W) and the image box each covers
  -> the ``top`` strongest pixels (pixel centres in image px, weights = heatmap values);
- :func:`peak_points`: evidence given as Gaussian peaks (:class:`Peaks`, what the simulated
  detector of :mod:`mmdiff.data.synthetic.detector` emits) -> one weighted blob per peak, with
  its own variance (EM then treats each blob as a Gaussian, not a point);
- :func:`confidence_peaks`: a per-joint confidence only -> a peak at the detection carrying the
  confidence and the detector's error mixture (:class:`mmdiff.data.gmm.ErrorMixture`) carrying
  the rest.

:func:`frame_gmm` returns DiffPose's layout (F, J, K, 5): weight, mean u, mean v (px), spread
u, spread v (normalised units, px * 2 / res_w, see data/README.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmdiff.data.em import MIN_SPREAD_PX, fit_weighted_gmm
from mmdiff.errors import DataError

@dataclass(frozen=True)
class Peaks:
    """Heatmap evidence of (F, J) detections as M isotropic Gaussian peaks per joint.

    centres (F, J, M, 2) px; widths (F, J, M) standard deviation, px; heights (F, J, M) mass of
    each peak (non-negative, summing to 1 per joint).
    """

    centres: np.ndarray
    widths: np.ndarray
    heights: np.ndarray


def peak_points(peaks: Peaks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peaks -> weighted evidence blobs for EM: centres (F, J, M, 2) px, weights (F, J, M)
    (the heights) and variances (F, J, M) px^2 per axis (the widths squared)."""
    return peaks.centres, peaks.heights, peaks.widths ** 2


def heatmap_points(heatmaps: np.ndarray, boxes: np.ndarray, top: int = 24):
    """The ``top`` strongest pixels of each heatmap as weighted points.

    heatmaps: (F, J, H, W) non-negative scores; boxes: (F, 4) the image region each frame's
    heatmaps cover, pixels (x0, y0, x1, y1). Returns points (F, J, top, 2) (pixel centres in image
    px), weights (F, J, top) (the heatmap values, negatives clipped to 0) and the pixel pitch
    (F,) in image px (the larger of the two axes).
    """
    heatmaps, boxes = np.asarray(heatmaps, dtype=np.float64), np.asarray(boxes, dtype=np.float64)
    if heatmaps.ndim != 4 or boxes.shape != (len(heatmaps), 4):
        raise DataError(f"heatmaps must be (F, J, H, W) with boxes (F, 4); got {heatmaps.shape} "
                        f"and {boxes.shape}")
    F, J, H, W = heatmaps.shape
    top = min(int(top), H * W)
    flat = heatmaps.reshape(F, J, H * W)
    idx = np.argpartition(-flat, top - 1, axis=-1)[..., :top]           # (F, J, top)
    weights = np.maximum(np.take_along_axis(flat, idx, -1), 0.0)
    row, col = np.divmod(idx, W)
    pitch_u = (boxes[:, 2] - boxes[:, 0]) / W                           # (F,)
    pitch_v = (boxes[:, 3] - boxes[:, 1]) / H
    u = boxes[:, 0, None, None] + (col + 0.5) * pitch_u[:, None, None]
    v = boxes[:, 1, None, None] + (row + 0.5) * pitch_v[:, None, None]
    pitch = np.maximum(pitch_u, pitch_v)[:, None, None]                # (F, 1, 1)
    return np.stack([u, v], -1), weights, np.broadcast_to(pitch ** 2 / 12.0, weights.shape)


def confidence_peaks(detections: np.ndarray, confidence: np.ndarray, scale: np.ndarray,
                     mixture) -> Peaks:
    """Evidence from a confidence per joint and frame, when no heatmap is at hand.

    detections: (F, J, 2) px; confidence: (F, J) in [0, 1]; scale: (F,) image scale
    (:func:`mmdiff.data.gmm.image_scale`); mixture: the detector's :class:`ErrorMixture` (J
    joints, K kernels, scale-1 px). The peak at the detection carries the confidence and the
    mixture's kernel-0 spread; the other K - 1 peaks (centred at the detection minus the kernel
    means) share the rest in the mixture's proportions, with its spreads.
    """
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    F, J = conf.shape
    if detections.shape != (F, J, 2) or mixture.weights.shape[0] != J:
        raise DataError(f"confidences (F, J) must match detections (F, J, 2) and the mixture's "
                        f"{mixture.weights.shape[0]} joints; got {conf.shape}, {detections.shape}")
    s = np.asarray(scale, dtype=np.float64)[:, None, None]              # (F, 1, 1)
    rest = mixture.weights[:, 1:] / np.maximum(mixture.weights[:, 1:].sum(-1, keepdims=True),
                                               1e-12)                   # (J, K-1)
    heights = np.concatenate([conf[..., None], (1 - conf)[..., None] * rest[None]], -1)
    centres = detections[:, :, None, :] - mixture.means[None] * s[..., None]   # (F, J, K, 2)
    widths = mixture.spreads.mean(-1)[None] * s                         # (F, J, K)
    return Peaks(centres, widths, heights)


def frame_gmm(detections: np.ndarray, points: np.ndarray, weights: np.ndarray,
              point_var: np.ndarray, res_w: float, num_kernels: int = 3,
              min_spread_px=MIN_SPREAD_PX, peaks: Peaks | None = None,
              iters: int = 30) -> np.ndarray:
    """Fit K kernels per frame and joint to weighted evidence, kernel 0 at the detection.

    detections: (F, J, 2) px; points: (F, J, N, 2) px; weights: (F, J, N) >= 0 (a joint whose
    weights are all 0 gets its evidence from the detection alone); point_var: (F, J, N) px^2,
    each point's own variance (see :func:`peak_points`, :func:`heatmap_points`); res_w: image
    width in px, a scalar or (F,) (frames of several cameras fitted together);
    min_spread_px: scalar or (F,) floor on the spreads, px; peaks: the evidence's own peaks (M
    = K), a start for EM (as local maxima of a heatmap would be); iters: most EM iterations.
    Returns (F, J, K, 5) float32: weight,
    mean u, mean v (px; kernel 0's mean equals the detection exactly), spread u, spread v
    (normalised units: px * 2 / res_w).
    """
    F, J, N = weights.shape
    if detections.shape != (F, J, 2) or points.shape != (F, J, N, 2) or \
            np.shape(point_var) != (F, J, N):
        raise DataError(f"frame_gmm expects detections (F, J, 2), points (F, J, N, 2), "
                        f"weights and point_var (F, J, N); got {detections.shape}, "
                        f"{points.shape}, {weights.shape}, {np.shape(point_var)}")
    empty = weights.sum(-1) <= 0                                         # (F, J)
    points = np.where(empty[..., None, None], detections[:, :, None], points)
    weights = np.where(empty[..., None], 1.0, weights)
    point_var = np.where(empty[..., None], 0.0, point_var)
    floor = np.broadcast_to(np.asarray(min_spread_px, dtype=np.float64), (F,))
    init = None
    if peaks is not None and peaks.heights.shape[-1] == num_kernels:
        init = (peaks.heights.reshape(F * J, -1), peaks.centres.reshape(F * J, -1, 2),
                np.repeat(peaks.widths.reshape(F * J, -1, 1), 2, -1))
    w, m, s = fit_weighted_gmm(points.reshape(F * J, N, 2), weights.reshape(F * J, N),
                               detections.reshape(F * J, 2).astype(np.float64), num_kernels,
                               min_spread=np.repeat(floor, J), init=init,
                               point_var=point_var.reshape(F * J, N), iters=iters)
    out = np.empty((F, J, num_kernels, 5))
    out[..., 0] = w.reshape(F, J, num_kernels)
    out[..., 1:3] = m.reshape(F, J, num_kernels, 2)
    res_w = np.broadcast_to(np.asarray(res_w, dtype=np.float64), (F,))[:, None, None, None]
    out[..., 3:5] = s.reshape(F, J, num_kernels, 2) * (2.0 / res_w)
    out[:, :, 0, 1:3] = detections                                      # exact, no rounding
    return out.astype(np.float32)
