"""What the lessons measure about the reverse process, as functions with tests.

    rows = trajectory_errors(traj, target)                 # per DDIM stage: x, y, z error, P1
    rms, assumed = lifter_rms_vs_noise(lifted, target, schedule, noise_scale)
    sweep = start_sweep(lifter, denoiser, pose_2d, target, schedule, starts=range(0, 13, 2))
    calib = spread_calibration(hypotheses, target)        # hypothesis spread vs error, per axis

Units: poses (..., 17, 3) root-relative metres in; errors out in millimetres. Axes are the camera
frame's: x right, y down, z depth (away from the camera).
"""
from __future__ import annotations

import numpy as np
import torch

from mmdiff.diffusion import DDIMSampler
from mmdiff.errors import DataError
from mmdiff.metrics import Calibration, OracleBestOfN, oracle_best_of_n, spread_calibration
from mmdiff.pipeline import DiffusionRefiner, Pipeline, aggregate, denoise
from mmdiff.train import denoiser_loss

AXES = ("x", "y", "z")
#: the lessons' imports; the metrics of several hypotheses live in :mod:`mmdiff.metrics`
__all__ = ["AXES", "axis_errors", "trajectory_poses", "trajectory_errors", "lifter_rms_vs_noise",
           "matching_timestep", "start_sweep", "Calibration", "spread_calibration",
           "reflect_in_depth", "projection_shift_px", "zero_predictor_loss", "loss_per_timestep",
           "OracleBestOfN", "oracle_best_of_n"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _root_relative(pose: np.ndarray) -> np.ndarray:
    return pose - pose[..., :1, :]


def axis_errors(pred, target) -> dict[str, float]:
    """Mean absolute error along x, y and z and the MPJPE (P1), all in mm.

    pred, target: (..., 17, 3) metres, same shape; both are root-centred first."""
    p, g = _root_relative(_np(pred).astype(np.float64)), _root_relative(_np(target).astype(np.float64))
    if p.shape != g.shape or p.shape[-1] != 3:
        raise DataError(f"axis_errors: expected pred and target (..., J, 3) of one shape, "
                        f"found {p.shape} and {g.shape}")
    diff = p - g                                                          # (..., J, 3)
    out = {a: float(np.abs(diff[..., i]).mean() * 1000) for i, a in enumerate(AXES)}
    out["P1"] = float(np.linalg.norm(diff, axis=-1).mean() * 1000)
    return out


def trajectory_poses(traj) -> tuple[list[str], list[np.ndarray]]:
    """The stages of a DDIM run as labelled xyz poses, in visiting order.

    traj: a :class:`mmdiff.diffusion.DDIMTrajectory` of uvxyz samples (N, 17, 5). Stages: the
    start x_t at the first timestep, then for each step t its predicted x0_hat and the sample it
    moves to (the last step's sample, at alpha-bar = 1, equals its x0_hat: the output).
    Returns (labels, poses) with poses (N, 17, 3) metres, root-relative."""
    labels, poses = [f"start x_{traj.timesteps[0]}"], [traj.xs[0]]
    ts = list(traj.timesteps)
    for i, t in enumerate(ts):
        labels.append(f"x0-hat at t={t}")
        poses.append(traj.x0_hats[i])
        nxt = ts[i + 1] if i + 1 < len(ts) else None
        labels.append(f"x_{nxt}" if nxt is not None else "output (alpha-bar = 1)")
        poses.append(traj.xs[i + 1])
    return labels, [_root_relative(_np(p)[..., 2:]) for p in poses]


def trajectory_errors(traj, target) -> list[dict]:
    """Per stage of :func:`trajectory_poses`: {"stage", "x", "y", "z", "P1"} errors in mm against
    ``target`` (N, 17, 3) metres."""
    labels, poses = trajectory_poses(traj)
    return [{"stage": lab, **axis_errors(p, target)} for lab, p in zip(labels, poses)]


def lifter_rms_vs_noise(lifted, target, schedule, noise_scale=(0.1, 0.1, 1.0, 1.0, 1.0)):
    """How much noise the lifter's error is, against what the diffusion assumes it is.

    lifted, target: (N, 17, 3) metres. Returns (rms, assumed): rms (3,) the per-coordinate RMS
    error of the root-relative lifted pose (x, y, z, metres; the root joint excluded, it is 0 by
    construction); assumed (T, 3) the per-coordinate std the forward process puts on x_t at each
    t, sqrt(1 - alpha-bar_t) * sigma_c, for c = x, y, z."""
    p, g = _root_relative(_np(lifted).astype(np.float64)), _root_relative(_np(target).astype(np.float64))
    if p.shape != g.shape:
        raise DataError(f"lifter_rms_vs_noise: lifted {p.shape} and target {g.shape} differ")
    rms = np.sqrt(((p - g)[..., 1:, :] ** 2).mean(axis=tuple(range(p.ndim - 1))))  # (3,)
    level = np.sqrt(1 - _np(schedule.alphas_bar).astype(np.float64))             # (T,)
    return rms, level[:, None] * np.asarray(noise_scale, dtype=np.float64)[2:]   # (T, 3)


def matching_timestep(rms: np.ndarray, assumed: np.ndarray) -> np.ndarray:
    """Per axis, the first t at which the assumed noise reaches the measured RMS (T - 1 when it
    never does). rms (3,), assumed (T, 3). Returns (3,) ints."""
    above = assumed >= rms[None, :]                                          # (T, 3)
    return np.where(above.any(0), above.argmax(0), len(assumed) - 1)


@torch.no_grad()
def start_sweep(lifter, denoiser, pose_2d, target, schedule, starts, steps: int = 2,
                flip: bool = True, progress: bool = False) -> dict[str, list]:
    """P1 (and x, y, z errors) of the pipeline when DDIM starts at each t in ``starts``.

    Each run visits ``steps`` timesteps from t_start down to 0
    (:meth:`DDIMSampler.starting_at`; min(steps, t + 1) at small t). pose_2d: (N, 17, 2),
    target: (N, 17, 3) metres. Returns {"t": [...], "P1": [...], "x": [...], "y": [...],
    "z": [...]} in mm. ``progress`` shows a bar over the starts."""
    from tqdm.auto import tqdm
    out = {k: [] for k in ("t", "P1", *AXES)}
    for t in tqdm(list(starts), desc="start timesteps", disable=not progress, leave=False):
        sampler = DDIMSampler.starting_at(schedule, int(t), min(steps, int(t) + 1))
        pipe = Pipeline(lifter, DiffusionRefiner(denoiser, sampler), flip=flip)
        pred = aggregate(pipe.sample_batch(pose_2d))                     # (N, 17, 3)
        err = axis_errors(pred, target)
        out["t"].append(int(t))
        for k in ("P1", *AXES):
            out[k].append(err[k])
    return out


def reflect_in_depth(pose, joints, about: int) -> np.ndarray:
    """A copy of ``pose`` (J, 3) camera metres with ``joints`` reflected in depth about joint
    ``about``: z_j <- 2 z_about - z_j (e.g. a wrist about its elbow: the forearm points towards
    the camera instead of away). The bone lengths from ``about`` are unchanged."""
    out = np.array(_np(pose), dtype=np.float64, copy=True)                  # (J, 3)
    idx = list(np.atleast_1d(joints))
    out[idx, 2] = 2 * out[about, 2] - out[idx, 2]
    return out


def projection_shift_px(pose, other, depth: float = 5.0, focal_px: float = 1145.0) -> np.ndarray:
    """Per joint, how far (pixels) two root-relative poses (J, 3) project apart for a pinhole
    camera of focal length ``focal_px`` with the root ``depth`` metres away (Human3.6M: about
    1145 px and 5 m). Returns (J,)."""
    a, b = _np(pose).astype(np.float64), _np(other).astype(np.float64)
    pa, pb = a[:, :2] / (depth + a[:, 2:]), b[:, :2] / (depth + b[:, 2:])
    return np.linalg.norm(pa - pb, axis=-1) * focal_px


def zero_predictor_loss(noise_scale=(0.1, 0.1, 1.0, 1.0, 1.0), joints: int = 17) -> float:
    """The training loss of a denoiser that always predicts 0: E||sigma * eps||^2 summed over
    joints and channels = joints * sum_c sigma_c^2 (17 * 3.02 = 51.34 for the paper's scale).
    A loss above it is worse than predicting nothing."""
    return float(joints * np.sum(np.square(np.asarray(noise_scale, dtype=np.float64))))


@torch.no_grad()
def loss_per_timestep(denoiser, pose_2d, pose_3d, schedule, timesteps,
                      noise_scale=(0.1, 0.1, 1.0, 1.0, 1.0),
                      generator: torch.Generator | None = None) -> np.ndarray:
    """The training loss (:func:`mmdiff.train.denoiser_loss`: ||sigma * eps - eps_theta(x_t, c,
    t)||^2 summed over joints and channels, mean over poses) of ``denoiser`` at each t in
    ``timesteps``, with fresh Gaussian noise per t. pose_2d (N, 17, 2), pose_3d (N, 17, 3)
    root-relative metres, on the denoiser's device. Returns (len(timesteps),) floats, comparable
    with :func:`zero_predictor_loss`."""
    x0 = torch.cat([torch.as_tensor(pose_2d), torch.as_tensor(pose_3d)], dim=-1).float()  # (N, 17, 5)
    loss = denoiser_loss(schedule, noise_scale)
    model = lambda x_t, c, t: denoise(denoiser, x_t, c, t.float())  # noqa: E731 (chunked)
    where = generator.device if generator is not None else None
    out = []
    for t in timesteps:
        eps = torch.randn(x0.shape, generator=generator, device=where).to(x0.device)
        batch = {"pose_2d": x0[..., :2], "pose_3d": x0[..., 2:], "eps": eps,
                 "t": torch.full((len(x0),), int(t), device=x0.device)}
        out.append(float(loss(model, batch)))
    return np.array(out)
