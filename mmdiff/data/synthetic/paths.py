"""Paths on the floor: walking loops, wandering between spots, standing on one spot; headings.

A path is (F, 2) metres relative to the centre of the capture area (the generator later moves it
into view); a heading is (F,) radians, 0 facing +x.
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic.programme import Ctx
from mmdiff.data.synthetic.signals import interpolate, smooth_series


def _heading_of(xy, fps, fallback):
    """Direction of travel (F,) radians from a path (F, 2), ``fallback`` where it stands."""
    v = np.gradient(xy, axis=0) * fps                                   # (F, 2) m/s
    moving = np.linalg.norm(v, axis=1) > 0.05
    h = np.where(moving, np.arctan2(v[:, 1], v[:, 0]), fallback)
    return h


def smooth_heading(h, fps, sigma_s=0.35):
    return smooth_series(np.unwrap(h), fps, sigma_s)


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
    return xy, smooth_heading(_heading_of(xy, ctx.fps, 0.0), ctx.fps, 0.2)


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
    xy = np.stack([interpolate(times, points[:, k], ctx.t) for k in range(2)], 1)
    facing = ctx.keys(6.0, -1.2, 1.2)                                  # turns now and then
    heading = smooth_heading(_heading_of(xy, ctx.fps, facing), ctx.fps, 0.3)
    speed_now = np.linalg.norm(np.gradient(xy, axis=0), axis=1) * ctx.fps
    return xy, heading, speed_now


def body_offset(xy, heading, offset):
    """Add an offset given in the body frame (F, 2) (forward, left) to a path (F, 2)."""
    c, s = np.cos(heading), np.sin(heading)
    forward, left = offset[:, 0], offset[:, 1]
    return xy + np.stack([c * forward - s * left, s * forward + c * left], 1)


def standing_still(ctx, radius=0.6):
    """A place and a slowly changing facing for actions done mostly on the spot."""
    xy = ctx.rng.uniform(-radius, radius, 2) + np.stack([ctx.keys(6, -0.1, 0.1),
                                                         ctx.keys(6, -0.1, 0.1)], 1)
    return xy, smooth_heading(ctx.keys(5.0, -np.pi, np.pi), ctx.fps, 0.5)
