"""Keypoint formats: COCO / OpenPose -> Human3.6M-17 conversion, files, layout errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mmdiff.errors import DataError
from mmdiff.keypoints import (BODY25_TO_COCO, COCO_17, coco_to_h36m, face_cluster_ratio,
                              openpose_to_coco, read_keypoints, to_h36m)
from mmdiff.skeleton import NAMES_17

# A standing person in COCO-17 order, image pixels (x right, y down), 1000 x 1000 image.
COCO_PERSON = np.array([
    [500, 100],                          # nose
    [490, 90], [510, 90],                # left eye, right eye (person faces the camera)
    [480, 95], [520, 95],                # left ear, right ear
    [440, 180], [560, 180],              # left shoulder, right shoulder
    [420, 300], [580, 300],              # elbows
    [410, 400], [590, 400],              # wrists
    [460, 420], [540, 420],              # hips
    [460, 600], [540, 600],              # knees
    [460, 780], [540, 780],              # ankles
], dtype=float)


def coco_frames(n=3):
    scores = np.linspace(0.5, 1.0, 17)[None, :, None].repeat(n, 0)
    pts = COCO_PERSON[None].repeat(n, 0) + np.arange(n)[:, None, None]
    return np.concatenate([pts, scores], axis=-1)  # (n, 17, 3)


def test_coco_to_h36m_documented_joints():
    kp = coco_frames(1)[0]
    h = coco_to_h36m(kp)
    name = {n: i for i, n in enumerate(NAMES_17)}
    c = {n: i for i, n in enumerate(COCO_17)}
    np.testing.assert_allclose(h[name["Hip"], :2], (kp[c["left_hip"], :2] + kp[c["right_hip"], :2]) / 2)
    np.testing.assert_allclose(h[name["Thorax"], :2], [500, 180])
    np.testing.assert_allclose(h[name["Spine"], :2], [500, 300])
    np.testing.assert_allclose(h[name["Neck/Nose"], :2], kp[c["nose"], :2])
    np.testing.assert_allclose(h[name["Head"], :2], [500, 90])
    np.testing.assert_allclose(h[name["RKnee"], :2], kp[c["right_knee"], :2])
    np.testing.assert_allclose(h[name["LWrist"], :2], kp[c["left_wrist"], :2])
    assert h[name["Hip"], 2] == min(kp[c["left_hip"], 2], kp[c["right_hip"], 2])


def test_head_falls_back_to_ears_without_eyes():
    kp = coco_frames(1)[0].copy()
    kp[1, 2] = kp[2, 2] = 0.0
    assert np.allclose(coco_to_h36m(kp)[10, :2], [500, 95])


def test_conversion_does_not_modify_input():
    kp = coco_frames()
    before = kp.copy()
    coco_to_h36m(kp)
    to_h36m(kp, "coco")
    np.testing.assert_array_equal(kp, before)


def test_openpose_body25_maps_to_coco():
    body25 = np.zeros((2, 25, 3))
    body25[:, list(BODY25_TO_COCO)] = coco_frames(2)
    np.testing.assert_array_equal(openpose_to_coco(body25), coco_frames(2))


def test_layout_check_catches_swapped_orders():
    coco = coco_frames()
    h36m = coco_to_h36m(coco)
    assert face_cluster_ratio(coco) < 0.1 < 0.15 < face_cluster_ratio(h36m)
    with pytest.raises(DataError, match="--layout coco"):
        to_h36m(coco, "h36m")
    with pytest.raises(DataError, match="--layout h36m"):
        to_h36m(h36m, "coco")
    with pytest.raises(DataError, match="has 17 joints, the file has 16"):
        to_h36m(coco[:, :16], "coco")
    with pytest.raises(DataError, match="NaN"):
        to_h36m(np.full((1, 17, 2), np.nan), "h36m")


def test_normalisation_matches_camera_convention():
    kp = to_h36m(coco_frames(1), "coco").normalized(1000, 800)
    assert kp.dtype == np.float32 and kp.shape == (1, 17, 2)
    np.testing.assert_allclose(kp[0, 9], [0.0, 2 * 100 / 1000 - 0.8], atol=1e-6)
    with pytest.raises(DataError, match="positive"):
        to_h36m(coco_frames(1), "coco").normalized(0, 10)


def test_read_coco_results_json_keeps_best_person_per_image(tmp_path):
    frames = coco_frames(3)
    dets = []
    for i, f in enumerate(frames):
        dets.append({"image_id": i, "category_id": 1, "keypoints": f.ravel().tolist(), "score": 0.9})
        dets.append({"image_id": i, "category_id": 1, "keypoints": (f * 0).ravel().tolist(), "score": 0.1})
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    kp = read_keypoints(path)
    np.testing.assert_allclose(kp.pixels, coco_to_h36m(frames)[..., :2], rtol=1e-6)
    assert kp.source_layout == "coco" and kp.scores.shape == (3, 17)


def test_read_openpose_json_and_fill_empty_frames(tmp_path):
    frames = []
    for i, f in enumerate(coco_frames(3)):
        body = np.zeros((25, 3))
        body[list(BODY25_TO_COCO)] = f
        frames.append({"people": [{"pose_keypoints_2d": body.ravel().tolist()}] if i != 1 else []})
    path = tmp_path / "op.json"
    path.write_text(json.dumps(frames))
    kp = read_keypoints(path)
    assert kp.source_layout == "openpose25" and kp.pixels.shape == (3, 17, 2)
    np.testing.assert_array_equal(kp.pixels[1], kp.pixels[0])


def test_read_npz_h36m_and_errors(tmp_path):
    h36m = coco_to_h36m(coco_frames())[..., :2]
    np.savez(tmp_path / "k.npz", keypoints=h36m)
    kp = read_keypoints(tmp_path / "k.npz")
    np.testing.assert_allclose(kp.pixels, h36m, rtol=1e-6)
    np.savez(tmp_path / "bad.npz", keypoints=np.zeros((3, 15, 2)))
    with pytest.raises(DataError, match="bad.npz.*17 joints.*15"):
        read_keypoints(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="no such keypoint file"):
        read_keypoints(tmp_path / "missing.json")
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(DataError, match="expected a .json"):
        read_keypoints(tmp_path / "x.txt")
