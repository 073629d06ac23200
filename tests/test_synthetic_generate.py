"""Generating takes and files: bones per subject, floor, cameras, smoothness, seeds, the sample."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmdiff.camera import cameras_for
from mmdiff.data import synthetic
from mmdiff.data.gmm import true_projection
from mmdiff.data.h36m import (ACTIONS, TEST_SUBJECTS, TRAIN_SUBJECTS, load_metadata_2d,
                              load_positions_2d, load_positions_3d)
from mmdiff.data.synthetic.body import FPS
from mmdiff.data.synthetic.programme import sample_style
from mmdiff.skeleton import PARENTS_32, bone_lengths

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
FRAMES = 40            # short takes keep the tests fast


@pytest.fixture(scope="module")
def takes() -> dict:
    """Short takes of every action for one train and one test subject."""
    return {s: {a: synthetic.make_sequence(0, s, a, 1, FRAMES) for a in ACTIONS}
            for s in ("S1", "S11")}


def test_bone_lengths_constant_per_subject_and_differ_between_subjects(takes):
    per_subject = {}
    for subject, actions in takes.items():
        bl = np.concatenate([bone_lengths(a, PARENTS_32) for a in actions.values()])  # (N, 31)
        assert np.abs(bl - bl[0]).max() < 1e-5
        per_subject[subject] = bl[0]
    assert np.abs(per_subject["S1"] - per_subject["S11"]).max() > 1e-3


def test_feet_at_or_above_floor_and_body_supported(takes):
    for actions in takes.values():
        for name, arr in actions.items():
            assert arr[..., 2].min() >= -1e-6, name
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
            speed = np.linalg.norm(np.diff(arr, axis=0), axis=-1) * FPS   # m/s
            assert speed.max() < 8.0, name                              # real H36M max ~9.6
            assert speed[:, 0].max() < 2.5, name                        # root


def test_same_seed_same_motion_other_seed_other_motion():
    a = synthetic.make_sequence(0, "S7", "Walking", 2, 20)
    assert np.array_equal(a, synthetic.make_sequence(0, "S7", "Walking", 2, 20))
    assert not np.allclose(a, synthetic.make_sequence(1, "S7", "Walking", 2, 20))


def test_train_and_test_subjects_share_no_motion():
    def poses(subjects):
        seqs = synthetic.make_positions_3d(0, subjects, 20, ("Waiting", "Walking"))
        return np.concatenate([synthetic.canonical_17(a.astype(np.float64))
                               for acts in seqs.values() for a in acts.values()])
    train, test = poses(TRAIN_SUBJECTS), poses(TEST_SUBJECTS)
    dist = np.linalg.norm(test[:, None] - train[None], axis=-1).mean(-1)   # (Nte, Ntr) m
    assert dist.min() > 0.005
    styles = {s: sample_style(synthetic.subject_rng(0, s, "style")) for s in synthetic.SUBJECTS}
    assert len({st.speed for st in styles.values()}) == len(styles)


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
                g, d = det_gmm[subject][action][c], det[subject][action][c]
                t = gt[subject][action][c]
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
