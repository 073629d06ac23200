"""The evaluation pipeline: lifter -> DDIM -> flip TTA, hypotheses, oracle, golden fixture."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

from mmdiff.config import Config, DiffusionConfig
from mmdiff.course.analysis import oracle_best_of_n
from mmdiff.diffusion import BetaSchedule, DDIMSampler
from mmdiff.errors import ConfigError, DataError
from mmdiff.pipeline import (DiffusionRefiner, Pipeline, aggregate, flip_uvxyz, lift_uvxyz, refine,
                             start_samples)
from mmdiff.skeleton import flip_pose

from conftest import REFERENCE_FIXTURE

FIXTURE = REFERENCE_FIXTURE                  # the committed copy of ../shared/reference's fixture


def paper_schedule():
    """The paper's training schedule, as the configs name it (linear 1e-4 .. 1e-3, 51 steps)."""
    return BetaSchedule.from_config(DiffusionConfig())


class TinyLifter(nn.Module):
    """lifter(pose_2d (B, 17, 2)) -> (B, 17, 3): per-joint affine map, not mirror-symmetric."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(2, 3, generator=g))
        self.b = nn.Parameter(0.1 * torch.randn(17, 3, generator=g))
        self.calls: list[torch.Tensor] = []

    def forward(self, pose_2d):
        self.calls.append(pose_2d.clone())
        return pose_2d @ self.w + self.b


class TinyDenoiser(nn.Module):
    """denoiser(x_t (B, 17, 5), pose_2d (B, 17, 2), t (B,)) -> (B, 17, 5), with dropout so that
    eval mode matters."""

    def __init__(self, seed: int = 1):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.wx = nn.Parameter(0.3 * torch.randn(5, 5, generator=g))
        self.wc = nn.Parameter(0.3 * torch.randn(2, 5, generator=g))
        self.bj = nn.Parameter(0.1 * torch.randn(17, 5, generator=g))
        self.drop = nn.Dropout(0.5)

    def forward(self, x_t, pose_2d, t):
        h = x_t @ self.wx + pose_2d @ self.wc + self.bj + 0.01 * t[:, None, None]
        return self.drop(torch.tanh(h))


def mirror_lifter(pose_2d):
    """A mirror-equivariant lifter: (2u, v, u^2) per joint."""
    u, v = pose_2d[..., 0], pose_2d[..., 1]
    return torch.stack([2 * u, v, u ** 2], dim=-1)


def mirror_denoiser(x_t, pose_2d, t):
    """A mirror-equivariant denoiser: odd in u and x, the same map for every joint."""
    return 0.1 * x_t + 0.05 * torch.cat([pose_2d, torch.zeros_like(x_t[..., 2:])], -1)


@pytest.fixture
def models():
    return TinyLifter().eval(), TinyDenoiser().eval()


@pytest.fixture
def pose_2d():
    return 0.3 * torch.randn(6, 17, 2, generator=torch.Generator().manual_seed(7))


def reference_run(lifter, denoiser, pose_2d):
    """The reference pipeline without flip, step by step."""
    lifted = lifter(pose_2d)
    lifted = lifted - lifted[:, :1]
    x = torch.cat([pose_2d, lifted], -1)  # x_T = uvxyz
    sampler = DDIMSampler(BetaSchedule.linear(1e-4, 1e-3, 51), 2, 12, eta=0.0)
    for t, t_prev in sampler.pairs():  # (6, 0), (0, -1)
        eps = denoiser(x, pose_2d, torch.full((len(x),), float(t)))
        x = sampler.step(eps, t, t_prev, x).x_prev
    xyz = x[..., 2:]
    return xyz - xyz[:, :1]


def predict_hypotheses(lifter, denoiser, pose_2d, hypotheses=1, flip=True, generator=None,
                       noise_scale=(0.1, 0.1, 1.0, 1.0, 1.0), gmm=None, start_noise=None,
                       sampler=None, precision="fp32", **sampler_args):
    """(S, B, 17, 3): one batch through a Pipeline with a DDIM refiner (``sampler_args``: the
    DDIMSampler's steps, span, eta, skip over the paper's schedule)."""
    sampler = sampler or DDIMSampler(paper_schedule(), **sampler_args)
    pipe = Pipeline(lifter, DiffusionRefiner(denoiser, sampler, noise_scale, start_noise),
                    flip=flip, hypotheses=hypotheses, precision=precision)
    return pipe.sample_batch(pose_2d, generator, gmm)


def predict(*args, **kwargs):
    """(B, 17, 3): the hypotheses' mean."""
    return aggregate(predict_hypotheses(*args, **kwargs))


# ----------------------------------------------------------------------------- the pipeline

@torch.no_grad()
def test_one_hypothesis_is_the_reference_pipeline(models, pose_2d):
    lifter, denoiser = models
    out = predict(lifter, denoiser, pose_2d, flip=False)
    assert out.shape == (6, 17, 3)
    assert torch.allclose(out, reference_run(lifter, denoiser, pose_2d), atol=1e-7)
    assert torch.equal(out[:, 0], torch.zeros(6, 3))  # root-relative
    # no starting noise: the generator is not used and does not change the result
    g = torch.Generator().manual_seed(123)
    assert torch.equal(out, predict(lifter, denoiser, pose_2d, flip=False, generator=g))
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(123).get_state())


@torch.no_grad()
def test_flip_tta_mirrors_the_lifted_pose_and_averages(models, pose_2d):
    lifter, denoiser = models
    lifter.calls.clear()
    out = predict(lifter, denoiser, pose_2d, flip=True)
    # the lifter runs once, on the unflipped 2D (the reference mirrors its output)
    assert len(lifter.calls) == 1 and torch.equal(lifter.calls[0], pose_2d)
    plain = reference_run(lifter, denoiser, pose_2d)
    x_T = flip_uvxyz(lift_uvxyz(lifter, pose_2d))
    sampler = DDIMSampler(paper_schedule(), 2, 12)
    mirrored = refine(denoiser, sampler, x_T, flip_pose(pose_2d))[..., 2:]
    mirrored = flip_pose(mirrored - mirrored[:, :1])
    assert torch.allclose(out, (plain + mirrored) / 2, atol=1e-7)
    assert not torch.allclose(out, plain, atol=1e-4)  # the tiny models are not symmetric


@torch.no_grad()
def test_flip_changes_nothing_for_mirror_equivariant_models(pose_2d):
    a = predict(mirror_lifter, mirror_denoiser, pose_2d, flip=False)
    b = predict(mirror_lifter, mirror_denoiser, pose_2d, flip=True)
    assert torch.allclose(a, b, atol=1e-6)


def test_flip_uvxyz_negates_u_and_x_and_swaps_sides():
    x = torch.randn(3, 17, 5)
    f = flip_uvxyz(x)
    assert torch.equal(f[:, 4, [0, 2]], -x[:, 1, [0, 2]])
    assert torch.equal(f[:, 4, [1, 3, 4]], x[:, 1, [1, 3, 4]])
    assert torch.equal(flip_uvxyz(f), x)


def test_inputs_and_model_modes_are_left_as_they_were(pose_2d):
    lifter, denoiser = TinyLifter().train(), TinyDenoiser().train()
    before = pose_2d.clone()
    a = predict(lifter, denoiser, pose_2d, hypotheses=2, generator=torch.Generator().manual_seed(0))
    b = predict(lifter, denoiser, pose_2d, hypotheses=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)  # dropout was off (eval mode) while predicting
    assert lifter.training and denoiser.training  # ... and the modes are restored
    assert torch.equal(pose_2d, before)
    assert not a.requires_grad


def test_numpy_input_gives_the_same_result(models, pose_2d):
    lifter, denoiser = models
    assert torch.equal(predict(lifter, denoiser, pose_2d.numpy()), predict(lifter, denoiser, pose_2d))


def test_other_sampler_settings_are_used(models, pose_2d):
    lifter, denoiser = models
    base = predict(lifter, denoiser, pose_2d)
    assert not torch.allclose(base, predict(lifter, denoiser, pose_2d, steps=3), atol=1e-5)
    assert not torch.allclose(base, predict(lifter, denoiser, pose_2d, skip="quad"), atol=1e-5)
    sched = BetaSchedule.quad(1e-4, 1e-2, 51)
    custom = DDIMSampler(sched, 4, 20, skip="quad")
    cfg = Config().replace({"diffusion.beta_schedule": "quad", "diffusion.beta_end": 1e-2,
                            "sampler.steps": 4, "sampler.span": 20, "sampler.skip": "quad"})
    from_config = Pipeline.from_config(cfg, lifter, denoiser)         # the config's sampler
    assert from_config.refiner.sampler.timesteps() == custom.timesteps() == [16, 7, 1, 0]
    assert torch.equal(predict(lifter, denoiser, pose_2d, sampler=custom),
                       aggregate(from_config.sample_batch(pose_2d)))


# ----------------------------------------------------------------------------- hypotheses

def test_hypotheses_differ_and_their_mean_is_predict(models, pose_2d):
    lifter, denoiser = models
    hyps = predict_hypotheses(lifter, denoiser, pose_2d, hypotheses=4,
                              generator=torch.Generator().manual_seed(0))
    assert hyps.shape == (4, 6, 17, 3)
    for i in range(4):
        for j in range(i + 1, 4):
            assert (hyps[i] - hyps[j]).abs().max() > 1e-3
    mean = predict(lifter, denoiser, pose_2d, hypotheses=4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mean, hyps.mean(0), atol=1e-7)
    # seeded: the same generator seed gives the same hypotheses, another seed others
    again = predict_hypotheses(lifter, denoiser, pose_2d, hypotheses=4,
                               generator=torch.Generator().manual_seed(0))
    other = predict_hypotheses(lifter, denoiser, pose_2d, hypotheses=4,
                               generator=torch.Generator().manual_seed(1))
    assert torch.equal(hyps, again) and not torch.allclose(hyps, other)


def test_without_starting_noise_hypotheses_are_copies_as_in_the_reference(models, pose_2d):
    lifter, denoiser = models
    hyps = predict_hypotheses(lifter, denoiser, pose_2d, hypotheses=3, start_noise=False)
    assert torch.equal(hyps[0], hyps[1]) and torch.equal(hyps[0], hyps[2])
    assert torch.allclose(hyps[0], predict(lifter, denoiser, pose_2d), atol=1e-7)


def test_start_samples_add_the_forward_noise_level_of_the_first_timestep(generator):
    sampler = DDIMSampler(paper_schedule(), 2, 12)  # starts at t = 6
    uvxyz = torch.randn(1000, 17, 5, generator=generator)
    x_T = start_samples(uvxyz, sampler, 3, torch.Generator().manual_seed(0))
    assert x_T.shape == (3, 1000, 17, 5)
    level = (1 - paper_schedule().alphas_bar[6]).sqrt()
    std = ((x_T - uvxyz) / level).reshape(-1, 5).std(0)
    assert std.tolist() == pytest.approx([0.1, 0.1, 1.0, 1.0, 1.0], rel=0.02)


def test_gmm_starting_noise_uses_kernel_spreads(generator):
    sampler = DDIMSampler(paper_schedule(), 2, 12)
    uvxyz = torch.randn(500, 17, 5, generator=generator)
    gmm = torch.zeros(500, 17, 2, 5)
    gmm[..., 0] = torch.tensor([0.0, 1.0])  # always the second kernel ...
    gmm[..., 1, 3:] = torch.tensor([0.0, 0.5])  # ... whose spread is 0 on u and 0.5 on v
    gmm[..., 0, 3:] = 9.0
    x_T = start_samples(uvxyz, sampler, 2, torch.Generator().manual_seed(0), gmm=gmm)
    d = (x_T - uvxyz) / (1 - paper_schedule().alphas_bar[6]).sqrt()
    assert torch.equal(d[..., 0], torch.zeros_like(d[..., 0]))
    assert d[..., 1].std().item() == pytest.approx(0.5, rel=0.03)
    assert d[..., 2:].std().item() == pytest.approx(1.0, rel=0.03)
    with pytest.raises(DataError, match="gmm"):
        start_samples(uvxyz, sampler, 2, gmm=gmm[:10])


def test_gmm_hypotheses_run_through_predict(models, pose_2d):
    lifter, denoiser = models
    gmm = torch.zeros(6, 17, 3, 5)
    gmm[..., 0] = torch.tensor([0.2, 0.3, 0.5])
    gmm[..., 3:] = 0.02
    hyps = predict_hypotheses(lifter, denoiser, pose_2d, hypotheses=3, gmm=gmm,
                              generator=torch.Generator().manual_seed(0))
    assert hyps.shape == (3, 6, 17, 3) and (hyps[0] - hyps[1]).abs().max() > 1e-3


def test_oracle_best_of_n_picks_the_closest_hypothesis():
    target = torch.zeros(2, 17, 3)
    hyps = torch.stack([torch.full((2, 17, 3), v) for v in (0.3, -0.1, 0.2)])  # (3, 2, 17, 3)
    hyps[2, 1] = 0.01
    best = oracle_best_of_n(hyps, target)
    assert best.index.tolist() == [1, 2]
    assert torch.equal(best.pose[0], hyps[1, 0]) and torch.equal(best.pose[1], hyps[2, 1])
    assert best.mpjpe.tolist() == pytest.approx([0.1 * 3 ** 0.5, 0.01 * 3 ** 0.5], rel=1e-5)
    with pytest.raises(DataError, match="oracle_best_of_n"):
        oracle_best_of_n(hyps[0], target)


@pytest.mark.parametrize("kwargs, error", [
    (dict(hypotheses=0), ConfigError),
    (dict(noise_scale=(0.1, 1.0)), ConfigError),
    (dict(steps=13), ConfigError),
    (dict(skip="log"), ConfigError),
])
def test_bad_arguments_raise(models, pose_2d, kwargs, error):
    with pytest.raises(error):
        predict(*models, pose_2d, **kwargs)


def test_bad_pose_shape_names_the_shape(models):
    with pytest.raises(DataError, match=r"\(B, 17, 2\).*\(4, 16, 2\)"):
        predict(*models, torch.zeros(4, 16, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_runs_on_the_device_of_the_input(models, pose_2d):
    lifter, denoiser = (m.to("cuda") for m in models)
    out = predict(lifter, denoiser, pose_2d.cuda(), hypotheses=2,
                  generator=torch.Generator(device="cuda").manual_seed(0))
    assert out.device.type == "cuda"


# ----------------------------------------------------------------------------- golden fixture

@pytest.fixture(scope="module")
def golden():
    """The reference's checkpoints, inputs and outputs (tests/fixtures/reference, a copy of
    ../shared/reference/fixture)."""
    from mmdiff.checkpoints import load_denoiser, load_lifter
    io = dict(np.load(FIXTURE / "io.npz"))
    lifter = load_lifter(FIXTURE / "ckpt_lifter.pth", device="cpu")
    denoiser = load_denoiser(FIXTURE / "ckpt_mmdiff.pth", device="cpu")
    return lifter, denoiser, io


def test_golden_pipeline_without_flip(golden):
    lifter, denoiser, io = golden
    out = predict(lifter, denoiser, torch.from_numpy(io["guide_2d"]), flip=False)
    np.testing.assert_allclose(out.numpy(), io["pipeline_no_flip"], rtol=1e-4, atol=1e-4)


def test_golden_pipeline_with_flip_tta(golden):
    lifter, denoiser, io = golden
    out = predict(lifter, denoiser, torch.from_numpy(io["guide_2d"]), flip=True)
    np.testing.assert_allclose(out.numpy(), io["pipeline_flip_tta"], rtol=1e-4, atol=1e-4)
