"""The committed AlphaPose Halpe-26 sample: reproducible from its generator, and holding what it
promises (two people in some frames, missing frames, low-confidence joints, < 1 MB)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mmdiff.data.synthetic import make_sequence
from mmdiff.wild.keypoints import HALPE_26
from mmdiff.wild.keypoints.halpe import halpe_from_h36m
from mmdiff.wild.sample import ALL_MISSING, MAIN_MISSING, make_alphapose_sample

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "alphapose_halpe26.json"


def test_committed_sample_matches_its_generator():
    committed = json.loads(SAMPLE.read_text())
    made = make_alphapose_sample().entries
    assert [e["image_id"] for e in committed] == [e["image_id"] for e in made]
    a = np.array([e["keypoints"] for e in committed]).reshape(-1, 26, 3)
    b = np.array([e["keypoints"] for e in made]).reshape(-1, 26, 3)
    np.testing.assert_allclose(a[..., :2], b[..., :2], atol=0.11)           # rounded to 0.1 px
    np.testing.assert_allclose(a[..., 2], b[..., 2], atol=0.0011)
    assert SAMPLE.stat().st_size < 1_000_000


def test_sample_content():
    s = make_alphapose_sample()
    frames = [int(e["image_id"].split(".")[0]) for e in s.entries]
    counts = np.bincount(frames, minlength=300)
    assert counts.max() == 2 and (counts == 2).sum() > 100                  # a second person
    assert set(ALL_MISSING) <= set(np.flatnonzero(counts == 0)) and counts[180] == 1
    assert all(counts[f] <= 1 for f in MAIN_MISSING)
    conf = np.array([e["keypoints"] for e in s.entries]).reshape(-1, 26, 3)[..., 2]
    assert 0 < (conf < 0.3).mean() < 0.05                                   # a few unsure joints
    assert s.image_size == (1000, 1000) and s.pose_3d.shape == (300, 17, 3)
    assert {"idx", "box", "score", "category_id"} <= set(s.entries[0])


def test_halpe_points_sit_where_annotators_put_them():
    pose = make_sequence(0, "S9", "Walking", 1, 5)                           # (5, 32, 3) world, z up
    halpe = halpe_from_h36m(pose)
    p = {n: halpe[:, i] for i, n in enumerate(HALPE_26)}
    np.testing.assert_allclose(p["hip"], pose[:, 0])
    np.testing.assert_allclose(p["left_wrist"], pose[:, 19])
    assert (p["head"][:, 2] > pose[:, 15, 2]).all()                          # above H36M's head
    assert (p["neck"][:, 2] > pose[:, 13, 2]).all() and (p["neck"][:, 2] < pose[:, 14, 2]).all()
    eyes = np.linalg.norm(p["left_eye"] - p["right_eye"], axis=-1)
    np.testing.assert_allclose(eyes, 0.064, atol=1e-6)
    # the left eye is on the person's left: nearer the left shoulder
    assert (np.linalg.norm(p["left_eye"] - pose[:, 17], axis=-1)
            < np.linalg.norm(p["right_eye"] - pose[:, 17], axis=-1)).all()
