"""mmdiff.course.analysis: per-stage errors of a DDIM run, lifter error vs the assumed noise, the
start-timestep sweep, hypothesis-spread calibration, a limb reflected in depth."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mmdiff.config import DiffusionConfig
from mmdiff.course.analysis import (axis_errors, lifter_rms_vs_noise, matching_timestep,
                                    projection_shift_px, reflect_in_depth, spread_calibration,
                                    start_sweep, trajectory_errors, trajectory_poses)
from mmdiff.diffusion import BetaSchedule, DDIMSampler
from mmdiff.errors import DataError
from mmdiff.pipeline import Pipeline
from mmdiff.skeleton import NAMES_17

from test_pipeline import TinyDenoiser, TinyLifter


def _target(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, 17, 3, generator=g) * 0.2
    return t - t[:, :1]


def test_axis_errors_split_a_known_offset():
    target = _target()
    pred = target + torch.tensor([0.01, 0.0, -0.03])
    pred[:, 0] = target[:, 0]                           # the root stays put: every other joint moves
    err = axis_errors(pred, target)
    assert err["x"] == pytest.approx(10 * 16 / 17, abs=1e-3)
    assert err["y"] == 0 and err["z"] == pytest.approx(30 * 16 / 17, abs=1e-3)
    assert err["P1"] == pytest.approx(np.hypot(10, 30) * 16 / 17, abs=1e-3)
    with pytest.raises(DataError, match="one shape"):
        axis_errors(pred[:, :5], target)


def test_trajectory_stages_end_at_the_output():
    sched = BetaSchedule.from_config(DiffusionConfig())
    x_T = torch.cat([torch.randn(3, 17, 2) * 0.2, _target(3)], dim=-1)
    traj = DDIMSampler(sched, 2, 12).sample(lambda x, t: 0.3 * x, x_T, return_trajectory=True)
    labels, poses = trajectory_poses(traj)
    assert labels == ["start x_6", "x0-hat at t=6", "x_0", "x0-hat at t=0", "output (alpha-bar = 1)"]
    np.testing.assert_allclose(poses[-1], poses[-2], atol=1e-6)     # alpha-bar = 1: x = x0_hat
    rows = trajectory_errors(traj, _target(3))
    assert rows[0]["P1"] == pytest.approx(0.0, abs=1e-4)            # it starts at the target
    assert [r["stage"] for r in rows] == labels and rows[-1]["P1"] > 0


def test_lifter_rms_and_the_timestep_where_the_assumed_noise_matches_it():
    sched = BetaSchedule.from_config(DiffusionConfig())
    target = _target(2000)
    noise = torch.randn(2000, 17, 3, generator=torch.Generator().manual_seed(1)) * torch.tensor([0.01, 0.02, 0.04])
    noise[:, 0] = 0
    rms, assumed = lifter_rms_vs_noise(target + noise, target, sched)
    np.testing.assert_allclose(rms, [0.01, 0.02, 0.04], rtol=0.05)
    np.testing.assert_allclose(assumed[:, 0], (1 - sched.alphas_bar).sqrt().numpy(), rtol=1e-5)
    t = matching_timestep(rms, assumed)
    assert t[0] < t[1] < t[2] and assumed[t[1], 1] >= rms[1] > assumed[t[1] - 1, 1]
    assert matching_timestep(np.array([9.0, 9, 9]), assumed).tolist() == [50, 50, 50]


def test_start_sweep_at_six_is_the_paper_pipeline():
    sched = BetaSchedule.from_config(DiffusionConfig())
    lifter, denoiser = TinyLifter(), TinyDenoiser()
    pose_2d, target = torch.randn(4, 17, 2) * 0.2, _target(4)
    sweep = start_sweep(lifter, denoiser, pose_2d, target, sched, starts=[0, 6])
    assert sweep["t"] == [0, 6] and len(sweep["z"]) == 2
    paper = axis_errors(Pipeline.paper(lifter, denoiser).sample_batch(pose_2d)[0], target)
    assert sweep["P1"][1] == pytest.approx(paper["P1"], abs=1e-4)


def test_spread_calibration_finds_a_calibrated_spread():
    rng = np.random.default_rng(0)
    n, s = 400, 30
    target = rng.normal(size=(n, 17, 3)) * 0.2
    scale = rng.uniform(0.005, 0.05, size=(n, 17, 1))                      # per pose and joint
    centre = target + rng.normal(size=target.shape) * scale                # error ~ N(0, scale)
    hyps = centre + rng.normal(size=(s, n, 17, 3)) * scale                 # spread ~ scale
    calib = spread_calibration(hyps, target, bins=5)
    assert calib.spread.shape == (5, 3) and calib.count.sum(0).tolist() == [n * 16] * 3
    assert (np.diff(calib.error, axis=0) > 0).all()                        # more spread, more error
    np.testing.assert_allclose(calib.error / calib.spread, 1.0, atol=0.2)
    assert (calib.within_joint > 0.3).all()
    with pytest.raises(DataError, match="S >= 2"):
        spread_calibration(hyps[:1], target)


def test_reflecting_a_forearm_in_depth_keeps_its_length():
    pose = _target(1)[0].numpy()
    wrist, elbow = NAMES_17.index("RWrist"), NAMES_17.index("RElbow")
    flipped = reflect_in_depth(pose, wrist, about=elbow)
    assert np.linalg.norm(flipped[wrist] - flipped[elbow]) == pytest.approx(
        np.linalg.norm(pose[wrist] - pose[elbow]))
    assert flipped[wrist, 2] - flipped[elbow, 2] == pytest.approx(pose[elbow, 2] - pose[wrist, 2])
    np.testing.assert_array_equal(np.delete(flipped, wrist, 0), np.delete(pose, wrist, 0))
    shift = projection_shift_px(pose, flipped)
    assert shift[wrist] > 0 and np.delete(shift, wrist).max() == 0


def test_zero_predictor_loss_is_the_expected_noise_energy():
    from mmdiff.course.analysis import loss_per_timestep, zero_predictor_loss
    assert zero_predictor_loss() == pytest.approx(17 * 3.02)
    sched = BetaSchedule.from_config(DiffusionConfig())
    zero = lambda x_t, pose_2d, t: torch.zeros_like(x_t)  # noqa: E731
    target = _target(3000)
    losses = loss_per_timestep(zero, torch.randn(3000, 17, 2) * 0.2, target, sched, [0, 25, 50],
                               generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(losses, zero_predictor_loss(), rtol=0.02)
