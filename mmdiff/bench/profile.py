"""Where a training step's time goes, op by op (``mmdiff bench --profile``).

    prof = step_profile(training_step_fn(denoiser, *inputs, "bf16"), steps=3)
    print(format_profile(prof, batch=256, precision="bf16"))     # phases, groups, top ops

``torch.profiler`` records a few steps (after a warm-up); each aten op's *self* CPU time (time in
the op, not in the ops it calls) is summed over the steps and divided by their number, so the
rows add up to the step. Each op's time is also put in its phase (forward, backward under the
autograd engine, or the optimiser's step), and ops are grouped by what bounds them:

    matrix products   mm, bmm, addmm, baddbmm, linear's GEMM, SDPA: bound by the GEMM peak
    elementwise       add, mul, copy, dropout, activations, casts (bf16 <-> fp32): bound by
                      memory bandwidth, one pass over the activations each
    normalisation     layer norm, softmax and their backwards
    other             everything else (views, allocation, reductions, indexing)
"""
from __future__ import annotations

from dataclasses import dataclass

#: op-name fragments of each group, tried in order (the first match wins)
GROUPS = (
    ("matrix products", ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm",
                         "aten::_scaled_dot_product", "mkldnn", "aten::matmul")),
    ("normalisation", ("layer_norm", "softmax", "aten::std", "aten::var")),
    ("elementwise", ("aten::add", "aten::mul", "aten::sub", "aten::div", "aten::copy_",
                     "aten::to", "aten::_to_copy", "dropout", "aten::relu", "aten::gelu",
                     "aten::silu", "threshold", "aten::where", "aten::masked", "aten::pow",
                     "aten::sqrt", "aten::rsqrt", "aten::neg", "aten::fill_", "aten::zero_",
                     "aten::clone", "aten::cat", "aten::sum", "aten::mean", "aten::square",
                     "aten::bernoulli", "aten::lt", "aten::ge", "aten::__and__")),
)


@dataclass(frozen=True)
class OpTime:
    """One op's self CPU time per step (ms), its share of the step, its group, its calls."""
    name: str
    ms: float
    share: float
    group: str
    calls: float


def group_of(name: str) -> str:
    """The group of an aten op name (see the module docstring)."""
    for group, fragments in GROUPS:
        if any(f in name for f in fragments):
            return group
    return "other"


@dataclass(frozen=True)
class StepProfile:
    """``ops``: per-op self time, largest first; ``phases``: {"forward", "backward",
    "optimiser"}: ms per step (the optimiser: Adam's step and zero_grad; backward: every op
    run under the autograd engine; forward: the rest, the loss included)."""
    ops: list[OpTime]
    phases: dict[str, float]


def _phase(event) -> str:
    """forward / backward / optimiser of one profiler event, from its enclosing events."""
    e = event
    while e is not None:
        if e.name.startswith("Optimizer."):
            return "optimiser"
        if e.name.startswith("autograd::engine::evaluate_function"):
            return "backward"
        e = e.cpu_parent
    return "forward"


def step_profile(step, steps: int = 3) -> StepProfile:
    """Self CPU time per op and per phase of ``step()`` (one training step), averaged over
    ``steps`` recorded calls after one warm-up."""
    from torch.profiler import ProfilerActivity, profile
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    rows = [OpTime(e.key, e.self_cpu_time_total / steps / 1000, e.self_cpu_time_total / total,
                   group_of(e.key), e.count / steps) for e in events]
    phases = {"forward": 0.0, "backward": 0.0, "optimiser": 0.0}
    for e in prof.events():
        phases[_phase(e)] += e.self_cpu_time_total / steps / 1000
    return StepProfile(sorted(rows, key=lambda r: -r.ms), phases)


def group_totals(rows: list[OpTime]) -> dict[str, tuple[float, float]]:
    """{group: (ms per step, share)}, largest first."""
    totals: dict[str, list[float]] = {}
    for r in rows:
        t = totals.setdefault(r.group, [0.0, 0.0])
        t[0] += r.ms
        t[1] += r.share
    return dict(sorted(((g, (ms, s)) for g, (ms, s) in totals.items()), key=lambda kv: -kv[1][0]))


def format_profile(prof: StepProfile, batch: int, precision: str, top: int = 15,
                   flops_per_step: float | None = None) -> str:
    """The phases, the groups (ms per step, share; for the matrix products the FLOP/s they
    reach when ``flops_per_step`` is given) and the ``top`` ops."""
    rows = prof.ops
    step_ms = sum(r.ms for r in rows)
    lines = [f"one training step, batch {batch}, {precision}: {step_ms:.1f} ms of op self time "
             f"(torch.profiler, CPU; its own overhead included)",
             "  phases: " + ", ".join(f"{k} {v:.1f} ms ({v / step_ms:.0%})"
                                      for k, v in prof.phases.items())]
    for group, (ms, share) in group_totals(rows).items():
        rate = (f", {flops_per_step / (ms / 1000) / 1e9:.0f} GFLOP/s in them"
                if flops_per_step and group == "matrix products" and ms > 0 else "")
        lines.append(f"  {group:16s} {ms:8.1f} ms  {share:6.1%}{rate}")
    lines.append(f"  top {top} ops:")
    lines += [f"    {r.name:36s} {r.ms:8.2f} ms  {r.share:6.1%}  {r.calls:6.0f} calls  "
              f"[{r.group}]" for r in rows[:top]]
    return "\n".join(lines)
