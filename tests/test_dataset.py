"""Tests for mmdiff.data.dataset: per-frame samples and the torch dataset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mmdiff.camera import (cameras_for, image_coordinates, normalize_screen_coordinates,
                           project_to_2d, world_to_camera)
from mmdiff.data import (ACTIONS, PoseDataset, PoseSamples, action_base, build_samples,
                         load_samples, save_positions_2d, save_positions_3d)
from mmdiff.errors import DataError
from mmdiff.skeleton import KEEP_17, flip_pose

SEQS = {"S1": {"Walking 1": 7, "Eating": 5}, "S9": {"Walking": 6, "Sitting 2": 4}}


def make_world(rng, frames):
    """(F, 32, 3) world points around a pelvis in the middle of the capture volume."""
    return (rng.normal(scale=0.25, size=(frames, 32, 3)) + [0.0, 0.3, 0.9]).astype(np.float32)


def detections(world, subject, extra=0, gmm=False):
    """Per-camera 2D in pixels: projections of the 17 joints, plus ``extra`` trailing frames."""
    out = []
    for cam in cameras_for(subject):
        uv = project_to_2d(world_to_camera(world[:, list(KEEP_17)].astype(np.float64), cam), cam)
        uv = np.concatenate([uv, uv[-1:].repeat(extra, 0)])            # (F + extra, 17, 2)
        if gmm:                                                          # kernel 0 = detection
            k = np.zeros(uv.shape[:2] + (3, 5))
            k[..., 0] = [0.5, 0.3, 0.2]
            k[..., 1:3] = uv[:, :, None] + np.array([[0, 0], [8, 0], [0, -8]])
            k[..., 3:5] = [[0.008, 0.008], [0.02, 0.02], [0.04, 0.04]]  # normalised units
            uv = k
        out.append(uv.astype(np.float32))
    return out


@pytest.fixture
def tables(rng):
    pos3d = {s: {a: make_world(rng, f) for a, f in acts.items()} for s, acts in SEQS.items()}
    pos2d = {s: {a: detections(w, s, extra=3) for a, w in acts.items()}
             for s, acts in pos3d.items()}
    return pos3d, pos2d


@pytest.fixture
def gmm_tables(tables):
    pos3d, _ = tables
    pos2d = {s: {a: detections(w, s, extra=2, gmm=True) for a, w in acts.items()}
             for s, acts in pos3d.items()}
    return pos3d, pos2d


def test_build_samples_geometry(tables):
    pos3d, pos2d = tables
    s = build_samples(pos3d, pos2d, ["S1", "S9"])
    assert len(s) == 4 * sum(sum(a.values()) for a in SEQS.values())
    assert s.pose_3d.shape == (len(s), 17, 3) and s.pose_3d.dtype == np.float32
    assert s.pose_2d.shape == (len(s), 17, 2) and s.gmm is None
    assert np.all(s.pose_3d[:, 0] == 0)                                  # root-relative
    # row check: S9 'Walking' camera 2 frame 3
    row = np.flatnonzero((s.subject == "S9") & (s.action == "Walking") & (s.camera == 2) &
                         (s.frame == 3))
    assert row.size == 1
    cam = cameras_for("S9")[2]
    expect = world_to_camera(pos3d["S9"]["Walking"][3, list(KEEP_17)].astype(np.float64), cam)
    assert np.allclose(s.pose_3d[row[0]], expect - expect[:1], atol=1e-6)
    uv = image_coordinates(s.pose_2d[row[0]].astype(np.float64), cam.res_w, cam.res_h)
    assert np.allclose(uv, pos2d["S9"]["Walking"][2][3], atol=1e-3)    # pixels back
    assert np.abs(s.pose_2d).max() < 1.01                                # normalised
    assert set(s.action) == {"Walking", "Eating", "Sitting"}            # base names
    assert s.camera.dtype == np.int64 and s.frame.dtype == np.int64


def test_inputs_are_not_modified(tables):
    pos3d, pos2d = tables
    copy3d = {s: {a: w.copy() for a, w in acts.items()} for s, acts in pos3d.items()}
    copy2d = {s: {a: [c.copy() for c in cams] for a, cams in acts.items()}
              for s, acts in pos2d.items()}
    build_samples(pos3d, pos2d, ["S1", "S9"], stride=2)
    for s in pos3d:
        for a in pos3d[s]:
            assert np.array_equal(pos3d[s][a], copy3d[s][a])
            assert all(np.array_equal(x, y) for x, y in zip(pos2d[s][a], copy2d[s][a]))


def test_stride_and_action_filter(tables):
    pos3d, pos2d = tables
    s = build_samples(pos3d, pos2d, ["S1", "S9"], actions=["Walking"], stride=2)
    assert set(s.action) == {"Walking"}
    assert len(s) == 4 * (4 + 3)                                        # ceil(7/2) + ceil(6/2)
    assert set(s.frame[s.subject == "S1"]) == {0, 2, 4, 6}
    # take numbers and other spellings are accepted in the filter
    assert len(build_samples(pos3d, pos2d, ["S1"], actions="Walking 1")) == 28


def test_gmm_samples(gmm_tables):
    pos3d, pos2d = gmm_tables
    s = build_samples(pos3d, pos2d, ["S1"])
    assert s.gmm.shape == (len(s), 17, 3, 5) and s.gmm.dtype == np.float32
    assert np.array_equal(s.pose_2d, s.gmm[:, :, 0, 1:3])                # kernel 0 mean
    assert np.allclose(s.gmm[..., 0], [0.5, 0.3, 0.2])
    assert np.allclose(s.gmm[..., 3:5], np.array([0.008, 0.02, 0.04])[:, None])  # as stored
    cam = cameras_for("S1")[0]
    pixels = pos2d["S1"]["Walking 1"][0][:7, :, 1, 1:3]
    expect = normalize_screen_coordinates(pixels, 1000, 1000)          # the reference: 1000 x 1000
    assert np.allclose(s.gmm[:7, :, 1, 1:3], expect, atol=1e-6) and cam.res_h == 1002
    own = build_samples(pos3d, pos2d, ["S1"], normalization="camera")  # each camera's own size
    assert np.allclose(own.gmm[:7, :, 1, 1:3], normalize_screen_coordinates(pixels, 1000, 1002),
                       atol=1e-6)
    tall = np.isin(s.camera, [0, 3])                                   # 1000 x 1002 cameras
    assert np.allclose(own.pose_2d[tall, :, 1] - s.pose_2d[tall, :, 1], -0.002, atol=1e-6)
    assert np.allclose(own.pose_2d[~tall], s.pose_2d[~tall], atol=1e-7)
    with pytest.raises(DataError, match="normalization"):
        build_samples(pos3d, pos2d, ["S1"], normalization="pixels")


def test_rows_follow_the_2d_files_action_order(tables):
    """The reference's test loader walks the 2D file's dict (subject, action, camera, frame):
    batches of the reference's P2 depend on that order."""
    pos3d, pos2d = tables
    reordered = {s: dict(reversed(list(acts.items()))) for s, acts in pos2d.items()}
    a, b = build_samples(pos3d, pos2d, ["S9"]), build_samples(pos3d, reordered, ["S9"])
    order = [action_base(k) for k in reordered["S9"]]
    assert list(dict.fromkeys(b.action.tolist())) == order
    assert list(dict.fromkeys(a.action.tolist())) == order[::-1]
    assert sorted(map(tuple, a.pose_3d.reshape(len(a), -1).tolist())) == \
        sorted(map(tuple, b.pose_3d.reshape(len(b), -1).tolist()))


def test_short_2d_sequence_names_everything(tables):
    pos3d, pos2d = tables
    pos2d["S9"]["Sitting 2"][1] = pos2d["S9"]["Sitting 2"][1][:3]
    with pytest.raises(DataError) as info:
        build_samples(pos3d, pos2d, ["S9"])
    msg = str(info.value)
    assert "S9" in msg and "'Sitting 2'" in msg and "camera 1" in msg
    assert "3 frames" in msg and "has 4" in msg


def test_missing_subject_action_camera(tables):
    pos3d, pos2d = tables
    with pytest.raises(DataError, match="subject 'S11' is not in the 3D data"):
        build_samples(pos3d, pos2d, ["S11"])
    del pos2d["S1"]["Eating"]
    with pytest.raises(DataError, match=r"\['Eating'\] are in the 3D data but not in the 2D"):
        build_samples(pos3d, pos2d, ["S1"])
    pos2d["S1"]["Eating"] = pos2d["S1"]["Juggling 1"] = pos2d["S1"]["Walking 1"]
    with pytest.raises(DataError, match=r"\['Juggling 1'\] are in the 2D data but not in the 3D"):
        build_samples(pos3d, pos2d, ["S1"])
    pos2d["S9"]["Walking"] = pos2d["S9"]["Walking"][:3]
    with pytest.raises(DataError, match="expected 4 cameras of 2D data, found 3"):
        build_samples(pos3d, pos2d, ["S9"])


def test_action_filter_errors(tables):
    pos3d, pos2d = tables
    with pytest.raises(DataError, match="unknown Human3.6M action 'Juggling'"):
        build_samples(pos3d, pos2d, ["S1"], actions=["Juggling"])
    with pytest.raises(DataError, match=r"no sequences of action\(s\) \['Posing'\]"):
        build_samples(pos3d, pos2d, ["S1", "S9"], actions=["Walking", "Posing"])
    with pytest.raises(DataError, match="stride"):
        build_samples(pos3d, pos2d, ["S1"], stride=0)


def test_load_samples_from_files(tmp_path, tables):
    pos3d, pos2d = tables
    p3 = save_positions_3d(tmp_path / "data_3d_h36m.npz", pos3d)
    p2 = save_positions_2d(tmp_path / "data_2d_h36m_gt.npz", pos2d)
    a = load_samples(p3, p2, ["S9"], stride=3)
    b = build_samples(pos3d, pos2d, ["S9"], stride=3)
    assert np.array_equal(a.pose_3d, b.pose_3d) and np.array_equal(a.pose_2d, b.pose_2d)
    assert list(a.subject) == list(b.subject)


def test_samples_shape_check_and_select(tables):
    s = build_samples(*tables, ["S1"])
    part = s.select(s.action == "Eating")
    assert len(part) == 20 and set(part.action) == {"Eating"}
    with pytest.raises(DataError, match="PoseSamples.pose_2d: expected shape"):
        PoseSamples(s.pose_3d, s.pose_2d[:-1], None, s.subject, s.action, s.camera, s.frame)


def test_dataset_items(tables):
    s = build_samples(*tables, ["S1"])
    ds = PoseDataset(s)
    item = ds[3]
    assert set(item) == {"pose_2d", "pose_3d", "spread_2d", "action", "subject"}
    assert item["pose_2d"].shape == (17, 2) and item["pose_2d"].dtype == torch.float32
    assert item["pose_3d"].shape == (17, 3) and item["spread_2d"].abs().sum() == 0
    assert ACTIONS[int(item["action"])] == s.action[3]
    assert np.array_equal(item["pose_3d"].numpy(), s.pose_3d[3])
    item["pose_3d"] += 1.0                                               # a copy, not a view
    assert np.array_equal(ds[3]["pose_3d"].numpy(), s.pose_3d[3])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8)))
    assert batch["pose_2d"].shape == (8, 17, 2) and batch["action"].dtype == torch.int64


def test_flip_never_changes_stored_arrays(gmm_tables):
    s = build_samples(*gmm_tables, ["S1", "S9"])
    stored = {k: getattr(s, k).copy() for k in ("pose_3d", "pose_2d", "gmm")}
    ds = PoseDataset(s, flip=True, sample_gmm=True, seed=3)
    flips = 0
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            flips += not np.allclose(item["pose_3d"].numpy(), s.pose_3d[i])
    for k, v in stored.items():
        assert np.array_equal(getattr(s, k), v), k
    total = 6 * len(ds)
    assert 0.4 < flips / total < 0.6                                     # a fair coin


def test_flip_is_a_mirror_and_deterministic(tables):
    s = build_samples(*tables, ["S9"])
    ds = PoseDataset(s, flip=True, seed=1)
    again = PoseDataset(s, flip=True, seed=1)
    for epoch in range(3):
        ds.set_epoch(epoch)
        again.set_epoch(epoch)
        for i in range(0, len(ds), 5):
            a, b = ds[i], again[i]
            assert all(torch.equal(a[k], b[k]) for k in a)              # (seed, epoch, index)
            if not np.allclose(a["pose_3d"].numpy(), s.pose_3d[i]):
                assert np.allclose(a["pose_3d"].numpy(), flip_pose(s.pose_3d[i]))
                assert np.allclose(a["pose_2d"].numpy(), flip_pose(s.pose_2d[i]))
    ds.set_epoch(0)
    first = [bool(np.allclose(ds[i]["pose_3d"].numpy(), s.pose_3d[i])) for i in range(len(ds))]
    ds.set_epoch(1)
    second = [bool(np.allclose(ds[i]["pose_3d"].numpy(), s.pose_3d[i])) for i in range(len(ds))]
    assert first != second                                               # epochs differ
    other_seed = PoseDataset(s, flip=True, seed=2)
    assert first != [bool(np.allclose(other_seed[i]["pose_3d"].numpy(), s.pose_3d[i]))
                     for i in range(len(ds))]


def test_gmm_kernel_sampling_follows_weights(gmm_tables):
    s = build_samples(*gmm_tables, ["S1"])
    ds = PoseDataset(s, sample_gmm=True, seed=0)
    counts = np.zeros(3)
    spread_of = {round(float(v), 6): k for k, v in enumerate(s.gmm[0, 0, :, 3])}
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            ks = [spread_of[round(float(v), 6)] for v in item["spread_2d"][:, 0]]
            counts += np.bincount(ks, minlength=3)
            k0 = item["spread_2d"][:, 0].numpy() == np.float32(s.gmm[0, 0, 0, 3])
            assert np.allclose(item["pose_2d"].numpy()[k0], s.pose_2d[i][k0])
    freq = counts / counts.sum()
    assert np.allclose(freq, [0.5, 0.3, 0.2], atol=0.03)


def test_sample_gmm_needs_gmm_inputs(tables):
    with pytest.raises(DataError, match="sample_gmm=True needs GMM"):
        PoseDataset(build_samples(*tables, ["S1"]), sample_gmm=True)


def test_flip_swaps_the_sampled_spreads(gmm_tables):
    s = build_samples(*gmm_tables, ["S9"])
    plain = PoseDataset(s, sample_gmm=True, seed=5)
    flipped = PoseDataset(s, sample_gmm=True, flip=True, seed=5)
    perm = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]
    seen_flip = False
    for i in range(len(s)):
        a, b = plain[i], flipped[i]
        if torch.equal(a["pose_3d"], b["pose_3d"]):
            assert torch.equal(a["spread_2d"], b["spread_2d"])
        else:
            seen_flip = True
            assert torch.equal(a["spread_2d"][perm], b["spread_2d"])
            assert torch.allclose(flip_pose(a["pose_2d"]), b["pose_2d"])
    assert seen_flip


def test_batch_matches_items_and_loader(gmm_tables):
    s = build_samples(*gmm_tables, ["S1", "S9"])
    ds = PoseDataset(s, flip=True, sample_gmm=True, seed=11)
    ds.set_epoch(4)
    idx = [5, 0, 17, 17, 60]
    b = ds.batch(idx)
    assert b["pose_2d"].shape == (5, 17, 2) and b["action"].shape == (5,)
    for j, i in enumerate(idx):
        item = ds[i]
        assert all(torch.equal(item[k], b[k][j]) for k in item)
    loader = torch.utils.data.DataLoader(ds, batch_size=7, shuffle=False)
    first = next(iter(loader))
    assert torch.equal(first["pose_3d"], ds.batch(range(7))["pose_3d"])


def test_item_uniforms():
    from mmdiff.data.dataset import item_uniforms
    u = item_uniforms(0, 0, np.arange(20000), 18)
    assert u.shape == (20000, 18) and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01 and abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.03
    assert np.array_equal(item_uniforms(0, 0, [7, 3], 18)[1], u[3])     # batch-independent
    assert not np.array_equal(item_uniforms(0, 1, [3], 18)[0], u[3])    # epoch matters
    assert not np.array_equal(item_uniforms(1, 0, [3], 18)[0], u[3])    # seed matters


def test_realmotion_through_the_whole_data_path(tmp_path):
    from pathlib import Path

    from mmdiff.data import load_positions_3d
    from mmdiff.skeleton import bone_lengths
    real = Path(__file__).resolve().parents[2] / "shared" / "realmotion" / \
        "data_3d_h36m_realmotion.npz"
    if not real.is_file():
        pytest.skip(f"real motion file absent: {real} (only present beside the checkout)")
    world = {"S9": {a: w[::40] for a, w in load_positions_3d(real)["S9"].items()
                    if a in ("Walking 1", "Sitting 1")}}
    p3 = save_positions_3d(tmp_path / "d3.npz", world)
    p2 = save_positions_2d(tmp_path / "d2.npz", {"S9": {a: detections(w, "S9", extra=2)
                                                         for a, w in world["S9"].items()}})
    s = load_samples(p3, p2, ["S9"])
    assert set(s.action) == {"Walking", "Sitting"} and set(s.camera) == {0, 1, 2, 3}
    assert np.abs(s.pose_2d).max() < 1.0                                   # inside the images
    rows = (s.action == "Walking") & (s.camera == 3)
    ref = bone_lengths(world["S9"]["Walking 1"][s.frame[rows]][:, list(KEEP_17)])
    assert np.allclose(bone_lengths(s.pose_3d[rows]), ref, atol=1e-5)      # a rigid change
