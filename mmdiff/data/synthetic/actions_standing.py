"""Programmes of the actions done standing and moving about: Directions, Discussion, Greeting,
Photo, Posing, Purchases, Waiting. Each f(ctx, take) -> Motion (see :mod:`.actions`)."""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.behaviours import gesturing, leaning, motion, wandering
from mmdiff.data.synthetic.postures import add, arm_excursions, arm_pose, blend, other
from mmdiff.data.synthetic.signals import smoothstep
from mmdiff.data.synthetic.whole_body import bending, kneel_one, lunge, squat


def directions(ctx, take):
    a, xy, h = wandering(ctx, dwell=(4.0, 10.0), radius=0.7, speed=0.9)
    hand = ctx.style.hand if take == 1 else other(ctx.style.hand)
    w = ctx.gate((1.5, 4.0), (2.0, 5.0))
    point = arm_pose(hand, "point", ctx, jitter=15)
    point[f"{hand}_sh_abd"] = ctx.keys(2.5, -10, 70)
    a = blend(a, point, w)
    a = add(a, {"neck_twist": (1 if hand == "l" else -1) * 0.3 * point[f"{hand}_sh_abd"] * w})
    a = gesturing(ctx, a, other(hand), on=(1, 3), off=(3, 8))
    return motion(ctx, arm_excursions(ctx, a, on=(1.0, 3.0), off=(3.0, 7.0)), xy, h,
                  lean=leaning(ctx))


def discussion(ctx, take):
    a, xy, h = wandering(ctx, dwell=(4.0, 10.0), radius=0.6, speed=0.8)
    for side in ("l", "r"):
        a = gesturing(ctx, a, side, jitter=30)
    a = add(a, {"chest_twist": ctx.keys(2.0, -12, 12), "lumbar_flex": ctx.keys(3, -3, 10)})
    hold = "crossed" if take == 2 else ("pocket", "hips", "behind")[ctx.rng.integers(3)]
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, hold, ctx, 8), ctx.gate((3, 8), (4, 10)))
    return motion(ctx, arm_excursions(ctx, a, on=(1.0, 2.5), off=(2.0, 6.0)), xy, h,
                  lean=leaning(ctx))


def greeting(ctx, take):
    a, xy, h = wandering(ctx, dwell=(1.5, 4.0), radius=1.3, speed=1.1)
    hand = ctx.style.hand
    wave = ctx.gate((1.5, 3.0), (3.0, 7.0))
    pose = arm_pose(hand, "wave" if take == 1 else "reach_fwd", ctx, jitter=10)
    osc = np.sin(2 * np.pi * ctx.rng.uniform(1.2, 1.8) * ctx.t)
    pose[f"{hand}_sh_rot"] = pose[f"{hand}_sh_rot"] + 25 * osc
    a = blend(a, pose, wave)
    hug = ctx.gate((1.5, 3.0), (5.0, 12.0), ramp=0.8) * (1 - wave)
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "hug", ctx, jitter=10), hug)
    a = gesturing(ctx, a, other(hand), on=(1, 3), off=(3, 7))
    bow = leaning(ctx, bends=((1.0, 2.0), (4.0, 10.0)), depth=(20.0, 45.0))
    return motion(ctx, arm_excursions(ctx, a, on=(0.8, 2.0), off=(3.0, 8.0)), xy, h, lean=bow)


def photo(ctx, take):
    a, xy, h = wandering(ctx, dwell=(2.0, 5.0), radius=1.0, speed=0.9)
    w = ctx.gate((2.0, 5.0), (1.5, 4.0))
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "camera", ctx, jitter=8), w)
    low = ctx.gate((1.5, 3.5), (6.0, 14.0), ramp=1.0) * ctx.keys(3.0, 0.5, 1.0)
    side = "r" if ctx.rng.uniform() < 0.5 else "l"
    a = add(a, kneel_one(ctx, side, low) if take == 2 else squat(ctx, low))
    a = arm_excursions(ctx, a, on=(1.0, 2.0), off=(4.0, 9.0))
    lean = leaning(ctx, sway=(-12.0, 5.0), bends=((1.5, 4.0), (2.0, 5.0)), depth=(15.0, 45.0))
    return motion(ctx, add(a, {"neck_flex": -5 * w}), xy, h, lean=lean * (1 - low))


def _posing_pose(ctx, s):
    """One held pose of a poser (random pick); s is the side that leads."""
    o = other(s)
    options = [
        {**arm_pose(s, "raised"), **arm_pose(o, "hips"), "lumbar_side": 10.0},
        {**arm_pose(s, "hips"), **arm_pose(o, "hips"), f"{s}_hip_abd": 15.0},
        {**arm_pose(s, "crossed"), **arm_pose(o, "crossed"), "chest_twist": 15.0},
        {**arm_pose(s, "point"), **arm_pose(o, "raised"), f"{s}_hip_flex": 40.0, f"{s}_knee": 50.0,
         f"{o}_hip_flex": -15.0},
        {**arm_pose(s, "chin"), **arm_pose(o, "crossed"), "lumbar_side": -8.0},
        {**arm_pose(s, "wave"), **arm_pose(o, "behind"), "neck_side": 10.0},
        {f"{s}_sh_abd": 90.0, f"{o}_sh_abd": 90.0, f"{s}_elbow": 5.0, f"{o}_elbow": 5.0,
         f"{s}_hip_abd": 20.0, f"{o}_hip_abd": 20.0},
        {**arm_pose(s, "head"), **arm_pose(o, "head"), "lumbar_flex": -10.0},
        {**arm_pose(s, "raised"), **arm_pose(o, "raised"), f"{s}_hip_flex": 70.0,
         f"{s}_knee": 90.0},                                            # on one leg
    ]
    return options[ctx.rng.integers(len(options))]


def posing(ctx, take):
    a, xy, h = wandering(ctx, dwell=(2.5, 6.0), radius=0.9, speed=0.9)
    hold = ctx.rng.uniform(2.5, 4.0)
    for k in range(int(ctx.F / ctx.fps / hold) + 1):
        w = np.clip(1 - np.abs(ctx.t - (k + 0.5) * hold) / (0.5 * hold), 0, 1)   # (F,) tent
        w = smoothstep(2.0 * w)
        side = "r" if ctx.rng.uniform() < 0.5 else "l"
        pose = {n: v * ctx.style.gesture if n.endswith(("_abd", "_flex")) else v
                for n, v in _posing_pose(ctx, side).items()}
        a = blend(a, pose, w)
    step = ctx.gate((2.0, 4.0), (5.0, 10.0), ramp=0.8) * ctx.keys(3.0, 0.4, 1.0)
    a = add(a, lunge(ctx, ctx.style.hand if take == 1 else other(ctx.style.hand), step))
    return motion(ctx, arm_excursions(ctx, a, on=(1.0, 2.5), off=(3.0, 7.0)), xy, h,
                  lean=leaning(ctx, sway=(-12.0, 6.0), depth=(10.0, 40.0)))


def purchases(ctx, take):
    a, xy, h = wandering(ctx, dwell=(3.0, 7.0), radius=0.7, speed=0.9)
    depth = ctx.gate((1.0, 3.0), (3.0, 8.0)) * ctx.keys(2.0, 0.5, 1.2)
    low = ctx.gate((1.0, 2.5), (15.0, 30.0), ramp=1.0) * (1 - depth)   # squat to a low shelf
    a = add(add(a, bending(ctx, depth)), squat(ctx, 0.9 * low))
    hand = ctx.style.hand
    a = blend(a, arm_pose(hand, "reach_down", ctx, jitter=15), np.maximum(depth, low))
    a = blend(a, arm_pose(other(hand), "reach_down" if take == 1 else "lap", ctx, 15),
              0.6 * depth)
    shelf = ctx.gate((1.0, 3.0), (3.0, 8.0)) * (1 - depth) * (1 - low)
    reach = arm_pose(hand, "reach_fwd", ctx, jitter=20)
    reach[f"{hand}_sh_flex"] = reach[f"{hand}_sh_flex"] + ctx.keys(2.0, -20, 60)
    a = blend(a, reach, shelf)
    return motion(ctx, arm_excursions(ctx, a, on=(1.0, 2.0), off=(4.0, 9.0)), xy, h,
                  lean=leaning(ctx, sway=(-8.0, 8.0), bends=((1.0, 2.5), (3.0, 8.0))) + 50 * depth)


def waiting(ctx, take):
    a, xy, h = wandering(ctx, dwell=(4.0, 10.0), radius=0.7, speed=0.7)
    pose = ("behind", "crossed", "hips", "pocket")[ctx.rng.integers(4)]
    w = ctx.gate((3, 10), (3, 8))
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, pose, ctx, jitter=8), w)
    a = add(a, {"neck_twist": ctx.keys(2.5, -25, 25), "lumbar_side": ctx.keys(4, -6, 6)})
    stretch = ctx.gate((1.5, 3.0), (6.0, 14.0), ramp=1.0) * (1 - w)    # arms up, back arched
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "raised" if take == 1 else "head", ctx, 10), stretch)
    a = add(a, {"lumbar_flex": -12 * stretch})
    down = ctx.gate((1.5, 3.0), (12.0, 30.0), ramp=1.2) * ctx.keys(3.0, 0.6, 1.0)
    a = add(a, squat(ctx, down))                                        # crouches for a while
    a = blend(a, {**arm_pose("l", "knee"), **arm_pose("r", "knee")}, 0.7 * down)
    lean = leaning(ctx, sway=(-12.0, 5.0), bends=((1.0, 3.0), (4.0, 9.0)), depth=(15.0, 45.0))
    return motion(ctx, arm_excursions(ctx, a, on=(1.0, 2.5), off=(3.0, 8.0)), xy, h,
                  lean=lean * (1 - down))
