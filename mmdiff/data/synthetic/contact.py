"""Contact with the floor: feet planted in stance (with steps and leg IK), hands resting on it.

Joint-angle programmes move the feet with the legs, so a foot that should stand still slides a
little whenever the body moves over it. :func:`plant_feet` fixes that after forward kinematics
and floor placement, the way motion-capture clean-up does:

1. contact: a foot is in contact while it moves slower than CONTACT_SPEED and its heel (the
   ankle joint) is within CONTACT_BAND of its resting height, or, when seated, within REACH_DOWN
   of the floor (the foot rests on it);
2. planting: for a whole contact run the ankle stays where the run began (its height as the
   programme has it, within CONTACT_BAND; on the floor when seated), the foot flat with the
   heading it had then;
3. steps: when the intended foot (the programme's) strays STEP_DRIFT away, turns STEP_TURN, or
   the leg cannot reach the planted ankle even with the pelvis PELVIS_DROP lower (or would have
   to fold past the knee's range to keep it), the foot steps:
   it lifts (STEP_LIFT) and moves to the intended place over STEP_S seconds, and is planted again
   there;
4. swing: out of contact the foot follows the programme, the offset it had at lift-off fading
   over SWING_BLEND_S, its heel at least SWING_CLEAR above rest (a moving foot is lifted);
5. IK: hip, thigh and shin lengths fixed, the knee in the plane the programme bent it in (or
   up, if that would put it through the floor; its flexion stays in 0..150 degrees), the foot
   carried with the ankle.

A foot in stance therefore stays put: its ankle moves by less than a millimetre over a run.
:func:`rest_hands` does the same for the hands: a hand that the programme put through the floor
(sitting on it, squatting, bending low) rests on it instead, the arm bending by IK.
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.body import CLEARANCE

#: Joints of each leg: hip, knee, ankle, toe base, toe tip (Human3.6M 32-joint indices).
LEGS = {"r": (1, 2, 3, 4, 5), "l": (6, 7, 8, 9, 10)}
#: Joints of each arm: shoulder, elbow, wrist, then the hand's joints carried with the wrist.
ARMS = {"l": (17, 18, 19, (20, 21, 22, 23)), "r": (25, 26, 27, (28, 29, 30, 31))}
CONTACT_BAND = 0.03      # m: heel this close to its resting height ...
CONTACT_SPEED = 0.8      # m/s: ... and moving slower than this (horizontally) = in contact
REACH_DOWN = 0.15        # m: seated, a foot this close above (or below) the floor rests on it
STEP_DRIFT = 0.18        # m: intended foot this far from the planted one -> a step
STEP_TURN = np.radians(35)   # intended foot turned this much from the planted one -> a step
STEP_S = 0.25            # s: duration of a step
STEP_LIFT = 0.07         # m: ankle lift at mid-step
SWING_BLEND_S = 0.3      # s: a lifted foot rejoins the programme's path over this time
SWING_CLEAR = 0.035      # m: a foot out of contact keeps its heel at least this much higher
MAX_KNEE = np.radians(150)
PELVIS_DROP = 0.04       # m: the pelvis may come down this much to keep a planted foot
SEATED_KNEE = np.radians(20)  # seated feet are put on the floor no farther than this knee bend


def _yaw(v):
    """Heading (radians) of horizontal directions v (..., 3)."""
    return np.arctan2(v[..., 1], v[..., 0])


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def _within(xy, z, hip, reach):
    """A floor point (2,) at height z no farther than ``reach`` from the hip (3,): xy pulled
    horizontally toward the hip if needed."""
    flat = xy - hip[:2]
    room = np.sqrt(max(reach ** 2 - (hip[2] - z) ** 2, 0.0))
    dist = np.linalg.norm(flat)
    return xy if dist <= room else hip[:2] + flat * (room / max(dist, 1e-12))


def _targets(pos, ankle, toe, contact, seated, reach, place, fps, closest=0.0):
    """Per frame ankle target (F, 3), the planted mask (F,) and planted foot yaw (F,) of one
    leg, by the contact / plant / step / swing rules of the module docstring. reach: how far a
    planted ankle may be from the hip before the foot steps (m); place: (F,) how far from the
    hip a foot touching down is put (seated feet closer, so the knee stays bent); closest: how
    near the hip a planted ankle may come before the foot steps (the knee's full bend)."""
    F = len(pos)
    floor = CLEARANCE[ankle]
    want = pos[:, ankle]                                                # (F, 3) intended
    yaw = _yaw(pos[:, toe] - pos[:, ankle])                             # (F,)
    hip = pos[:, ankle - 2]
    n_step = max(2, int(round(STEP_S * fps)))
    n_blend = max(1, int(round(SWING_BLEND_S * fps)))
    out, planted, out_yaw = want.copy(), np.zeros(F, bool), yaw.copy()
    pin, pin_yaw, step, offset, since = None, 0.0, None, np.zeros(3), n_blend
    for t in range(F):
        if step is not None:                                            # (start, p0, p1, yaw1)
            t0, p0, p1, y1 = step
            u = (t - t0) / n_step
            if u < 1.0:
                s = u * u * (3 - 2 * u)
                out[t, :2] = p0 + s * (p1 - p0)
                out[t, 2] = floor + STEP_LIFT * np.sin(np.pi * u)
                out_yaw[t] = pin_yaw + s * _wrap(y1 - pin_yaw)
                continue
            step, pin, pin_yaw = None, p1, y1
            if not contact[t]:
                offset, since, pin = np.r_[p1 - want[t, :2], 0.0], 0, None
        if contact[t]:
            if pin is None:                                             # touch down here
                start = want[t] + (offset * (1 - since / n_blend) if since < n_blend else 0)
                pin, pin_yaw = _within(start[:2], floor, hip[t], place[t]), yaw[t]
            z = floor if seated[t] else min(max(want[t, 2], floor), floor + CONTACT_BAND)
            far = np.linalg.norm(want[t, :2] - pin) > STEP_DRIFT
            turned = abs(_wrap(yaw[t] - pin_yaw)) > STEP_TURN
            gap = np.linalg.norm(np.r_[pin, z] - hip[t])
            drop = 0.0 if seated[t] else PELVIS_DROP                    # a seated pelvis stays
            unreachable = np.linalg.norm(np.r_[pin, z + drop] - hip[t]) > reach or \
                gap < closest
            out[t, :2], out[t, 2], out_yaw[t] = pin, z, pin_yaw
            if far or turned or unreachable:
                land = want[min(F - 1, t + n_step), :2]
                step = (t, pin.copy(), land.copy(), yaw[min(F - 1, t + n_step)])
                continue
            planted[t] = True
        else:
            if pin is not None:                                         # lift-off
                offset, since, pin = np.r_[pin - want[t, :2], 0.0], 0, None
            fade = max(0.0, 1 - since / n_blend)
            out[t] = want[t] + offset * fade
            out[t, 2] = max(out[t, 2], floor + SWING_CLEAR)
            since += 1
    return out, planted, out_yaw


def _unit_perp(v, u):
    """v (F, 3) minus its component along unit u (F, 3), normalised (zeros stay ~0)."""
    v = v - np.sum(v * u, -1, keepdims=True) * u
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _two_bone(hip, knee0, target, l1, l2, forward, knee_floor):
    """Knee and ankle (F, 3) for a hip (F, 3), a target ankle (F, 3) and bone lengths.

    The knee bends toward the programme's knee knee0 (``forward`` (F, 3) when the leg is
    straight), or upward where that would put it below ``knee_floor`` (m). A target closer than
    the knee's range allows (150 degrees) is moved out horizontally; one out of reach is
    approached along the hip -> target line."""
    d_min = np.sqrt(l1 ** 2 + l2 ** 2 - 2 * l1 * l2 * np.cos(np.pi - MAX_KNEE))
    d_vec = target - hip
    close = np.linalg.norm(d_vec, axis=-1) < d_min                      # (F,) too folded
    if close.any():
        dz = np.clip(d_vec[close, 2], -d_min, d_min)
        flat = np.c_[d_vec[close, :2], np.zeros(close.sum())]
        flat = np.where(np.linalg.norm(flat, axis=-1, keepdims=True) > 1e-6, flat,
                        forward[close] * [1, 1, 0])
        flat /= np.maximum(np.linalg.norm(flat, axis=-1, keepdims=True), 1e-12)
        d_vec[close] = flat * np.sqrt(d_min ** 2 - dz ** 2 + 1e-12)[:, None] + \
            np.c_[np.zeros((close.sum(), 2)), dz]
    d = np.linalg.norm(d_vec, axis=-1, keepdims=True)                   # (F, 1)
    u = d_vec / np.maximum(d, 1e-9)
    dc = np.clip(d, d_min, (l1 + l2) * (1 - 1e-9))
    a = (l1 ** 2 - l2 ** 2 + dc ** 2) / (2 * dc)                         # along hip -> ankle
    h = np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0))
    pole = _unit_perp(knee0 - hip + 1e-3 * forward, u)                 # straight leg: forward
    knee = hip + a * u + h * pole
    up = _unit_perp(np.broadcast_to([0.0, 0.0, 1.0], hip.shape), u)
    below = (knee[:, 2] < knee_floor)[:, None]
    knee = np.where(below, hip + a * u + h * up, knee)
    return knee, hip + dc * u


def _rotate_z(v, angle):
    """Rotate vectors v (F, 3) about z by angle (F,) radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], -1)


def _drop_needed(hip, target, reach, planted):
    """How far (F,) metres the pelvis must come down for the planted ankle targets to be in
    reach of a straight leg (0 where they are, or the foot is not planted)."""
    d = target - hip                                                    # (F, 3)
    horizontal = np.sum(d[:, :2] ** 2, -1)
    vertical = np.sqrt(np.maximum(reach ** 2 - horizontal, 0.0))        # reachable depth
    return np.where(planted, np.maximum(-d[:, 2] - vertical, 0.0), 0.0)


def _smooth_cover(x, width=2):
    """A smooth curve at or above x (F,): a running max over +-width frames, then a triangle
    filter of the same width (which stays above the running max of the running max)."""
    pad = np.pad(x, width, mode="edge")
    top = np.max([pad[i:i + len(x)] for i in range(2 * width + 1)], axis=0)
    pad = np.pad(top, width, mode="edge")
    top2 = np.max([pad[i:i + len(x)] for i in range(2 * width + 1)], axis=0)
    k = np.r_[np.arange(1, width + 2), np.arange(width, 0, -1)].astype(float)
    return np.convolve(np.pad(top2, width, mode="edge"), k / k.sum(), mode="valid")


def plant_feet(positions: np.ndarray, offsets: np.ndarray, seated: np.ndarray, forward: np.ndarray,
               fps: float) -> np.ndarray:
    """Feet planted in stance, stepping when they must, legs solved by IK.

    positions: (F, 32, 3) metres after :func:`~mmdiff.data.synthetic.body.place_on_floor`;
    offsets: (32, 3) the subject's bone vectors (rest pose, body frame); seated: (F,) bool;
    forward: (F, 3) the pelvis' forward direction (knees bend that way when straight); fps:
    frame rate. Where the pelvis sways past what straight legs reach, it comes down (up to
    PELVIS_DROP) rather than the feet stepping. Returns a new (F, 32, 3) array.
    """
    out = positions.copy()
    legs = []
    for hip, knee, ankle, toe, tip in LEGS.values():
        l1, l2 = np.linalg.norm(offsets[knee]), np.linalg.norm(offsets[ankle])
        height = positions[:, ankle, 2] - CLEARANCE[ankle]              # (F,) heel above rest
        speed = np.linalg.norm(np.gradient(positions[:, ankle, :2], axis=0), axis=-1) * fps
        contact = (speed < CONTACT_SPEED) & ((height < CONTACT_BAND) |
                                             (seated & (height < REACH_DOWN)))
        straight = (l1 + l2) * (1 - 1e-6)
        bent = np.sqrt(l1 ** 2 + l2 ** 2 + 2 * l1 * l2 * np.cos(SEATED_KNEE))
        place = np.where(seated, bent, straight)                        # (F,) metres
        folded = np.sqrt(l1 ** 2 + l2 ** 2 - 2 * l1 * l2 * np.cos(np.pi - MAX_KNEE))
        target, planted, yaw = _targets(positions, ankle, toe, contact, seated, straight, place,
                                        fps, closest=1.01 * folded)
        legs.append((target, planted, yaw, l1, l2, straight))
    drop = np.max([_drop_needed(positions[:, j[0]], leg[0], leg[5], leg[1])
                   for j, leg in zip(LEGS.values(), legs)], axis=0)     # (F,)
    drop = np.where(seated, 0.0, np.minimum(_smooth_cover(drop), PELVIS_DROP))
    out[..., 2] -= drop[:, None]                                        # the whole body comes down
    for (hip, knee, ankle, toe, tip), (target, planted, yaw, l1, l2, _) in zip(LEGS.values(), legs):
        flat_toe = _rotate_z(np.broadcast_to(offsets[toe], (len(out), 3)), yaw)   # (F, 3)
        flat_tip = _rotate_z(np.broadcast_to(offsets[tip], (len(out), 3)), yaw)
        keep = (~planted)[:, None]
        toe_vec = np.where(keep, positions[:, toe] - positions[:, ankle], flat_toe)
        tip_vec = np.where(keep, positions[:, tip] - positions[:, toe], flat_tip)
        lowest = np.maximum.reduce([np.full(len(out), CLEARANCE[ankle]),  # toes above the floor
                                    CLEARANCE[toe] - toe_vec[:, 2],
                                    CLEARANCE[tip] - toe_vec[:, 2] - tip_vec[:, 2]])
        target[:, 2] = np.maximum(target[:, 2], lowest)
        new_knee, new_ankle = _two_bone(out[:, hip], out[:, knee], target, l1, l2, forward,
                                        CLEARANCE[knee])
        out[:, knee], out[:, ankle] = new_knee, new_ankle
        out[:, toe] = new_ankle + toe_vec
        out[:, tip] = out[:, toe] + tip_vec
    return out


def rest_hands(positions: np.ndarray, offsets: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Hands that would go through the floor rest on it: the wrist is raised by what the lowest
    hand joint lacks, the elbow bends by IK (toward where the programme bent it), the hand is
    carried with the wrist. positions: (F, 32, 3) metres on the floor; offsets: (32, 3) bone
    vectors; forward: (F, 3). Returns a new (F, 32, 3) array."""
    out = positions.copy()
    for shoulder, elbow, wrist, hand in ARMS.values():
        joints = [wrist, *hand]
        lack = np.max(CLEARANCE[joints] - positions[:, joints, 2], axis=1)   # (F,) metres
        low = lack > 0
        if not low.any():
            continue
        target = positions[low, wrist] + np.c_[np.zeros((low.sum(), 2)), lack[low]]
        l1, l2 = np.linalg.norm(offsets[elbow]), np.linalg.norm(offsets[wrist])
        new_elbow, new_wrist = _two_bone(positions[low, shoulder], positions[low, elbow], target,
                                         l1, l2, forward[low], -np.inf)
        shift = new_wrist - positions[low, wrist]                       # (L, 3)
        out[low, elbow], out[low, wrist] = new_elbow, new_wrist
        out[np.ix_(low, list(hand))] = positions[np.ix_(low, list(hand))] + shift[:, None]
    return out
