"""How a video's 2D keypoints are put in front of the models: the image's framing, or Human3.6M's.

The lifter learned from Human3.6M's cameras: 1000 x 1000 px frames in which a person's 2D body
length (:func:`body_length_2d`) is about 0.66 normalised units (330 px) and the pelvis sits
near (0.06, -0.17). A phone video breaks both: in a 360 x 640 portrait frame a person who fills
the height is about 2.5 units long once divided by the frame's width, four times anything the
lifter saw. Two framings:

* ``image``: VideoPose3D's ``normalize_screen_coordinates``, ``u = 2 x / w - 1``,
  ``v = 2 y / w - h / w``; right for Human3.6M's own frames, wrong in size for most videos.
* ``h36m`` (what ``mmdiff predict`` uses by default): one similarity transform per person
  (track), ``p' = s (p - c) + c0``, that gives the track's median 2D body length the Human3.6M
  median and puts its median pelvis where Human3.6M's is, in a virtual 1000 x 1000 frame. It is
  constant over the track, so a person who walks toward the camera still grows; it needs no image
  size. In-the-wild lifters normalise the same way (by the person's box or torso, not the frame).

Units: pixels in, normalised screen units out (width maps to [-1, 1]).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmdiff.errors import DataError

#: Framings ``mmdiff predict --framing`` accepts.
FRAMINGS = ("h36m", "image")
#: Human3.6M's median 2D body length in normalised units, and median pelvis (u, v): measured on
#: the embedded training subjects' detections (0.668; pelvis 0.068, -0.169) and on real
#: Human3.6M motion projected through the published cameras (0.647; 0.063, -0.173); see
#: tests/test_framing.py, which measures both again.
H36M_BODY_LENGTH = 0.66
H36M_PELVIS = (0.065, -0.17)
#: The virtual frame's size in pixels (Human3.6M's).
H36M_FRAME = 1000

#: Chains summed by :func:`body_length_2d`: head-neck-thorax-spine-pelvis, and each leg.
SPINE = (10, 9, 8, 7, 0)
LEGS = ((1, 2, 3), (4, 5, 6))


def _chain(points: np.ndarray, chain) -> np.ndarray:
    """(..., 17, 2) -> (...) summed 2D length of the bones along ``chain``."""
    seg = points[..., list(chain[1:]), :] - points[..., list(chain[:-1]), :]
    return np.linalg.norm(seg, axis=-1).sum(axis=-1)


def body_length_2d(points) -> np.ndarray:
    """(..., 17, 2) Human3.6M-17 points -> (...) the 2D length of head to pelvis plus the mean
    leg (hip-knee-ankle), in the points' units. Unlike the box height it does not shrink when
    the person sits or bends (only foreshortening shortens it)."""
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-2:] != (17, 2):
        raise DataError(f"points: expected (..., 17, 2), found {p.shape}")
    legs = 0.5 * (_chain(p, LEGS[0]) + _chain(p, LEGS[1]))
    return _chain(p, SPINE) + legs


@dataclass(frozen=True)
class Framing:
    """``p' = scale * (p - centre) + target`` pixels, then ``u = 2 p' / frame - 1`` (a square
    frame of ``frame`` px). ``image`` framing is scale 1, centre = target."""
    name: str
    scale: float
    centre: tuple[float, float]
    target: tuple[float, float]
    frame: tuple[float, float]

    def apply(self, pixels) -> np.ndarray:
        """(..., 17, 2) pixels -> (..., 17, 2) float32 normalised screen units (NaN stays)."""
        p = np.asarray(pixels, dtype=np.float64)
        moved = self.scale * (p - np.array(self.centre)) + np.array(self.target)
        w, h = self.frame
        return (moved / w * 2 - np.array([1.0, h / w])).astype(np.float32)

    def text(self) -> str:
        if self.name == "image":
            return f"framing: image ({self.frame[0]:.0f} x {self.frame[1]:.0f} px, u = 2x/w - 1)"
        return (f"framing: h36m (2D scaled x{self.scale:.3f} about the median pelvis "
                f"({self.centre[0]:.0f}, {self.centre[1]:.0f}) px into a {H36M_FRAME} px frame, "
                f"body length {H36M_BODY_LENGTH} units as in Human3.6M)")


def image_framing(width: int, height: int) -> Framing:
    """The frame's own normalisation (VideoPose3D's)."""
    if width <= 0 or height <= 0:
        raise DataError(f"image size must be positive, found width={width} height={height}")
    return Framing("image", 1.0, (0.0, 0.0), (0.0, 0.0), (float(width), float(height)))


def h36m_framing(pixels) -> Framing:
    """The per-track similarity of the module docstring, from a track's (F, 17, 2) pixels (NaN
    frames are skipped). DataError when no frame has finite points or the body has no size."""
    p = np.asarray(pixels, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (17, 2):
        raise DataError(f"pixels: expected (frames, 17, 2), found {p.shape}")
    p = p[np.isfinite(p).all(axis=(1, 2))]
    if not len(p):
        raise DataError("h36m framing: no frame has all 17 points")
    length = float(np.median(body_length_2d(p)))
    if not length > 0:
        raise DataError(f"h36m framing: the person's 2D body length is {length} px")
    target_px = H36M_BODY_LENGTH * H36M_FRAME / 2
    pelvis = np.median(p[:, 0], axis=0)
    target = ((np.array(H36M_PELVIS) + [1.0, 1.0]) * H36M_FRAME / 2)
    return Framing("h36m", target_px / length, tuple(pelvis.tolist()), tuple(target.tolist()),
                   (float(H36M_FRAME), float(H36M_FRAME)))


def framing_for(name: str, pixels, image_size=None) -> Framing:
    """The framing ``name`` (one of :data:`FRAMINGS`) for a track's (F, 17, 2) pixels; ``image``
    needs ``image_size`` (width, height)."""
    if name == "h36m":
        return h36m_framing(pixels)
    if name == "image":
        if image_size is None:
            raise DataError("image framing needs the image size: pass --width W --height H")
        return image_framing(*image_size)
    raise DataError(f"unknown framing {name!r}; expected one of {', '.join(FRAMINGS)}")
