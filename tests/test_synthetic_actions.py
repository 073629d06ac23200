"""The action programmes: joint limits hold in every action."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff.data.h36m import ACTIONS
from mmdiff.data.synthetic import body
from mmdiff.data.synthetic.actions import PROGRAMMES
from mmdiff.data.synthetic.generate import subject_rng
from mmdiff.data.synthetic.programme import Ctx, Motion, sample_style

FRAMES = 40


def _rig(subject: str, action: str, frames: int = FRAMES):
    """Angles, local and global rotations of a take (to check limits geometrically)."""
    style = sample_style(subject_rng(0, subject, "style"))
    rng = subject_rng(0, subject, "motion", ACTIONS.index(action), 1)
    mo = PROGRAMMES[action](Ctx(frames, body.FPS, rng, style), 1)
    local = body.local_rotations(mo.angles, frames)
    pos, glob = body.forward_kinematics(body.REST_OFFSETS, local,
                                        body.root_rotation(mo.heading, mo.pitch),
                                        np.zeros((frames, 3)))
    return mo, pos, glob


@pytest.mark.parametrize("action", ACTIONS)
def test_joint_angle_limits(action):
    mo, pos, glob = _rig("S5", action)
    clipped = body.clip_to_limits(mo.angles)
    for name, values in clipped.items():
        lo, hi = body.LIMITS[name]
        assert lo - 1e-9 <= values.min() and values.max() <= hi + 1e-9, name
    for hip, knee, ankle in ((1, 2, 3), (6, 7, 8)):                     # no hyper-extension
        shin = np.einsum("fji,fj->fi", glob[:, hip], pos[:, ankle] - pos[:, knee])
        assert shin[:, 0].max() <= 1e-9                                 # shin never ahead
    for shoulder, elbow, wrist in ((17, 18, 19), (25, 26, 27)):
        fore = np.einsum("fji,fj->fi", glob[:, shoulder], pos[:, wrist] - pos[:, elbow])
        assert fore[:, 0].min() >= -1e-9                                # forearm never behind
    trunk = pos[:, 13] - pos[:, 12]
    neck = pos[:, 15] - pos[:, 13]
    cos = np.sum(trunk * neck, -1) / np.linalg.norm(trunk, axis=-1) / np.linalg.norm(neck, axis=-1)
    assert np.degrees(np.arccos(cos)).max() < 80                         # head not folded back
    twist = mo.angles.get("neck_twist", 0) + mo.angles.get("head_twist", 0)
    assert np.abs(twist).max() <= 85                                    # not turned backwards


@pytest.mark.parametrize("action", ACTIONS)
def test_programme_output_shapes_and_names(action):
    mo, _, _ = _rig("S9", action, frames=30)
    assert isinstance(mo, Motion)
    assert mo.xy.shape == (30, 2) and mo.heading.shape == mo.pitch.shape == mo.seat.shape == (30,)
    assert set(mo.angles) <= set(body.LIMITS)
    assert all(np.shape(v) in ((), (30,)) for v in mo.angles.values())
    assert np.all(np.isfinite(mo.xy)) and np.all(np.isfinite(mo.heading))
