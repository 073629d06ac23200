"""Whole-body postures as joint-angle sets: on a chair, on the floor, kneeling, squatting,
bending, lunging.

Each returns target angles {name: (F,) degrees} that a programme blends in with a smooth weight
(:func:`~mmdiff.data.synthetic.postures.blend`); postures that tilt the whole body also return
the pelvis pitch (F,) radians (negative = tilted back). The support under the body (a chair, the
floor, the feet, a knee) is found by :func:`~mmdiff.data.synthetic.body.place_on_floor` and the
feet and hands by :mod:`~mmdiff.data.synthetic.contact`.
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.postures import arm_pose, blend, other
from mmdiff.data.synthetic.programme import Ctx


def seated(ctx: Ctx, slouch: float = 0.0, seat: float = 0.45) -> tuple[dict, np.ndarray]:
    """Sitting on a chair: legs shifting between tucked under, at right angles and stretched
    out, crossed now and then; the trunk upright, leaning forward (elbows on knees) or back.

    slouch: 0..1, how far the subject slides forward and tilts the pelvis back at times;
    seat: its height (m): on a high seat the thighs slope down. Returns (angles, pelvis pitch
    (F,) radians)."""
    lean = ctx.keys(3.0, -40, 42)                                       # trunk, deg forward
    pelvis = 0.6 * lean                                                 # the pelvis rolls with it
    tilt = slouch * (0.3 + 0.7 * ctx.gate((3, 8), (2, 6), ramp=1.2)) * ctx.keys(3.0, 10, 35)
    thigh = float(np.clip(90 - 120 * (seat - 0.45), 65, 95))            # thigh slope, deg
    a = {"lumbar_flex": lean - pelvis + 0.6 * tilt, "chest_flex": ctx.keys(3.0, -5, 10),
         "neck_flex": ctx.keys(2.5, -10, 20), "lumbar_twist": ctx.keys(3.0, -15, 15),
         "lumbar_side": ctx.keys(4.0, -14, 14), "chest_side": ctx.keys(3.0, -8, 8)}
    cross = ctx.gate((4, 10), (6, 14), ramp=1.0)                        # legs crossed now and then
    up = ctx.gate((2, 5), (6, 16), ramp=1.0) * (1 - cross)              # a knee pulled up
    out = ctx.gate((2, 6), (5, 12), ramp=1.0) * (1 - cross) * (1 - up)  # legs stretched out
    for s in ("l", "r"):
        knee = ctx.held(5.0, 65, 115)                                   # stretched .. tucked
        hip = thigh + ctx.held(5.0, -8, 8) + pelvis - tilt               # thighs keep their slope
        a.update({f"{s}_hip_flex": hip, f"{s}_knee": knee,
                  f"{s}_ankle": np.clip(0.4 * (knee - 90), -30, 25),
                  f"{s}_hip_abd": ctx.held(4.0, 0, 14), f"{s}_hip_rot": ctx.held(4.0, -10, 15)})
    a["r_hip_abd"] = a["r_hip_abd"] - 20 * cross
    a["r_hip_flex"] = a["r_hip_flex"] + 15 * cross
    a["r_knee"] = a["r_knee"] + (70 - a["r_knee"]) * cross
    a["l_hip_flex"] = a["l_hip_flex"] + 35 * up                         # foot up on the seat
    a["l_knee"] = a["l_knee"] + (130 - a["l_knee"]) * up
    for s in ("l", "r"):
        a[f"{s}_hip_flex"] = a[f"{s}_hip_flex"] - 20 * out
        a[f"{s}_knee"] = a[f"{s}_knee"] + (25 - a[f"{s}_knee"]) * out
    return a, np.radians(pelvis - tilt)


#: Floor postures: (thigh angle from hanging down, hip abd, hip rot, knee, ankle) per leg in
#: degrees; the pelvis' tilt back is taken off the hip flexion so the thighs keep their angle.
#: "kneel" sits on the heels; "one_up" has the left knee up and the right leg stretched.
_FLOOR = {"stretched": (88, 12, 0, 10, 5), "knees_up": (130, 15, 5, 120, 10),
          "cross_legged": (115, 42, -35, 125, -20), "kneel": (45, 8, 0, 140, -40),
          "one_up": (130, 15, 5, 120, 10)}


#: How often each floor posture is picked.
_FLOOR_ODDS = {"stretched": 0.25, "knees_up": 0.25, "cross_legged": 0.25, "one_up": 0.15,
               "kneel": 0.10}


def floor_sitting(ctx: Ctx, hold=(5.0, 12.0)) -> tuple[dict, np.ndarray]:
    """Sitting on the floor, moving between the postures of _FLOOR (each held a few seconds),
    now and then leaning back on the hands, lying back, or leaning forward over the knees.

    Returns (angles, pelvis pitch (F,) radians, negative = back)."""
    F, t = ctx.F, ctx.t
    times, picks, now = [], [], -ctx.rng.uniform(0, hold[0])
    while now < F / ctx.fps + hold[1]:
        times.append(now)
        picks.append(str(ctx.rng.choice(list(_FLOOR_ODDS), p=list(_FLOOR_ODDS.values()))))
        now += ctx.rng.uniform(*hold)
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)   # (F,)
    u = np.clip((t - np.asarray(times)[idx]) / 1.2, 0, 1)               # 1.2 s transitions
    u = u * u * (3 - 2 * u)
    prev = np.maximum(idx - 1, 0)

    def leg(table_row):                                                 # (F,) per component
        return [np.asarray([_FLOOR[picks[i]][table_row] for i in range(len(picks))])[k]
                for k in (prev, idx)]

    a = {}
    for c, name in enumerate(("hip_flex", "hip_abd", "hip_rot", "knee", "ankle")):
        before, after = leg(c)
        for s in ("l", "r"):
            jitter = ctx.held(3.0, -8, 8)
            a[f"{s}_{name}"] = before + u * (after - before) + jitter
    one = np.asarray([picks[i] == "one_up" for i in range(len(picks))], float)
    w = one[prev] + u * (one[idx] - one[prev])                          # only one knee up:
    a["r_hip_flex"] = a["r_hip_flex"] - 42 * w                          # the right leg stretched
    a["r_knee"] = a["r_knee"] - 110 * w
    kneel = np.asarray([picks[i] == "kneel" for i in range(len(picks))], float)
    upright = kneel[prev] + u * (kneel[idx] - kneel[prev])              # (F,) 1 on the heels
    lean_back = ctx.gate((2, 6), (3, 8), ramp=1.0) * (1 - upright)
    forward = ctx.keys(4.0, 0.0, 1.0) * (1 - lean_back) * (1 - upright)
    lying = ctx.gate((2.5, 6.0), (5.0, 12.0), ramp=1.2) * (1 - upright) * (1 - forward)
    tilt = (ctx.keys(4.0, 10, 30) - 25 * lean_back + 10 * forward + 65 * lying) * (1 - upright)
    a.update({"lumbar_flex": tilt - 65 * lying * (1 - upright) - 40 * lean_back + 40 * forward
              + ctx.keys(3.0, -10, 10),
              "neck_flex": ctx.keys(3, -5, 20), "chest_flex": 8 - 5 * lean_back + 8 * forward,
              "lumbar_twist": ctx.keys(3.0, -15, 15), "lumbar_side": ctx.keys(4.0, -15, 15)})
    for s in ("l", "r"):
        a[f"{s}_hip_flex"] = a[f"{s}_hip_flex"] - tilt                  # thighs keep their angle
        a = blend(a, arm_pose(s, "support"), lean_back)
        a = blend(a, arm_pose(s, "knee", ctx, jitter=15), forward)
        a = blend(a, arm_pose(s, "head" if s == "l" else "support", ctx, jitter=15), lying)
    return a, -np.radians(tilt)


def squat(ctx: Ctx, depth) -> dict:
    """Crouching to squatting (``depth`` (F,) in [0, 1]: 1 = heels near the buttocks), trunk
    leaning forward to keep balance, knees apart a little."""
    d = np.asarray(depth, dtype=np.float64)
    a = {"lumbar_flex": 30 * d + ctx.keys(3.0, -5, 10) * d, "neck_flex": -10 * d}
    for s in ("l", "r"):
        a.update({f"{s}_hip_flex": 110 * d, f"{s}_knee": 125 * d, f"{s}_ankle": 28 * d,
                  f"{s}_hip_abd": 12 * d + ctx.keys(3.0, 0, 10) * d})
    return a


def kneel_one(ctx: Ctx, side: str, depth) -> dict:
    """Down on one knee (``side``'s knee on the floor, the other foot forward), ``depth`` (F,)
    in [0, 1]."""
    d, o = np.asarray(depth, dtype=np.float64), other(side)
    return {f"{o}_hip_flex": 95 * d, f"{o}_knee": 95 * d, f"{o}_ankle": 10 * d,
            f"{side}_hip_flex": -5 * d, f"{side}_knee": 105 * d, f"{side}_ankle": -25 * d,
            f"{side}_toe": 35 * d, "lumbar_flex": ctx.keys(3.0, 0, 20) * d}


def bending(ctx: Ctx, depth) -> dict:
    """Bending forward to reach low (``depth`` (F,) in [0, 1]): the back rounds and the knees
    bend; the bend at the hips is the programme's ``lean`` (about 50 degrees x depth, see
    :func:`~mmdiff.data.synthetic.behaviours.motion`)."""
    a = {"lumbar_flex": 25 * depth, "chest_flex": 15 * depth, "neck_flex": 10 * depth}
    knee = ctx.keys(3.0, 10, 60) * depth
    for s in ("l", "r"):
        a.update({f"{s}_hip_flex": 0.6 * knee, f"{s}_knee": knee, f"{s}_ankle": 0.5 * knee})
    return a


def lunge(ctx: Ctx, side: str, depth) -> dict:
    """A lunge or a step-out stance: ``side``'s leg forward and bent, the other back and straight,
    ``depth`` (F,) in [0, 1]."""
    d, o = np.asarray(depth, dtype=np.float64), other(side)
    bend = ctx.keys(3.0, 50, 90)
    return {f"{side}_hip_flex": (0.9 * bend) * d, f"{side}_knee": bend * d,
            f"{side}_ankle": 0.4 * bend * d, f"{o}_hip_flex": -20 * d, f"{o}_knee": 5 * d,
            f"{o}_ankle": 10 * d, "lumbar_flex": 5 * d}
