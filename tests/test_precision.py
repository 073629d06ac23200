"""Mixed precision (mmdiff.engine.precision): the option and its checks, the fast layers under bf16
autocast, bf16 on the golden fixture within stated bounds, bf16 training steps, resume under bf16,
and that fp32 is untouched."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdiff.checkpoints import load_denoiser, load_lifter, read_checkpoint
from mmdiff.config import load_config
from mmdiff.engine.precision import autocast, check_precision, make_scaler, optimizer_step
from mmdiff.errors import ConfigError
from mmdiff.models import (ChebConv, LearnableGraphFFN, MultiHeadAttention, NodeLinear, accelerate,
                           kernels)
from mmdiff.models.graph import LearnableGraphConv
from mmdiff.models.kernels.norm import _fused_layer_norm, _UnbiasedLayerNorm
from mmdiff.pipeline import Pipeline
from mmdiff.train import fit

from conftest import REFERENCE_FIXTURE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import tiny_config, tiny_samples  # noqa: E402

TRAIN = tiny_samples(48, seed=1)  # 3 batches of 16 per epoch
IO = np.load(REFERENCE_FIXTURE / "io.npz")


# ----------------------------------------------------------------------------- the option

def test_precision_is_checked_and_named():
    assert check_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ConfigError, match="train.precision: expected one of fp32, bf16, fp16"):
        load_config("demo", {"train.precision": "bf17"})
    with pytest.raises(ConfigError, match="eval.precision"):
        load_config("demo", {"eval.precision": "half"})
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        check_precision("fp16", "cpu", "train.precision")


def test_fp32_means_no_autocast_and_bf16_turns_it_on():
    with autocast("cpu", "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert make_scaler("cpu", "fp32") is None and make_scaler("cpu", "bf16") is None


def test_cli_precision_sets_train_and_eval_and_set_wins():
    from mmdiff.cli import _config, build_parser
    args = build_parser().parse_args(["train", "--precision", "bf16"])
    cfg = _config(args)
    assert (cfg.train.precision, cfg.eval.precision) == ("bf16", "bf16")
    args = build_parser().parse_args(["eval", "--precision", "bf16",
                                      "--set", "eval.precision=fp32"])
    assert _config(args).eval.precision == "fp32"
    assert _config(build_parser().parse_args(["train"])).train.precision == "fp32"


def test_cli_compile_flag_sets_eval_compile(monkeypatch):
    """--compile on eval / predict reaches cfg.eval.compile (default off); bench refuses it
    without the side-by-side table it is a column of."""
    import mmdiff.evaluate
    from mmdiff import bench
    from mmdiff.cli import _cmd_eval, build_parser

    class Reached(Exception):
        pass

    def evaluate(cfg, *args, **kwargs):
        raise Reached(cfg.eval.compile)
    monkeypatch.setattr(mmdiff.evaluate, "evaluate", evaluate)
    for argv, expected in ((["eval", "--compile"], True), (["eval"], False)):
        with pytest.raises(Reached) as reached:
            _cmd_eval(build_parser().parse_args(argv))
        assert reached.value.args[0] is expected
    assert build_parser().parse_args(["predict", "x.json", "--compile"]).compile is True
    with pytest.raises(SystemExit):
        bench.main(["--device", "cpu", "--compile"])


def test_optimizer_step_with_a_gradient_scaler_unscales_before_clipping():
    """The fp16 path (a scaler) on the CPU: the step equals the unscaled one."""
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, 4)
    opt_a, opt_b = (torch.optim.Adam(m.parameters(), lr=0.1) for m in (a, b))
    optimizer_step(a(x).square().sum(), opt_a, a.parameters(), grad_clip=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    optimizer_step(b(x).square().sum(), opt_b, b.parameters(), grad_clip=0.5, scaler=scaler)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- fast layers

def test_layer_norm_under_bf16_keeps_fp32_statistics_and_gradients(generator):
    x = (torch.randn(64, 34, 96, generator=generator) * 3 + 5).requires_grad_()
    a = torch.nn.Parameter(torch.rand(96, generator=generator) + 0.5)
    b = torch.nn.Parameter(torch.randn(96, generator=generator))
    gy = torch.randn(64, 34, 96, generator=generator)
    ref = a * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-6) + b  # definition
    ga_ref = torch.autograd.grad(ref, (x, a, b), gy)
    with autocast("cpu", "bf16"):
        out = kernels.layer_norm(x, a, b, 1e-6)
    assert out.dtype == torch.bfloat16                  # what the next matrix product reads
    grads = torch.autograd.grad(out, (x, a, b), gy.bfloat16())
    assert all(g.dtype == torch.float32 for g in grads)
    # only the output's rounding to bf16 (8 bits: relative 2^-9) and the bf16 upstream gradient
    torch.testing.assert_close(out.float(), ref, rtol=2**-8, atol=2**-8 * 3)
    for g, r in zip(grads, ga_ref):
        assert ((g - r).norm() / r.norm()).item() < 5e-3


def test_fused_layer_norm_is_graformers_norm_up_to_eps_over_std(generator):
    # the bf16 path's float32 arithmetic, before any rounding to bf16
    x = torch.randn(64, 34, 96, generator=generator, dtype=torch.float64) * 3 + 1
    x[0, 0] = 2.5                                                       # a constant row
    a = torch.rand(96, generator=generator, dtype=torch.float64) + 0.5
    b = torch.randn(96, generator=generator, dtype=torch.float64)
    x, a, b = (t.requires_grad_() for t in (x, a, b))
    gy = torch.randn(64, 34, 96, generator=generator, dtype=torch.float64)
    gy[0, 0] = 0                 # (a constant row's gradient is (g - mean g) a / eps in both)
    exact = _UnbiasedLayerNorm.apply(x, a, b, 1e-6)
    fused = _fused_layer_norm(x, a, b, 1e-6)
    assert fused.dtype == torch.float32
    torch.testing.assert_close(fused[0, 0], b.detach().float())         # constant row: b
    torch.testing.assert_close(fused.double(), exact, rtol=1e-5, atol=1e-5)
    for u, v in zip(torch.autograd.grad(fused, (x, a, b), gy.float()),
                    torch.autograd.grad(exact, (x, a, b), gy)):
        assert ((u.double() - v).norm() / v.norm()).item() < 1e-5


@pytest.mark.parametrize("p", [0.25, 0.1])     # 8-bit and 16-bit random draws
def test_dropout_in_bf16_is_exact_zero_or_scaled_x(p):
    torch.manual_seed(0)
    x = torch.rand(256, 34, 96).add_(0.5).bfloat16()
    y = kernels.dropout(x, p, training=True)
    assert y.dtype == torch.bfloat16
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01
    # each kept value is x / (1 - p) rounded once (not x times a rounded 4/3 = 1.3359)
    expected = (x.float() / (1 - p)).bfloat16()
    assert torch.equal(y[kept], expected[kept])
    # the gradient: the same mask and scale, one rounding, and bf16 like x
    xg = x.clone().requires_grad_(True)
    y = kernels.dropout(xg, p, training=True)
    kept = y != 0
    g = torch.randn(x.shape).bfloat16()
    grad, = torch.autograd.grad(y, xg, g)
    assert grad.dtype == torch.bfloat16
    assert torch.equal(grad[kept], (g.float() / (1 - p)).bfloat16()[kept])
    assert not grad[~kept].any()


def test_fast_layers_follow_autocast_and_match_fp32(generator):
    """Under bf16 autocast the fast layers compute in bf16 (their outputs are what the next layer
    reads) and stay within bf16 rounding of their float32 outputs."""
    adj = torch.rand(34, 34, generator=generator) + torch.eye(34)
    ffn = LearnableGraphFFN(96, 34)
    with torch.no_grad():
        ffn.A_hat.add_(0.1 * torch.rand(34, 34, generator=generator))
    lap = ffn.laplacian().detach()
    x = torch.randn(32, 34, 96, generator=generator)
    x17 = torch.randn(32, 17, 96, generator=generator)
    cases = [(ChebConv(96, 64, adj), (x,)), (MultiHeadAttention(96, 4).eval(), (x,)),
             (LearnableGraphConv(96, 192), (x, lap)),
             (LearnableGraphConv(192, 96, relu=False), (torch.cat([x, x.flip(0)], -1), lap)),
             (NodeLinear(17, 34), (x17,))]
    for layer, inputs in cases:
        layer = accelerate(layer)
        assert type(layer) in kernels.FAST.values()
        ref = layer(*inputs)
        with autocast("cpu", "bf16"):
            out = layer(*inputs)
        assert out.dtype == torch.bfloat16, type(layer).__name__
        assert ((out.float() - ref).norm() / ref.norm()).item() < 1e-2


def test_residual_streams_stay_float32_under_bf16():
    """The residual adds x + f(x) promote bf16 branch outputs to the float32 stream."""
    from mmdiff.models import GraphAttentionBlock
    block = accelerate(GraphAttentionBlock(32, 34, 4, dropout=0.1)).train()
    x = torch.randn(4, 34, 32, requires_grad=True)
    with autocast("cpu", "bf16"):
        y = block(x)
    assert y.dtype == torch.float32
    y.square().sum().backward()
    assert x.grad.dtype == torch.float32


# ----------------------------------------------------------------------------- golden fixture

def _fixture_models():
    return (load_lifter(REFERENCE_FIXTURE / "ckpt_lifter.pth", device="cpu"),
            load_denoiser(REFERENCE_FIXTURE / "ckpt_mmdiff.pth", device="cpu"))


def test_fp32_is_exactly_the_reference_pipeline():
    lifter, denoiser = _fixture_models()
    c = torch.from_numpy(IO["guide_2d"])
    out = Pipeline.paper(lifter, denoiser).sample_batch(c)[0]          # fp32, the default
    np.testing.assert_allclose(out.numpy(), IO["pipeline_flip_tta"], rtol=1e-4, atol=1e-4)
    assert all(p.dtype == torch.float32 for p in denoiser.parameters())


def test_bf16_on_the_golden_fixture_within_the_stated_bounds():
    """Measured: lifter max |error| 0.027 m of outputs up to 3.8 m;
    denoiser relative RMS error 0.52 %; the whole pipeline (DDIM 2 of 12, flip) mean joint
    distance 12.3 mm (printed with -s). The
    fixture's weights give noise estimates up to 60 (trained ones: about 1), which DDIM's
    x0 = (x_t - sqrt(1 - a) eps) / sqrt(a) passes on; the bounds below leave room for other CPUs."""
    lifter, denoiser = _fixture_models()
    c = torch.from_numpy(IO["guide_2d"])
    x_t, t = torch.from_numpy(IO["x_t"])[:, 0], torch.from_numpy(IO["t"])
    with torch.no_grad(), autocast("cpu", "bf16"):
        lifted, eps = lifter(c), denoiser(x_t, c, t)
    assert lifted.dtype == eps.dtype == torch.float32           # read-outs in fp32
    lifter_m = np.abs(lifted.numpy() - IO["lifter_out"]).max()
    ref = IO["denoiser_out"][:, 0]
    rms = np.sqrt(((eps.numpy() - ref) ** 2).mean() / (ref ** 2).mean())
    pose = Pipeline.paper(lifter, denoiser, precision="bf16").sample_batch(c)[0]
    dist_mm = np.linalg.norm(pose.numpy() - IO["pipeline_flip_tta"], axis=-1).mean() * 1000
    # the figures quoted above and in README: pytest tests/test_precision.py -k golden -s
    print(f"\nbf16 on the golden fixture: lifter max {lifter_m:.3f} m (outputs up to "
          f"{np.abs(IO['lifter_out']).max():.1f} m), denoiser {100 * rms:.2f} % relative RMS, "
          f"pipeline {dist_mm:.1f} mm mean joint distance")
    assert lifter_m < 0.06 and rms < 0.01 and 0 < dist_mm < 25


# ----------------------------------------------------------------------------- training

def _overfit_losses(precision: str, steps: int = 60) -> list[float]:
    """Losses of ``steps`` training steps (autocast forward, fp32 loss, optimizer_step) on one
    fixed batch: a small denoiser learning it by heart."""
    from mmdiff.models import DenoiserConfig, build_denoiser
    torch.manual_seed(0)
    model = build_denoiser(DenoiserConfig(hid_dim=32, emd_dim=32, num_layers=1, n_head=2,
                                          dropout=0.0)).train()
    g = torch.Generator().manual_seed(0)
    x_t, c = torch.randn(64, 17, 5, generator=g), torch.rand(64, 17, 2, generator=g) * 2 - 1
    t, target = torch.randint(0, 51, (64,), generator=g), torch.randn(64, 17, 5, generator=g)
    params = [p for p in model.parameters() if p.requires_grad]
    opt, losses = torch.optim.Adam(params, lr=3e-3), []
    for _ in range(steps):
        with autocast("cpu", precision):
            loss = (target - model(x_t, c, t)).square().sum(dim=(1, 2)).mean()
        assert loss.dtype == torch.float32
        optimizer_step(loss, opt, params, grad_clip=1.0)
        losses.append(loss.item())
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in params)
    return losses


def test_bf16_training_steps_reduce_the_loss_like_fp32():
    """Measured: 94 -> 50 in bf16, 95 -> 47 in fp32 over 60 steps."""
    fp32, bf16 = _overfit_losses("fp32"), _overfit_losses("bf16")
    assert bf16[-1] < 0.6 * bf16[0]
    assert bf16[-1] < 1.15 * fp32[-1]


def test_bf16_fit_keeps_fp32_master_weights_and_optimiser_state(tmp_path):
    cfg = tiny_config(**{"train.precision": "bf16"})
    result = fit(cfg, tmp_path / "run", train_samples=TRAIN, progress=False)
    assert all(np.isfinite(row["loss"]) for row in result.history)
    ckpt = read_checkpoint(tmp_path / "run" / "ckpt.pth")
    assert ckpt.meta["config"]["train"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in ckpt.state_dict.values()
               if v.is_floating_point())
    moments = [s for state in ckpt.optimizer_state["state"].values() for s in state.values()
               if torch.is_tensor(s) and s.is_floating_point() and s.ndim > 0]
    assert moments and all(m.dtype == torch.float32 for m in moments)


def test_bf16_run_differs_from_fp32_but_ends_close(tmp_path):
    """train.precision=bf16 really changes the run (other weights) and ends near fp32's loss."""
    a = fit(tiny_config(), tmp_path / "a", train_samples=TRAIN, progress=False)
    c = fit(tiny_config(**{"train.precision": "bf16"}), tmp_path / "c", train_samples=TRAIN,
            progress=False)
    wa, wc = (read_checkpoint(tmp_path / n / "ckpt.pth").state_dict for n in "ac")
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    assert abs(c.history[-1]["loss"] - a.history[-1]["loss"]) < 0.2 * a.history[-1]["loss"]


def test_resume_under_bf16_keeps_precision_and_is_bit_identical(tmp_path):
    """A bf16 run stopped mid-epoch and resumed (with a config that says fp32: the run's stored
    config wins) ends with exactly the weights of an uninterrupted bf16 run."""
    cfg = tiny_config(**{"train.precision": "bf16"})
    fit(cfg, tmp_path / "full", train_samples=TRAIN, progress=False)
    part = fit(cfg, tmp_path / "part", train_samples=TRAIN, progress=False, max_steps=4)
    assert part.interrupted
    fit(tiny_config(), tmp_path / "part", train_samples=TRAIN, progress=False, resume=True)
    full = read_checkpoint(tmp_path / "full" / "ckpt.pth")
    resumed = read_checkpoint(tmp_path / "part" / "ckpt.pth")
    assert resumed.meta["config"]["train"]["precision"] == "bf16"
    assert full.step == resumed.step == 6
    for k in full.state_dict:
        assert torch.equal(full.state_dict[k], resumed.state_dict[k]), k
    for k in full.ema_state:
        assert torch.equal(full.ema_state[k], resumed.ema_state[k]), k


def test_eval_precision_reaches_the_pipeline():
    from mmdiff.evaluate import predictions
    lifter, denoiser = _fixture_models()
    cfg = load_config("cpn")
    c = IO["guide_2d"]
    p32 = predictions(cfg, lifter, denoiser, c)
    p16 = predictions(cfg.replace({"eval.precision": "bf16"}), lifter, denoiser, c)
    assert p16.dtype == np.float32 and not np.array_equal(p32, p16)
    np.testing.assert_allclose(p32, IO["pipeline_flip_tta"], rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- compiled inference

def test_chunked_pads_every_chunk_of_a_fixed_shape_model():
    seen = []

    def fn(x, t):
        seen.append(x.shape[0])
        return x * 2 + t[:, None]
    fn.fixed_chunks = True
    x, t = torch.randn(10, 3), torch.arange(10.0)
    with torch.no_grad():
        out = kernels.chunked(fn, x, t, chunk=4)                         # 4 + 4 + 2 (eager)
        small = kernels.chunked(fn, x[:3], t[:3], chunk=4)               # 3 of 4: padded
    assert seen == [4, 4, 2, 4]
    assert torch.equal(out, x * 2 + t[:, None]) and torch.equal(small, out[:3])


@pytest.mark.slow
def test_compiled_denoiser_matches_eager_and_compiles_once():
    """eval.compile: the compiled tiny denoiser agrees with eager in fp32, on a batch that is not
    a multiple of the chunk (its rest eager) and on one padded to the chunk; a second
    compile_for_inference is a no-op."""
    from mmdiff.models import DenoiserConfig, build_denoiser
    from mmdiff.models.kernels import compile_for_inference
    from mmdiff.pipeline import denoise
    torch.manual_seed(0)
    model = build_denoiser(DenoiserConfig(hid_dim=16, emd_dim=16, num_layers=1, n_head=2)).eval()
    g = torch.Generator().manual_seed(0)
    x_t, c = torch.randn(20, 17, 5, generator=g), torch.rand(20, 17, 2, generator=g) * 2 - 1
    t = torch.randint(0, 51, (20,), generator=g)
    with torch.no_grad():
        eager = denoise(model, x_t, c, t)
        compiled = compile_for_inference(model)
        assert compiled is model and compile_for_inference(model) is model and model.fixed_chunks
        out = kernels.chunked(model, x_t, c, t, chunk=8)                  # 8 + 8 + 4 (eager)
        out_padded = kernels.chunked(model, x_t[:7], c[:7], t[:7], chunk=8)   # 7 of 8: padded
    torch.testing.assert_close(out, eager, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out_padded, eager[:7], rtol=1e-4, atol=1e-5)
