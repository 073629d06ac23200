"""Beta schedules, forward noising, GMM noise, antithetic timesteps and the DDIM sampler."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmdiff.diffusion import (DEFAULT_NOISE_SCALE, SCHEDULE_KINDS, BetaSchedule, DDIMSampler,
                              antithetic_timesteps, gmm_kernel_choice, gmm_noise, gmm_noise_scale,
                              scaled_noise)
from mmdiff.errors import ConfigError, DataError

T = 51


@pytest.fixture
def linear() -> BetaSchedule:
    """The MMDiff schedule: linear 1e-4 .. 1e-3 over 51 steps."""
    return BetaSchedule.linear(1e-4, 1e-3, T)


# ----------------------------------------------------------------------------- schedules

@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_alpha_bar_decreases_and_derived_quantities_agree(kind):
    s = BetaSchedule.make(kind, 1e-4, 2e-2, T)
    assert s.betas.shape == s.alphas.shape == s.alphas_bar.shape == s.snr.shape == (T,)
    assert (s.alphas_bar[1:] < s.alphas_bar[:-1]).all()
    assert 0 < s.alphas_bar[0] <= 1 and s.alphas_bar[-1] >= 0
    assert torch.allclose(s.alphas, 1 - s.betas)
    assert torch.allclose(s.alphas_bar, torch.cumprod(1 - s.betas, 0))
    ok = s.alphas_bar < 1
    assert torch.allclose(s.snr[ok], s.alphas_bar[ok] / (1 - s.alphas_bar[ok]))
    assert s.kind == kind and len(s) == T


def test_linear_values_at_given_t(linear):
    b = linear.betas.double()
    assert b[0].item() == pytest.approx(1e-4, rel=1e-6)
    assert b[25].item() == pytest.approx(5.5e-4, rel=1e-6)
    assert b[50].item() == pytest.approx(1e-3, rel=1e-6)
    # alpha-bar_6 = prod_{i<=6} (1 - (1e-4 + 1.8e-5 i)) = 0.99892249...
    assert linear.alphas_bar[6].item() == pytest.approx(0.9989224933756821, abs=1e-6)
    assert linear.alphas_bar[50].item() == pytest.approx(0.972331, abs=2e-6)


def test_other_reference_formulas_at_given_t():
    quad = BetaSchedule.quad(1e-4, 1e-3, T).betas.double()
    r0, r1 = 1e-2, math.sqrt(1e-3)
    for t in (0, 17, 50):
        assert quad[t].item() == pytest.approx((r0 + t * (r1 - r0) / (T - 1)) ** 2, rel=1e-6)
    sig = BetaSchedule.sigmoid(1e-4, 1e-3, T).betas.double()
    assert sig[25].item() == pytest.approx(5.5e-4, rel=1e-6)  # sigmoid(0) = 1/2
    assert sig[0].item() == pytest.approx(1e-4 + 9e-4 / (1 + math.exp(6)), rel=1e-6)
    jsd = BetaSchedule.jsd(5)
    assert jsd.betas.tolist() == pytest.approx([1 / 5, 1 / 4, 1 / 3, 1 / 2, 1])
    assert jsd.alphas_bar.tolist() == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0], abs=1e-6)
    assert BetaSchedule.make("const", 1e-4, 3e-3, 7).betas.tolist() == pytest.approx([3e-3] * 7)
    cos = BetaSchedule.cosine(T)  # alpha-bar_t = f(t + 1) / f(0) where beta is not clipped
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert cos.alphas_bar[20].item() == pytest.approx(f(21) / f(0), rel=1e-5)
    assert cos.betas.max().item() == pytest.approx(0.999, rel=1e-6)


def test_float32_schedule_is_the_references_float32_cumprod(linear):
    b32 = torch.from_numpy(np.linspace(1e-4, 1e-3, T)).float()  # what the reference builds
    assert torch.equal(linear.alphas_bar, (1 - b32).cumprod(0))
    s64 = BetaSchedule.linear(1e-4, 1e-3, T, dtype=torch.float64)
    assert s64.alphas_bar.dtype == torch.float64


def test_alpha_bar_has_a_leading_one(linear):
    assert linear.alpha_bar(-1).item() == 1.0
    assert linear.alpha_bar(0).item() == linear.alphas_bar[0].item()
    assert torch.equal(linear.alpha_bar(torch.tensor([6, -1])),
                       torch.stack([linear.alphas_bar[6], torch.tensor(1.0)]))


def test_schedule_is_printable_and_plottable(linear):
    d = linear.to_dict()
    assert set(d) == {"kind", "t", "beta", "alpha", "alpha_bar", "snr"}
    assert len(d["beta"]) == T and d["t"][-1] == T - 1
    assert "linear" in repr(linear) and "T=51" in repr(linear)


@pytest.mark.parametrize("call", [
    lambda: BetaSchedule.make("cosinus", 1e-4, 1e-3, T),
    lambda: BetaSchedule.linear(1e-4, 1e-3, 0),
    lambda: BetaSchedule.linear(0.0, 1e-3, T),
    lambda: BetaSchedule.linear(1e-4, 1.5, T),
    lambda: BetaSchedule([0.1, -0.2]),
    lambda: BetaSchedule([]),
])
def test_bad_schedule_arguments_raise(call):
    with pytest.raises(ConfigError):
        call()


def test_unknown_kind_names_the_choices():
    with pytest.raises(ConfigError, match="linear, quad, const, jsd, sigmoid, cosine"):
        BetaSchedule.make("cosinus")


# ----------------------------------------------------------------------------- forward noising

def test_q_sample_formula_and_inputs_unchanged(linear, generator):
    x0 = torch.randn(4, 17, 5, generator=generator)
    noise = scaled_noise(x0.shape, generator=generator)
    t = torch.tensor([0, 6, 25, 50])
    x0_copy, noise_copy = x0.clone(), noise.clone()
    x_t = linear.q_sample(x0, t, noise)
    a = linear.alphas_bar[t][:, None, None]
    assert torch.allclose(x_t, a.sqrt() * x0 + (1 - a).sqrt() * noise)
    assert torch.equal(x0, x0_copy) and torch.equal(noise, noise_copy)


def test_q_sample_bad_arguments_raise(linear):
    x0 = torch.zeros(2, 17, 5)
    with pytest.raises(DataError, match="noise"):
        linear.q_sample(x0, torch.tensor([0, 1]), torch.zeros(2, 17, 3))
    with pytest.raises(DataError, match=r"\(B,\)"):
        linear.q_sample(x0, torch.tensor([0, 1, 2]), x0)
    with pytest.raises(ConfigError, match="51"):
        linear.q_sample(x0, torch.tensor([0, 51]), x0)


def test_scaled_noise_has_per_channel_std(generator):
    eps = scaled_noise((20000, 5), DEFAULT_NOISE_SCALE, generator)
    assert eps.std(0).tolist() == pytest.approx([0.1, 0.1, 1.0, 1.0, 1.0], rel=0.03)
    with pytest.raises(DataError, match="broadcast"):
        scaled_noise((4, 5), (1.0, 2.0), generator)


def _gmm(batch: int, weights, spreads) -> torch.Tensor:
    """(batch, 17, K, 5) mixture with the given kernel weights and spreads (u and v)."""
    K = len(weights)
    g = torch.zeros(batch, 17, K, 5)
    g[..., 0] = torch.tensor(weights)
    g[..., 1] = torch.arange(K, dtype=torch.float32)  # mean u: the kernel's index
    g[..., 3] = torch.tensor(spreads)
    g[..., 4] = 2 * torch.tensor(spreads)
    return g


def test_gmm_kernels_are_picked_by_weight():
    gmm = _gmm(1000, [0.2, 0.5, 0.3], [0.01, 0.02, 0.03])  # 17000 draws
    k = gmm_kernel_choice(gmm, torch.Generator().manual_seed(0))
    assert k.shape == (1000, 17) and k.dtype == torch.int64
    freq = torch.bincount(k.flatten(), minlength=3).double() / k.numel()
    assert freq.tolist() == pytest.approx([0.2, 0.5, 0.3], abs=0.015)
    # a zero-weight kernel is never chosen, unnormalised weights are fine
    k = gmm_kernel_choice(_gmm(200, [0.0, 3.0, 1.0], [1, 1, 1]), torch.Generator().manual_seed(1))
    assert (k != 0).all()


def test_gmm_noise_uses_the_chosen_kernels_spread_as_scale():
    gmm = _gmm(500, [0.2, 0.5, 0.3], [0.01, 0.02, 0.03])
    k = gmm_kernel_choice(gmm, torch.Generator().manual_seed(3))
    scale = gmm_noise_scale(gmm, torch.Generator().manual_seed(3), xyz_scale=(1.0, 2.0, 3.0))
    spread_u = torch.tensor([0.01, 0.02, 0.03])[k]
    assert torch.allclose(scale[..., 0], spread_u) and torch.allclose(scale[..., 1], 2 * spread_u)
    assert torch.equal(scale[..., 2:], torch.tensor([1.0, 2.0, 3.0]).expand(500, 17, 3))
    # the noise is N(0, 1) times that scale: one kernel of spread 0.05 gives std 0.05 on u
    eps = gmm_noise(_gmm(2000, [1.0], [0.05]), torch.Generator().manual_seed(4))
    assert eps.shape == (2000, 17, 5)
    assert eps[..., 0].std().item() == pytest.approx(0.05, rel=0.02)
    assert eps[..., 1].std().item() == pytest.approx(0.10, rel=0.02)
    assert eps[..., 2].std().item() == pytest.approx(1.0, rel=0.02)


def test_gmm_bad_input_raises():
    with pytest.raises(DataError, match=r"\(B, J, K, 5\)"):
        gmm_kernel_choice(torch.ones(2, 17, 5))
    with pytest.raises(DataError, match="weights"):
        gmm_kernel_choice(_gmm(2, [-1.0, 2.0], [1, 1]))


@pytest.mark.parametrize("draws", ["reference", "balanced"])
def test_antithetic_pairs_sum_to_T_minus_1(draws):
    for batch in (8, 7, 1, 1024):
        t = antithetic_timesteps(batch, T, torch.Generator().manual_seed(batch), draws=draws)
        half = batch // 2 + 1 if draws == "reference" else (batch + 1) // 2
        assert t.shape == (batch,) and t.dtype == torch.int64
        assert ((t >= 0) & (t < T)).all()
        assert (t[:batch - half] + t[half:] == T - 1).all()
    # the reference: n // 2 + 1 draws, paired, cut to n: 513 draws and 511 partners at 1024
    t = antithetic_timesteps(1024, T, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    first = torch.randint(0, T, (513,), generator=g)
    assert torch.equal(t, torch.cat([first, T - 1 - first])[:1024])
    with pytest.raises(ConfigError, match="antithetic_draws"):
        antithetic_timesteps(8, T, draws="half")
    a = antithetic_timesteps(8, T, torch.Generator().manual_seed(0))
    assert torch.equal(a, antithetic_timesteps(8, T, torch.Generator().manual_seed(0)))
    with pytest.raises(ConfigError):
        antithetic_timesteps(0, T)


# ----------------------------------------------------------------------------- DDIM

def test_timesteps_two_of_twelve_are_six_then_zero(linear):
    s = DDIMSampler(linear, steps=2, span=12)
    assert s.timesteps() == [6, 0]
    assert s.pairs() == [(6, 0), (0, -1)]


def test_skips_follow_the_reference(linear):
    # quad: int(linspace(0, sqrt(0.8 * 12), n) ** 2)
    assert DDIMSampler(linear, 4, 12, skip="quad").timesteps() == [9, 4, 1, 0]
    assert DDIMSampler(linear, 5, 12, skip="quad").timesteps() == [9, 5, 2, 0, 0]  # repeats kept
    # uniform: range(0, S, S // n); when n does not divide S the range is longer, as in the ref
    assert DDIMSampler(linear, 3, 12).timesteps() == [8, 4, 0]
    assert DDIMSampler(linear, 5, 12).timesteps() == [10, 8, 6, 4, 2, 0]
    assert DDIMSampler(linear, 1, 51).timesteps() == [0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), "steps must be a positive"),
    (dict(steps=13), "exceeds span"),
    (dict(span=52), "exceeds the schedule"),
    (dict(eta=-0.1), "eta"),
    (dict(skip="cubic"), "skip"),
])
def test_bad_sampler_arguments_raise(linear, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DDIMSampler(linear, **kwargs)


def test_sampler_refuses_a_timestep_with_zero_alpha_bar():
    DDIMSampler(BetaSchedule.jsd(12), 2, 12)  # 2 of 12 visits [6, 0]: fine
    with pytest.raises(ConfigError, match="alpha-bar is 0"):
        DDIMSampler(BetaSchedule.jsd(12), 12, 12)  # visits t = 11 where alpha-bar is 0


def test_step_bad_arguments_raise(linear):
    s = DDIMSampler(linear)
    x = torch.zeros(2, 17, 5)
    with pytest.raises(DataError, match="one shape"):
        s.step(torch.zeros(2, 17, 3), 6, 0, x)
    with pytest.raises(ConfigError, match="t_prev"):
        s.step(x, 0, 6, x)


def test_true_noise_recovers_x0_exactly():
    s64 = BetaSchedule.linear(1e-4, 1e-3, T, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 17, 5, generator=g, dtype=torch.float64)
    noise = scaled_noise(x0.shape, generator=g, dtype=torch.float64)
    sampler = DDIMSampler(s64, 2, 12)
    for t, t_prev in [(6, 0), (0, -1), (30, 11)]:
        x_t = s64.q_sample(x0, torch.full((3,), t), noise)
        out = sampler.step(noise, t, t_prev, x_t)
        assert torch.allclose(out.x0_hat, x0, rtol=0, atol=1e-12)
        # with eta = 0 and the true noise, x_prev lies on the same forward trajectory
        expected = x0 if t_prev < 0 else s64.q_sample(x0, torch.full((3,), t_prev), noise)
        assert torch.allclose(out.x_prev, expected, rtol=0, atol=1e-12)

    # the whole loop, with a model that knows x0: eps(x_t, t) = (x_t - sqrt(a) x0) / sqrt(1 - a)
    def oracle(x_t, t):
        a = s64.alpha_bar(t.long())[:, None, None]
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()
    x_T = s64.q_sample(x0, torch.full((3,), 6), noise)
    assert torch.allclose(sampler.sample(oracle, x_T), x0, rtol=0, atol=1e-12)


def _dummy(x, t):
    """A fixed 'denoiser' for golden loops: 0.5 x + 0.001 t."""
    return 0.5 * x + 0.001 * t[:, None, None]


def _reference_loop(x, seq, betas, eta=0.0, noises=None):
    """The reference's generalized_steps, re-derived in float64 numpy for comparison."""
    a_bar = np.concatenate([[1.0], np.cumprod(1 - betas)])  # leading 1: index t + 1
    seq_next = [-1] + list(seq[:-1])
    for k, (i, j) in enumerate(zip(reversed(seq), reversed(seq_next))):
        at, an = a_bar[i + 1], a_bar[j + 1]
        et = 0.5 * x + 0.001 * i
        x0 = (x - et * np.sqrt(1 - at)) / np.sqrt(at)
        c1 = eta * np.sqrt((1 - at / an) * (1 - an) / (1 - at))
        c2 = np.sqrt(1 - an - c1 ** 2)
        x = np.sqrt(an) * x0 + c2 * et + (c1 * noises[k] if eta > 0 else 0.0)
    return x


def test_eta_zero_is_deterministic_and_matches_the_reference_loop(linear, generator):
    x_T = torch.randn(2, 17, 5, generator=generator)
    sampler = DDIMSampler(linear, 2, 12, eta=0.0)
    a = sampler.sample(_dummy, x_T, generator=torch.Generator().manual_seed(1))
    b = sampler.sample(_dummy, x_T, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    ref = _reference_loop(x_T.double().numpy(), [0, 6], np.linspace(1e-4, 1e-3, T))
    assert np.allclose(a.numpy(), ref, rtol=1e-5, atol=1e-5)
    # golden numbers of this loop (x_T = randn seed 0)
    assert a.sum().item() == pytest.approx(-1.4116096, abs=1e-5)
    assert a.abs().mean().item() == pytest.approx(0.7728052, abs=1e-6)


def test_seeded_eta_loop_gives_known_numbers(linear, generator):
    x_T = torch.randn(2, 17, 5, generator=generator)
    x_copy = x_T.clone()
    sampler = DDIMSampler(linear, 2, 12, eta=0.5)
    a = sampler.sample(_dummy, x_T, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, sampler.sample(_dummy, x_T, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(a, sampler.sample(_dummy, x_T, generator=torch.Generator().manual_seed(9)))
    assert torch.equal(x_T, x_copy)
    assert a.sum().item() == pytest.approx(-1.4210613, abs=1e-5)
    assert a.abs().mean().item() == pytest.approx(0.7723185, abs=1e-6)
    # the same numbers from the re-derived reference loop fed the same noise draws
    g = torch.Generator().manual_seed(1)
    z = [torch.randn(2, 17, 5, generator=g).double().numpy() for _ in range(2)]
    ref = _reference_loop(x_T.double().numpy(), [0, 6], np.linspace(1e-4, 1e-3, T), 0.5, z)
    assert np.allclose(a.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_trajectory_has_every_sample_and_x0_prediction(linear, generator):
    x_T = torch.randn(2, 17, 5, generator=generator)
    sampler = DDIMSampler(linear, 3, 12)
    traj = sampler.sample(_dummy, x_T, return_trajectory=True)
    assert traj.timesteps == [8, 4, 0]
    assert len(traj.xs) == 4 and len(traj.x0_hats) == 3 and traj.xs[0] is x_T
    assert torch.equal(traj.final, sampler.sample(_dummy, x_T))
    assert torch.equal(traj.final, traj.x0_hats[-1])  # last step goes to alpha-bar 1: x_prev = x0_hat


def test_step_follows_ddim_equations_12_and_16(linear, generator):
    x_t, eps = torch.randn(2, 2, 17, 5, generator=generator, dtype=torch.float64)
    s64 = BetaSchedule.linear(1e-4, 1e-3, T, dtype=torch.float64)
    sampler = DDIMSampler(s64, 2, 12, eta=0.7)
    out = sampler.step(eps, 6, 0, x_t, generator=torch.Generator().manual_seed(5))
    z = torch.randn(2, 17, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    at, ap = s64.alphas_bar[6], s64.alphas_bar[0]
    x0 = (x_t - (1 - at).sqrt() * eps) / at.sqrt()
    sigma = 0.7 * ((1 - ap) / (1 - at)).sqrt() * (1 - at / ap).sqrt()
    expected = ap.sqrt() * x0 + (1 - ap - sigma ** 2).sqrt() * eps + sigma * z
    assert torch.allclose(out.x0_hat, x0) and torch.allclose(out.x_prev, expected)


def test_sampler_repr_names_the_steps(linear):
    assert "[6, 0]" in repr(DDIMSampler(linear))


def test_starting_at_visits_from_the_given_timestep_down_to_zero(linear):
    paper = DDIMSampler(linear, steps=2, span=12)
    assert DDIMSampler.starting_at(linear, 6, 2).timesteps() == paper.timesteps() == [6, 0]
    assert DDIMSampler.starting_at(linear, 6, 3).timesteps() == [6, 3, 0]
    assert DDIMSampler.starting_at(linear, 20, 1).timesteps() == [20]
    assert DDIMSampler.starting_at(linear, 0, 1).pairs() == [(0, -1)]
    x = torch.randn(4, 17, 5, generator=torch.Generator().manual_seed(1))
    model = lambda x_t, t: 0.1 * x_t + 0.01 * t[:, None, None]  # noqa: E731
    torch.testing.assert_close(DDIMSampler.starting_at(linear, 6, 2).sample(model, x),
                               paper.sample(model, x))
    with pytest.raises(ConfigError, match="t_start"):
        DDIMSampler.starting_at(linear, linear.num_timesteps, 2)
    with pytest.raises(ConfigError, match="steps must be in"):
        DDIMSampler.starting_at(linear, 2, 4)
