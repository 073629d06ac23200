"""Motion programmes: one procedural generator of joint angles per Human3.6M action.

A programme turns a random generator, a subject's :class:`Style` and a number of frames into a
:class:`Motion`: joint angles in degrees (names of :data:`mmdiff.data.motion.LIMITS`), a root path
on the floor and a heading; :func:`mmdiff.data.synthetic.animate` turns it into 3D joints. All timing is
in seconds and converted with the frame rate, so a programme looks the same at any rate.

Building blocks, composed by the 15 programmes at the end of the file:
- smooth random signals (:func:`keyframes`, :func:`gate`), C1-smooth, bounded;
- an idle stance (weight shifts, looking around, relaxed arms), a walking gait with arm swing,
  paths on the floor (loops and wandering between spots);
- arm poses (hand to face, phone at the ear, pointing, waving, camera, hands on hips, ...) and
  whole-body postures (sitting on a chair, sitting on the floor, bending, crouching), blended in
  and out with smooth weights.
Every subject's style and every take's timing come from the random generator, so no two
subjects (and no two takes) share poses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDES = ("l", "r")

_ARM_POSES = {     # (sh_flex, sh_abd, sh_rot, elbow) degrees, see motion.LIMITS
    "relaxed": (10, 8, 20, 50), "front": (20, -5, 45, 85), "face": (40, -20, 40, 140), "chin": (20, -10, 50, 150),
    "ear": (70, 40, -20, 150), "camera": (60, -10, 20, 120), "hips": (-40, 30, 20, 100),
    "behind": (-40, -30, -40, 50), "crossed": (10, -20, 60, 110), "wave": (110, 60, -60, 80),
    "lap": (40, 0, 90, 10), "gesture": (30, 10, 25, 85), "point": (85, 25, 0, 10),
    "reach_down": (75, 5, 10, 15), "reach_fwd": (80, 10, 5, 20), "leash": (35, 10, 10, 45),
    "raised": (150, 25, 0, 10), "support": (-40, 15, 0, 25), "knee": (35, 5, 15, 40),
}


@dataclass(frozen=True)
class Style:
    """How one subject moves (drawn once per subject by :func:`sample_style`).

    speed: walking speed factor; cadence: step-rate factor; arm_swing: arm-swing factor;
    lean: forward trunk lean (deg); knee_bend: standing knee flexion (deg); stance: stance width
    (hip abduction, deg); gesture: size of arm gestures; tempo: speed of idle motions;
    head: size of head movements; hand: dominant hand, "r" or "l".
    """

    speed: float
    cadence: float
    arm_swing: float
    lean: float
    knee_bend: float
    stance: float
    gesture: float
    tempo: float
    head: float
    hand: str


def sample_style(rng: np.random.Generator) -> Style:
    """A subject's movement style, drawn from ``rng``."""
    u = rng.uniform
    return Style(speed=u(0.85, 1.15), cadence=u(0.9, 1.1), arm_swing=u(0.6, 1.4), lean=u(0, 7),
                 knee_bend=u(4, 14), stance=u(1, 6), gesture=u(0.7, 1.3), tempo=u(0.7, 1.4),
                 head=u(0.6, 1.4), hand="r" if u() < 0.85 else "l")


@dataclass
class Motion:
    """A programme's output for F frames.

    angles: {name: (F,) degrees}; xy: (F, 2) root position on the floor, metres, relative to the
    centre of the capture area; heading: (F,) radians (0 faces +x); pitch: (F,) radians, forward
    tilt of the whole body (lying back is negative); chair: (F,) seat height in metres, NaN where
    there is none.
    """

    angles: dict
    xy: np.ndarray
    heading: np.ndarray
    pitch: np.ndarray
    chair: np.ndarray


class Ctx:
    """Frame count, frame rate, random generator and style shared by a programme's blocks."""

    def __init__(self, num_frames: int, fps: float, rng: np.random.Generator, style: Style):
        self.F, self.fps, self.rng, self.style = num_frames, fps, rng, style
        self.t = np.arange(num_frames) / fps                            # (F,) seconds

    def keys(self, period, lo, hi):
        return keyframes(self.rng, self.F, self.fps, period, lo, hi)

    def gate(self, on, off, ramp=0.7, start_on=None):
        return gate(self.rng, self.F, self.fps, on, off, ramp, start_on)

    def zeros(self):
        return np.zeros(self.F)


# --- smooth random signals ------------------------------------------------------------------
def _smoothstep(u):
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _interpolate(times, values, t):
    """C1 interpolation through (times, values) with zero slope at each key; t: (F,) seconds."""
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    u = (t - times[i]) / (times[i + 1] - times[i])
    return values[i] + _smoothstep(u) * (values[i + 1] - values[i])


def keyframes(rng, num_frames, fps, period, lo, hi) -> np.ndarray:
    """A smooth random signal in [lo, hi]: uniform keys about every ``period`` s. Returns (F,)."""
    duration = num_frames / fps
    n = int(duration / period) + 3
    times = np.cumsum(period * rng.uniform(0.6, 1.4, n)) - period * rng.uniform(0.5, 1.5)
    values = rng.uniform(lo, hi, n)
    return _interpolate(times, values, np.arange(num_frames) / fps)


def gate(rng, num_frames, fps, on, off, ramp=0.7, start_on=None) -> np.ndarray:
    """A smooth on/off weight (F,) in [0, 1]: on for U(*on) s, off for U(*off) s, alternating,
    with ``ramp``-second smooth transitions. ``start_on`` None picks the first state at random."""
    duration = num_frames / fps
    state = bool(rng.uniform() < 0.5) if start_on is None else bool(start_on)
    times, values, t = [-1.0], [float(state)], -rng.uniform(0, 2.0)
    while t < duration + 1:
        t += rng.uniform(*(on if state else off))
        times += [t, t + ramp]
        state = not state
        values += [values[-1], float(state)]
    return _interpolate(np.array(times), np.array(values), np.arange(num_frames) / fps)


def _smooth_series(x, fps, sigma_s):
    """Gaussian low-pass along time (edge-padded); x: (F,) or (F, C)."""
    r = max(1, int(3 * sigma_s * fps))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / (sigma_s * fps)) ** 2)
    k /= k.sum()
    pad = np.pad(x, [(r, r)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    return np.apply_along_axis(lambda c: np.convolve(c, k, mode="valid"), 0, pad)


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


def _other(side: str) -> str:
    return "l" if side == "r" else "r"


# --- stance, gait and paths -----------------------------------------------------------------
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


def _heading_of(xy, fps, fallback):
    """Direction of travel (F,) radians from a path (F, 2), ``fallback`` where it stands."""
    v = np.gradient(xy, axis=0) * fps                                   # (F, 2) m/s
    moving = np.linalg.norm(v, axis=1) > 0.05
    h = np.where(moving, np.arctan2(v[:, 1], v[:, 0]), fallback)
    return h


def _smooth_heading(h, fps, sigma_s=0.35):
    return _smooth_series(np.unwrap(h), fps, sigma_s)


def loop_path(ctx: Ctx, speed: np.ndarray, radius=(1.4, 0.9)):
    """Walk an ellipse (random size, orientation and direction) at ``speed`` (F,) m/s.

    Returns xy (F, 2) metres and heading (F,) radians (the direction of travel).
    """
    a, b = radius[0] * ctx.rng.uniform(0.75, 1.0), radius[1] * ctx.rng.uniform(0.7, 1.0)
    rot, direction = ctx.rng.uniform(0, np.pi), ctx.rng.choice([-1.0, 1.0])
    theta = np.linspace(0, 2 * np.pi, 721)
    pts = np.stack([a * np.cos(theta), b * np.sin(theta)], 1)          # (721, 2)
    seg = np.r_[0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    s = (np.cumsum(speed) / ctx.fps + ctx.rng.uniform(0, seg[-1])) % seg[-1]
    s = s if direction > 0 else seg[-1] - s
    xy = np.stack([np.interp(s, seg, pts[:, 0]), np.interp(s, seg, pts[:, 1])], 1)
    c, si = np.cos(rot), np.sin(rot)
    xy = xy @ np.array([[c, si], [-si, c]])                             # rotate the ellipse
    return xy, _smooth_heading(_heading_of(xy, ctx.fps, 0.0), ctx.fps, 0.2)


def wander_path(ctx: Ctx, dwell=(2.0, 6.0), radius=1.0, speed=1.0):
    """Stand a while, walk to another spot, stand, ...; faces a new random direction while
    standing and the walking direction while walking.

    Returns xy (F, 2), heading (F,) radians and walking speed (F,) m/s.
    """
    duration = ctx.F / ctx.fps
    times, points = [-1.0], [ctx.rng.uniform(-0.5, 0.5, 2) * radius]
    t = 0.0
    while t < duration + 1:
        t += ctx.rng.uniform(*dwell)
        target = ctx.rng.uniform(-1, 1, 2) * radius
        walk = max(1.0, np.linalg.norm(target - points[-1]) / (speed * ctx.style.speed) * 1.5)
        times += [t, t + walk]
        points += [points[-1], target]
        t += walk
    times, points = np.array(times), np.array(points)
    xy = np.stack([_interpolate(times, points[:, k], ctx.t) for k in range(2)], 1)
    facing = ctx.keys(4.0, -np.pi, np.pi)
    heading = _smooth_heading(_heading_of(xy, ctx.fps, facing), ctx.fps, 0.3)
    speed_now = np.linalg.norm(np.gradient(xy, axis=0), axis=1) * ctx.fps
    return xy, heading, speed_now


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

# --- helpers shared by programmes -----------------------------------------------------------
def _motion(ctx, angles, xy, heading, chair=None, pitch=None) -> Motion:
    nan = np.full(ctx.F, np.nan)
    return Motion(angles, xy, heading, ctx.zeros() if pitch is None else pitch,
                  nan if chair is None else chair)


def _wandering(ctx, dwell=(2.0, 6.0), radius=1.0, speed=1.0, swing=1.0):
    """Stance plus walking between spots: (angles, xy, heading)."""
    xy, heading, v = wander_path(ctx, dwell, radius, speed)
    sway = np.stack([ctx.keys(3.0, -0.03, 0.03), ctx.keys(2.0 / ctx.style.tempo, -0.05, 0.05)], 1)
    return add(stance(ctx), gait(ctx, v, swing)), _body_offset(xy, heading, sway), heading


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


def _body_offset(xy, heading, offset):
    """Add an offset given in the body frame (F, 2) (forward, left) to a path (F, 2)."""
    c, s = np.cos(heading), np.sin(heading)
    return xy + np.stack([c * offset[:, 0] - s * offset[:, 1], s * offset[:, 0] + c * offset[:, 1]], 1)


def _standing_still(ctx, radius=0.6):
    """A place and a slowly changing facing for actions done mostly on the spot."""
    xy = ctx.rng.uniform(-radius, radius, 2) + np.stack([ctx.keys(6, -0.1, 0.1),
                                                         ctx.keys(6, -0.1, 0.1)], 1)
    return xy, _smooth_heading(ctx.keys(5.0, -np.pi, np.pi), ctx.fps, 0.5)


def _hand_to_face(ctx, a, side, on=(1.2, 2.5), off=(3.0, 8.0), pose="face"):
    w = ctx.gate(on, off, ramp=0.8)
    a = blend(a, arm_pose(side, pose, ctx, jitter=6), w)
    return add(a, {"neck_flex": 8 * w})


def _seated_phases(ctx, a, xy, heading, fraction):
    """Sit on a chair part of the time; returns (angles, xy, chair)."""
    w = _sit_weight(ctx, fraction)
    a, off = _sit_down(ctx, a, w, seated(ctx))
    chair = np.where(w > 0.5, ctx.rng.uniform(0.42, 0.50), np.nan)
    return a, _body_offset(xy, heading, off), chair


# --- the 15 programmes ----------------------------------------------------------------------
def directions(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.0, 5.0), radius=1.0)
    hand = ctx.style.hand if take == 1 else _other(ctx.style.hand)
    w = ctx.gate((1.5, 4.0), (2.0, 5.0))
    point = arm_pose(hand, "point", ctx, jitter=15)
    point[f"{hand}_sh_abd"] = ctx.keys(2.5, -10, 70)
    a = blend(a, point, w)
    a = add(a, {"neck_twist": (1 if hand == "l" else -1) * 0.3 * point[f"{hand}_sh_abd"] * w})
    return _motion(ctx, _gesturing(ctx, a, _other(hand), on=(1, 3), off=(3, 8)), xy, h)


def discussion(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.5, 7.0), radius=0.8, speed=0.8)
    for side in ("l", "r"):
        a = _gesturing(ctx, a, side, jitter=25)
    a = add(a, {"chest_twist": ctx.keys(2.0, -12, 12), "lumbar_flex": ctx.keys(3, -3, 10)})
    if take == 2:
        a = blend(a, arm_pose(_other(ctx.style.hand), "crossed", ctx, 8), ctx.gate((3, 8), (4, 10)))
    return _motion(ctx, a, xy, h)


def eating(ctx, take):
    xy, h = _standing_still(ctx)
    a, xy, h = _wandering(ctx, dwell=(3.0, 8.0), radius=0.8, speed=0.8)
    a, xy, chair = _seated_phases(ctx, a, xy, h, 0.75 if take == 1 else 0.5)
    hand = ctx.style.hand
    a = blend(a, arm_pose(_other(hand), "reach_fwd", ctx, jitter=15), 0.7)
    a = add(a, {f"{_other(hand)}_elbow": 50.0})
    a = _hand_to_face(ctx, a, hand, on=(1.0, 2.0), off=(1.5, 4.0))
    return _motion(ctx, add(a, {"neck_flex": 10.0}), xy, h, chair)


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
    return _motion(ctx, _gesturing(ctx, a, _other(hand), on=(1, 3), off=(3, 7)), xy, h)


def phoning(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.0, 5.0), radius=0.9, speed=0.8)
    a, xy, chair = _seated_phases(ctx, a, xy, h, 0.25 if take == 1 else 0.55)
    hand = ctx.style.hand
    a = blend(a, arm_pose(hand, "ear", ctx, jitter=6), ctx.gate((6, 15), (1.0, 3.0), start_on=True))
    a = _gesturing(ctx, a, _other(hand), on=(1, 3), off=(3, 8))
    return _motion(ctx, a, xy, h, chair)


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
    o = _other(s)
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
        w = _smoothstep(2.0 * w)
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
    a = blend(a, arm_pose(_other(hand), "reach_down" if take == 1 else "lap", ctx, 12), 0.6 * depth)
    shelf = ctx.gate((1.0, 3.0), (4.0, 9.0)) * (1 - depth)
    a = blend(a, arm_pose(hand, "reach_fwd", ctx, jitter=20), shelf)
    return _motion(ctx, a, xy, h)


def sitting(ctx, take):
    xy, h = _standing_still(ctx, radius=0.4)
    a, off = _sit_down(ctx, stance(ctx), np.ones(ctx.F), seated(ctx))
    chair = np.full(ctx.F, ctx.rng.uniform(0.42, 0.50))
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "knee", ctx, jitter=10), 0.8)
        a = _gesturing(ctx, a, side, on=(1.0, 3.0), off=(2.0, 6.0))
    act = ("ear", "crossed", "face", "reach_fwd")[ctx.rng.integers(4)]
    a = blend(a, arm_pose(ctx.style.hand, act, ctx, jitter=8), ctx.gate((3, 8), (3, 8)))
    lean = ctx.gate((2, 5), (3, 8)) * (20 if take == 1 else 30)
    a = add(a, {"lumbar_flex": lean, "neck_flex": 0.5 * lean})
    return _motion(ctx, a, _body_offset(xy, h, off), h, chair)


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
    return _interpolate(times, values, ctx.t)


def sitting_down(ctx, take):
    xy, h = _standing_still(ctx, radius=0.5)
    w = _down_up(ctx, take)
    floor, tilt = floor_sitting(ctx)
    a, off = _sit_down(ctx, stance(ctx), w, floor, back=0.35)
    for side in ("l", "r"):
        a = blend(a, arm_pose(side, "knee", ctx, jitter=15), 0.5 * w)
    return _motion(ctx, a, _body_offset(xy, h, off), h, pitch=w * tilt)


def smoking(ctx, take):
    a, xy, h = _wandering(ctx, dwell=(2.5, 7.0), radius=0.8, speed=0.8)
    a, xy, chair = _seated_phases(ctx, a, xy, h, 0.25 if take == 1 else 0.55)
    hand = ctx.style.hand
    a = blend(a, arm_pose(_other(hand), "crossed", ctx, jitter=8), ctx.gate((4, 10), (2, 5)))
    a = _hand_to_face(ctx, a, hand, on=(1.5, 2.5), off=(3.0, 8.0), pose="chin")
    return _motion(ctx, a, xy, h, chair)


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
