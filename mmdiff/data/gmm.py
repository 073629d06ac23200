"""GMM 2D inputs in DiffPose's layout (``*_gmm.npz``): per-frame kernels from a detector.

DiffPose (Gong et al., CVPR 2023) conditions on a Gaussian mixture per joint and frame instead of
one 2D point. Its files hold, per camera, an (F, 17, K, 5) array: per kernel (weight, mean u,
mean v, spread u, spread v), weights summing to 1, means in pixels and spreads in normalised
screen units (pixels * 2 / res_w): DiffPose's loader normalises only the means and uses the
stored spreads unchanged as the std of the u, v noise (see data/README.md for the evidence). The
released files have K = 3 kernels per joint (``poses_2d_gmm.shape[2]``, read by
``PoseGenerator_gmm``), and kernel 0's mean is the VideoPose3D detection itself; DiffPose says
the kernels were fitted to each frame's heatmap, the code that did it was never published.

The kit builds the files two ways (``mmdiff data gmm``, and ``mmdiff data synth`` / ``observe``):

- **per-frame evidence** (heatmaps, heatmap peaks, or confidences; :mod:`mmdiff.data.evidence`):
  K kernels fitted to each frame's evidence by weighted EM, kernel 0's mean held at the
  detection. Kernels sit apart where the detector hesitated; weights and spreads change frame by
  frame. The embedded dataset's simulated detector emits heatmap peaks.
- **error mixture** (only detections and ground truth at hand): errors e = detection - projected
  ground truth, divided by the person's :func:`image_scale`, are pooled per joint and a K-kernel
  zero-mean scale mixture is fitted by EM (:func:`mmdiff.data.em.fit_gmm`). Per frame, kernel k
  of joint j has weight pi_k, mean = the detection and spread sigma_k * scale (px, written as
  px * 2 / res_w): the same weights in every frame, spreads that follow the image scale.

The ``gt`` variant (:func:`gt_gmm`) puts K tight kernels on the true projection.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmdiff.camera import cameras_for, project_to_2d, world_to_camera
from mmdiff.data.em import MIN_SPREAD_PX, fit_gmm
from mmdiff.data.evidence import confidence_peaks, frame_gmm, heatmap_points, peak_points
from mmdiff.data.npz import load_npz_key
from mmdiff.errors import DataError
from mmdiff.skeleton import NUM_JOINTS, reduce_32_to_17

#: Pixels per metre at which pixel sizes "at scale 1" hold (Human3.6M subjects are about 5 m from
#: the cameras, ~216 px/m).
REF_PX_PER_M = 200.0
#: Kernels per joint in DiffPose's released GMM files.
DEFAULT_KERNELS = 3
#: Spread of kernel 0 of the ``gt`` variant, px at scale 1; kernel k has 2**k times that.
GT_SPREAD_PX = 1.0


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


def _evidence_for(evidence, subject, action, c, num_frames):
    """The evidence arrays of one camera sequence, checked against its detections' frames."""
    if evidence is None:
        return None
    where = f"evidence [{subject!r}][{action!r}] camera {c}"
    try:
        parts = {k: np.asarray(v[subject][action][c]) for k, v in evidence.items()}
    except (KeyError, IndexError, TypeError) as exc:
        raise DataError(f"{where}: missing ({exc!r}); the evidence file must have the detections' "
                        "subjects, actions and cameras") from None
    if any(len(v) != num_frames for v in parts.values()):
        raise DataError(f"{where}: {[(k, v.shape) for k, v in parts.items()]} do not match the "
                        f"{num_frames} detection frames")
    return parts


def _sequence_gmm(det, scale, cam, mixture, parts) -> np.ndarray:
    """(F, 17, K, 5) kernels of one camera sequence: fitted per frame to heatmaps or confidences
    when ``parts`` has them, otherwise the error mixture around each detection."""
    K = mixture.weights.shape[1]
    if parts is None:
        return detection_gmm(det, scale, mixture, cam.res_w)
    peaks = None
    if "heatmaps" in parts:
        evidence = heatmap_points(parts["heatmaps"], parts["boxes"])
    else:
        peaks = confidence_peaks(det, parts["confidences"], scale, mixture)
        evidence = peak_points(peaks)
    return frame_gmm(det.astype(np.float64), *evidence, cam.res_w, K, MIN_SPREAD_PX * scale,
                     peaks)


def gmm_from_detections(detections: dict, positions: dict, num_kernels: int | None = None,
                        seed: int = 0, evidence: dict | None = None) -> tuple[dict, ErrorMixture]:
    """Per-frame GMMs for every sequence of a detection file.

    detections: {subject: {action: [per camera (F, 17, 2) px]}}; positions: {subject: {action:
    (F, 32 or 17, 3) world metres}}; evidence: None, {"confidences": {subject: {action: [per
    camera (F, 17)]}}} or {"heatmaps": ... (F, 17, H, W), "boxes": ... (F, 4) px}. The error
    mixture is fitted on all sequences; without evidence it gives every frame's kernels
    (:func:`detection_gmm`), with evidence the kernels are fitted to each frame's evidence
    (:mod:`mmdiff.data.evidence`). Returns ({subject: {action: [per camera (F, 17, K, 5)]}},
    the fitted ErrorMixture).
    """
    K = DEFAULT_KERNELS if num_kernels is None else int(num_kernels)
    seqs = list(_sequences(detections, positions))
    errors = np.concatenate([(det - truth) / scale[:, None, None]
                             for *_, det, truth, scale in seqs])        # (N, 17, 2)
    mixture = fit_error_mixture(errors, K, seed=seed)
    out: dict = {}
    for subject, action, c, cam, det, _, scale in seqs:
        parts = _evidence_for(evidence, subject, action, c, len(det))
        out.setdefault(subject, {}).setdefault(action, []).append(
            _sequence_gmm(det, scale, cam, mixture, parts))
    return out, mixture


def load_evidence(path) -> dict:
    """Read a detector's per-frame evidence file (.npz, pickled dicts in the positions_2d layout):
    key ``confidences`` ({subject: {action: [per camera (F, 17)]}} in [0, 1]), or keys
    ``heatmaps`` ((F, 17, H, W) per camera) and ``boxes`` ((F, 4) per camera: the image region
    x0, y0, x1, y1 in px each frame's heatmaps cover). Raises DataError when neither is there."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.removesuffix(".npy") for n in zf.namelist()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read the evidence file ({exc})") from None
    if "heatmaps" in names:
        if "boxes" not in names:
            raise DataError(f"{path}: key 'heatmaps' needs key 'boxes' (per camera (F, 4) px)")
        return {"heatmaps": load_npz_key(path, "heatmaps"), "boxes": load_npz_key(path, "boxes")}
    if "confidences" in names:
        return {"confidences": load_npz_key(path, "confidences")}
    raise DataError(f"{path}: expected key 'confidences' or keys 'heatmaps' and 'boxes', found "
                    f"{sorted(names)}")


def write_gmm_file(detections, positions, out, num_kernels: int | None = None, seed: int = 0,
                   evidence=None) -> Path:
    """Build a DiffPose-layout GMM file from a plain 2D detection file and its 3D ground truth.

    detections: path of a VideoPose3D 2D file (positions_2d, (F, 17, 2) px per camera); positions:
    path of the matching data_3d_h36m-style file; out: the ``*_gmm.npz`` to write (atomically);
    evidence: optional path of the detector's per-frame heatmaps or confidences
    (:func:`load_evidence`): the kernels are then fitted per frame to them. num_kernels: K
    (default 3, as DiffPose's files). Same inputs and seed -> identical arrays. Returns the path.
    """
    from mmdiff.data.h36m import load_metadata_2d, load_positions_2d, load_positions_3d, \
        save_positions_2d
    ev = None if evidence is None else load_evidence(evidence)
    gmm, _ = gmm_from_detections(load_positions_2d(detections), load_positions_3d(positions),
                                 num_kernels, seed, ev)
    return Path(save_positions_2d(out, gmm, load_metadata_2d(detections)))
