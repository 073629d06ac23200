"""The kit's cameras and simulated detector applied to any 3D motion: 2D detections and GMMs.

``mmdiff data observe --positions data_3d_h36m_<name>.npz --out DIR`` (and the embedded dataset,
through :func:`observe`) writes, for every subject, action and camera of a ``data_3d_h36m``-format
file, files named like the published ones::

    data_2d_h36m_<name>_det.npz       positions_2d: detections (F, 17, 2) px + metadata
    data_2d_h36m_<name>_det_gmm.npz   per-frame GMMs (F, 17, K, 5) fitted to the detector's evidence
    data_2d_h36m_<name>_gt_gmm.npz    the ``gt`` variant: tight kernels on the true projection

Cameras: each subject's four published Human3.6M cameras (``cameras_of`` picks one subject's for
motion of other subjects). The detector (:mod:`~mmdiff.data.synthetic.detector`) draws from one
random stream per (seed, subject, action, camera), so a sequence's 2D does not depend on which
other sequences a file holds. Its time constants need the motion's frame rate (``fps``).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from mmdiff.camera import cameras_for
from mmdiff.data.em import MIN_SPREAD_PX
from mmdiff.data.evidence import Peaks, frame_gmm, peak_points
from mmdiff.data.gmm import DEFAULT_KERNELS, gt_gmm, image_scale, true_projection
from mmdiff.data.h36m import (DEFAULT_METADATA_2D, load_positions_3d, save_positions_2d)
from mmdiff.data.synthetic.detector import DetectorModel, detect_with_evidence
from mmdiff.errors import DataError

#: Frame rate of the published Human3.6M files (VideoPose3D's data_3d_h36m.npz), frames/s.
H36M_FPS = 50.0


def detector_rng(seed: int, subject: str, action: str, camera: int) -> np.random.Generator:
    """The detector's random stream of one camera sequence (stable across files and runs)."""
    key = (3, zlib.crc32(subject.encode()), zlib.crc32(action.encode()), int(camera))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


#: Most EM iterations per frame fit: EM starts from the evidence's own peaks and is within
#: about 1e-3 px and 1e-3 in weight of its fixed point after that many (see tests/test_em.py).
EM_ITERS = 10


def _detect_camera(world, camera, rng, fps, model):
    """One camera sequence: detections (F, 17, 2) float32 px, heatmap Peaks, true 2D, scale."""
    world = np.asarray(world, dtype=np.float64)
    truth = true_projection(world, camera)                              # (F, 17, 2) px
    scale = image_scale(world, camera)                                  # (F,)
    det, peaks = detect_with_evidence(truth, scale, rng, fps, model)
    return det.astype(np.float32), peaks, truth, scale


def _fit_frames(parts, num_kernels):
    """Per-frame GMMs of many camera sequences at once (one vectorised EM). parts: list of
    (det, peaks, camera, scale). Returns a list of (F_i, 17, K, 5) float32 arrays."""
    cat = np.concatenate
    det = cat([p[0] for p in parts]).astype(np.float64)                 # (sum F, 17, 2)
    peaks = Peaks(*(cat([getattr(p[1], f) for p in parts])
                    for f in ("centres", "widths", "heights")))
    res_w = cat([np.full(len(p[0]), p[2].res_w, dtype=np.float64) for p in parts])
    scale = cat([p[3] for p in parts])
    gmm = frame_gmm(det, *peak_points(peaks), res_w, num_kernels, MIN_SPREAD_PX * scale, peaks,
                    iters=EM_ITERS)
    return np.split(gmm, np.cumsum([len(p[0]) for p in parts])[:-1])


def observe(positions_3d: dict, seed: int = 0, fps: float = H36M_FPS,
            num_kernels: int = DEFAULT_KERNELS, cameras_of: str | None = None,
            model: DetectorModel = DetectorModel()):
    """Detections and GMMs for every sequence and camera of ``positions_3d``.

    positions_3d: {subject: {action: (F, 32 or 17, 3) world metres}}; cameras_of: use this
    Human3.6M subject's cameras for every subject (None: each subject's own). Returns (det,
    det_gmm, gt_gmm), each {subject: {action: [4 per-camera arrays]}}: float32 detections
    (F, 17, 2) px; GMMs (F, 17, K, 5) fitted per frame to the detector's heatmap evidence
    (:func:`mmdiff.data.evidence.frame_gmm`, kernel 0 = the detection); the ``gt`` GMMs.
    """
    det, det_gmm, gt = {}, {}, {}
    for subject, actions in positions_3d.items():
        cams = cameras_for(cameras_of or subject)
        keys, parts = [], []
        for action, world in actions.items():
            for c, cam in enumerate(cams):
                d, peaks, truth, scale = _detect_camera(
                    world, cam, detector_rng(seed, subject, action, c), fps, model)
                keys.append(action)
                parts.append((d, peaks, cam, scale))
                gt.setdefault(subject, {}).setdefault(action, []).append(
                    gt_gmm(truth, scale, cam.res_w, num_kernels))
        for action, part, g in zip(keys, parts, _fit_frames(parts, num_kernels)):
            det.setdefault(subject, {}).setdefault(action, []).append(part[0])
            det_gmm.setdefault(subject, {}).setdefault(action, []).append(g)
    return det, det_gmm, gt


def observation_files(name: str) -> dict[str, str]:
    """File names for a dataset called ``name``: {"det", "det_gmm", "gt_gmm": file name}."""
    stem = f"data_2d_h36m_{name}" if name else "data_2d_h36m"
    return {"det": f"{stem}_det.npz", "det_gmm": f"{stem}_det_gmm.npz",
            "gt_gmm": f"{stem}_gt_gmm.npz"}


def dataset_name(positions_path) -> str:
    """``data_3d_h36m_<name>.npz`` -> ``<name>``; ``data_3d_h36m.npz`` -> ``""``; other file
    names -> their stem."""
    stem = Path(positions_path).name.removesuffix(".npz")
    if stem == "data_3d_h36m":
        return ""
    return stem.removeprefix("data_3d_h36m_")


def write_observations(out_dir, det: dict, det_gmm: dict, gt: dict, name: str) -> dict[str, Path]:
    """Write the three 2D files of :func:`observation_files` (atomically). Returns their paths."""
    out_dir, files = Path(out_dir), observation_files(name)
    return {key: Path(save_positions_2d(out_dir / files[key], arrays, DEFAULT_METADATA_2D))
            for key, arrays in (("det", det), ("det_gmm", det_gmm), ("gt_gmm", gt))}


def observe_file(positions_path, out_dir, seed: int = 0, fps: float = H36M_FPS,
                 name: str | None = None, cameras_of: str | None = None) -> dict[str, Path]:
    """``mmdiff data observe``: the 2D files for a ``data_3d_h36m``-format file.

    name: the dataset name in the output file names (default: from the input file name, see
    :func:`dataset_name`). Raises DataError for a subject without Human3.6M cameras when
    ``cameras_of`` is not given.
    """
    if fps <= 0:
        raise DataError(f"--fps must be positive, found {fps}")
    positions = load_positions_3d(positions_path)
    if cameras_of is None:
        for subject in positions:
            cameras_for(subject)                                        # DataError names it
    det, det_gmm, gt = observe(positions, seed, fps, cameras_of=cameras_of)
    return write_observations(out_dir, det, det_gmm, gt,
                              dataset_name(positions_path) if name is None else name)
