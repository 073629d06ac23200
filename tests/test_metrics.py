"""Tests for mmdiff.metrics against hand-computed cases."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from mmdiff.errors import DataError
from mmdiff.metrics import (ActionErrors, auc, mpjpe, mpjve, n_mpjpe, p_mpjpe, pck,
                            per_joint_error, procrustes_align)


def rotation(axis, angle):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k    # Rodrigues


@pytest.fixture
def poses(rng):
    return rng.normal(scale=0.3, size=(8, 17, 3))


def test_mpjpe_known_offsets(poses):
    assert mpjpe(poses + [0.03, 0.04, 0.0], poses) == pytest.approx(0.05)
    pred = poses.copy()
    pred[:, :5] += [0.0, 0.0, 0.17]                                      # 5 of 17 joints moved
    assert mpjpe(pred, poses) == pytest.approx(0.17 * 5 / 17)
    per_pose = mpjpe(pred, poses, reduction="none")
    assert per_pose.shape == (8,) and np.allclose(per_pose, 0.05)


def test_numpy_and_torch_inputs_agree(poses, rng):
    pred = poses + rng.normal(scale=0.02, size=poses.shape)
    for fn in (mpjpe, p_mpjpe, n_mpjpe, pck, auc, mpjve):
        ref = fn(pred, poses)
        out = fn(torch.tensor(pred), torch.tensor(poses))
        assert isinstance(ref, float) and isinstance(out, torch.Tensor) and out.ndim == 0
        assert float(out) == pytest.approx(ref, abs=1e-10), fn.__name__
    out32 = p_mpjpe(torch.tensor(pred, dtype=torch.float32), torch.tensor(poses,
                                                                       dtype=torch.float32))
    assert out32.dtype == torch.float32 and float(out32) == pytest.approx(p_mpjpe(pred, poses),
                                                                          abs=1e-6)


def test_similarity_copy_has_zero_pa_mpjpe(poses):
    preds = np.stack([1.7 * p @ rotation([1, 2, 3], 0.3 * i).T + np.array([0.5, -1.0, 2.0]) * i
                      for i, p in enumerate(poses)])
    assert mpjpe(preds, poses) > 0.1
    assert p_mpjpe(preds, poses) < 1e-10
    assert np.allclose(procrustes_align(preds, poses), poses, atol=1e-10)
    assert float(p_mpjpe(torch.tensor(preds), torch.tensor(poses))) < 1e-10


def test_reflection_is_not_used(poses):
    mirrored = poses * [-1.0, 1.0, 1.0]                                   # det -1 transform
    assert p_mpjpe(mirrored, poses) > 0.01
    aligned = procrustes_align(mirrored, poses)
    # the alignment is a proper similarity: distances scale uniformly, handedness is kept
    a, b = aligned[0] - aligned[0].mean(0), mirrored[0] - mirrored[0].mean(0)
    m, *_ = np.linalg.lstsq(b, a, rcond=None)                           # a = b @ m
    assert np.linalg.det(m) > 0


def test_alignment_is_optimal(poses, rng):
    pred = poses + rng.normal(scale=0.05, size=poses.shape)
    base = p_mpjpe(pred, poses, reduction="none")
    assert np.all(base <= mpjpe(pred, poses, reduction="none") + 1e-12)
    aligned = procrustes_align(pred, poses)
    best = ((aligned - poses) ** 2).sum((-2, -1))
    for _ in range(20):                                                  # any nearby similarity
        r = rotation(rng.normal(size=3), 0.02)                           # does worse in L2
        s, t = 1 + rng.normal(scale=0.02), rng.normal(scale=0.01, size=3)
        mu = aligned.mean(1, keepdims=True)
        other = s * (aligned - mu) @ r.T + mu + t
        assert np.all(((other - poses) ** 2).sum((-2, -1)) >= best - 1e-12)


def test_n_mpjpe_scale_only(poses):
    assert n_mpjpe(2.5 * poses, poses) < 1e-12
    shifted = poses + [0.1, 0.0, 0.0]
    assert n_mpjpe(shifted, poses) <= mpjpe(shifted, poses) + 1e-12


def test_per_joint_error(poses):
    pred = poses.copy()
    pred[:, 3] += [0.0, 0.02, 0.0]
    err = per_joint_error(pred, poses)
    assert err.shape == (17,) and err[3] == pytest.approx(0.02)
    assert np.allclose(np.delete(err, 3), 0.0)


def test_pck_and_auc_by_hand(poses):
    pred = poses.copy()
    pred[:, :8] += [0.1, 0.0, 0.0]                                        # 8 joints at 100 mm
    pred[:, 8:] += [0.0, 0.2, 0.0]                                        # 9 joints at 200 mm
    assert pck(pred, poses) == pytest.approx(8 / 17)
    assert pck(pred, poses, thr=0.25) == pytest.approx(1.0)
    # every joint 52 mm off: 20 of the thresholds 0, 5, ..., 150 mm exceed it (55 ... 150)
    assert auc(poses + [0.0, 0.0, 0.052], poses) == pytest.approx(20 / 31)
    assert auc(poses, poses) == pytest.approx(30 / 31)                  # 0 < 0 is false


def test_mpjve_by_hand(poses):
    seq = np.repeat(poses[:1], 5, axis=0)                                 # (F=5, 17, 3) static
    assert mpjve(seq + 0.3, seq) == pytest.approx(0.0)                   # constant offset
    drift = seq + np.arange(5)[:, None, None] * [0.01, 0.0, 0.0]          # 10 mm per frame
    assert mpjve(drift, seq) == pytest.approx(0.01)
    with pytest.raises(DataError, match="at least 2 frames"):
        mpjve(seq[:1], seq[:1])


def test_shape_mismatch_raises(poses):
    with pytest.raises(DataError, match=r"\(8, 17, 3\) and \(8, 16, 3\)"):
        mpjpe(poses, poses[:, :16])
    with pytest.raises(DataError, match=r"\(\.\.\., J, 3\)"):
        p_mpjpe(poses[..., :2], poses[..., :2])


def test_inputs_unchanged(poses):
    before = poses.copy()
    pred = poses * 1.1
    pred_before = pred.copy()
    p_mpjpe(pred, poses)
    n_mpjpe(pred, poses)
    assert np.array_equal(poses, before) and np.array_equal(pred, pred_before)


def test_action_table_layout_matches_the_reference_print(poses):
    """The reference's header and row format, the 15 actions (0.00 for absent ones), the
    per-sample P2 as a last labelled column, and the Average over all 15 rows."""
    errors = ActionErrors()
    errors.update(poses[:2] + [0.01, 0.0, 0.0], poses[:2], ["Directions 1"] * 2)
    lines = errors.table().splitlines()
    assert lines[0] == "===Action=== ==p#1 mm== =p#2 mm= ==p#2 sample=="
    assert lines[1] == "Directions    10.00       0.00       0.00"
    assert lines[2] == "Discussion     0.00       0.00       0.00"
    assert len(lines) == 1 + 15 + 1 and lines[-1] == "Average        0.67       0.00       0.00"
    present = ActionErrors(average="present")
    present.update(poses[:2] + [0.01, 0.0, 0.0], poses[:2], ["Directions 1"] * 2)
    assert present.table().splitlines()[1:] == [lines[1], "Average       10.00       0.00       0.00"]


def test_p2_reference_convention_credits_the_batch_mean_in_mixed_batches(poses):
    """monoMotionDiff's mpjpe_by_action_p2: a batch with one action keeps per-pose values; a
    batch mixing actions credits every pose the batch mean. P1 is per pose either way."""
    rng = np.random.default_rng(1)
    pred = poses[:6] + rng.normal(0, 0.03, poses[:6].shape)
    per_pose = p_mpjpe(pred, poses[:6], reduction="none") * 1000          # (6,) mm
    labels = ["Walking 1", "Walking 1", "Eating", "Eating", "Eating", "Eating"]
    ref, sample = ActionErrors(average="present"), ActionErrors(p2="per_sample", average="present")
    for errors in (ref, sample):
        errors.update_batches(pred, poses[:6], labels, batch_size=3)    # [W W E] [E E E]
    mixed = per_pose[:3].mean()
    assert ref.summary()["Walking"][1] == pytest.approx(mixed)
    assert ref.summary()["Eating"][1] == pytest.approx((mixed + per_pose[3:].sum()) / 4)
    assert sample.summary()["Eating"][1] == pytest.approx(per_pose[2:].mean())
    assert ref.summary()["Eating"][0] == pytest.approx(sample.summary()["Eating"][0])
    assert ref.summary(p2="per_sample") == sample.summary()
    with pytest.raises(DataError, match="p2 must be one of"):
        ActionErrors(p2="batch")


def test_action_errors_accumulate(poses, tmp_path):
    errors = ActionErrors(average="present")
    errors.update(poses[:1] + [0.01, 0.0, 0.0], poses[:1], ["Directions 1"])
    errors.update(poses[1:4] + [0.0, 0.02, 0.0], poses[1:4], [13, 13, 13])   # Walking by index
    errors.update(torch.tensor(poses[4:6]) * 1.2, torch.tensor(poses[4:6]),
                  torch.tensor([13, 13]))
    summary = errors.summary()
    assert list(summary) == ["Directions", "Walking"]
    assert summary["Directions"] == pytest.approx((10.0, 0.0), abs=1e-6)
    walking_p1 = (3 * 0.02 + 2 * mpjpe(poses[4:6] * 1.2, poses[4:6])) / 5 * 1000
    assert summary["Walking"][0] == pytest.approx(walking_p1)
    assert summary["Walking"][1] == pytest.approx(0.0, abs=1e-6)       # translation and scale
    assert errors.average() == pytest.approx(((10.0 + walking_p1) / 2, 0.0), abs=1e-6)
    assert errors.counts == {"Directions": 1, "Walking": 5}
    every = ActionErrors()                                            # the reference's Average
    every.update(poses[:1] + [0.01, 0.0, 0.0], poses[:1], ["Directions 1"])
    assert every.average()[0] == pytest.approx(10.0 / 15)
    rows = list(csv.reader(open(errors.to_csv(tmp_path / "errors.csv"))))
    assert rows[0] == ["action", "p1_mm", "p2_mm", "p2_per_sample_mm", "count"]
    assert rows[1][0] == "Directions" and float(rows[1][1]) == pytest.approx(10.0)
    assert rows[-1][0] == "Average" and rows[-1][4] == "6"
    assert len(list(csv.reader(open(every.to_csv(tmp_path / "all.csv"))))) == 1 + 15 + 1


def test_action_errors_bad_labels(poses):
    errors = ActionErrors()
    with pytest.raises(DataError, match="expected 2 action labels, found 1"):
        errors.update(poses[:2], poses[:2], ["Walking"])
    with pytest.raises(DataError, match="unknown Human3.6M action"):
        errors.update(poses[:1], poses[:1], ["Juggling"])
    with pytest.raises(DataError, match=r"indices must be in 0..14, found 3..15"):
        errors.update(poses[:2], poses[:2], np.array([3, 15]))
    with pytest.raises(DataError, match="no poses"):
        ActionErrors().average()
