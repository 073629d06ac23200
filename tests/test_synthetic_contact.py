"""Contact with the floor: stance feet stay put, moving feet are lifted, hands rest on it."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff.data.synthetic import body, contact
from mmdiff.data.synthetic.generate import make_sequence
from mmdiff.data.synthetic.stats import stance_drift
from mmdiff.skeleton import PARENTS_32


@pytest.mark.parametrize("subject,action", [("S1", "Walking"), ("S5", "Purchases"),
                                            ("S9", "Directions"), ("S11", "WalkDog"),
                                            ("S7", "Greeting"), ("S8", "Sitting")])
def test_a_foot_in_stance_stays_within_2_cm(subject, action):
    world = make_sequence(0, subject, action, 1, 80).astype(np.float64)
    drift = stance_drift(world, band=0.02)
    assert len(drift) >= 2                                              # it does stand
    assert drift.max() <= 0.02


def test_plant_feet_pins_a_sliding_foot_and_keeps_bone_lengths():
    """A standing body glides 1 m forward: the feet step instead of sliding."""
    rng = np.random.default_rng(0)
    F = 40
    angles = {"l_knee": np.full(F, 4.0), "r_knee": np.full(F, 4.0), "l_hip_flex": np.full(F, 2.0),
              "r_hip_flex": np.full(F, 2.0), "l_ankle": np.full(F, 2.0), "r_ankle": np.full(F, 2.0)}
    root = np.stack([np.linspace(0, 1.0, F), np.zeros(F), np.zeros(F)], 1)   # 0.3 m/s
    offsets = body.sample_offsets(rng)
    pos, _ = body.forward_kinematics(offsets, body.local_rotations(angles, F),
                                     body.root_rotation(np.zeros(F)), root)
    pos, seated = body.place_on_floor(pos)
    out = contact.plant_feet(pos, offsets, seated, np.tile([1.0, 0, 0], (F, 1)), 12.5)
    assert stance_drift(pos).max() > 0.5                                # the input slides
    assert stance_drift(out).max() <= 0.02                              # the output steps
    moved = np.linalg.norm(out[-1, [3, 8], :2] - out[0, [3, 8], :2], axis=-1)
    assert np.all(moved > 0.6)                                          # and keeps up
    bones = np.linalg.norm(out[:, 1:] - out[:, PARENTS_32[1:]], axis=-1)
    assert np.allclose(bones, np.linalg.norm(offsets[1:], axis=-1), atol=1e-9)
    drop = pos[:, 0, 2] - out[:, 0, 2]                                  # the pelvis may come down
    assert np.all(drop >= -1e-12) and np.all(drop <= contact.PELVIS_DROP + 1e-12)
    assert np.allclose(out[:, 11:], pos[:, 11:] - np.c_[np.zeros((F, 2)), drop][:, None])
    assert out[..., 2].min() >= -1e-9
