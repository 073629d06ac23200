"""The control "why diffusion?": the denoiser network trained as a plain residual regressor.

Same network, same inputs, same budget as the diffusion model, but no noise and no sampler: the
lifter's root-relative 3D and the 2D form x = uvxyz (B, 17, 5), the network is called once at the
timestep the sampler would start from, and its x, y, z channels are a correction added to the
lifter's output::

    pred = lifted + f_theta(uvxyz, 2D, t_start)[..., 2:]       # (B, 17, 3) metres
    loss = MPJPE(pred - pred_root, pose_3d)                     # as the lifter's

If diffusion's refinement beats this regressor at the same budget, the gain comes from the
diffusion training (noise levels, the sampler), not from the network or the extra parameters.
Selected with ``train.objective: regression``; evaluation then uses :func:`regress` (with the
same flip test-time augmentation as the pipeline).
"""
from __future__ import annotations

import torch

from mmdiff.diffusion import BetaSchedule, DDIMSampler
from mmdiff.inference import flip_uvxyz, lift_uvxyz
from mmdiff.skeleton import flip_pose


def start_timestep(cfg) -> int:
    """The first timestep the evaluation's DDIM sampler visits (6 for 2 of 12): the regressor
    is always called there, so it sees the embedding the diffusion model would see first."""
    sampler = DDIMSampler(BetaSchedule.from_config(cfg.diffusion), cfg.eval.steps,
                          cfg.eval.schedule_steps, skip=cfg.eval.skip_type)
    return int(sampler.timesteps()[0])


def _correct(model, uvxyz: torch.Tensor, pose_2d: torch.Tensor, t: int) -> torch.Tensor:
    """lifted + the network's x, y, z output, root-relative. uvxyz (B, 17, 5) -> (B, 17, 3)."""
    steps = torch.full((uvxyz.shape[0],), float(t), device=uvxyz.device)
    pred = uvxyz[..., 2:] + model(uvxyz, pose_2d, steps)[..., 2:]
    return pred - pred[:, :1]


def regression_loss(cfg, lifter: torch.nn.Module):
    """The training loss of the regressor (the lifter is frozen): MPJPE in metres."""
    t = start_timestep(cfg)
    lifter = lifter.eval().requires_grad_(False)

    def loss(model, batch: dict, generator, dist) -> torch.Tensor:
        pose_2d = batch["pose_2d"]                                        # (B, 17, 2)
        with torch.no_grad():
            uvxyz = lift_uvxyz(lifter, pose_2d)                           # (B, 17, 5)
        pred = _correct(model, uvxyz, pose_2d, t)                         # (B, 17, 3)
        return (pred - batch["pose_3d"]).norm(dim=-1).mean()

    return loss


@torch.no_grad()
def regress(cfg, lifter, model, pose_2d: torch.Tensor) -> torch.Tensor:
    """Predictions of a regressor: pose_2d (B, 17, 2) -> (B, 17, 3) root-relative metres; with
    ``cfg.eval.flip`` the mirrored start is corrected too, mirrored back and averaged (as the
    pipeline's flip TTA: the lifter runs once, on the unflipped 2D)."""
    t = start_timestep(cfg)
    uvxyz = lift_uvxyz(lifter, pose_2d)                                   # (B, 17, 5)
    out = _correct(model, uvxyz, pose_2d, t)
    if cfg.eval.flip:
        mirrored = _correct(model, flip_uvxyz(uvxyz), flip_pose(pose_2d), t)
        out = (out + flip_pose(mirrored)) / 2
    return out
