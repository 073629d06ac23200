"""Postures and movements as joint-angle sets: arm poses, idle stance, gait, sitting, bending.

A joint-angle set is a dict {name: (F,) degrees} with names of
:data:`mmdiff.data.synthetic.body.LIMITS`; :func:`add` and :func:`blend` compose them. Whole-body
targets (sitting on a chair or on the floor, bending, crouching) are blended in and out by the
programmes with smooth weights.
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.programme import Ctx

SIDES = ("l", "r")

_ARM_POSES = {     # (sh_flex, sh_abd, sh_rot, elbow) degrees, see motion.LIMITS
    "relaxed": (10, 8, 20, 50), "front": (20, -5, 45, 85), "face": (40, -20, 40, 140), "chin": (20, -10, 50, 150),
    "ear": (70, 40, -20, 150), "camera": (60, -10, 20, 120), "hips": (-40, 30, 20, 100),
    "behind": (-40, -30, -40, 50), "crossed": (10, -20, 60, 110), "wave": (110, 60, -60, 80),
    "lap": (40, 0, 90, 10), "gesture": (30, 10, 25, 85), "point": (85, 25, 0, 10),
    "reach_down": (75, 5, 10, 15), "reach_fwd": (80, 10, 5, 20), "leash": (35, 10, 10, 45),
    "raised": (150, 25, 0, 10), "support": (-40, 15, 0, 25), "knee": (35, 5, 15, 40),
}



# --- composing angle sets -------------------------------------------------------------------
def add(angles: dict, extra: dict, weight=1.0) -> dict:
    """angles + weight * extra (new dict; missing names count as 0)."""
    out = dict(angles)
    for k, v in extra.items():
        out[k] = out.get(k, 0.0) + weight * v
    return out


def blend(angles: dict, target: dict, weight) -> dict:
    """Move the named angles toward ``target`` by ``weight`` (F,) in [0, 1] (new dict)."""
    out = dict(angles)
    for k, v in target.items():
        base = out.get(k, 0.0)
        out[k] = base + weight * (v - base)
    return out


def arm_pose(side: str, name: str, ctx: Ctx | None = None, jitter: float = 0.0) -> dict:
    """Angles of one arm in a named pose of ``_ARM_POSES``; ``jitter`` adds smooth random
    variation of that many degrees (needs ``ctx``)."""
    flex, abd, rot, elbow = _ARM_POSES[name]
    pose = {f"{side}_sh_flex": flex, f"{side}_sh_abd": abd, f"{side}_sh_rot": rot,
            f"{side}_elbow": elbow}
    if jitter:
        pose = {k: v + ctx.keys(1.5 / ctx.style.tempo, -jitter, jitter) for k, v in pose.items()}
    return pose


def other(side: str) -> str:
    return "l" if side == "r" else "r"



# --- stance and gait -----------------------------------------------------------------------
def stance(ctx: Ctx) -> dict:
    """Idle standing: weight shifts, breathing, looking around, relaxed arms. Returns angles."""
    st, tempo = ctx.style, ctx.style.tempo
    shift = ctx.keys(3.0 / tempo, -1, 1)                                # -1 right .. +1 left
    a = {"lumbar_flex": st.lean + ctx.keys(4.0 / tempo, -5, 12),
         "chest_flex": 3 + 2 * np.sin(2 * np.pi * 0.25 * ctx.t + ctx.rng.uniform(0, 6.3)),
         "lumbar_side": -3 * shift, "chest_twist": ctx.keys(3.0 / tempo, -15, 15),
         "neck_flex": 10 + ctx.keys(2.5 / tempo, -8, 15) * st.head,
         "neck_twist": ctx.keys(2.0 / tempo, -30, 30) * st.head,
         "head_twist": ctx.keys(2.0 / tempo, -15, 15) * st.head,
         "head_side": ctx.keys(3.0 / tempo, -6, 6), "neck_side": ctx.keys(3.0 / tempo, -5, 5)}
    for s, sign in (("l", 1.0), ("r", -1.0)):
        load = np.clip(sign * shift, 0, 1)                              # weight on this leg
        a[f"{s}_hip_abd"] = st.stance + 4 * (1 - load) - 2 * load
        a[f"{s}_knee"] = st.knee_bend + 32 * (1 - load) * np.clip(np.abs(shift), 0, 1)
        a[f"{s}_hip_flex"] = 0.5 * a[f"{s}_knee"] - st.lean * 0.3
        a[f"{s}_ankle"] = 0.4 * a[f"{s}_knee"]
        a[f"{s}_hip_rot"] = ctx.keys(4.0, -8, 12)
        a = add(a, arm_pose(s, "relaxed", ctx, jitter=15))
        a[f"{s}_clav_elev"] = ctx.keys(4.0, -2, 5)
        a[f"{s}_wrist"] = ctx.keys(3.0, -10, 20)
    front = ctx.gate((2.0, 6.0), (2.0, 6.0), ramp=0.8)                  # hands held in front
    for s in SIDES:
        a = blend(a, arm_pose(s, "front", ctx, jitter=15), front)
    step = ctx.keys(4.0 / tempo, -1, 1) * ctx.gate((2, 6), (2, 6), ramp=1.0)   # one foot ahead
    a = add(a, {"l_hip_flex": 15 * step, "r_hip_flex": -15 * step,
                "l_knee": 10 * np.clip(step, 0, 1), "r_knee": 10 * np.clip(-step, 0, 1)})
    return a


def _vonmises(phase, centre, kappa):
    return np.exp(kappa * (np.cos(phase - 2 * np.pi * centre) - 1))


def gait(ctx: Ctx, speed: np.ndarray, swing: float = 1.0) -> dict:
    """Walking angles for a speed profile (F,) m/s: legs, arm swing, trunk counter-rotation.

    Amplitudes grow with speed (0 at rest). Cadence ~0.9 cycles/s at 1.25 m/s. Returns the
    angles to ADD to a stance.
    """
    st = ctx.style
    amount = np.clip(speed / 1.0, 0, 1.3)                               # (F,)
    cadence = st.cadence * 0.92 * np.clip(speed / 1.25, 0, 1.5) ** 0.55  # cycles per second
    phase = 2 * np.pi * np.cumsum(cadence) / ctx.fps + ctx.rng.uniform(0, 2 * np.pi)
    a = {"chest_twist": -5 * amount * np.sin(phase), "lumbar_twist": 3 * amount * np.sin(phase),
         "lumbar_flex": 3 * amount}
    for s, shift in (("l", 0.0), ("r", np.pi)):
        ph = phase + shift
        a[f"{s}_hip_flex"] = amount * (6 + 21 * np.cos(ph))
        a[f"{s}_knee"] = amount * (12 * _vonmises(ph, 0.12, 6) + 55 * _vonmises(ph, 0.72, 5))
        a[f"{s}_ankle"] = amount * (7 * _vonmises(ph, 0.4, 4) - 16 * _vonmises(ph, 0.62, 8))
        a[f"{s}_toe"] = amount * 18 * _vonmises(ph, 0.58, 8)
        a[f"{s}_sh_flex"] = -amount * swing * st.arm_swing * 16 * np.cos(ph)
        a[f"{s}_elbow"] = amount * swing * st.arm_swing * (10 - 8 * np.cos(ph))
    return a



# --- postures (whole-body targets) ----------------------------------------------------------
def seated(ctx: Ctx) -> dict:
    """Sitting on a chair: thighs horizontal, shins down, trunk leaning, legs shifting."""
    a = {"lumbar_flex": ctx.keys(3.0, -8, 22), "neck_flex": ctx.keys(2.5, 5, 30)}
    cross = ctx.gate((3, 8), (4, 12), ramp=1.0)                         # legs crossed now and then
    for s, sign in (("l", 1.0), ("r", -1.0)):
        knee = ctx.keys(3.0, 70, 110)
        a.update({f"{s}_hip_flex": ctx.keys(3.0, 80, 98), f"{s}_knee": knee,
                  f"{s}_ankle": 0.3 * (knee - 90), f"{s}_hip_abd": ctx.keys(3.0, 0, 14),
                  f"{s}_hip_rot": ctx.keys(3.0, -5, 10)})
    a["r_hip_abd"] = a["r_hip_abd"] - 14 * cross
    a["r_hip_flex"] = a["r_hip_flex"] + 12 * cross
    a["r_knee"] = a["r_knee"] - 20 * cross
    return a


def floor_sitting(ctx: Ctx) -> tuple[dict, np.ndarray]:
    """Sitting on the floor, pelvis tilted back, legs stretched or knees up, now and then
    leaning back on the hands. Returns (angles, pelvis pitch (F,) radians, negative = back)."""
    lean_back = ctx.gate((3, 8), (3, 8), ramp=1.2)
    tilt = ctx.keys(4.0, 10, 30)                                        # pelvis back, deg
    a = {"lumbar_flex": tilt + 10 - 20 * lean_back + ctx.keys(3.0, -5, 10),
         "neck_flex": ctx.keys(3, 5, 30), "chest_flex": 10 - 5 * lean_back}
    for s in ("l", "r"):
        up = ctx.keys(5.0, 0, 1)                                        # 0 stretched, 1 knees up
        a.update({f"{s}_hip_flex": 90 - tilt + 40 * up, f"{s}_knee": 10 + 105 * up,
                  f"{s}_ankle": ctx.keys(3.0, -20, 15), f"{s}_hip_abd": ctx.keys(3.0, 5, 25),
                  f"{s}_hip_rot": ctx.keys(3.0, -10, 25)})
        a = blend(a, arm_pose(s, "support"), lean_back)
    return a, -np.radians(tilt)


def bending(ctx: Ctx, depth) -> dict:
    """Bending forward to reach low (``depth`` (F,) in [0, 1]): trunk, hips and knees flex."""
    a = {"lumbar_flex": 55 * depth, "chest_flex": 15 * depth, "neck_flex": 15 * depth}
    knee = ctx.keys(3.0, 10, 60) * depth
    for s in ("l", "r"):
        a.update({f"{s}_hip_flex": 35 * depth + 0.6 * knee, f"{s}_knee": knee,
                  f"{s}_ankle": 0.5 * knee})
    return a


def crouch(depth) -> dict:
    """Crouching (``depth`` (F,) in [0, 1]) with the trunk upright."""
    return {"l_hip_flex": 80 * depth, "r_hip_flex": 80 * depth, "l_knee": 110 * depth,
            "r_knee": 110 * depth, "l_ankle": 28 * depth, "r_ankle": 28 * depth,
            "lumbar_flex": 15 * depth}
