"""The fast forms of the layers (mmdiff.models.kernels) against their plain parents, and the one
switch that swaps them in (accelerate): values and gradients in float32 (tight) and under bf16
autocast (loose), the switch swapping exactly what it is told, the builders using it."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from mmdiff.engine.precision import autocast
from mmdiff.errors import ConfigError
from mmdiff.models import (ChebConv, DenoiserConfig, LayerNorm, LearnableGraphFFN,
                           MultiHeadAttention, NodeLinear, accelerate, adjacency_from_edges,
                           build_denoiser, build_lifter, cross_channel_edges)
from mmdiff.models.graph import LearnableGraphConv
from mmdiff.models.kernels import FAST, FastDropout

B, N, C = 6, 34, 32


def _inputs(g, *shapes):
    return [torch.randn(*s, generator=g) for s in shapes]


def _lap(g):
    ffn = LearnableGraphFFN(C, N)
    with torch.no_grad():
        ffn.A_hat.add_(0.1 * torch.rand(N, N, generator=g))
    return ffn.laplacian().detach()


#: name -> (plain layer, its inputs) from a generator; attention without dropout, so that train
#: mode (explicit weights) and eval mode (fused attention in the fast form) both compare exactly
CASES = {
    "layer norm": lambda g: (LayerNorm(C), [x * 3 + 1 for x in _inputs(g, (B, N, C))]),
    "Chebyshev conv": lambda g: (ChebConv(C, 24, adjacency_from_edges(cross_channel_edges(), N)),
                                 _inputs(g, (B, N, C))),
    "attention": lambda g: (MultiHeadAttention(C, 4, dropout=0.0), _inputs(g, (B, N, C))),
    "learned graph, widening": lambda g: (LearnableGraphConv(C, 2 * C),
                                          [*_inputs(g, (B, N, C)), _lap(g)]),
    "learned graph, narrowing": lambda g: (LearnableGraphConv(2 * C, C, relu=False),
                                           [*_inputs(g, (B, N, 2 * C)), _lap(g)]),
    "node map": lambda g: (NodeLinear(17, N), _inputs(g, (B, 17, C))),
}


def _perturbed(layer: nn.Module, g) -> nn.Module:
    """Random values in every parameter (learned adjacencies kept positive)."""
    with torch.no_grad():
        for name, p in layer.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.add_(0.1 * (noise.abs() if name.endswith("A_hat") else noise))
    return layer


def _close32(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> None:
    """Equal up to float32 rounding, relative to the tensor's scale."""
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * max(1.0, b.abs().max().item()))


def _forward_backward(layer, inputs, precision, g_out):
    inputs = [x.clone().requires_grad_() for x in inputs]
    with autocast("cpu", precision):
        out = layer(*inputs)
    wrt = [*inputs, *layer.parameters()]
    grads = torch.autograd.grad(out.float(), wrt, g_out)
    return [out.float(), *grads]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", CASES)
def test_fast_layer_matches_its_plain_parent(name, train):
    g = torch.Generator().manual_seed(0)
    plain, inputs = CASES[name](g)
    plain = _perturbed(plain, g).train(train)
    fast = accelerate(copy.deepcopy(plain))
    assert type(fast) is FAST[type(plain)] and isinstance(fast, type(plain))
    with torch.no_grad():
        g_out = torch.randn(plain(*inputs).shape, generator=g)
    want = _forward_backward(plain, inputs, "fp32", g_out)
    got = _forward_backward(fast, inputs, "fp32", g_out)
    for a, b in zip(got, want):                              # float32: rounding only
        _close32(a, b)
    want16 = _forward_backward(plain, inputs, "bf16", g_out)
    got16 = _forward_backward(fast, inputs, "bf16", g_out)
    for a, b, ref in zip(got16, want16, want):    # bf16 (8 bits): as close to float32 as plain
        if ref.norm() > 1e-3 * want[0].norm():    # (gradients that are ~0: the key bias')
            assert _rel(a, ref) < 1.5 * _rel(b, ref) + 1e-2, (_rel(a, ref), _rel(b, ref))


@pytest.mark.parametrize("p", [0.25, 0.1])                   # 8-bit and 16-bit random draws
def test_fast_dropout_has_the_plain_distribution_and_gradient(p):
    torch.manual_seed(0)
    x = torch.rand(200, 1000, requires_grad=True)
    drop = accelerate(nn.Dropout(p))
    assert type(drop) is FastDropout
    y = drop(x)
    kept = y != 0
    assert abs(1 - kept.float().mean().item() - p) < 0.005
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    grad, = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, kept.float() / (1 - p))
    assert drop.eval()(x) is x
    assert not torch.equal(drop.train()(x), drop(x))        # a fresh mask per call
    assert not accelerate(nn.Dropout(1.0))(x).any()          # p = 1 drops all, as nn.Dropout


def _small(**kw) -> DenoiserConfig:
    return DenoiserConfig(hid_dim=16, emd_dim=8, num_layers=2, n_head=2, **kw)


@pytest.mark.parametrize("kind", ["mmdiff", "diffpose"])
def test_fast_denoiser_matches_the_plain_one(kind):
    """Without dropout (the random streams differ) the whole fast model is the plain one up to
    float32 rounding, outputs and parameter gradients, in train mode and in eval mode."""
    torch.manual_seed(0)
    plain = build_denoiser(_small(kind=kind, dropout=0.0, attn_dropout=0.0, gconv_dropout=0.0),
                           fast=False)
    g = torch.Generator().manual_seed(1)
    _perturbed(plain, g)
    fast = accelerate(copy.deepcopy(plain))
    x_t, c = torch.randn(5, 17, 5, generator=g), torch.rand(5, 17, 2, generator=g) * 2 - 1
    t = torch.randint(0, 51, (5,), generator=g)
    for train in (True, False):
        outs = []
        for model in (plain, fast):
            model.train(train).zero_grad()
            out = model(x_t, c, t)
            out.square().sum().backward()
            outs.append([out.detach()] + [p.grad for p in model.parameters() if p.grad is not None])
        assert len(outs[0]) == len(outs[1])
        for a, b in zip(outs[1], outs[0]):
            _close32(a, b, rtol=1e-4)


def _kinds(model: nn.Module) -> set[type]:
    return {type(m) for m in model.modules()}


def test_builders_return_every_fast_form_and_fast_false_the_plain_model():
    lifter, denoiser = build_lifter({"hid_dim": 16, "num_layers": 1}), build_denoiser(_small())
    for model in (lifter, denoiser):
        assert not _kinds(model) & set(FAST)                 # no plain layer with a fast form left
    assert set(FAST.values()) <= _kinds(denoiser)
    plain = build_denoiser(_small(), fast=False)
    assert set(FAST) <= _kinds(plain) and not _kinds(plain) & set(FAST.values())
    assert list(plain.state_dict()) == list(denoiser.state_dict())


def test_accelerate_swaps_only_what_it_is_told_in_place():
    torch.manual_seed(0)
    model = build_denoiser(_small(), fast=False)
    params = dict(model.named_parameters())
    state = copy.deepcopy(model.state_dict())
    assert accelerate(model, only=[LayerNorm, nn.Dropout]) is model
    kinds = _kinds(model)
    assert {FAST[LayerNorm], FAST[nn.Dropout]} <= kinds
    assert not kinds & {LayerNorm, nn.Dropout}
    others = [c for c in FAST if c not in (LayerNorm, nn.Dropout)]
    assert set(others) <= kinds and not kinds & {FAST[c] for c in others}
    assert dict(model.named_parameters()) == params          # the same parameter objects
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    accelerate(model)
    assert not _kinds(model) & set(FAST)
    with pytest.raises(ConfigError, match="no fast form"):
        accelerate(model, only=[nn.Linear])
