"""Smooth random signals in time: keyframed curves and on/off gates for motion programmes.

Every signal is a function of time in seconds sampled at the take's frame rate, so a programme
looks the same at any rate. All are C1-smooth (zero slope at each key) and bounded.
"""
from __future__ import annotations

import numpy as np


def smoothstep(u):
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def interpolate(times, values, t):
    """C1 interpolation through (times, values) with zero slope at each key; t: (F,) seconds."""
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    u = (t - times[i]) / (times[i + 1] - times[i])
    return values[i] + smoothstep(u) * (values[i + 1] - values[i])


def keyframes(rng, num_frames, fps, period, lo, hi) -> np.ndarray:
    """A smooth random signal in [lo, hi]: uniform keys about every ``period`` s. Returns (F,)."""
    duration = num_frames / fps
    n = int(duration / period) + 3
    times = np.cumsum(period * rng.uniform(0.6, 1.4, n)) - period * rng.uniform(0.5, 1.5)
    values = rng.uniform(lo, hi, n)
    return interpolate(times, values, np.arange(num_frames) / fps)


def held(rng, num_frames, fps, period, lo, hi, ramp=0.8) -> np.ndarray:
    """A random value in [lo, hi] held for about ``period`` s (0.6..1.4 x), then changed over
    ``ramp`` s: how people shift a leg or a seat and then keep still. Returns (F,)."""
    duration = num_frames / fps
    times, values, t = [-1.0], [rng.uniform(lo, hi)], -rng.uniform(0, period)
    while t < duration + 1:
        t += period * rng.uniform(0.6, 1.4)
        times += [t, t + ramp]
        values += [values[-1], rng.uniform(lo, hi)]
    return interpolate(np.array(times), np.array(values), np.arange(num_frames) / fps)


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
    return interpolate(np.array(times), np.array(values), np.arange(num_frames) / fps)


def smooth_series(x, fps, sigma_s):
    """Gaussian low-pass along time (edge-padded); x: (F,) or (F, C)."""
    r = max(1, int(3 * sigma_s * fps))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / (sigma_s * fps)) ** 2)
    k /= k.sum()
    pad = np.pad(x, [(r, r)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    return np.apply_along_axis(lambda c: np.convolve(c, k, mode="valid"), 0, pad)
