"""Programmes of the actions done sitting part or all of the time: Eating, Phoning, Smoking,
Sitting (on a chair), SittingDown (on the floor). Each f(ctx, take) -> Motion (see
:mod:`.actions`)."""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.behaviours import (down_up, gesturing, hand_to_face, leaning, motion,
                                              sit_down, seated_phases, wandering)
from mmdiff.data.synthetic.paths import body_offset, standing_still
from mmdiff.data.synthetic.postures import add, arm_excursions, arm_pose, blend, other, stance
from mmdiff.data.synthetic.whole_body import floor_sitting, seated


def eating(ctx, take):
    a, xy, h = wandering(ctx, dwell=(3.0, 8.0), radius=0.9, speed=0.9)
    a, xy, seat, pitch, w = seated_phases(ctx, a, xy, h, 0.6 if take == 1 else 0.5,
                                       seat_height=(0.5, 0.62))
    hand = ctx.style.hand
    a = blend(a, arm_pose(other(hand), "reach_fwd", ctx, jitter=15), 0.7)
    a = add(a, {f"{other(hand)}_elbow": 50.0})
    a = hand_to_face(ctx, a, hand, on=(1.0, 2.0), off=(1.5, 4.0))
    a = arm_excursions(ctx, a, on=(1.0, 2.0), off=(4.0, 9.0), sides=(other(hand),))
    return motion(ctx, add(a, {"neck_flex": 10.0}), xy, h, seat, pitch, w,
                  lean=leaning(ctx) * (1 - w))


def phoning(ctx, take):
    a, xy, h = wandering(ctx, dwell=(2.0, 5.0), radius=1.0, speed=0.9)
    a, xy, seat, pitch, w = seated_phases(ctx, a, xy, h, 0.45 if take == 1 else 0.55)
    hand = ctx.style.hand
    a = blend(a, arm_pose(hand, "ear", ctx, jitter=8), ctx.gate((6, 15), (1.0, 3.0), start_on=True))
    a = gesturing(ctx, a, other(hand), on=(1, 3), off=(3, 8))
    a = arm_excursions(ctx, a, on=(1.0, 2.5), off=(3.0, 8.0), sides=(other(hand),))
    return motion(ctx, a, xy, h, seat, pitch, w, lean=leaning(ctx) * (1 - w))


def smoking(ctx, take):
    a, xy, h = wandering(ctx, dwell=(2.5, 7.0), radius=0.9, speed=0.9)
    a, xy, seat, pitch, w = seated_phases(ctx, a, xy, h, 0.4 if take == 1 else 0.5,
                                       seat_height=(0.44, 0.54))
    hand = ctx.style.hand
    a = blend(a, arm_pose(other(hand), "crossed", ctx, jitter=8), ctx.gate((4, 10), (2, 5)))
    a = hand_to_face(ctx, a, hand, on=(1.5, 2.5), off=(3.0, 8.0), pose="chin")
    a = arm_excursions(ctx, a, on=(1.0, 2.0), off=(4.0, 9.0))
    return motion(ctx, a, xy, h, seat, pitch, w, lean=leaning(ctx) * (1 - w))


def sitting(ctx, take):
    xy, h = standing_still(ctx, radius=0.4)
    height = 0.56 - 0.22 * ctx.rng.uniform() ** 2
    posture, tilt = seated(ctx, slouch=ctx.rng.uniform(0.5, 1.0), seat=height)
    a, off = sit_down(ctx, stance(ctx), np.ones(ctx.F), posture)
    seat = height + 0.2 * tilt                                          # slouching slides down
    forward = np.clip((np.degrees(tilt) - 10) / 15, 0, 1)              # leaning on the knees
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "thighs", ctx, jitter=15), 0.8)
        a = blend(a, arm_pose(side, "elbows_on_knees", ctx, jitter=10), forward)
        a = gesturing(ctx, a, side, on=(1.0, 3.0), off=(2.0, 6.0))
    act = ("ear", "crossed", "face", "reach_fwd", "head")[ctx.rng.integers(5)]
    a = blend(a, arm_pose(ctx.style.hand, act, ctx, jitter=8), ctx.gate((3, 8), (3, 8)))
    a = arm_excursions(ctx, a, on=(1.0, 3.0), off=(2.0, 6.0))
    return motion(ctx, a, body_offset(xy, h, off), h, seat, pitch=tilt)


def sitting_down(ctx, take):
    xy, h = standing_still(ctx, radius=0.5)
    w = down_up(ctx, take)
    floor, tilt = floor_sitting(ctx)
    a, off = sit_down(ctx, stance(ctx), w, floor, back=0.35)
    a = arm_excursions(ctx, a, on=(1.0, 3.0), off=(2.0, 5.0))
    seat = np.full(ctx.F, ctx.rng.uniform(0.0, 0.04))                  # on the floor
    return motion(ctx, a, body_offset(xy, h, off), h, seat, pitch=w * tilt, sitting=w)
