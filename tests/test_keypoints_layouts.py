"""Keypoint layouts: COCO / Halpe / OpenPose / MediaPipe -> Human3.6M-17, layout detection and
layout errors."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mmdiff.errors import DataError
from mmdiff.skeleton import NAMES_17
from mmdiff.wild.keypoints import (BODY25_TO_COCO, COCO_17, HALPE_26, coco_to_h36m,
                                   face_cluster_ratio, guess_layout, halpe_to_h36m,
                                   mediapipe_to_coco, openpose_to_coco, to_h36m, to_h36m_points)
from mmdiff.wild.keypoints.layouts import MEDIAPIPE_33, POINTS, layout_from_names

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _keypoint_files import HALPE_PERSON, coco_frames  # noqa: E402

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


def test_halpe_head_top_neck_and_pelvis_give_head_thorax_hip():
    kp = np.concatenate([HALPE_PERSON, np.linspace(0.4, 0.9, 26)[:, None]], axis=1)  # (26, 3)
    h = halpe_to_h36m(kp)
    name = {n: i for i, n in enumerate(NAMES_17)}
    halpe = {n: i for i, n in enumerate(HALPE_26)}
    np.testing.assert_allclose(h[name["Head"]], kp[halpe["head"]])
    np.testing.assert_allclose(h[name["Thorax"]], kp[halpe["neck"]])
    np.testing.assert_allclose(h[name["Hip"]], kp[halpe["hip"]])
    np.testing.assert_allclose(h[name["Neck/Nose"]], kp[halpe["nose"]])
    np.testing.assert_allclose(h[name["Spine"], :2], (kp[halpe["hip"], :2] + kp[halpe["neck"], :2]) / 2)
    assert h[name["Spine"], 2] == min(kp[halpe["hip"], 2], kp[halpe["neck"], 2])
    np.testing.assert_allclose(h[name["LFoot"]], kp[halpe["left_ankle"]])
    # the limbs agree with the COCO mapping of the same 17 first points
    limbs = [name[n] for n in ("RHip", "RKnee", "LWrist", "RElbow")]
    np.testing.assert_allclose(h[limbs], coco_to_h36m(kp[:17])[limbs])


def test_mediapipe_and_wholebody_layouts_read_their_coco_points():
    blaze = np.zeros((2, 33, 3))
    blaze[:, [MEDIAPIPE_33.index(n) for n in COCO_17]] = coco_frames(2)
    np.testing.assert_array_equal(mediapipe_to_coco(blaze), coco_frames(2))
    np.testing.assert_allclose(to_h36m_points(blaze, "mediapipe33"), coco_to_h36m(coco_frames(2)))
    wholebody = np.concatenate([coco_frames(2), np.zeros((2, 116, 3))], axis=1)  # (2, 133, 3)
    np.testing.assert_allclose(to_h36m_points(wholebody, "coco_wholebody"), coco_to_h36m(coco_frames(2)))
    halpe136 = np.concatenate([np.repeat(np.c_[HALPE_PERSON, np.ones(26)][None], 2, 0),
                               np.zeros((2, 110, 3))], axis=1)
    np.testing.assert_allclose(to_h36m_points(halpe136, "halpe136")[0], halpe_to_h36m(halpe136[0, :26]))


def test_layout_from_point_count_and_names():
    assert {n: guess_layout(n) for n in (17, 18, 25, 26, 33, 133, 136)} == {
        17: "coco", 18: "openpose18", 25: "openpose25", 26: "halpe26", 33: "mediapipe33",
        133: "coco_wholebody", 136: "halpe136"}
    assert guess_layout(17, default_17="h36m") == "h36m"
    with pytest.raises(DataError, match="clip.json: no known layout has 21 points"):
        guess_layout(21, source="clip.json")
    assert layout_from_names(COCO_17) == "coco" and layout_from_names(HALPE_26) == "halpe26"
    assert layout_from_names([n.upper() for n in MEDIAPIPE_33]) == "mediapipe33"
    assert layout_from_names(["a", "b"]) is None
    assert set(POINTS) >= {"h36m", "coco", "halpe26", "openpose25", "openpose18", "mediapipe33"}
    with pytest.raises(DataError, match="unknown layout 'halpe'"):
        to_h36m_points(np.zeros((1, 26, 3)), "halpe")
    with pytest.raises(DataError, match=r"expected \(\.\.\., 26, 2\|3\), found \(1, 17, 3\)"):
        to_h36m_points(np.zeros((1, 17, 3)), "halpe26")
