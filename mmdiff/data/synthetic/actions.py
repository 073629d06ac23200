"""Motion programmes: one procedural generator of joint angles per Human3.6M action.

Each programme f(ctx, take) -> Motion composes the building blocks of
:mod:`~mmdiff.data.synthetic.postures` (stance, gait, arm poses, sitting, bending),
:mod:`~mmdiff.data.synthetic.paths` (loops, wandering) and
:mod:`~mmdiff.data.synthetic.signals` (smooth random keys and gates). All timing is in seconds
and converted with the frame rate. Every subject's style and every take's timing come from the
random generator, so no two subjects (and no two takes) share poses.
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.paths import (body_offset, loop_path, smooth_heading, standing_still,
                                         wander_path)
from mmdiff.data.synthetic.postures import (add, arm_pose, bending, blend, crouch, floor_sitting,
                                            gait, other, seated, stance)
from mmdiff.data.synthetic.programme import Ctx, Motion
from mmdiff.data.synthetic.signals import interpolate, smoothstep


# --- helpers shared by programmes -----------------------------------------------------------
def _motion(ctx, angles, xy, heading, seat=None, pitch=None) -> Motion:
    nan = np.full(ctx.F, np.nan)
    return Motion(angles, xy, heading, ctx.zeros() if pitch is None else pitch,
                  nan if seat is None else seat)


def _wandering(ctx, dwell=(2.0, 6.0), radius=1.0, speed=1.0, swing=1.0):
    """Stance plus walking between spots: (angles, xy, heading)."""
    xy, heading, v = wander_path(ctx, dwell, radius, speed)
    sway = np.stack([ctx.keys(3.0, -0.03, 0.03), ctx.keys(2.0 / ctx.style.tempo, -0.05, 0.05)], 1)
    return add(stance(ctx), gait(ctx, v, swing)), body_offset(xy, heading, sway), heading


def _gesturing(ctx, a, side, jitter=20.0, on=(1.5, 4.0), off=(1.0, 4.0)):
    """Conversational arm gestures of one arm, in and out."""
    w = ctx.gate(on, off, ramp=0.6)
    g = arm_pose(side, "gesture", ctx, jitter=jitter * ctx.style.gesture)
    g[f"{side}_sh_rot"] = g[f"{side}_sh_rot"] + ctx.keys(0.8, -15, 15)   # hand moving about
    return blend(a, g, w)


def _sit_weight(ctx, seated_fraction, transition=2.0):
    """Smooth 0 (standing) .. 1 (seated) weight, seated about ``seated_fraction`` of the time."""
    if seated_fraction >= 1.0:
        return np.ones(ctx.F)
    mean_on = 6.0 * seated_fraction / (1 - seated_fraction + 1e-9)
    start = bool(ctx.rng.uniform() < seated_fraction)
    return ctx.gate((0.6 * mean_on, 1.4 * mean_on), (3.0, 9.0), ramp=transition, start_on=start)


def _sit_down(ctx, a, w, posture, back=0.2):
    """Blend a standing angle set into ``posture`` with weight w (F,); lean forward while
    changing; returns (angles, xy offset (F, 2) in the body frame)."""
    a = blend(a, posture, w)
    a = add(a, {"lumbar_flex": 30 * 4 * w * (1 - w)})                   # lean while changing
    return a, np.stack([-back * w, np.zeros(ctx.F)], 1)


def _hand_to_face(ctx, a, side, on=(1.2, 2.5), off=(3.0, 8.0), pose="face"):
    w = ctx.gate(on, off, ramp=0.8)
    a = blend(a, arm_pose(side, pose, ctx, jitter=6), w)
    return add(a, {"neck_flex": 8 * w})


def _seated_phases(ctx, a, xy, heading, fraction):
    """Sit on a chair part of the time; returns (angles, xy, seat height or NaN)."""
    w = _sit_weight(ctx, fraction)
    a, off = _sit_down(ctx, a, w, seated(ctx))
    seat = np.where(w > 0.5, ctx.rng.uniform(0.42, 0.50), np.nan)
    return a, body_offset(xy, heading, off), seat


# --- the 15 programmes ----------------------------------------------------------------------
def directions(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.0, 5.0), radius=1.0)
    hand = ctx.style.hand if take == 1 else other(ctx.style.hand)
    w = ctx.gate((1.5, 4.0), (2.0, 5.0))
    point = arm_pose(hand, "point", ctx, jitter=15)
    point[f"{hand}_sh_abd"] = ctx.keys(2.5, -10, 70)
    a = blend(a, point, w)
    a = add(a, {"neck_twist": (1 if hand == "l" else -1) * 0.3 * point[f"{hand}_sh_abd"] * w})
    return _motion(ctx, _gesturing(ctx, a, other(hand), on=(1, 3), off=(3, 8)), xy, h)


def discussion(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.5, 7.0), radius=0.8, speed=0.8)
    for side in ("l", "r"):
        a = _gesturing(ctx, a, side, jitter=25)
    a = add(a, {"chest_twist": ctx.keys(2.0, -12, 12), "lumbar_flex": ctx.keys(3, -3, 10)})
    if take == 2:
        a = blend(a, arm_pose(other(ctx.style.hand), "crossed", ctx, 8), ctx.gate((3, 8), (4, 10)))
    return _motion(ctx, a, xy, h)


def eating(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(3.0, 8.0), radius=0.8, speed=0.8)
    a, xy, seat = _seated_phases(ctx, a, xy, h, 0.75 if take == 1 else 0.5)
    hand = ctx.style.hand
    a = blend(a, arm_pose(other(hand), "reach_fwd", ctx, jitter=15), 0.7)
    a = add(a, {f"{other(hand)}_elbow": 50.0})
    a = _hand_to_face(ctx, a, hand, on=(1.0, 2.0), off=(1.5, 4.0))
    return _motion(ctx, add(a, {"neck_flex": 10.0}), xy, h, seat)


def greeting(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.0, 5.0), radius=1.1, speed=1.0)
    hand = ctx.style.hand
    wave = ctx.gate((1.5, 3.0), (4.0, 9.0))
    pose = arm_pose(hand, "wave" if take == 1 else "reach_fwd", ctx, jitter=8)
    osc = np.sin(2 * np.pi * ctx.rng.uniform(1.2, 1.8) * ctx.t)
    pose[f"{hand}_sh_rot"] = pose[f"{hand}_sh_rot"] + 20 * osc
    a = blend(a, pose, wave)
    bow = ctx.gate((1.0, 2.0), (6.0, 12.0), ramp=0.8)
    a = add(a, {"lumbar_flex": 25 * bow, "neck_flex": 15 * bow})
    return _motion(ctx, _gesturing(ctx, a, other(hand), on=(1, 3), off=(3, 7)), xy, h)


def phoning(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.0, 5.0), radius=0.9, speed=0.8)
    a, xy, seat = _seated_phases(ctx, a, xy, h, 0.25 if take == 1 else 0.55)
    hand = ctx.style.hand
    a = blend(a, arm_pose(hand, "ear", ctx, jitter=6), ctx.gate((6, 15), (1.0, 3.0), start_on=True))
    a = _gesturing(ctx, a, other(hand), on=(1, 3), off=(3, 8))
    return _motion(ctx, a, xy, h, seat)


def photo(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.0, 5.0), radius=1.0, speed=0.9)
    w = ctx.gate((2.0, 5.0), (1.5, 4.0))
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "camera", ctx, jitter=6), w)
    low = ctx.gate((2.0, 5.0), (3.0, 8.0), ramp=1.0) * (0.8 if take == 1 else 1.0)
    a = add(a, crouch(low))
    return _motion(ctx, add(a, {"neck_flex": -5 * w}), xy, h)


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
    ]
    return options[ctx.rng.integers(len(options))]


def posing(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(3.0, 7.0), radius=0.8, speed=0.8)
    hold = 4.0
    for k in range(int(ctx.F / ctx.fps / hold) + 1):
        w = np.clip(1 - np.abs(ctx.t - (k + 0.5) * hold) / (0.5 * hold), 0, 1)   # (F,) tent
        w = smoothstep(2.0 * w)
        side = "r" if ctx.rng.uniform() < 0.5 else "l"
        pose = {n: v * ctx.style.gesture if n.endswith(("_abd", "_flex")) else v
                for n, v in _posing_pose(ctx, side).items()}
        a = blend(a, pose, w)
    return _motion(ctx, a, xy, h)


def purchases(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.0, 5.0), radius=1.0, speed=0.9)
    depth = ctx.gate((1.5, 4.0), (3.0, 7.0)) * ctx.keys(2.0, 0.5, 1.0)
    a = add(a, bending(ctx, depth))
    hand = ctx.style.hand
    a = blend(a, arm_pose(hand, "reach_down", ctx, jitter=12), depth)
    a = blend(a, arm_pose(other(hand), "reach_down" if take == 1 else "lap", ctx, 12), 0.6 * depth)
    shelf = ctx.gate((1.0, 3.0), (4.0, 9.0)) * (1 - depth)
    a = blend(a, arm_pose(hand, "reach_fwd", ctx, jitter=20), shelf)
    return _motion(ctx, a, xy, h)


def sitting(ctx, take):
    xy, h = standing_still(ctx, radius=0.4)
    a, off = _sit_down(ctx, stance(ctx), np.ones(ctx.F), seated(ctx))
    seat = np.full(ctx.F, ctx.rng.uniform(0.42, 0.50))
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "knee", ctx, jitter=10), 0.8)
        a = _gesturing(ctx, a, side, on=(1.0, 3.0), off=(2.0, 6.0))
    act = ("ear", "crossed", "face", "reach_fwd")[ctx.rng.integers(4)]
    a = blend(a, arm_pose(ctx.style.hand, act, ctx, jitter=8), ctx.gate((3, 8), (3, 8)))
    lean = ctx.gate((2, 5), (3, 8)) * (20 if take == 1 else 30)
    a = add(a, {"lumbar_flex": lean, "neck_flex": 0.5 * lean})
    return _motion(ctx, a, body_offset(xy, h, off), h, seat)


def _down_up(ctx, take, transition=2.5):
    """0 (standing) .. 1 (down) weight: take 1 goes down early and stays; take 2 starts down,
    stands up for a few seconds and goes down again."""
    T = ctx.F / ctx.fps
    if take == 1:
        times, values = [-1.0, ctx.rng.uniform(0.3, 2.5)], [0.0, 0.0]
    else:
        up = ctx.rng.uniform(0.3, 0.6) * T
        times, values = [-1.0, up, up + transition + ctx.rng.uniform(1, 3)], [1.0, 1.0, 0.0]
    times.append(times[-1] + transition)
    values.append(1.0 - values[-1])
    times, values = np.array(times + [times[-1] + T + 2]), np.array(values + [values[-1]])
    return interpolate(times, values, ctx.t)


def sitting_down(ctx, take):
    xy, h = standing_still(ctx, radius=0.5)
    w = _down_up(ctx, take)
    floor, tilt = floor_sitting(ctx)
    a, off = _sit_down(ctx, stance(ctx), w, floor, back=0.35)
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "knee", ctx, jitter=15), 0.5 * w)
    seat = np.where(w > 0.5, 0.0, np.nan)                               # on the floor
    return _motion(ctx, a, body_offset(xy, h, off), h, seat, pitch=w * tilt)


def smoking(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.5, 7.0), radius=0.8, speed=0.8)
    a, xy, seat = _seated_phases(ctx, a, xy, h, 0.25 if take == 1 else 0.55)
    hand = ctx.style.hand
    a = blend(a, arm_pose(other(hand), "crossed", ctx, jitter=8), ctx.gate((4, 10), (2, 5)))
    a = _hand_to_face(ctx, a, hand, on=(1.5, 2.5), off=(3.0, 8.0), pose="chin")
    return _motion(ctx, a, xy, h, seat)


def waiting(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(3.0, 8.0), radius=0.8, speed=0.7)
    pose = ("behind", "crossed", "hips")[ctx.rng.integers(3)] if take == 1 else "crossed"
    w = ctx.gate((4, 12), (3, 8))
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, pose, ctx, jitter=6), w)
    a = add(a, {"neck_twist": ctx.keys(2.5, -25, 25), "lumbar_side": ctx.keys(4, -6, 6)})
    return _motion(ctx, a, xy, h)


def walk_dog(ctx, take):
    stop = ctx.gate((1.5, 4.0), (3.0, 8.0), ramp=1.0)
    speed = ctx.style.speed * ctx.keys(2.0, 0.5, 0.9) * (1 - 0.9 * stop)
    xy, h = loop_path(ctx, speed, radius=(1.3, 0.9))
    a = add(stance(ctx), gait(ctx, speed, swing=0.7))
    hand = ctx.style.hand
    pull = np.clip(ctx.keys(0.7, -1.5, 1.0), 0, 1)
    leash = arm_pose(hand, "leash", ctx, jitter=8)
    leash[f"{hand}_sh_flex"] = leash[f"{hand}_sh_flex"] + 25 * pull
    a = blend(a, leash, 0.9)
    a = add(a, {"lumbar_flex": -6 * pull, "neck_flex": 15 + 10 * stop,
                "neck_twist": ctx.keys(1.5, -30, 30) * stop})
    h = h + np.radians(ctx.keys(1.5, -25, 25)) * (1 - stop)            # looks / veers around
    return _motion(ctx, a, xy, h)


def walking(ctx, take):
    speed = ctx.style.speed * (0.9 + ctx.keys(3.0, -0.15, 0.1))
    xy, h = loop_path(ctx, speed)
    return _motion(ctx, add(stance(ctx), gait(ctx, speed)), xy, h)


def walk_together(ctx, take):
    speed = ctx.style.speed * (0.72 + ctx.keys(3.0, -0.12, 0.08))
    xy, h = loop_path(ctx, speed)
    partner = 1.0 if take == 1 else -1.0                                # partner on the left/right
    a = add(stance(ctx), gait(ctx, speed, swing=0.6))
    a = add(a, {"neck_twist": partner * ctx.keys(2.0, 10, 40), "chest_twist": partner * 8.0,
                "head_twist": partner * ctx.keys(2.0, 0, 15)})
    a = _gesturing(ctx, a, "l" if partner > 0 else "r", on=(1, 3), off=(4, 9))
    return _motion(ctx, a, xy, h)


#: One programme per Human3.6M base action: f(ctx, take) -> Motion, take in {1, 2}.
PROGRAMMES = {
    "Directions": directions, "Discussion": discussion, "Eating": eating, "Greeting": greeting,
    "Phoning": phoning, "Photo": photo, "Posing": posing, "Purchases": purchases,
    "Sitting": sitting, "SittingDown": sitting_down, "Smoking": smoking, "Waiting": waiting,
    "WalkDog": walk_dog, "Walking": walking, "WalkTogether": walk_together,
}
