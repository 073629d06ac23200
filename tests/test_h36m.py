"""Tests for mmdiff.data.h36m: the published layouts, their checks and the real-motion file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmdiff.data import (ACTIONS, TEST_SUBJECTS, TRAIN_SUBJECTS, action_base, load_metadata_2d,
                         load_positions_2d, load_positions_3d, save_positions_2d,
                         save_positions_3d)
from mmdiff.data.npz import save_npz_atomic
from mmdiff.errors import DataError
from mmdiff.skeleton import PARENTS_32, bone_lengths

REALMOTION = Path(__file__).resolve().parents[2] / "shared" / "realmotion" / \
    "data_3d_h36m_realmotion.npz"


def _gmm(rng, frames, k=3):
    kernels = rng.uniform(0, 1000, size=(frames, 17, k, 5)).astype(np.float32)
    kernels[..., 0] = np.array([0.6, 0.3, 0.1][:k]) / np.sum([0.6, 0.3, 0.1][:k])
    return kernels


def test_actions_and_subjects():
    assert len(ACTIONS) == 15 and ACTIONS[0] == "Directions" and ACTIONS[-1] == "WalkTogether"
    assert TRAIN_SUBJECTS == ("S1", "S5", "S6", "S7", "S8") and TEST_SUBJECTS == ("S9", "S11")


@pytest.mark.parametrize("name, base", [("Walking 1", "Walking"), ("Walking", "Walking"),
                                        ("Photo 1", "Photo"), ("TakingPhoto", "Photo"),
                                        ("TakingPhoto 2", "Photo"), ("WalkingDog 1", "WalkDog"),
                                        ("WalkDog", "WalkDog"), ("sittingdown_2", "SittingDown"),
                                        ("WalkTogether 2", "WalkTogether")])
def test_action_base(name, base):
    assert action_base(name) == base


def test_action_base_unknown_raises():
    with pytest.raises(DataError, match="Dancing"):
        action_base("Dancing 1")


def test_3d_round_trip_and_interop(tmp_path, rng):
    pos = {"S1": {"Walking 1": rng.normal(size=(5, 32, 3)).astype(np.float32)},
           "S9": {"Directions": rng.normal(size=(3, 32, 3)).astype(np.float32)}}
    path = save_positions_3d(tmp_path / "data_3d_h36m.npz", pos)
    out = load_positions_3d(path)
    assert out.keys() == pos.keys()
    assert np.array_equal(out["S1"]["Walking 1"], pos["S1"]["Walking 1"])
    assert out["S9"]["Directions"].dtype == np.float32
    # the layout VideoPose3D reads
    ref = np.load(path, allow_pickle=True)["positions_3d"].item()
    assert ref["S1"]["Walking 1"].shape == (5, 32, 3)


def test_2d_round_trip_plain_and_metadata(tmp_path, rng):
    pos = {"S1": {"Walking 1": [rng.uniform(0, 1000, size=(6, 17, 2)) for _ in range(4)]}}
    path = save_positions_2d(tmp_path / "data_2d_h36m_gt.npz", pos)
    out = load_positions_2d(path)
    assert len(out["S1"]["Walking 1"]) == 4
    assert np.allclose(out["S1"]["Walking 1"][2], pos["S1"]["Walking 1"][2], atol=1e-4)
    meta = load_metadata_2d(path)
    assert meta["num_joints"] == 17
    assert meta["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    ref = np.load(path, allow_pickle=True)
    assert ref["metadata"].item()["layout_name"] == "h36m"


def test_2d_round_trip_gmm(tmp_path, rng):
    pos = {"S9": {"Sitting 1": [_gmm(rng, 4) for _ in range(4)]}}
    out = load_positions_2d(save_positions_2d(tmp_path / "gmm.npz", pos))
    assert out["S9"]["Sitting 1"][0].shape == (4, 17, 3, 5)
    assert np.array_equal(out["S9"]["Sitting 1"][3], pos["S9"]["Sitting 1"][3])


def test_missing_file_and_key(tmp_path, rng):
    with pytest.raises(DataError, match="absent.npz: file not found"):
        load_positions_3d(tmp_path / "absent.npz")
    path = save_positions_2d(tmp_path / "d2.npz",
                             {"S1": {"Eating": [rng.uniform(size=(2, 17, 2))] * 4}})
    with pytest.raises(DataError, match=r"d2.npz: missing key 'positions_3d'"):
        load_positions_3d(path)
    bare = save_npz_atomic(tmp_path / "bare.npz", positions_2d={"S1": {}})
    assert load_metadata_2d(bare) is None


def test_wrong_3d_shape_names_file_subject_action(tmp_path, rng):
    path = save_npz_atomic(tmp_path / "bad3d.npz",
                           positions_3d={"S5": {"Greeting 2": rng.normal(size=(4, 32, 2))}})
    with pytest.raises(DataError) as info:
        load_positions_3d(path)
    msg = str(info.value)
    assert "bad3d.npz" in msg and "'S5'" in msg and "'Greeting 2'" in msg
    assert "(F, 32, 3)" in msg and "(4, 32, 2)" in msg


def test_3d_layout_not_a_dict(tmp_path):
    path = save_npz_atomic(tmp_path / "flat.npz", positions_3d=np.zeros((3, 32, 3)))
    with pytest.raises(DataError, match="expected a dict of subjects, found ndarray"):
        load_positions_3d(path)


def test_nan_and_inf_are_refused(tmp_path, rng):
    arr = rng.normal(size=(4, 32, 3))
    arr[2, 7, 1] = np.nan
    path = save_npz_atomic(tmp_path / "nan.npz", positions_3d={"S1": {"Posing": arr}})
    with pytest.raises(DataError, match=r"'Posing'.*1 NaN/inf values \(first at index \(2, 7, 1\)"):
        load_positions_3d(path)
    cams = [rng.uniform(size=(3, 17, 2)) for _ in range(4)]
    cams[3][0, 0, 0] = np.inf
    path = save_npz_atomic(tmp_path / "inf.npz", positions_2d={"S9": {"Waiting 1": cams}})
    with pytest.raises(DataError, match=r"'Waiting 1'\] camera 3: 1 NaN/inf"):
        load_positions_2d(path)


def test_wrong_2d_shape_names_camera(tmp_path, rng):
    cams = [rng.uniform(size=(3, 17, 2)) for _ in range(4)]
    cams[1] = rng.uniform(size=(3, 16, 2))
    path = save_npz_atomic(tmp_path / "bad2d.npz", positions_2d={"S1": {"Eating 1": cams}})
    with pytest.raises(DataError, match=r"bad2d.npz \['S1'\]\['Eating 1'\] camera 1: expected "
                                        r"shape \(F, 17, 2\) or \(F, 17, K, 5\), found \(3, 16, 2\)"):
        load_positions_2d(path)


def test_gmm_weights_checked_and_kinds_not_mixed(tmp_path, rng):
    bad = _gmm(rng, 3)
    bad[..., 0] = 0.5
    path = save_npz_atomic(tmp_path / "w.npz", positions_2d={"S1": {"Eating": [bad] * 4}})
    with pytest.raises(DataError, match="weights .* sum to 1"):
        load_positions_2d(path)
    mixed = {"S1": {"Eating": [_gmm(rng, 3)] * 4, "Posing": [rng.uniform(size=(3, 17, 2))] * 4}}
    path = save_npz_atomic(tmp_path / "mixed.npz", positions_2d=mixed)
    with pytest.raises(DataError, match="mixes 2D layouts"):
        load_positions_2d(path)


def test_save_refuses_bad_arrays(tmp_path, rng):
    with pytest.raises(DataError, match="NaN"):
        save_positions_3d(tmp_path / "x.npz", {"S1": {"A": np.full((2, 32, 3), np.nan)}})
    assert not (tmp_path / "x.npz").exists()


def test_realmotion_file_loads(shared_dir):
    if not REALMOTION.is_file():
        pytest.skip(f"real motion file absent: {REALMOTION} (only present beside the checkout)")
    data = load_positions_3d(REALMOTION)
    assert sorted(data) == sorted(["S1", "S5", "S6", "S7", "S8", "S9", "S11"])
    assert sum(len(a) for a in data.values()) == 179
    assert sum(len(seq) for seq in data["S1"].values()) == 15533
    seq = data["S1"]["Walking 1"]
    assert seq.ndim == 3 and seq.shape[1:] == (32, 3) and seq.dtype == np.float32
    bones = bone_lengths(seq, PARENTS_32)                                # (F, 31) metres
    assert np.abs(bones - bones.mean(0)).max() < 1e-4                  # rigid over time
    assert bones.mean(0)[1] == pytest.approx(0.4429, abs=1e-3)           # RHip -> RKnee (thigh)
    assert {action_base(a) for a in data["S1"]} == set(ACTIONS)
