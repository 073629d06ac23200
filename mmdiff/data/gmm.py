"""GMM 2D inputs in DiffPose's layout: fit per-joint detector-error mixtures, write ``*_gmm.npz``.

DiffPose (Gong et al., CVPR 2023) conditions on a Gaussian mixture per joint and frame instead of
one 2D point. Its files hold, per camera, an (F, 17, K, 5) array: per kernel (weight, mean u,
mean v, spread u, spread v), weights summing to 1, means in pixels and spreads in normalised
screen units (pixels * 2 / res_w): DiffPose's loader normalises only the means and uses the stored
spreads unchanged as the std of the u, v noise (see data/README.md for the evidence). The released files have K = 3 kernels
per joint (``poses_2d_gmm.shape[2]``, read by ``PoseGenerator_gmm``), and kernel 0's mean is the
VideoPose3D detection itself. How they were fitted was never published; this module is the kit's
documented way, used for the embedded dataset and for any detector (``mmdiff data gmm``):

1. errors e = detection - projected ground truth, per joint, divided by the person's image scale
   (:func:`image_scale`) so that near and far people pool together;
2. a K-kernel diagonal Gaussian mixture is fitted to each joint's errors by EM
   (:func:`fit_gmm`, numpy, vectorised over joints, seeded). The kit fits a zero-mean scale
   mixture (all kernel means at 0; :func:`fit_gmm` can also free them): the detector is unbiased
   and its errors are heavy-tailed, so kernel 0 (the largest weight) is "the detection is right up
   to a few pixels" and the broader kernels hold the tails and left/right confusions;
3. per frame, kernel k of joint j describes where the true joint is: weight pi_k, mean
   detection - mu_k * scale_f (= the detection), spread sigma_k * scale_f (standard deviations,
   px, written as px * 2 / res_w). Kernel 0's mean equals the detection, as in DiffPose's files.
The ``gt`` variant (:func:`gt_gmm`) puts K tight kernels on the true projection.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmdiff.camera import cameras_for, project_to_2d, world_to_camera
from mmdiff.errors import DataError
from mmdiff.skeleton import NUM_JOINTS, reduce_32_to_17

#: Pixels per metre at which pixel sizes "at scale 1" hold (Human3.6M subjects are about 5 m from
#: the cameras, ~216 px/m).
REF_PX_PER_M = 200.0
#: Kernels per joint in DiffPose's released GMM files.
DEFAULT_KERNELS = 3
#: Spread of kernel 0 of the ``gt`` variant, px at scale 1; kernel k has 2**k times that.
GT_SPREAD_PX = 1.0
#: Smallest spread a fitted kernel may have (px at scale 1): keeps EM away from collapse.
MIN_SPREAD_PX = 0.3


@dataclass(frozen=True)
class ErrorMixture:
    """Per-joint mixtures of scale-normalised detector errors.

    weights (J, K) summing to 1 per joint; means (J, K, 2) px at scale 1 (0 for a scale mixture);
    spreads (J, K, 2) standard deviations, px at scale 1.
    """

    weights: np.ndarray
    means: np.ndarray
    spreads: np.ndarray


def image_scale(positions_world: np.ndarray, camera) -> np.ndarray:
    """Size of the person in the image relative to the reference: (F,) dimensionless.

    positions_world: (F, J, 3) metres (joint 0 is the root). Returns mean focal length / root
    depth / REF_PX_PER_M (1.0 at 200 px per metre).
    """
    depth = world_to_camera(positions_world[:, 0], camera)[:, 2]       # (F,) metres
    return float(np.mean(camera.focal_length)) / depth / REF_PX_PER_M


# --- EM ---------------------------------------------------------------------------------------
def _log_gauss(x, means, spreads):
    """Log density of diagonal Gaussians. x: (B, N, 2); means, spreads: (B, K, 2) -> (B, N, K)."""
    z = (x[:, :, None, :] - means[:, None]) / spreads[:, None]          # (B, N, K, 2)
    return -0.5 * np.sum(z ** 2, -1) - np.sum(np.log(spreads), -1)[:, None] - np.log(2 * np.pi)


def _init(x, num_kernels, rng, fixed_means):
    """Deterministic start: fixed kernels at 0, free ones at spread-out samples (k-means++-like),
    spreads growing by 2 per kernel from the robust sd."""
    B, N, _ = x.shape
    centre = np.zeros((B, 2)) if fixed_means else np.median(x, axis=1)  # (B, 2)
    mad = 1.4826 * np.median(np.abs(x - centre[:, None]), axis=1) + 1e-6  # (B, 2) robust sd
    means = np.zeros((B, num_kernels, 2))
    spreads = mad[:, None] * (2.0 ** np.arange(num_kernels))[None, :, None]   # (B, K, 2)
    dist = np.linalg.norm((x - centre[:, None]) / mad[:, None], axis=-1)  # (B, N)
    p = dist ** 2 / np.sum(dist ** 2, axis=1, keepdims=True)
    for k in range(fixed_means, num_kernels):                          # far samples seed outliers
        pick = np.array([rng.choice(N, p=p[b]) for b in range(B)])
        means[:, k] = centre if k == 0 else x[np.arange(B), pick]
    weights = np.full((B, num_kernels), 0.2 / max(1, num_kernels - 1))
    weights[:, 0] = 0.8 if num_kernels > 1 else 1.0
    return weights, means, spreads


def fit_gmm(x: np.ndarray, num_kernels: int = DEFAULT_KERNELS, seed: int = 0, iters: int = 100,
            tol: float = 1e-6, fixed_means: int = 0, min_spread: float = MIN_SPREAD_PX):
    """Fit a diagonal Gaussian mixture to each of B sample sets by EM (vectorised over B).

    x: (B, N, 2) samples (here: B joints, N scale-normalised errors in px). The first
    ``fixed_means`` kernels keep their mean at 0 (K of them: a zero-mean scale mixture, the
    usual model of a heavy-tailed error); the others are free. Kernels are sorted by decreasing
    weight after the fixed ones. Stops when the mean log-likelihood changes by < tol.
    Same inputs and seed -> identical output. Returns weights (B, K), means (B, K, 2), spreads
    (B, K, 2) (standard deviations, >= min_spread).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != 2 or x.shape[1] < num_kernels or num_kernels < 1:
        raise ValueError(f"fit_gmm expects samples (B, N >= K, 2) and K >= 1; got {x.shape}, "
                         f"K={num_kernels}")
    fixed = int(np.clip(fixed_means, 0, num_kernels))
    weights, means, spreads = _init(x, num_kernels, np.random.default_rng(seed), fixed)
    prev = -np.inf
    for _ in range(iters):
        log_p = _log_gauss(x, means, spreads) + np.log(np.maximum(weights, 1e-300))[:, None]
        top = log_p.max(-1, keepdims=True)                              # (B, N, 1)
        log_norm = top + np.log(np.exp(log_p - top).sum(-1, keepdims=True))
        resp = np.exp(log_p - log_norm)                                 # (B, N, K) E-step
        nk = resp.sum(1) + 1e-12                                        # (B, K)
        weights = nk / nk.sum(-1, keepdims=True)                        # M-step
        means = np.einsum("bnk,bnc->bkc", resp, x) / nk[..., None]
        means[:, :fixed] = 0.0
        var = np.einsum("bnk,bnkc->bkc", resp, (x[:, :, None] - means[:, None]) ** 2)
        spreads = np.maximum(np.sqrt(var / nk[..., None]), min_spread)
        ll = float(log_norm.mean())
        if abs(ll - prev) < tol:
            break
        prev = ll
    return _sort_kernels(weights, means, spreads, fixed)


def _sort_kernels(weights, means, spreads, fixed):
    """Order kernels: fixed ones first as they are, the others by decreasing weight (when all
    are fixed at 0 they are interchangeable, and all are sorted by weight)."""
    keep = 0 if fixed == weights.shape[1] else fixed
    rest = np.argsort(-weights[:, keep:], axis=1, kind="stable") + keep          # (B, K - keep)
    order = np.concatenate([np.broadcast_to(np.arange(keep), (len(weights), keep)), rest], 1)
    take = np.take_along_axis
    return (take(weights, order, 1), take(means, order[..., None], 1),
            take(spreads, order[..., None], 1))


# --- per-frame kernels ------------------------------------------------------------------------
def fit_error_mixture(errors: np.ndarray, num_kernels: int = DEFAULT_KERNELS, seed: int = 0,
                      max_samples: int = 8000) -> ErrorMixture:
    """Fit the per-joint error mixture: a zero-mean scale mixture (kernels differ in weight and
    spread; the broad ones hold heavy tails and left/right confusions).

    errors: (N, 17, 2) scale-normalised px (N frames of any sequences and cameras); at most
    ``max_samples`` frames, drawn with ``seed``, are used."""
    if errors.ndim != 3 or errors.shape[1:] != (NUM_JOINTS, 2):
        raise DataError(f"fit_error_mixture expects errors (N, 17, 2), got {errors.shape}")
    rng = np.random.default_rng(seed)
    if len(errors) > max_samples:
        errors = errors[np.sort(rng.choice(len(errors), max_samples, replace=False))]
    w, m, s = fit_gmm(np.swapaxes(errors, 0, 1), num_kernels, seed=seed,      # (17, N, 2)
                      fixed_means=num_kernels)
    return ErrorMixture(w, m, s)


def detection_gmm(detections: np.ndarray, scale: np.ndarray, mixture: ErrorMixture,
                  res_w: float) -> np.ndarray:
    """Per-frame kernels around detections. detections: (F, 17, 2) px; scale: (F,); res_w: the
    image width in pixels.

    Returns (F, 17, K, 5) float32: weight, mean u, mean v (= detection - mu_k * scale, px),
    spread u, spread v (= sigma_k * scale px, stored in normalised units * 2 / res_w). Kernel 0's
    mean is the detection.
    """
    F = len(detections)
    s = np.asarray(scale, dtype=np.float64)[:, None, None, None]        # (F, 1, 1, 1)
    K = mixture.weights.shape[1]
    out = np.empty((F, NUM_JOINTS, K, 5))
    out[..., 0] = mixture.weights[None]
    out[..., 1:3] = detections[:, :, None, :] - mixture.means[None] * s
    out[..., 3:5] = mixture.spreads[None] * s * (2.0 / res_w)
    out[:, :, 0, 1:3] = detections                                      # exact, no rounding
    return out.astype(np.float32)


def gt_gmm(true_2d: np.ndarray, scale: np.ndarray, res_w: float,
           num_kernels: int = DEFAULT_KERNELS) -> np.ndarray:
    """The ``gt`` variant: K kernels on the true projection. true_2d: (F, 17, 2) px; scale: (F,);
    res_w: image width in pixels.

    Weights proportional to 4**-k, spreads GT_SPREAD_PX * 2**k * scale pixels, stored in
    normalised units (* 2 / res_w). Returns (F, 17, K, 5) float32.
    """
    F = len(true_2d)
    k = np.arange(num_kernels)
    out = np.empty((F, NUM_JOINTS, num_kernels, 5))
    out[..., 0] = 4.0 ** -k / np.sum(4.0 ** -k)
    out[..., 1:3] = true_2d[:, :, None, :]
    out[..., 3:5] = (GT_SPREAD_PX * 2.0 ** k)[None, None, :, None] * \
        np.asarray(scale)[:, None, None, None] * (2.0 / res_w)
    return out.astype(np.float32)


# --- whole files ------------------------------------------------------------------------------
def true_projection(world: np.ndarray, camera) -> np.ndarray:
    """(F, 32 or 17, 3) world metres -> (F, 17, 2) pixels with the camera's lens distortion."""
    world17 = reduce_32_to_17(world) if world.shape[1] == 32 else world
    return project_to_2d(world_to_camera(world17, camera), camera, distort=True)


def _pad_to(arr, num_frames):
    """Edge-pad (or trim) the first axis to num_frames (detections may run a few frames long)."""
    if len(arr) >= num_frames:
        return arr[:num_frames]
    return np.concatenate([arr, np.repeat(arr[-1:], num_frames - len(arr), axis=0)])


def _sequences(detections: dict, positions: dict):
    """Yield (subject, action, cam index, camera, det (F2,17,2), truth (F2,17,2), scale (F2,))."""
    missing = [f"{s} {a!r}" for s in detections for a in detections[s]
               if a not in positions.get(s, {})]
    if missing:
        raise DataError(f"no 3D ground truth for {len(missing)} detection sequences "
                        f"(first: {missing[:3]}); expected every subject/action of the 2D file "
                        "in the 3D file")
    for subject in detections:
        cams = cameras_for(subject)
        for action, per_cam in detections[subject].items():
            world = positions[subject][action]
            for c, det in enumerate(per_cam):
                if det.ndim != 3:
                    raise DataError(f"{subject} {action!r} camera {c}: expected plain detections "
                                    f"(F, 17, 2), found {det.shape}")
                yield (subject, action, c, cams[c], det, _pad_to(true_projection(world, cams[c]),
                       len(det)), _pad_to(image_scale(world, cams[c]), len(det)))


def gmm_from_detections(detections: dict, positions: dict, num_kernels: int | None = None,
                        seed: int = 0) -> tuple[dict, ErrorMixture]:
    """Fit the error mixture on every sequence and build per-frame GMMs.

    detections: {subject: {action: [per camera (F, 17, 2) px]}}; positions: {subject: {action:
    (F, 32 or 17, 3) world metres}}. Returns ({subject: {action: [per camera (F, 17, K, 5)]}},
    the fitted ErrorMixture).
    """
    K = DEFAULT_KERNELS if num_kernels is None else int(num_kernels)
    seqs = list(_sequences(detections, positions))
    errors = np.concatenate([(det - truth) / scale[:, None, None]
                             for *_, det, truth, scale in seqs])        # (N, 17, 2)
    mixture = fit_error_mixture(errors, K, seed=seed)
    out: dict = {}
    for subject, action, c, cam, det, _, scale in seqs:
        out.setdefault(subject, {}).setdefault(action, []).append(
            detection_gmm(det, scale, mixture, cam.res_w))
    return out, mixture


def write_gmm_file(detections, positions, out, num_kernels: int | None = None, seed: int = 0) -> Path:
    """Build a DiffPose-layout GMM file from a plain 2D detection file and its 3D ground truth.

    detections: path of a VideoPose3D 2D file (positions_2d, (F, 17, 2) px per camera); positions:
    path of the matching data_3d_h36m-style file; out: the ``*_gmm.npz`` to write (atomically).
    num_kernels: K (default 3, as DiffPose's files). Same inputs and seed -> identical arrays.
    Returns the output path.
    """
    from mmdiff.data.h36m import load_metadata_2d, load_positions_2d, load_positions_3d, \
        save_positions_2d
    gmm, _ = gmm_from_detections(load_positions_2d(detections), load_positions_3d(positions),
                                 num_kernels, seed)
    return Path(save_positions_2d(out, gmm, load_metadata_2d(detections)))
