"""What a motion programme takes and returns: a subject's Style, a take's Ctx, the Motion.

A programme (:mod:`mmdiff.data.synthetic.actions`) turns a :class:`Ctx` (frame count, frame rate,
random generator and the subject's :class:`Style`) and a take number into a :class:`Motion`:
joint angles in degrees (names of :data:`mmdiff.data.synthetic.body.LIMITS`), a root path on the
floor and a heading; :func:`mmdiff.data.synthetic.generate.animate` turns it into 3D joints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmdiff.data.synthetic.signals import gate, held, keyframes


@dataclass(frozen=True)
class Style:
    """How one subject moves (drawn once per subject by :func:`sample_style`).

    speed: walking speed factor; cadence: step-rate factor; arm_swing: arm-swing factor;
    lean: lower back's lean (deg, negative = arched back, as real subjects stand); knee_bend:
    standing knee flexion (deg); stance: stance width (hip abduction, deg); gesture: size of arm
    gestures; tempo: speed of idle motions;
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
    return Style(speed=u(0.85, 1.15), cadence=u(0.9, 1.1), arm_swing=u(0.6, 1.4), lean=u(-13, -6),
                 knee_bend=u(3, 12), stance=u(-5, 0), gesture=u(0.7, 1.3), tempo=u(0.7, 1.4),
                 head=u(0.6, 1.4), hand="r" if u() < 0.85 else "l")


@dataclass
class Motion:
    """A programme's output for F frames.

    angles: {name: (F,) degrees}; xy: (F, 2) root position on the floor, metres, relative to the
    centre of the capture area; heading: (F,) radians (0 faces +x); pitch: (F,) radians, forward
    tilt of the whole body (lying back is negative); seat: (F,) height in metres of what the pelvis
    sits on (0: the floor; NaN: nothing); sitting: (F,) in [0, 1], how far the pelvis has come
    down onto the seat (0 standing, 1 seated; in between it is sitting down or getting up).
    """

    angles: dict
    xy: np.ndarray
    heading: np.ndarray
    pitch: np.ndarray
    seat: np.ndarray
    sitting: np.ndarray


class Ctx:
    """Frame count, frame rate, random generator and style shared by a programme's blocks."""

    def __init__(self, num_frames: int, fps: float, rng: np.random.Generator, style: Style):
        self.F, self.fps, self.rng, self.style = num_frames, fps, rng, style
        self.t = np.arange(num_frames) / fps                            # (F,) seconds

    def keys(self, period, lo, hi):
        return keyframes(self.rng, self.F, self.fps, period, lo, hi)

    def held(self, period, lo, hi, ramp=0.8):
        return held(self.rng, self.F, self.fps, period, lo, hi, ramp)

    def gate(self, on, off, ramp=0.7, start_on=None):
        return gate(self.rng, self.F, self.fps, on, off, ramp, start_on)

    def zeros(self):
        return np.zeros(self.F)
