"""The embedded dataset: bodies, joint limits, floor, cameras, smoothness, detector, files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmdiff.camera import cameras_for
from mmdiff.data import detector, motion, synthetic
from mmdiff.data.gmm import true_projection
from mmdiff.data.h36m import (ACTIONS, TEST_SUBJECTS, TRAIN_SUBJECTS, load_metadata_2d,
                              load_positions_2d, load_positions_3d)
from mmdiff.data.programmes import PROGRAMMES, Ctx, sample_style
from mmdiff.skeleton import PARENTS_32, bone_lengths

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
FRAMES = 40            # short takes keep the tests fast


@pytest.fixture(scope="module")
def takes() -> dict:
    """Short takes of every action for one train and one test subject."""
    return {s: {a: synthetic.make_sequence(0, s, a, 1, FRAMES) for a in ACTIONS}
            for s in ("S1", "S11")}


def _rig(subject: str, action: str, frames: int = FRAMES):
    """Angles, local and global rotations of a take (to check limits geometrically)."""
    style = sample_style(synthetic.subject_rng(0, subject, "style"))
    rng = synthetic.subject_rng(0, subject, "motion", ACTIONS.index(action), 1)
    mo = PROGRAMMES[action](Ctx(frames, motion.FPS, rng, style), 1)
    local = motion.local_rotations(mo.angles, frames)
    pos, glob = motion.forward_kinematics(motion.REST_OFFSETS, local,
                                          motion.root_rotation(mo.heading, mo.pitch),
                                          np.zeros((frames, 3)))
    return mo, pos, glob


def test_rest_skeleton_matches_published_h36m_lengths():
    lengths = np.linalg.norm(motion.REST_OFFSETS, axis=1) * 1000       # mm
    for joint, mm in {1: 132.9, 2: 442.9, 3: 454.2, 12: 233.4, 18: 278.9, 19: 251.7}.items():
        assert lengths[joint] == pytest.approx(mm, abs=0.1)
    standing = -motion.REST_OFFSETS[[2, 3], 2].sum() + motion.REST_OFFSETS[11:16, 2].sum()
    assert 1.58 < standing + 0.06 < 1.75                                # + ankle height


def test_subject_bones_vary_by_at_most_8_percent():
    mean = np.linalg.norm(motion.REST_OFFSETS, axis=1)
    bones = mean > 0                                                    # 4 bones have length 0
    r = np.stack([np.linalg.norm(motion.sample_offsets(np.random.default_rng(i)), axis=1)[bones]
                  / mean[bones] for i in range(50)])                    # (50, bones)
    assert r.min() >= 0.92 - 1e-9 and r.max() <= 1.08 + 1e-9
    assert r.std() > 0.02                                               # real variety


def test_bone_lengths_constant_per_subject_and_differ_between_subjects(takes):
    per_subject = {}
    for subject, actions in takes.items():
        bl = np.concatenate([bone_lengths(a, PARENTS_32) for a in actions.values()])  # (N, 31)
        assert np.abs(bl - bl[0]).max() < 1e-5
        per_subject[subject] = bl[0]
    assert np.abs(per_subject["S1"] - per_subject["S11"]).max() > 1e-3


@pytest.mark.parametrize("action", ACTIONS)
def test_joint_angle_limits(action):
    mo, pos, glob = _rig("S5", action)
    clipped = motion.clip_to_limits(mo.angles)
    for name, values in clipped.items():
        lo, hi = motion.LIMITS[name]
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


def test_feet_at_or_above_floor_and_body_supported(takes):
    for actions in takes.values():
        for name, arr in actions.items():
            assert arr[..., 2].min() >= 0.0, name
            assert arr[..., 2].min(1).max() < 0.12, name               # resting on something


def test_every_joint_inside_every_camera(takes):
    for subject, actions in takes.items():
        for name, arr in actions.items():
            for cam in cameras_for(subject):
                uv = true_projection(arr.astype(np.float64), cam)
                assert uv[..., 0].min() > 0 and uv[..., 0].max() < cam.res_w, (name, cam.id)
                assert uv[..., 1].min() > 0 and uv[..., 1].max() < cam.res_h, (name, cam.id)


def test_motion_is_smooth(takes):
    for actions in takes.values():
        for name, arr in actions.items():
            speed = np.linalg.norm(np.diff(arr, axis=0), axis=-1) * motion.FPS   # m/s
            assert speed.max() < 8.0, name                              # real H36M max ~9.6
            assert speed[:, 0].max() < 2.5, name                        # root


def test_same_seed_same_motion_other_seed_other_motion():
    a = synthetic.make_sequence(0, "S7", "Walking", 2, 20)
    assert np.array_equal(a, synthetic.make_sequence(0, "S7", "Walking", 2, 20))
    assert not np.allclose(a, synthetic.make_sequence(1, "S7", "Walking", 2, 20))


def test_train_and_test_subjects_share_no_motion():
    def poses(subjects):
        seqs = synthetic.make_positions_3d(0, subjects, 20, ("Waiting", "Walking"))
        return np.concatenate([synthetic._canonical_17(a.astype(np.float64))
                               for acts in seqs.values() for a in acts.values()])
    train, test = poses(TRAIN_SUBJECTS), poses(TEST_SUBJECTS)
    dist = np.linalg.norm(test[:, None] - train[None], axis=-1).mean(-1)   # (Nte, Ntr) m
    assert dist.min() > 0.005
    styles = {s: sample_style(synthetic.subject_rng(0, s, "style")) for s in synthetic.SUBJECTS}
    assert len({st.speed for st in styles.values()}) == len(styles)


def test_detector_error_sizes_tails_correlation_and_swaps():
    world = synthetic.make_sequence(3, "S6", "Walking", 1, 400).astype(np.float64)
    cam = cameras_for("S6")[1]
    truth, scale = true_projection(world, cam), detector.image_scale(world, cam)
    det = detector.detect(truth, scale, np.random.default_rng(0), motion.FPS)
    err = np.linalg.norm(det - truth, axis=-1)                           # (F, 17) px
    mean = err.mean(0)
    assert 3.0 < mean[[8, 9, 10]].mean() < 6.5                           # thorax, neck, head
    assert 6.5 < mean[[13, 16]].mean() < 14.0                            # wrists
    assert 5.0 < mean[[3, 6]].mean() < 11.0                              # ankles
    assert 4.0 < err.mean() < 9.0
    assert np.percentile(err, 99.5) / np.median(err) > 3.0               # heavy tail
    e = (det - truth)[..., 0]
    assert np.mean([np.corrcoef(e[1:, j], e[:-1, j])[0, 1] for j in range(17)]) > 0.4
    swapped = np.linalg.norm(det[:, 13] - truth[:, 16], axis=-1) < np.linalg.norm(
        det[:, 13] - truth[:, 13], axis=-1)
    assert swapped.any() and swapped.mean() < 0.2                        # occasional L/R mix-up
    assert np.array_equal(det, detector.detect(truth, scale, np.random.default_rng(0), motion.FPS))


def test_committed_sample_loads_and_is_consistent():
    paths = {k: SAMPLE / name for k, name in synthetic.FILES.items()}
    pos3d = load_positions_3d(paths["3d"])
    det, det_gmm, gt = (load_positions_2d(paths[k]) for k in ("det", "det_gmm", "gt_gmm"))
    assert set(pos3d) == set(synthetic.SAMPLE_SUBJECTS)
    assert load_metadata_2d(paths["det"])["num_joints"] == 17
    for subject, actions in pos3d.items():
        assert set(actions) == {f"{a} {t}" for a in synthetic.SAMPLE_ACTIONS for t in (1, 2)}
        for action, world in actions.items():
            assert world.shape[1:] == (32, 3) and world.dtype == np.float32
            for c, cam in enumerate(cameras_for(subject)):
                g, d, t = det_gmm[subject][action][c], det[subject][action][c], gt[subject][action][c]
                assert g.shape == (len(world), 17, 3, 5) and d.shape == (len(world), 17, 2)
                assert np.allclose(g[..., 0].sum(-1), 1.0, atol=1e-6)
                assert np.array_equal(g[:, :, 0, 1:3], d)                # kernel 0 = detection
                truth = true_projection(world.astype(np.float64), cam)
                assert np.abs(t[:, :, 0, 1:3] - truth).max() < 1e-3
                assert t[..., 3:].max() < 10.0                           # tight mixture


def test_sample_generation_is_deterministic(tmp_path):
    """The committed sample is exactly what write_sample makes today (same code, same seed)."""
    paths = synthetic.write_sample(tmp_path, seed=0)
    for key, path in paths.items():
        load = load_positions_3d if key == "3d" else load_positions_2d
        new, old = load(path), load(SAMPLE / path.name)
        for s in old:
            for a in old[s]:
                got, want = new[s][a], old[s][a]
                pairs = zip(got, want) if isinstance(want, list) else [(got, want)]
                assert all(np.array_equal(x, y) for x, y in pairs), (key, s, a)


@pytest.mark.slow
def test_statistics_close_to_real_motion(shared_dir):
    real_path = shared_dir / "realmotion" / "data_3d_h36m_realmotion.npz"
    if not real_path.is_file():
        pytest.skip(f"{real_path} is absent")
    real = synthetic.motion_statistics(load_positions_3d(real_path), fps=12.5)
    ours = synthetic.motion_statistics(synthetic.make_positions_3d(0, frames=60))
    assert abs(ours["root_height_mean"] - real["root_height_mean"]) < 0.08
    for key in ("speed_root_mean_p95", "speed_wrists_mean_p95", "speed_head_mean_p95"):
        assert ours[key][0] == pytest.approx(real[key][0], rel=0.35), key
    assert ours["elbow_flex_p5_p50_p95"][1] == pytest.approx(real["elbow_flex_p5_p50_p95"][1], abs=25)
