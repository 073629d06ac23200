"""Tests for mmdiff.models: graph layers, GraFormer, the MMDiff and DiffPose denoisers.

Golden tests compare against outputs of the reference implementation: tests/fixtures/reference,
a copy of ../shared/reference/fixture, so they run on a clean clone.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch

from mmdiff.errors import ConfigError, DataError
from mmdiff.models import (ChebConv, DenoiserConfig, DiffPoseDenoiser, GraFormer, GraFormerConfig,
                           LayerNorm, LearnableGraphFFN, MMDiffDenoiser, MultiHeadAttention,
                           adjacency_from_edges, build_denoiser, build_lifter,
                           chebyshev_polynomials, cross_channel_edges, normalized_laplacian,
                           timestep_embedding)
from mmdiff.models import accelerate
from mmdiff.models.kernels import CPU_CHUNK, FastDropout, chunked, dropout_mask
from mmdiff.models.kernels.norm import _UnbiasedLayerNorm
from mmdiff.skeleton import EDGES_17

from conftest import REFERENCE_FIXTURE

FIXTURE = REFERENCE = REFERENCE_FIXTURE     # the committed copy of ../shared/reference's fixture
TOL = dict(rtol=1e-4, atol=1e-4)  # the fixture README's bound


def small_cfg(**kw) -> DenoiserConfig:
    return DenoiserConfig(hid_dim=16, emd_dim=8, num_layers=2, n_head=2, **kw)


def random_inputs(B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(B, 17, 5, generator=g)
    pose_2d = torch.rand(B, 17, 2, generator=g) * 2 - 1
    t = torch.randint(0, 51, (B,), generator=g)
    return x_t, pose_2d, t


def perturbed(model: torch.nn.Module, seed=0) -> torch.nn.Module:
    """Give every parameter random values so that each one matters (fresh init has zero biases
    and identity A_hat; learned adjacencies stay positive so their normalisation is defined)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.add_(0.1 * (noise.abs() if name.endswith("A_hat") else noise))
    return model.eval()


def released_keys(name: str) -> list[tuple[str, tuple[int, ...]]]:
    rows = (REFERENCE / name).read_text().splitlines()
    return [(k, tuple(int(d) for d in s.strip("()").split(",") if d.strip()))
            for k, s in (r.split("\t") for r in rows)]


# ----------------------------------------------------------------------------- golden

def test_lifter_reproduces_reference_output():
    from mmdiff.checkpoints import load_lifter
    io = np.load(FIXTURE / "io.npz")
    lifter = load_lifter(FIXTURE / "ckpt_lifter.pth", device="cpu")
    with torch.no_grad():
        out = lifter(torch.from_numpy(io["guide_2d"]))
    assert out.shape == (64, 17, 3)
    np.testing.assert_allclose(out.numpy(), io["lifter_out"], **TOL)


def test_denoiser_reproduces_reference_output_with_and_without_frame_axis():
    from mmdiff.checkpoints import load_denoiser
    io = np.load(FIXTURE / "io.npz")
    model = load_denoiser(FIXTURE / "ckpt_mmdiff.pth", device="cpu")
    x_t, t = torch.from_numpy(io["x_t"]), torch.from_numpy(io["t"])
    c = torch.from_numpy(io["guide_2d"])
    with torch.no_grad():
        out_f = model(x_t, c[:, None], t)                # reference layout (B, 1, 17, 5)
        out = model(x_t[:, 0], c, t)                     # kit layout (B, 17, 5)
    assert out_f.shape == (64, 1, 17, 5)
    np.testing.assert_allclose(out_f.numpy(), io["denoiser_out"], **TOL)
    np.testing.assert_allclose(out.numpy(), io["denoiser_out"][:, 0], **TOL)


@pytest.mark.parametrize("model_cls, table", [(GraFormer, "graformer_lifter_state_dict.tsv"),
                                              (MMDiffDenoiser, "mmdiff_denoiser_state_dict.tsv")])
def test_state_dict_layout_is_the_released_one(model_cls, table):
    sd = model_cls().state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == released_keys(table)


# ----------------------------------------------------------------------------- graph layers

def test_adjacency_symmetric_pattern_self_loops_row_normalised():
    adj = adjacency_from_edges(EDGES_17, 17)
    assert adj.shape == (17, 17) and adj.dtype == torch.float32
    pattern = adj > 0
    assert torch.equal(pattern, pattern.T)
    assert torch.all(torch.diagonal(adj) > 0)
    torch.testing.assert_close(adj.sum(dim=1), torch.ones(17))
    assert int(pattern.sum()) == 17 + 2 * len(EDGES_17)
    # hip (joint 0) has 3 neighbours + itself
    torch.testing.assert_close(adj[0, [0, 1, 4, 7]], torch.full((4,), 0.25))


def test_adjacency_rejects_out_of_range_edge():
    with pytest.raises(DataError, match=r"\(0, 17\)"):
        adjacency_from_edges([(0, 17)], 17)


def test_cross_channel_graph_edges_and_ablation():
    with_links = adjacency_from_edges(cross_channel_edges(), 34) > 0
    without = adjacency_from_edges(cross_channel_edges(cross_links=False), 34) > 0
    j = torch.arange(17)
    assert with_links[j, j + 17].all() and with_links[j + 17, j].all()
    assert not without[j, j + 17].any()
    assert not without[:17, 17:].any()                    # halves disconnected in the ablation
    assert torch.equal(with_links[:17, :17], with_links[17:, 17:])   # same bones in both halves


def test_laplacian_and_chebyshev_terms():
    adj = adjacency_from_edges(EDGES_17, 17)
    lap = normalized_laplacian(adj)
    torch.testing.assert_close(lap, torch.eye(17) - adj, atol=1e-6, rtol=0)  # D = I here
    T = chebyshev_polynomials(lap, K=3)
    assert T.shape == (4, 17, 17)
    torch.testing.assert_close(T[0], torch.eye(17))
    torch.testing.assert_close(T[1], lap)
    torch.testing.assert_close(T[2], 2 * lap @ lap - torch.eye(17))
    torch.testing.assert_close(T[3], 2 * lap @ T[2] - lap)


def test_chebconv_equals_sum_of_polynomial_filters_values_and_gradients(generator):
    adj = adjacency_from_edges(EDGES_17, 17)
    conv = ChebConv(4, 6, adj)
    with torch.no_grad():
        conv.bias.normal_(generator=generator)
    x = torch.randn(5, 17, 4, generator=generator, requires_grad=True)
    T = chebyshev_polynomials(normalized_laplacian(adj), 2)
    expected = sum(T[k] @ x @ conv.weight[k, 0] for k in range(3)) + conv.bias
    out = conv(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    g = torch.randn(out.shape, generator=generator)
    grads = torch.autograd.grad(out, (x, conv.weight, conv.bias), g)       # in-place accumulation
    expected_grads = torch.autograd.grad(expected, (x, conv.weight, conv.bias), g)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert list(conv.state_dict()) == ["weight", "bias"]                   # polys: not persistent


def test_layernorm_uses_unbiased_std_plus_eps(generator):
    norm = LayerNorm(8)
    with torch.no_grad():
        norm.a_2.normal_(generator=generator)
        norm.b_2.normal_(generator=generator)
    x = torch.randn(4, 3, 8, generator=generator, requires_grad=True)
    centred = x - x.mean(-1, keepdim=True)
    expected = norm.a_2 * centred / (x.std(-1, unbiased=True, keepdim=True) + 1e-6) + norm.b_2
    out = norm(x)
    torch.testing.assert_close(out, expected)
    grad, = torch.autograd.grad(out.square().sum(), x)
    grad_expected, = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(grad, grad_expected, atol=1e-5, rtol=1e-4)
    plain = torch.nn.functional.layer_norm(x, (8,), norm.a_2, norm.b_2)
    assert not torch.allclose(out, plain, atol=1e-3)                       # not nn.LayerNorm
    const = norm(torch.ones(2, 8))                                          # std 0: stays finite
    assert torch.isfinite(const).all()


def test_layernorm_hand_written_backward_passes_gradcheck(generator):
    kw = dict(dtype=torch.float64, generator=generator)
    x = torch.randn(3, 5, 7, **kw).requires_grad_()
    a = torch.randn(7, **kw).requires_grad_()
    b = torch.randn(7, **kw).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, a, b: _UnbiasedLayerNorm.apply(x, a, b, 1e-6),
                                    (x, a, b))
    const = torch.ones(2, 7, dtype=torch.float64, requires_grad=True)    # std 0: eps only
    g = torch.randn(2, 7, **kw)
    grad, = torch.autograd.grad(_UnbiasedLayerNorm.apply(const, a, b, 1e-6), const, g)
    torch.testing.assert_close(grad, (g * a - (g * a).mean(-1, keepdim=True)) / 1e-6)


def test_dropout_rate_scale_and_eval_identity():
    torch.manual_seed(0)
    x = torch.ones(200, 1000)
    for p in (0.1, 0.25, 0.5, 0.03):                     # 16, 8, 8 and 16 random bits
        y = FastDropout(p).train()(x)
        assert abs((y == 0).float().mean().item() - p) < 0.005
        assert torch.allclose(y[y != 0], torch.tensor(1 / (1 - p)))
        mask = dropout_mask((4000, 250), p)
        values = mask.unique()
        assert len(values) == 2 and values[0] == 0 and values[1] == pytest.approx(1 / (1 - p))
        assert abs(mask.mean().item() - 1.0) < 0.01                        # unbiased: E = 1
    drop = FastDropout(0.25).eval()
    assert drop(x) is x
    assert FastDropout(0.0).train()(x) is x
    a, b = FastDropout(0.5).train()(x), FastDropout(0.5).train()(x)
    assert not torch.equal(a, b)                                            # fresh mask per call
    with pytest.raises(ValueError, match="dropout"):
        FastDropout(1.5)                                                    # as nn.Dropout


def test_attention_fast_path_equals_explicit_maps(generator):
    attn = accelerate(MultiHeadAttention(16, 4)).eval()          # fused attention without maps
    x = torch.randn(3, 34, 16, generator=generator)
    fast = attn(x)
    slow, maps = attn(x, return_attention=True)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    assert maps.shape == (3, 4, 34, 34)
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 4, 34))


def test_learnable_graph_ffn_equals_naive_formula(generator):
    ffn = LearnableGraphFFN(8, 17)
    with torch.no_grad():
        ffn.A_hat.add_(0.1 * torch.rand(17, 17, generator=generator))
    x = torch.randn(2, 17, 8, generator=generator)
    A = ffn.A_hat
    d = (A.sum(0) + 1e-5) ** -0.5
    L = d[:, None] * A * d[None, :]
    h = torch.relu(ffn.gconv1.fc(L @ x))
    torch.testing.assert_close(ffn(x), ffn.gconv2.fc(L @ h), atol=1e-5, rtol=1e-5)


def test_timestep_embedding_values():
    emb = timestep_embedding(torch.tensor([0, 7]), 9)
    assert emb.shape == (2, 9)
    torch.testing.assert_close(emb[0, :4], torch.zeros(4))
    torch.testing.assert_close(emb[0, 4:8], torch.ones(4))
    assert emb[:, 8].abs().max() == 0                      # odd width: zero padding
    assert emb[1, 0] == pytest.approx(np.sin(7.0), abs=1e-6)
    assert emb[1, 3] == pytest.approx(np.sin(7.0 * 1e-4), abs=1e-6)   # slowest frequency


# ----------------------------------------------------------------------------- models

def test_graformer_shapes_and_leading_axes(generator):
    lifter = perturbed(GraFormer(GraFormerConfig(hid_dim=16, num_layers=2, n_head=2)))
    x = torch.rand(2, 3, 17, 2, generator=generator)
    out = lifter(x)
    assert out.shape == (2, 3, 17, 3)
    torch.testing.assert_close(out[1], lifter(x[1]), atol=1e-6, rtol=1e-5)
    out2, maps = lifter(x[0], return_attention=True)
    assert len(maps) == 2 and maps[0].shape == (3, 2, 17, 17)
    with pytest.raises(DataError, match="17, 2"):
        lifter(torch.zeros(4, 16, 2))


@pytest.mark.parametrize("cls", [MMDiffDenoiser, DiffPoseDenoiser])
def test_denoiser_shapes_frame_axis_and_inputs_unchanged(cls):
    model = perturbed(cls(small_cfg()))
    x_t, c, t = random_inputs(B=4)
    x_copy, c_copy = x_t.clone(), c.clone()
    out = model(x_t, c, t)
    assert out.shape == (4, 17, 5)
    assert torch.equal(x_t, x_copy) and torch.equal(c, c_copy)
    # a frame axis (B, F, 17, 5): every frame uses its sample's timestep
    xf = torch.stack([x_t, x_t.flip(0)], dim=1)
    cf = torch.stack([c, c.flip(0)], dim=1)
    outf = model(xf, cf, t)
    assert outf.shape == (4, 2, 17, 5)
    torch.testing.assert_close(outf[:, 0], out, atol=1e-5, rtol=1e-5)
    _, maps = model(x_t, c, t, return_attention=True)
    nodes = 34 if cls is MMDiffDenoiser else 17
    assert len(maps["pose"]) == 2 and maps["pose"][0].shape == (4, 2, nodes, nodes)


def test_chunked_no_grad_cpu_forward_equals_one_pass():
    model = perturbed(MMDiffDenoiser(small_cfg())).eval()
    x_t, c, t = random_inputs(B=2 * CPU_CHUNK + 5)                       # 3 chunks, one short
    calls = []
    record = lambda *a: calls.append(len(a[0])) or model(*a)            # noqa: E731
    whole = chunked(record, x_t, c, t)                                    # autograd on: one pass
    with torch.no_grad():
        parts = chunked(record, x_t, c, t)
    assert calls == [len(x_t), CPU_CHUNK, CPU_CHUNK, 5]
    torch.testing.assert_close(parts, whole, atol=1e-5, rtol=1e-5)
    assert not torch.equal(parts[:CPU_CHUNK], parts[CPU_CHUNK:2 * CPU_CHUNK])


def test_denoiser_rejects_bad_shapes():
    model = MMDiffDenoiser(small_cfg()).eval()
    x_t, c, t = random_inputs(B=2)
    with pytest.raises(DataError, match="x_t"):
        model(x_t[..., :3], c, t)
    with pytest.raises(DataError, match="pose_2d"):
        model(x_t, c[:1], t)
    with pytest.raises(DataError, match="t must be"):
        model(x_t, c, t[:1])
    with pytest.raises(DataError, match="required"):
        model(x_t, None, t)


def test_mmdiff_attention_maps_for_both_branches():
    model = perturbed(MMDiffDenoiser(small_cfg()))
    out, maps = model(*random_inputs(B=2), return_attention=True)
    assert set(maps) == {"pose", "context"}
    assert [m.shape for m in maps["context"]] == [(2, 2, 34, 34)] * 2
    torch.testing.assert_close(out, model(*random_inputs(B=2)), atol=1e-5, rtol=1e-5)


def test_diffpose_ignores_the_2d_condition():
    model = perturbed(DiffPoseDenoiser(small_cfg()))
    x_t, c, t = random_inputs()
    torch.testing.assert_close(model(x_t, c, t), model(x_t, None, t))


def test_mmdiff_uses_the_condition_and_timestep():
    model = perturbed(MMDiffDenoiser(small_cfg()))
    x_t, c, t = random_inputs()
    base = model(x_t, c, t)
    assert not torch.allclose(base, model(x_t, c + 0.1, t))
    assert not torch.allclose(base, model(x_t, c, t + 1))


def test_cross_links_false_ablation_changes_the_output():
    full = perturbed(MMDiffDenoiser(small_cfg()))
    ablated = MMDiffDenoiser(small_cfg(cross_links=False)).eval()
    ablated.load_state_dict(full.state_dict())              # same keys, same weights
    inputs = random_inputs()
    assert not torch.allclose(full(*inputs), ablated(*inputs), atol=1e-4)


def test_unused_released_parameters_are_frozen_and_inert():
    model = perturbed(MMDiffDenoiser(small_cfg()))
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters()
                      if n.startswith(("gconv_output_t.", "gconv_layers_t.1."))}
    inputs = random_inputs()
    before = model(*inputs)
    with torch.no_grad():
        model.gconv_output_t.weight.add_(1.0)
        model.gconv_layers_t[1].gconv1.gconv.weight.add_(1.0)
    torch.testing.assert_close(model(*inputs), before)


def test_every_trainable_parameter_gets_a_gradient():
    model = perturbed(MMDiffDenoiser(small_cfg())).train()
    model(*random_inputs()).square().sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


def test_released_sizes_and_builders():
    assert GraFormer().num_params() == 654_344
    full = MMDiffDenoiser()
    assert full.num_params() == 1_872_990
    assert full.num_params(trainable_only=True) == 1_779_675
    small = build_denoiser({"kind": "diffpose", "hid_dim": 16, "num_layers": 1})
    assert isinstance(small, DiffPoseDenoiser) and small.cfg.kind == "diffpose"
    assert isinstance(build_denoiser(small_cfg()), MMDiffDenoiser)
    assert build_lifter({"hid_dim": 16, "num_layers": 1}).num_params() < GraFormer().num_params()
    with pytest.raises(ConfigError, match="hid_dims"):
        build_denoiser({"hid_dims": 16})
    with pytest.raises(ConfigError, match="model.kind"):
        build_denoiser({"kind": "unet"})


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_reference_init_starts_attention_and_graphs_as_copies():
    """As the reference's copy.deepcopy / clones: W_q = W_k = W_v = W_o, every attention module
    equal (both branches), every feed-forward graph of a branch equal; 'independent' keeps
    PyTorch's per-layer initialisation."""
    torch.manual_seed(0)
    model = MMDiffDenoiser(DenoiserConfig(hid_dim=16, emd_dim=8, num_layers=3, n_head=2))
    attn = [b.self_attn for b in [*model.atten_layers, *model.atten_layers_t]]
    q, k, v, o = attn[0].linears
    assert _same(q, k) and _same(q, v) and _same(q, o)
    assert all(_same(a, attn[0]) for a in attn[1:])
    for branch in (model.atten_layers, model.atten_layers_t):
        assert all(_same(b.feed_forward, branch[0].feed_forward) for b in branch[1:])
    lifter = GraFormer(GraFormerConfig(hid_dim=16, num_layers=2, n_head=2))
    assert _same(lifter.atten_layers[0].self_attn, lifter.atten_layers[1].self_attn)
    free = MMDiffDenoiser(DenoiserConfig(hid_dim=16, num_layers=3, n_head=2, init="independent"))
    assert not _same(free.atten_layers[0].self_attn, free.atten_layers[1].self_attn)
    q, k, *_ = free.atten_layers[0].self_attn.linears
    assert not _same(q, k)
    with pytest.raises(ConfigError, match="init"):
        MMDiffDenoiser(small_cfg(init="xavier"))


def test_timestep_sinusoid_is_hid_dim_wide_unless_set():
    """The reference builds get_timestep_embedding(t, hid_dim) whatever its config's emd_dim."""
    assert MMDiffDenoiser(DenoiserConfig(hid_dim=16, num_layers=1, n_head=2)).temb.emd_dim == 16
    assert MMDiffDenoiser(small_cfg()).temb.emd_dim == 8                 # set: the kit's option
    assert DiffPoseDenoiser(DenoiserConfig(hid_dim=16, num_layers=1, n_head=2)).temb.emd_dim == 16


def test_context_ablation_runs_one_branch_and_freezes_the_other():
    torch.manual_seed(0)
    full = perturbed(MMDiffDenoiser(small_cfg())).eval()
    alone = MMDiffDenoiser(small_cfg(context=False)).eval()
    alone.load_state_dict(full.state_dict())
    x_t, c, t = random_inputs(B=4)
    assert not torch.allclose(full(x_t, c, t), alone(x_t, c, t))
    other_2d = c + 0.3                                   # the condition still enters via x_t's uv
    torch.testing.assert_close(alone(x_t, c, t), alone(x_t, other_2d, t))
    trainable = {n for n, p in alone.named_parameters() if p.requires_grad}
    assert not any(n.startswith(("gconv_input_t", "gconv_layers_t", "atten_layers_t", "fc3"))
                   for n in trainable)
    alone(x_t, c, t).sum().backward()
    assert all(alone.get_parameter(n).grad is not None for n in trainable)
