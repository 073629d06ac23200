"""A CPN-like 2D keypoint detector, simulated: what its errors look like, in pixels.

Human3.6M methods are trained and tested on 2D keypoints from a detector (CPN, fine-tuned on
Human3.6M, in VideoPose3D's ``data_2d_h36m_cpn_ft_h36m_dbb.npz``). Its errors are a few pixels
on the torso and head and about twice that on wrists and ankles. :func:`detect` draws detections
from the true projections with the same kinds of error:

1. a core error, Gaussian per joint (:attr:`DetectorModel.sigma_px`), correlated over time
   (first-order autoregressive, correlation time ``tau_s``), growing with the joint's image speed
   (motion blur) and with the person's size in the image;
2. heavy tails: short episodes (``episode_s``) in which a joint is off by a Student-t distributed
   offset several times the core size;
3. left/right confusions: short episodes in which a left/right pair (knees, ankles, elbows,
   wrists, ...) is detected swapped, more often when the two joints are close in the image
   (side views).
4. its evidence (:func:`detect_with_evidence`): per frame and joint, the heatmap it would have
   had, as three Gaussian peaks: the main mode at the detection, the place where it hesitated
   (the other side's joint, the position before a gross error) and a broad skirt. Per-frame GMMs
   are fitted to it (:func:`mmdiff.data.evidence.frame_gmm`).

Sizes scale with :func:`mmdiff.data.gmm.image_scale`, the pixels per metre at the person's depth
divided by :data:`mmdiff.data.gmm.REF_PX_PER_M` (200; Human3.6M subjects are about 5 m from the
cameras, ~216 px/m).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmdiff.data.evidence import Peaks
from mmdiff.errors import DataError
from mmdiff.skeleton import LEFT_17, NUM_JOINTS, RIGHT_17

#: Per-joint core error (standard deviation per axis, px at REF_PX_PER_M), 17-joint order:
#: Hip RHip RKnee RFoot LHip LKnee LFoot Spine Thorax Neck Head LSh LElb LWr RSh RElb RWr.
CPN_SIGMA_PX = (3.6, 4.0, 4.0, 4.8, 4.0, 4.0, 4.8, 3.6, 2.8, 2.8, 3.0, 3.2, 4.4, 6.2,
                3.2, 4.4, 6.2)


@dataclass(frozen=True)
class DetectorModel:
    """Parameters of the simulated detector (see the module docstring).

    sigma_px: (17,) core error per axis, px at REF_PX_PER_M (200 px/m); tau_s: correlation time of
    the core error, seconds; blur: extra core error per 1000 px/s of joint image speed (fraction);
    tail_rate: heavy-tail episodes per joint per second; tail_scale: their size in core sigmas;
    tail_dof: Student-t degrees of freedom; swap_rate: left/right confusions per pair per second
    (when the pair is close, see swap_distance_px); episode_s: (min, max) episode length, seconds;
    small: extra core error, relative to the person's size, for people smaller in the image than
    the reference (fraction per unit of 1/scale - 1); confusion: heatmap mass at the other side's
    joint when a left/right pair overlaps in the image; skirt: mean mass of the broad skirt
    around each heatmap peak.
    """

    sigma_px: tuple = CPN_SIGMA_PX
    tau_s: float = 0.25
    blur: float = 0.25
    tail_rate: float = 0.03
    tail_scale: float = 3.5
    tail_dof: float = 3.0
    swap_rate: float = 0.02
    swap_distance_px: float = 40.0
    episode_s: tuple = (0.15, 0.6)
    small: float = 0.5
    confusion: float = 0.35
    skirt: float = 0.06


def _ar1(rng, num_frames, shape, rho):
    """Unit-variance AR(1) noise (F, *shape) with lag-1 correlation rho."""
    out = np.empty((num_frames,) + shape)
    out[0] = rng.standard_normal(shape)
    innov = np.sqrt(1 - rho ** 2) * rng.standard_normal((num_frames,) + shape)
    for f in range(1, num_frames):
        out[f] = rho * out[f - 1] + innov[f]
    return out


def _episodes(rng, num_frames, count, rate_per_frame, length_frames):
    """Window weights (F, count) in [0, 1]: random episodes of smooth bumps.

    rate_per_frame: episode starts per frame, a scalar or (F, count); length_frames: (min, max).
    """
    w = np.zeros((num_frames, count))
    starts = rng.uniform(size=(num_frames, count)) < rate_per_frame
    for f, c in zip(*np.nonzero(starts)):
        n = int(rng.integers(length_frames[0], length_frames[1] + 1))
        bump = np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 0.5         # flat-topped
        end = min(num_frames, f + n)
        w[f:end, c] = np.maximum(w[f:end, c], bump[:end - f])
    return w


def detect(true_2d: np.ndarray, scale: np.ndarray, rng: np.random.Generator, fps: float,
           model: DetectorModel = DetectorModel()) -> np.ndarray:
    """Simulated detections of one camera sequence: (F, 17, 2) px (see
    :func:`detect_with_evidence`)."""
    return detect_with_evidence(true_2d, scale, rng, fps, model)[0]


def detect_with_evidence(true_2d: np.ndarray, scale: np.ndarray, rng: np.random.Generator,
                         fps: float, model: DetectorModel = DetectorModel()):
    """Simulated detections of one camera sequence and the heatmap evidence behind them.

    true_2d: (F, 17, 2) true projections, pixels; scale: (F,) from
    :func:`mmdiff.data.gmm.image_scale`; fps: frame rate (sets the time constants).
    Returns detections (F, 17, 2) px (a new array; the input is unchanged) and
    :class:`~mmdiff.data.evidence.Peaks` with M = 3 peaks per joint (see :func:`_evidence`).
    """
    F = len(true_2d)
    if true_2d.shape != (F, NUM_JOINTS, 2) or np.shape(scale) != (F,):
        raise DataError(f"detect expects true_2d (F, 17, 2) and scale (F,), got "
                         f"{true_2d.shape} and {np.shape(scale)}")
    s = np.asarray(scale)[:, None, None]                                # (F, 1, 1)
    sigma = np.asarray(model.sigma_px)[None, :, None]                   # (1, 17, 1)
    speed = np.linalg.norm(np.gradient(true_2d, axis=0), axis=-1) * fps  # (F, 17) px/s
    blur = 1 + model.blur * np.minimum(speed / 1000.0, 3.0)[..., None]  # (F, 17, 1)
    small = 1 + model.small * np.maximum(1 / s - 1, 0)                  # (F, 1, 1) far people
    core_sd = sigma * s * blur * small                                  # (F, 17, 1) px
    rho = np.exp(-1.0 / (fps * model.tau_s))
    err = core_sd * _ar1(rng, F, (NUM_JOINTS, 2), rho)                  # (F, 17, 2) core
    length = (max(1, round(model.episode_s[0] * fps)), max(1, round(model.episode_s[1] * fps)))
    tails = _episodes(rng, F, NUM_JOINTS, model.tail_rate / fps, length)  # (F, 17)
    offset = rng.standard_t(model.tail_dof, (F, NUM_JOINTS, 2))         # (F, 17, 2)
    offset = _hold(offset, tails)
    gross = tails[..., None] * model.tail_scale * sigma * s * offset    # (F, 17, 2)
    det, swaps, closeness = _swap_pairs(true_2d + err + gross, true_2d, rng, fps, model, length,
                                        s[:, 0, 0])
    fluct = _ar1(rng, F, (NUM_JOINTS,), rho)                            # (F, 17) heatmap noise
    return det, _evidence(det, gross, tails, swaps, closeness, core_sd[..., 0], fluct, model)


def _evidence(det, gross, tails, swaps, closeness, core_sd, fluct, model) -> Peaks:
    """Three heatmap peaks per joint: (0) the main mode at the detection, core_sd wide; (1) where
    the detector hesitated: the other side's detection for a left/right pair (stronger the closer
    the pair and during a confusion), or the position before a gross error; (2) a broad skirt
    around the detection whose mass fluctuates from frame to frame."""
    alt = det.copy()                                                    # (F, 17, 2)
    h_alt = np.zeros(det.shape[:2])                                     # (F, 17)
    for p, (l, r) in enumerate(zip(LEFT_17, RIGHT_17)):
        a = np.maximum(model.confusion * closeness[:, p], 0.5 * swaps[:, p])   # (F,)
        alt[:, l], alt[:, r] = det[:, r], det[:, l]
        h_alt[:, l] = h_alt[:, r] = a
    h_gross = 0.45 * tails                                              # (F, 17)
    use_gross = h_gross > h_alt
    alt = np.where(use_gross[..., None], det - gross, alt)
    h_alt = np.maximum(h_alt, h_gross)
    h_skirt = model.skirt * np.exp(0.35 * fluct)                        # (F, 17) around 0.06
    centres = np.stack([det, alt, det], 2)                              # (F, 17, 3, 2)
    widths = np.stack([core_sd, core_sd, 3.0 * core_sd], 2)             # (F, 17, 3)
    heights = np.stack([1 - h_alt - h_skirt, h_alt, h_skirt], 2)
    return Peaks(centres, widths, heights)


def _hold(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Keep each episode's first value for its duration, so an outlier drifts smoothly."""
    out = values.copy()
    active = weights > 0                                                # (F, J)
    for f in range(1, len(values)):
        keep = active[f] & active[f - 1]
        out[f, keep] = out[f - 1, keep]
    return out


def _swap_pairs(det, true_2d, rng, fps, model, length, scale):
    """Swap left/right detections during episodes, likelier when the pair is close.

    Returns the detections (F, 17, 2), the swap weights (F, P) in [0, 1] and the pairs'
    closeness (F, P) in (0, 1] (P = 8 left/right pairs)."""
    pairs = list(zip(LEFT_17, RIGHT_17))
    dist = np.stack([np.linalg.norm(true_2d[:, l] - true_2d[:, r], axis=-1) for l, r in pairs],
                    1)                                                  # (F, P) px
    closeness = np.exp(-dist / (model.swap_distance_px * scale[:, None]))
    w = _episodes(rng, len(det), len(pairs), model.swap_rate / fps * closeness, length)
    out = det.copy()
    for p, (l, r) in enumerate(pairs):
        wp = w[:, p, None]                                              # (F, 1)
        out[:, l] = det[:, l] + wp * (det[:, r] - det[:, l])
        out[:, r] = det[:, r] + wp * (det[:, l] - det[:, r])
    return out, w, closeness
