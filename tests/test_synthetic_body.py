"""The body: published bone lengths, per-subject bones, joint limits, FK, floor placement."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff.data.synthetic import body
from mmdiff.skeleton import PARENTS_32


def test_rest_skeleton_matches_published_h36m_lengths():
    lengths = np.linalg.norm(body.REST_OFFSETS, axis=1) * 1000       # mm
    for joint, mm in {1: 132.9, 2: 442.9, 3: 454.2, 12: 233.4, 18: 278.9, 19: 251.7}.items():
        assert lengths[joint] == pytest.approx(mm, abs=0.1)
    standing = -body.REST_OFFSETS[[2, 3], 2].sum() + body.REST_OFFSETS[11:16, 2].sum()
    assert 1.58 < standing + 0.06 < 1.75                                # + ankle height


def test_subject_bones_vary_by_at_most_8_percent():
    mean = np.linalg.norm(body.REST_OFFSETS, axis=1)
    bones = mean > 0                                                    # 4 bones have length 0
    r = np.stack([np.linalg.norm(body.sample_offsets(np.random.default_rng(i)), axis=1)[bones]
                  / mean[bones] for i in range(50)])                    # (50, bones)
    assert r.min() >= 0.92 - 1e-9 and r.max() <= 1.08 + 1e-9
    assert r.std() > 0.02                                               # real variety


def test_clip_to_limits_clips_and_rejects_unknown_names():
    a = {"l_knee": np.array([-10.0, 50.0, 200.0]), "r_sh_flex": np.full(3, 170.0),
         "r_sh_abd": np.full(3, 170.0)}
    out = body.clip_to_limits(a)
    assert out["l_knee"].tolist() == [0.0, 50.0, 150.0]
    assert np.hypot(out["r_sh_flex"], out["r_sh_abd"]).max() <= body.MAX_SWING["sh"] + 1e-9
    assert a["l_knee"][0] == -10.0                                      # input unchanged
    with pytest.raises(ValueError, match="unknown joint angle names"):
        body.clip_to_limits({"l_kne": np.zeros(3)})


def test_forward_kinematics_keeps_bone_lengths_and_floor_placement():
    rng = np.random.default_rng(0)
    F = 5
    angles = {n: rng.uniform(lo, hi, F) for n, (lo, hi) in body.LIMITS.items()}
    local = body.local_rotations(angles, F)
    pos, glob = body.forward_kinematics(body.REST_OFFSETS, local, body.root_rotation(np.zeros(F)),
                                        np.zeros((F, 3)))
    lengths = np.linalg.norm(pos[:, 1:] - pos[:, PARENTS_32[1:]], axis=-1)   # (F, 31)
    assert np.allclose(lengths, np.linalg.norm(body.REST_OFFSETS[1:], axis=-1))
    placed, seated = body.place_on_floor(pos)
    assert not seated.any()
    assert np.all(placed[..., 2] >= body.CLEARANCE - 1e-9)
    assert np.allclose((placed[..., 2] - body.CLEARANCE).min(1), 0)     # resting on a support
    seat = np.array([0.45, np.nan, 0.0, 0.45, np.nan])
    on_seat, seated = body.place_on_floor(pos, seat)
    assert seated.tolist() == [True, False, True, True, False]
    assert np.all(on_seat[seated, 0, 2] >= seat[seated] + body.SEAT_CLEARANCE - 1e-9)
    feet = list(body.FOOT_JOINTS)
    others = [j for j in range(32) if j not in feet]
    assert np.all(on_seat[:, others, 2] >= body.CLEARANCE[others] - 1e-9)
    assert np.allclose(on_seat[~seated], placed[~seated])
    with pytest.raises(ValueError, match="forward_kinematics"):
        body.forward_kinematics(body.REST_OFFSETS, local[:, :17], glob[:, 0], np.zeros((F, 3)))
