"""Behaviours the action programmes share: wandering about, gesturing, sitting down and getting
up, bringing a hand to the face, going down and up.

Each takes a programme's :class:`~mmdiff.data.synthetic.programme.Ctx` (and usually the angles
built so far) and returns new angles, paths or weights; none edits its inputs.
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.paths import body_offset, wander_path
from mmdiff.data.synthetic.postures import add, arm_pose, blend, gait, stance
from mmdiff.data.synthetic.programme import Ctx, Motion
from mmdiff.data.synthetic.signals import interpolate
from mmdiff.data.synthetic.whole_body import seated


def motion(ctx: Ctx, angles, xy, heading, seat=None, pitch=None, sitting=None,
           lean=None) -> Motion:
    """A Motion with defaults: no pelvis pitch, no seat; seated wherever there is a seat.

    lean: optional (F,) degrees: the body bends forward at the hips by that much (the pelvis and
    trunk pitch forward, the hips flex as much, so the legs stay where they were)."""
    seat = np.full(ctx.F, np.nan) if seat is None else np.broadcast_to(seat, (ctx.F,))
    if sitting is None:
        sitting = np.isfinite(seat).astype(float)
    pitch = ctx.zeros() if pitch is None else pitch
    if lean is not None:
        angles = add(angles, {"l_hip_flex": lean, "r_hip_flex": lean})
        pitch = pitch + np.radians(lean)
    return Motion(angles, xy, heading, pitch, seat, sitting)


def leaning(ctx: Ctx, sway=(-10.0, 5.0), bends=((1.0, 3.0), (5.0, 12.0)), depth=(10.0, 35.0)):
    """Forward lean at the hips (F,) degrees for :func:`motion`: a slow sway in ``sway`` plus now
    and then a bend of ``depth`` degrees (on for bends[0] s, off for bends[1] s): leaning in to
    talk, looking down, reaching."""
    return ctx.keys(4.0, *sway) + ctx.gate(*bends, ramp=0.8) * ctx.keys(3.0, *depth)


def wandering(ctx: Ctx, dwell=(2.0, 6.0), radius=1.0, speed=1.0, swing=1.0, sway=0.11):
    """Stance plus walking between spots, the pelvis swaying over the feet ``sway`` m while
    standing: (angles, xy (F, 2), heading (F,))."""
    xy, heading, v = wander_path(ctx, dwell, radius, speed)
    drift = np.stack([ctx.keys(2.0, -sway, sway),
                      ctx.keys(1.5 / ctx.style.tempo, -sway, sway)], 1)   # (F, 2) body frame
    return add(stance(ctx), gait(ctx, v, swing)), body_offset(xy, heading, drift), heading


def gesturing(ctx: Ctx, a: dict, side: str, jitter=20.0, on=(1.5, 4.0), off=(1.0, 4.0)) -> dict:
    """Conversational arm gestures of one arm, in and out."""
    w = ctx.gate(on, off, ramp=0.6)
    g = arm_pose(side, "gesture", ctx, jitter=jitter * ctx.style.gesture)
    g[f"{side}_sh_rot"] = g[f"{side}_sh_rot"] + ctx.keys(0.8, -15, 15)   # hand moving about
    g[f"{side}_elbow"] = g[f"{side}_elbow"] + ctx.keys(0.8, -25, 25)
    return blend(a, g, w)


def sit_weight(ctx: Ctx, seated_fraction: float, transition=2.0) -> np.ndarray:
    """Smooth 0 (standing) .. 1 (seated) weight (F,), seated about ``seated_fraction`` of the
    time."""
    if seated_fraction >= 1.0:
        return np.ones(ctx.F)
    mean_on = 6.0 * seated_fraction / (1 - seated_fraction + 1e-9)
    start = bool(ctx.rng.uniform() < seated_fraction)
    return ctx.gate((0.6 * mean_on, 1.4 * mean_on), (3.0, 9.0), ramp=transition, start_on=start)


def sit_down(ctx: Ctx, a: dict, w, posture: dict, back=0.2):
    """Blend a standing angle set into ``posture`` with weight w (F,); lean forward while
    changing; returns (angles, xy offset (F, 2) in the body frame)."""
    a = blend(a, posture, w)
    a = add(a, {"lumbar_flex": 30 * 4 * w * (1 - w)})                   # lean while changing
    return a, np.stack([-back * w, np.zeros(ctx.F)], 1)


def hand_to_face(ctx: Ctx, a: dict, side: str, on=(1.2, 2.5), off=(3.0, 8.0),
                 pose="face") -> dict:
    """Bring one hand to the face (mouth, chin, ...) now and then, the head meeting it."""
    w = ctx.gate(on, off, ramp=0.8)
    a = blend(a, arm_pose(side, pose, ctx, jitter=6), w)
    return add(a, {"neck_flex": 8 * w})


def seated_phases(ctx: Ctx, a: dict, xy, heading, fraction: float, seat_height=(0.46, 0.56),
                  slouch: float = 0.3):
    """Sit on a chair part of the time; returns (angles, xy, seat height (F,), pelvis pitch (F,)
    radians, sitting weight (F,))."""
    w = sit_weight(ctx, fraction)
    height = ctx.rng.uniform(*seat_height)
    posture, tilt = seated(ctx, slouch, height)
    for side in ("l", "r"):                                             # hands on the thighs
        posture = {**posture, **arm_pose(side, "thighs", ctx, jitter=15)}
    a, off = sit_down(ctx, a, w, posture)
    seat = np.full(ctx.F, height)
    return a, body_offset(xy, heading, off), seat, w * tilt, w


def down_up(ctx: Ctx, take: int, transition=1.6) -> np.ndarray:
    """0 (standing) .. 1 (down) weight (F,): take 1 goes down within the first second and stays;
    take 2 starts down and, one time in two, gets up in its last two seconds."""
    T = ctx.F / ctx.fps
    if take == 1:
        start = ctx.rng.uniform(0.0, 0.8)
        times, values = [-1.0, start, start + transition], [0.0, 0.0, 1.0]
    else:
        up = T - ctx.rng.uniform(1.0, 2.5) if ctx.rng.uniform() < 0.5 else T + 1
        times, values = [-1.0, up, up + transition], [1.0, 1.0, 0.0]
    times, values = np.array(times + [max(times[-1], T) + 2]), np.array(values + [values[-1]])
    return interpolate(times, values, ctx.t)
