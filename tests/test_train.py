"""Training loops: files of a run, seeded repeatability, exact resume (also after a signal),
EMA, callbacks, and 2-process DistributedDataParallel equivalence."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdiff.checkpoints import read_checkpoint
from mmdiff.diffusion import BetaSchedule
from mmdiff.train.ema import EMA
from mmdiff.config import load_config
from mmdiff.train.optim import StepDecay, step_lr
from mmdiff.engine.runtime import Dist, epoch_batches
from mmdiff.models import build_denoiser, build_lifter
from mmdiff.train import denoiser_draws, denoiser_loss, fit, fit_lifter, objective

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import save_samples, tiny_config, tiny_samples  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRAIN = tiny_samples(48, seed=1)  # 3 batches of 16 per epoch
TEST = tiny_samples(30, seed=2)


def weights(path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path).state_dict


def assert_same_weights(a, b, atol=0.0):
    assert a.keys() == b.keys()
    for k in a:
        if atol:
            torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0, msg=k)
        else:
            assert torch.equal(a[k], b[k]), k


def test_fit_lifter_writes_the_run_folder(tmp_path):
    steps, epochs = [], []
    result = fit_lifter(tiny_config(), tmp_path / "run", train_samples=TRAIN, test_samples=TEST,
                        progress=False, on_step=steps.append, on_epoch=epochs.append)
    run = tmp_path / "run"
    for name in ("config.yml", "log.txt", "metrics.jsonl", "ckpt_0.pth", "ckpt_1.pth",
                 "ckpt.pth", "best.pth"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(r["p1"] > 0 and r["p2"] > 0 for r in rows)
    assert result.best_p1 == min(r["p1"] for r in rows)
    assert len(steps) == 6 and {"loss", "lr", "step"} <= set(steps[0]) and len(epochs) == 2
    assert not result.interrupted and not result.model.training
    ckpt = read_checkpoint(run / "ckpt.pth")
    assert ckpt.meta["kind"] == "lifter" and ckpt.meta["position"]["epoch"] == 2
    assert ckpt.meta["config"]["lifter"]["hid_dim"] == 16


def test_denoiser_fit_is_seeded_and_repeatable(tmp_path):
    cfg = tiny_config()
    a = fit(cfg, tmp_path / "a", train_samples=TRAIN, progress=False)
    b = fit(cfg, tmp_path / "b", train_samples=TRAIN, progress=False)
    assert_same_weights(weights(tmp_path / "a" / "ckpt.pth"), weights(tmp_path / "b" / "ckpt.pth"))
    assert a.history[0]["loss"] == b.history[0]["loss"]
    c = fit(cfg.replace({"train.seed": 4}), tmp_path / "c", train_samples=TRAIN, progress=False)
    assert c.history[0]["loss"] != a.history[0]["loss"]


def test_resume_mid_epoch_ends_with_the_same_weights(tmp_path):
    cfg = tiny_config()
    fit(cfg, tmp_path / "full", train_samples=TRAIN, progress=False)
    part = fit(cfg, tmp_path / "part", train_samples=TRAIN, progress=False, max_steps=4)
    assert part.interrupted and (part.position.epoch, part.position.batch) == (1, 1)
    fit(cfg, tmp_path / "part", train_samples=TRAIN, progress=False, resume=True)
    full, resumed = read_checkpoint(tmp_path / "full" / "ckpt.pth"), read_checkpoint(tmp_path / "part" / "ckpt.pth")
    assert_same_weights(full.state_dict, resumed.state_dict)
    assert_same_weights(full.ema_state, resumed.ema_state)
    assert full.step == resumed.step == 6


def test_resume_rebuilds_the_model_from_the_stored_config(tmp_path):
    cfg = tiny_config()
    fit(cfg, tmp_path / "r", train_samples=TRAIN, progress=False, max_steps=2)
    other = cfg.replace({"model.hid_dim": 32, "train.epochs": 3})
    result = fit(other, tmp_path / "r", train_samples=TRAIN, progress=False, resume=True)
    assert result.position.epoch == 3  # epochs may be raised on resume
    assert read_checkpoint(tmp_path / "r" / "ckpt.pth").meta["config"]["model"]["hid_dim"] == 16


CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from _train_helpers import load_saved_samples, tiny_config
    from mmdiff.train import fit
    def kill(info):
        if info["step"] == 2:
            os.kill(os.getpid(), signal.{sig})
    result = fit(tiny_config(), {run!r}, train_samples=load_saved_samples({data!r}),
                 progress=False, on_step=kill)
    print("interrupted", result.interrupted, result.position.epoch, result.position.batch)
""")


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_mid_epoch_saves_and_resume_is_exact(tmp_path, sig):
    save_samples(tmp_path / "train.npz", TRAIN)
    script = CHILD.format(tests=str(Path(__file__).parent), sig=sig, run=str(tmp_path / "run"),
                          data=str(tmp_path / "train.npz"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "interrupted True 0 2" in out.stdout
    assert "stopped (signal" in (tmp_path / "run" / "log.txt").read_text()
    fit(tiny_config(), tmp_path / "run", train_samples=TRAIN, progress=False, resume=True)
    fit(tiny_config(), tmp_path / "full", train_samples=TRAIN, progress=False)
    assert_same_weights(weights(tmp_path / "run" / "ckpt.pth"), weights(tmp_path / "full" / "ckpt.pth"))


DDP_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from _train_helpers import load_saved_samples, tiny_config
    from mmdiff.engine.runtime import Dist
    from mmdiff.train import fit
    fit(tiny_config(**{over!r}), {run!r}, train_samples=load_saved_samples({data!r}), progress=False)
    Dist.close()
""")


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    # dropout draws from each process's own RNG: off here; flip and noise follow the global index.
    # SGD: Adam's first steps are ~lr * sign(grad), which float-order noise can flip on tiny grads
    over = {"model.dropout": 0.0, "model.attn_dropout": 0.0, "model.gconv_dropout": 0.0,
            "optim.optimizer": "SGD", "optim.lr": 0.01, "train.epochs": 1}
    save_samples(tmp_path / "train.npz", TRAIN)
    script = tmp_path / "child.py"
    script.write_text(DDP_CHILD.format(tests=str(Path(__file__).parent), over=over,
                                       run=str(tmp_path / "ddp"), data=str(tmp_path / "train.npz")))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", str(script)], capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    fit(tiny_config(**over), tmp_path / "one", train_samples=TRAIN, progress=False)
    ddp, one = read_checkpoint(tmp_path / "ddp" / "ckpt.pth"), read_checkpoint(tmp_path / "one" / "ckpt.pth")
    assert ddp.step == one.step == 3
    assert_same_weights(ddp.state_dict, one.state_dict, atol=1e-6)
    assert ddp.meta["history"][0]["loss"] == pytest.approx(one.meta["history"][0]["loss"], rel=1e-6)


def test_epoch_batches_shard_the_global_batch():
    one = epoch_batches(48, 16, epoch=3, seed=7, dist=Dist(0, 1))
    r0 = epoch_batches(48, 16, epoch=3, seed=7, dist=Dist(0, 2))
    r1 = epoch_batches(48, 16, epoch=3, seed=7, dist=Dist(1, 2))
    assert len(one) == len(r0) == len(r1) == 3
    for k in range(3):
        assert sorted(r0[k] + r1[k]) == sorted(one[k])
        assert one[k][0::2] == r0[k] and one[k][1::2] == r1[k]
    assert one != epoch_batches(48, 16, epoch=4, seed=7, dist=Dist(0, 1))


def test_ema_and_lr():
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, rate=0.9)
    before = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    torch.testing.assert_close(ema.shadow["weight"], 0.9 * before + 0.1 * model.weight.detach())
    assert step_lr(1e-3, 0.9, 60, 59) == 1e-3 and step_lr(1e-3, 0.9, 60, 120) == pytest.approx(0.81e-3)


def test_reference_lr_schedule_decays_after_epoch_60():
    """monoMotionDiff's train(): after epoch e, `if e % 60 == 0: lr = lr0 * 0.9 ** (e / 60)`,
    so epochs 0..60 run at lr0, 61..120 at 0.9 lr0, 121..180 at 0.81 lr0 (shift 1, cpn.yml)."""
    ref = StepDecay(1e-3, 0.9, 60, shift=1)
    lr, expected = 1e-3, []                          # the reference's loop, replayed
    for epoch in range(200):
        expected.append(lr)                          # the lr epoch `epoch` trains with
        if epoch % 60 == 0:
            lr = 1e-3 * 0.9 ** (epoch / 60)
    assert [ref.at(e) for e in range(200)] == pytest.approx(expected)
    assert StepDecay(1e-3, 0.9, 60).at(60) == pytest.approx(0.9e-3)   # shift 0: one epoch earlier
    assert load_config("cpn").optim.lr_decay_shift == 1


def test_gmm_noise_needs_sampled_kernels_and_uses_their_spread(tmp_path):
    import dataclasses
    import numpy as np
    from mmdiff.errors import ConfigError
    cfg = tiny_config(**{"diffusion.noise": "gmm"})
    with pytest.raises(ConfigError, match="sample_gmm"):
        objective(cfg)
    cfg = cfg.replace({"data.sample_gmm": True})
    step, draw = objective(cfg)
    zero = lambda x_t, pose_2d, t: torch.zeros_like(x_t)  # noqa: E731 (loss = |eps|^2)
    batch = {"pose_2d": torch.zeros(64, 17, 2), "pose_3d": torch.zeros(64, 17, 3),
             "spread_2d": torch.zeros(64, 17, 2)}
    batch.update(draw(torch.Generator().manual_seed(0), 64, batch))
    no_uv = step(zero, batch)
    wide = step(zero, {**batch, "spread_2d": torch.full((64, 17, 2), 10.0)})
    assert wide > no_uv + 100  # u, v noise scaled by the kernel spread, x, y, z by 1
    gmm = np.zeros((48, 17, 3, 5), np.float32)
    gmm[..., 0, 0] = 1.0
    gmm[..., 0, 1:3] = TRAIN.pose_2d
    gmm[..., 0, 3:5] = 0.01
    samples = dataclasses.replace(TRAIN, gmm=gmm)
    result = fit(cfg.replace({"train.epochs": 1}), tmp_path / "g", train_samples=samples,
                 progress=False)
    assert np.isfinite(result.history[0]["loss"])


def test_train_t_max_limits_the_timesteps_drawn():
    from mmdiff.errors import ConfigError
    seen = []

    def record(x_t, pose_2d, t):
        seen.append(t.clone())
        return torch.zeros_like(x_t)

    batch = {"pose_2d": torch.zeros(64, 17, 2), "pose_3d": torch.zeros(64, 17, 3),
             "spread_2d": torch.zeros(64, 17, 2)}
    cfg = tiny_config(**{"diffusion.train_t_max": 12})
    step, draw = objective(cfg)
    step(record, {**batch, **draw(torch.Generator().manual_seed(0), 64, batch)})
    t = seen[-1]
    assert int(t.max()) <= 11 and int(t.min()) >= 0
    assert torch.equal(t[:31] + t[33:], torch.full((31,), 11))  # antithetic pairs within [0, 12):
    #                                                            the reference's 33 draws, 31 pairs
    with pytest.raises(ConfigError, match="train_t_max"):
        bad = tiny_config(**{"diffusion.train_t_max": cfg.diffusion.num_timesteps + 1})
        objective(bad)


def test_denoiser_loss_is_a_function_of_model_and_batch():
    """The draws are t (antithetic pairs), then eps, from one generator; the loss reads them
    from the batch and is the formula, the same on every call."""
    from mmdiff.errors import ConfigError
    cfg = tiny_config()
    schedule = BetaSchedule.from_config(cfg.diffusion)
    pose_2d, pose_3d = torch.randn(6, 17, 2), torch.randn(6, 17, 3)
    batch = {"pose_2d": pose_2d, "pose_3d": pose_3d}
    g = torch.Generator().manual_seed(1)
    drawn = denoiser_draws(cfg)(torch.Generator().manual_seed(1), 6, batch)
    t = torch.randint(0, cfg.diffusion.num_timesteps, (6 // 2 + 1,), generator=g)   # antithetic
    assert torch.equal(drawn["t"], torch.cat([t, cfg.diffusion.num_timesteps - 1 - t])[:6])
    assert torch.equal(drawn["eps"], torch.randn(6, 17, 5, generator=g))
    model = lambda x_t, c, t: 0.5 * x_t + t[:, None, None] / 100  # noqa: E731
    loss = denoiser_loss(schedule, cfg.diffusion.noise_scale)
    batch.update(drawn)
    eps = drawn["eps"] * torch.tensor(cfg.diffusion.noise_scale)
    x_t = schedule.q_sample(torch.cat([pose_2d, pose_3d], -1), drawn["t"], eps)
    expected = (eps - model(x_t, pose_2d, drawn["t"])).square().sum((1, 2)).mean()
    assert loss(model, batch) == loss(model, batch) == expected
    with pytest.raises(ConfigError, match="noise"):
        denoiser_loss(schedule, noise="gaussian")


def test_regression_objective_trains_a_residual_corrector(tmp_path):
    """train.objective regression: the denoiser network fitted to correct the lifter's output
    (MPJPE loss), evaluated by one pass; without a lifter it is a clear error."""
    from mmdiff.errors import ConfigError
    from mmdiff.evaluate import predictions
    from mmdiff.pipeline import RegressionRefiner, flip_average, lift_uvxyz
    cfg = tiny_config(**{"train.objective": "regression", "lifter.checkpoint": ""})
    with pytest.raises(ConfigError, match="needs a lifter"):
        fit(cfg, tmp_path / "none", train_samples=TRAIN, progress=False)
    lifter = fit_lifter(tiny_config(), tmp_path / "lifter", train_samples=TRAIN,
                        test_samples=TRAIN, progress=False).model
    result = fit(cfg, tmp_path / "reg", lifter=lifter, train_samples=TRAIN, test_samples=TRAIN,
                 progress=False)
    assert "p1" in result.history[-1] and result.history[-1]["loss"] < 1.0   # MPJPE in metres
    refiner = RegressionRefiner(result.model.eval(), RegressionRefiner.timestep(cfg))
    assert refiner.t == 6                                                    # DDIM 2 of 12
    pose_2d = torch.as_tensor(TRAIN.pose_2d[:8])
    with torch.no_grad():                      # one pass per side: lifted + correction, flip TTA
        direct = flip_average(refiner, lift_uvxyz(lifter.eval(), pose_2d), pose_2d)
    assert direct.shape == (8, 17, 3) and torch.allclose(direct[:, 0], torch.zeros(8, 3))
    batched = predictions(cfg, lifter, result.model, TRAIN.pose_2d[:8], device="cpu")
    np.testing.assert_allclose(batched, direct.numpy(), atol=1e-6)


def test_regressor_from_noised_truth_is_the_one_level_denoiser(tmp_path):
    """train.input truth with the regression objective: the input is the ground truth plus the
    noise the DDIM start adds at t = 6, the target the ground truth; no lifter is needed to
    train it, the draws are eps only, and the loss is that MPJPE exactly."""
    from mmdiff.diffusion import DDIMSampler
    from mmdiff.errors import ConfigError
    from mmdiff.pipeline import regression_correct
    from mmdiff.train import eps_draws, objective
    cfg = tiny_config(**{"train.objective": "regression", "train.input": "truth",
                         "lifter.checkpoint": ""})
    loss, draw = objective(cfg)
    assert draw is eps_draws
    model = fit(cfg, tmp_path / "reg_truth", train_samples=TRAIN, progress=False).model
    batch = {"pose_2d": torch.as_tensor(TRAIN.pose_2d[:4]),
             "pose_3d": torch.as_tensor(TRAIN.pose_3d[:4])}
    batch |= draw(torch.Generator().manual_seed(0), 4, batch)
    level = (1 - DDIMSampler.from_config(cfg.diffusion, cfg.sampler).schedule.alpha_bar(6)).sqrt()
    x = torch.cat([batch["pose_2d"], batch["pose_3d"]], -1) + level * batch["eps"] * torch.tensor(
        cfg.diffusion.noise_scale)
    with torch.no_grad():
        want = (regression_correct(model, x, batch["pose_2d"], 6) - batch["pose_3d"]).norm(
            dim=-1).mean()
        assert loss(model, batch) == pytest.approx(float(want), rel=1e-6)
    with pytest.raises(ConfigError, match="train.input: expected"):
        tiny_config(**{"train.input": "noise"})


def test_training_from_the_lifters_output_in_sample_and_cross_fitted(tmp_path):
    """train.input lifter / crossfit: the diffusion target leads from the lifted x_t to the
    truth (eps itself when the lift is exact); crossfit lifts each row with the lifter trained
    without its subject; a missing fold lifter is a clear error; a crossfit run trains."""
    import dataclasses
    from mmdiff.diffusion import BetaSchedule
    from mmdiff.errors import ConfigError
    from mmdiff.train import denoiser_loss, lifted_input
    cfg = tiny_config()
    schedule = BetaSchedule.from_config(cfg.diffusion)
    model = build_denoiser(cfg.model).eval()
    n = 6
    batch = {"pose_2d": torch.as_tensor(TRAIN.pose_2d[:n]),
             "pose_3d": torch.as_tensor(TRAIN.pose_3d[:n]), "t": torch.arange(n),
             "eps": torch.randn(n, 17, 5, generator=torch.Generator().manual_seed(1))}
    x0 = torch.cat([batch["pose_2d"], batch["pose_3d"]], -1)
    plain = denoiser_loss(schedule, cfg.diffusion.noise_scale)
    exact = denoiser_loss(schedule, cfg.diffusion.noise_scale, lifted=lambda b: x0)
    delta = torch.zeros_like(x0)
    delta[..., 2:] = 0.03
    off = denoiser_loss(schedule, cfg.diffusion.noise_scale, lifted=lambda b: x0 + delta)
    with torch.no_grad():
        assert float(exact(model, batch)) == pytest.approx(float(plain(model, batch)), rel=1e-5)
        eps = batch["eps"] * torch.tensor(cfg.diffusion.noise_scale)
        a = schedule.alpha_bar(batch["t"])[:, None, None]
        target = eps + (a / (1 - a)).sqrt() * delta
        x_t = schedule.q_sample(x0 + delta, batch["t"], eps)
        want = (target - model(x_t, batch["pose_2d"], batch["t"])).square().sum((1, 2)).mean()
        assert float(off(model, batch)) == pytest.approx(float(want), rel=1e-5)

    class Const(torch.nn.Module):                    # a "lifter" that outputs one number
        def __init__(self, value):
            super().__init__()
            self.value = value

        def forward(self, pose_2d):                  # joint j at value * j on every axis
            j = torch.arange(17, dtype=torch.float32)[:, None].expand(17, 3)
            return self.value * j.expand(pose_2d.shape[:-1] + (3,))

    cross = tiny_config(**{"train.input": "crossfit"})
    lift = lifted_input(cross, fold_lifters={"S1": Const(1.0), "S5": Const(5.0)},
                        subjects=("S1", "S5"))
    got = lift({"pose_2d": batch["pose_2d"][:3], "subject": torch.tensor([1, 0, 1])})
    j = torch.arange(17, dtype=torch.float32)[:, None].expand(17, 3)
    for row, value in zip(got, (5.0, 1.0, 5.0)):    # subject 1 is S5: S5's fold lifter
        assert torch.equal(row[:, 2:], value * j)
    assert torch.equal(got[..., :2], batch["pose_2d"][:3])
    with pytest.raises(ConfigError, match=r"none for \['S5'\]"):
        lifted_input(cross, fold_lifters={"S1": Const(1.0)}, subjects=("S1", "S5"))
    two = dataclasses.replace(TRAIN, subject=np.array(["S1", "S5"] * (len(TRAIN) // 2)))
    folds = {s: build_lifter(cross.lifter) for s in ("S1", "S5")}
    for objective_ in ("diffusion", "regression"):
        run = fit(cross.replace({"train.objective": objective_, "lifter.checkpoint": ""}),
                  tmp_path / objective_, train_samples=two, progress=False, fold_lifters=folds)
        assert np.isfinite(run.history[-1]["loss"])


def test_training_2d_file_can_differ_from_the_test_file(tmp_path):
    """data.path_2d_train (DiffPose trains on the ground-truth GMM file)."""
    from mmdiff.data.dataset import load_split
    sample = REPO / "data" / "sample"
    cfg = tiny_config(**{"data.path_3d": str(sample / "data_3d_h36m_synth.npz"),
                         "data.path_2d": str(sample / "data_2d_h36m_synth_det_gmm.npz"),
                         "data.path_2d_train": str(sample / "data_2d_h36m_synth_gt_gmm.npz"),
                         "data.train_subjects": ["S1"], "data.test_subjects": ["S9"]})
    train, test = load_split(cfg.data, "train"), load_split(cfg.data, "test")
    det = load_split(cfg.replace({"data.path_2d_train": ""}).data, "train")
    assert len(train) == len(det) and not np.allclose(train.pose_2d, det.pose_2d)
    assert set(test.subject) == {"S9"}
