"""Joint-angle sets for the upper body and for standing and walking: arm poses, a plausible-arm
sampler, the idle stance and the gait.

A joint-angle set is a dict {name: (F,) degrees} with names of
:data:`mmdiff.data.synthetic.body.LIMITS`; :func:`add` and :func:`blend` compose them. Whole-body
postures (sitting, kneeling, squatting, bending) are in :mod:`~mmdiff.data.synthetic.whole_body`.
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.programme import Ctx

SIDES = ("l", "r")

_ARM_POSES = {     # (sh_flex, sh_abd, sh_rot, elbow) degrees, see body.LIMITS
    "relaxed": (8, 32, 10, 35), "front": (15, 20, 30, 80), "face": (40, -20, 40, 140),
    "chin": (20, -10, 50, 150), "ear": (70, 40, -20, 150), "camera": (60, -10, 20, 120),
    "hips": (-40, 30, 20, 100), "behind": (-40, -30, -40, 50), "crossed": (10, -20, 60, 110),
    "wave": (110, 60, -60, 80), "lap": (40, 0, 90, 10), "gesture": (30, 25, 20, 85),
    "point": (85, 25, 0, 10), "reach_down": (75, 5, 10, 15), "reach_fwd": (80, 10, 5, 20),
    "leash": (35, 10, 10, 45), "raised": (150, 25, 0, 10), "support": (-40, 15, 0, 25),
    "knee": (35, 5, 15, 40), "thighs": (5, 15, 35, 65), "swing": (0, 24, 10, 18),
    "pocket": (-8, 8, 35, 65), "head": (140, 70, -50, 145),
    "elbows_on_knees": (55, -5, 30, 115), "hold": (15, 5, 40, 95), "hug": (75, 30, 60, 70),
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


def other(side: str) -> str:
    return "l" if side == "r" else "r"


# --- arms -----------------------------------------------------------------------------------
def arm_pose(side: str, name: str, ctx: Ctx | None = None, jitter: float = 0.0) -> dict:
    """Angles of one arm in a named pose of ``_ARM_POSES``; ``jitter`` adds smooth random
    variation of that many degrees (needs ``ctx``)."""
    flex, abd, rot, elbow = _ARM_POSES[name]
    pose = {f"{side}_sh_flex": flex, f"{side}_sh_abd": abd, f"{side}_sh_rot": rot,
            f"{side}_elbow": elbow}
    if jitter:
        pose = {k: v + ctx.keys(1.5 / ctx.style.tempo, -jitter, jitter) for k, v in pose.items()}
    return pose


#: Ranges (degrees) the arm sampler draws from: within LIMITS, where arms spend their time.
_FREE_ARM = {"sh_flex": (-35, 150), "sh_abd": (-20, 100), "sh_rot": (-45, 80),
             "elbow": (0, 145), "wrist": (-40, 50)}


def free_arm(ctx: Ctx, side: str, hold: float = 2.0) -> dict:
    """A plausible arm pose that changes every ``hold`` seconds or so: each angle a smooth
    random signal over :data:`_FREE_ARM` (inside the joint limits; a swing past the shoulder's
    reach is clipped by the body). What a person does with an arm between named poses."""
    return {f"{side}_{name}": ctx.keys(hold / ctx.style.tempo, lo, hi)
            for name, (lo, hi) in _FREE_ARM.items()}


def arm_excursions(ctx: Ctx, a: dict, on=(1.0, 3.0), off=(2.0, 6.0), sides=SIDES) -> dict:
    """Blend :func:`free_arm` poses in and out of ``a``, each arm on its own schedule."""
    for side in sides:
        a = blend(a, free_arm(ctx, side), ctx.gate(on, off, ramp=0.7))
    return a


# --- stance and gait -----------------------------------------------------------------------
def stance(ctx: Ctx) -> dict:
    """Idle standing: weight shifts, breathing, looking around, relaxed arms. Returns angles."""
    st, tempo = ctx.style, ctx.style.tempo
    shift = ctx.keys(3.0 / tempo, -1, 1)                                # -1 right .. +1 left
    a = {"lumbar_flex": st.lean + ctx.keys(4.0 / tempo, -6, 6),
         "chest_flex": 12 + 2 * np.sin(2 * np.pi * 0.25 * ctx.t + ctx.rng.uniform(0, 6.3)),
         "lumbar_side": -3 * shift + ctx.keys(3.0 / tempo, -8, 8),
         "chest_side": ctx.keys(3.0 / tempo, -6, 6),
         "lumbar_twist": ctx.keys(3.0 / tempo, -10, 10),
         "chest_twist": ctx.keys(3.0 / tempo, -15, 15),
         "neck_flex": ctx.keys(1.8 / tempo, -16, 8) * st.head,
         "neck_twist": ctx.keys(1.6 / tempo, -35, 35) * st.head,
         "head_twist": ctx.keys(1.6 / tempo, -15, 15) * st.head,
         "head_side": ctx.keys(3.0 / tempo, -6, 6), "neck_side": ctx.keys(3.0 / tempo, -5, 5)}
    for s, sign in (("l", 1.0), ("r", -1.0)):
        load = np.clip(sign * shift, 0, 1)                              # weight on this leg
        a[f"{s}_hip_abd"] = st.stance + 2 * (1 - load) - 1 * load
        a[f"{s}_knee"] = st.knee_bend + 26 * (1 - load) * np.clip(np.abs(shift), 0, 1) ** 2
        a[f"{s}_hip_flex"] = 0.2 * a[f"{s}_knee"] - 1
        a[f"{s}_ankle"] = a[f"{s}_knee"] - a[f"{s}_hip_flex"]           # the foot flat
        a[f"{s}_hip_rot"] = ctx.keys(4.0, -8, 12)
        a = add(a, arm_pose(s, "relaxed", ctx, jitter=12))
        a[f"{s}_clav_elev"] = ctx.keys(4.0, -2, 5)
        a[f"{s}_wrist"] = ctx.keys(3.0, -10, 20)
    front = ctx.gate((2.0, 6.0), (2.0, 6.0), ramp=0.8)                  # hands held in front
    for s in SIDES:
        a = blend(a, arm_pose(s, "front", ctx, jitter=15), front)
    step = ctx.keys(6.0 / tempo, -1, 1) * ctx.gate((3, 8), (3, 8), ramp=1.0)   # one foot ahead
    a = add(a, {"l_hip_flex": 9 * step, "r_hip_flex": -9 * step,
                "l_knee": 8 * np.clip(step, 0, 1), "r_knee": 8 * np.clip(-step, 0, 1)})
    return a


def _vonmises(phase, centre, kappa):
    return np.exp(kappa * (np.cos(phase - 2 * np.pi * centre) - 1))


def gait(ctx: Ctx, speed: np.ndarray, swing: float = 1.0) -> dict:
    """Walking angles for a speed profile (F,) m/s: legs, arm swing, trunk counter-rotation.

    Amplitudes grow with speed (0 at rest). Cadence ~0.9 cycles/s at 1.25 m/s. The ankle keeps
    the stance foot flat (it flexes by knee - hip), pushes off, then lifts the toes in swing.
    Returns the angles to ADD to a stance.
    """
    st = ctx.style
    amount = np.clip(speed / 1.0, 0, 1.3)                               # (F,)
    cadence = st.cadence * 0.92 * np.clip(speed / 1.25, 0, 1.5) ** 0.55  # cycles per second
    phase = 2 * np.pi * np.cumsum(cadence) / ctx.fps + ctx.rng.uniform(0, 2 * np.pi)
    a = {"chest_twist": -5 * amount * np.sin(phase), "lumbar_twist": 3 * amount * np.sin(phase),
         "lumbar_flex": 3 * amount}
    for s, shift in (("l", 0.0), ("r", np.pi)):
        ph = phase + shift                                              # 0: heel strike
        hip = amount * (6 + 21 * np.cos(ph))
        knee = amount * (12 * _vonmises(ph, 0.12, 6) + 55 * _vonmises(ph, 0.72, 5))
        u = (ph / (2 * np.pi)) % 1.0
        flat = np.clip((u + 0.03) / 0.08, 0, 1) * np.clip((0.6 - u) / 0.08, 0, 1)    # stance
        a[f"{s}_hip_flex"], a[f"{s}_knee"] = hip, knee
        a[f"{s}_ankle"] = flat * (knee - hip) + amount * (6 * _vonmises(ph, 0.85, 6)
                                                          - 14 * _vonmises(ph, 0.6, 10))
        a[f"{s}_toe"] = amount * 18 * _vonmises(ph, 0.58, 8)
        a[f"{s}_sh_flex"] = -amount * swing * st.arm_swing * 16 * np.cos(ph)
        a[f"{s}_elbow"] = amount * swing * st.arm_swing * (8 - 8 * np.cos(ph))
    return a
