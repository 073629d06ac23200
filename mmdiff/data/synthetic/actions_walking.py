"""Programmes of the walking actions: Walking, WalkTogether, WalkDog. Each f(ctx, take) ->
Motion (see :mod:`.actions`)."""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.behaviours import gesturing, motion
from mmdiff.data.synthetic.paths import loop_path
from mmdiff.data.synthetic.postures import add, arm_pose, blend, gait, stance
from mmdiff.data.synthetic.whole_body import bending, squat


def _carrying(ctx, a, hold=(2.0, 5.0), off=(8.0, 20.0)):
    """Now and then the arms do something else while walking: hands in pockets, a phone held
    or at the ear, arms crossed or behind the back."""
    kind = ("pocket", "hold", "ear", "crossed", "behind")[ctx.rng.integers(5)]
    w = ctx.gate(hold, off, ramp=0.8)
    sides = ("l", "r") if kind in ("pocket", "crossed", "behind") else (ctx.style.hand,)
    for side in sides:
        a = blend(a, arm_pose(side, kind, ctx, jitter=8), w)
    return a


def _arms_down(ctx, a):
    """Arms hanging, nearly straight, while walking (the gait's swing stays on top)."""
    for side in ("l", "r"):
        pose = arm_pose(side, "swing", ctx, jitter=8)
        base = arm_pose(side, "relaxed")
        a = add(a, {k: pose[k] - base[k] for k in pose})
    return a


def walking(ctx, take):
    speed = ctx.style.speed * (0.8 + ctx.keys(3.0, -0.15, 0.1))
    xy, h = loop_path(ctx, speed)
    a = _arms_down(ctx, add(stance(ctx), gait(ctx, speed)))
    return motion(ctx, _carrying(ctx, a), xy, h, lean=ctx.keys(3.0, -8, 12))


def walk_together(ctx, take):
    speed = ctx.style.speed * (0.68 + ctx.keys(3.0, -0.12, 0.08))
    xy, h = loop_path(ctx, speed)
    partner = 1.0 if take == 1 else -1.0                                # partner on the left/right
    a = _arms_down(ctx, add(stance(ctx), gait(ctx, speed, swing=0.6)))
    a = add(a, {"neck_twist": partner * ctx.keys(2.0, 10, 40), "chest_twist": partner * 8.0,
                "head_twist": partner * ctx.keys(2.0, 0, 15)})
    a = gesturing(ctx, a, "l" if partner > 0 else "r", on=(1, 3), off=(4, 9))
    return motion(ctx, _carrying(ctx, a), xy, h, lean=ctx.keys(3.0, -8, 12))


def walk_dog(ctx, take):
    stop = ctx.gate((1.5, 4.0), (3.0, 7.0), ramp=1.0)
    speed = ctx.style.speed * ctx.keys(2.0, 0.45, 0.85) * (1 - 0.95 * stop)
    xy, h = loop_path(ctx, speed, radius=(1.3, 0.9))
    a = add(stance(ctx), gait(ctx, speed, swing=0.7))
    hand = ctx.style.hand
    pull = np.clip(ctx.keys(0.7, -1.5, 1.0), 0, 1)
    leash = arm_pose(hand, "leash", ctx, jitter=10)
    leash[f"{hand}_sh_flex"] = leash[f"{hand}_sh_flex"] + 25 * pull
    a = blend(a, leash, 0.9)
    a = add(a, {"lumbar_flex": -6 * pull, "neck_flex": 15 + 10 * stop,
                "neck_twist": ctx.keys(1.5, -30, 30) * stop})
    down = stop * ctx.keys(2.0, 0.0, 1.0)                               # to the dog when stopped
    if take == 1:
        a = add(a, squat(ctx, down))
    else:
        a = add(a, bending(ctx, down))
    a = blend(a, arm_pose("l" if hand == "r" else "r", "reach_down", ctx, jitter=15), down)
    h = h + np.radians(ctx.keys(1.5, -25, 25)) * (1 - stop)            # looks / veers around
    lean = ctx.keys(3.0, -6, 10) + (50 * down if take == 2 else 20 * down)
    return motion(ctx, a, xy, h, lean=lean)
