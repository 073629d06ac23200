"""Tests for mmdiff.camera: published calibration, quaternions, world<->camera, projection."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdiff.camera import (SUBJECTS, Camera, camera_to_world, cameras_for, image_coordinates,
                           normalize_screen_coordinates, project_to_2d, qinverse, qrot,
                           world_to_camera)
from mmdiff.errors import DataError

REALMOTION = Path(__file__).resolve().parents[2] / "shared" / "realmotion" / \
    "data_3d_h36m_realmotion.npz"


def quat_to_matrix(q):
    """Rotation matrix of a unit quaternion (w, x, y, z), written out for the test."""
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def test_published_calibration_table():
    assert SUBJECTS == ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
    cams = cameras_for("S1")
    assert [c.id for c in cams] == ["54138969", "55011271", "58860488", "60457274"]
    assert [(c.res_w, c.res_h) for c in cams] == [(1000, 1002), (1000, 1000), (1000, 1000),
                                                  (1000, 1002)]
    assert cams[0].focal_length[0] == pytest.approx(1145.0494384765625)
    assert cams[0].orientation == pytest.approx([0.1407056450843811, -0.1500701755285263,
                                                 -0.755240797996521, 0.6223280429840088], abs=1e-6)
    # translation stored in metres (published 1841.107 mm)
    assert cams[0].translation == pytest.approx([1.8411070556640625, 4.95528466796875,
                                                 1.5634454345703125])
    for subject in SUBJECTS:
        for cam in cameras_for(subject):
            assert np.linalg.norm(cam.orientation) == pytest.approx(1.0, abs=1e-6)
            assert 4.0 < np.linalg.norm(cam.translation) < 6.0     # a few metres from the centre
            assert cam.radial_distortion.shape == (3,) and cam.tangential_distortion.shape == (2,)


def test_camera_arrays_are_read_only_and_unknown_subject_raises():
    cam = cameras_for("S9")[0]
    with pytest.raises(ValueError, match="read-only"):                 # numpy's own error
        cam.translation[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cam.res_w = 1
    with pytest.raises(DataError, match="S2"):
        cameras_for("S2")


def test_qrot_matches_rotation_matrix_and_inverse(rng):
    v = rng.normal(size=(10, 3))
    for cam in cameras_for("S5"):
        q = cam.orientation
        assert np.allclose(qrot(np.tile(q, (10, 1)), v), v @ quat_to_matrix(q).T, atol=1e-12)
        assert np.allclose(qrot(qinverse(q), qrot(q, v)), v, atol=1e-12)   # broadcasting q
    assert np.allclose(qrot(np.array([1.0, 0, 0, 0]), v), v)


def test_world_camera_round_trip_all_subjects(rng):
    X = rng.normal(size=(4, 17, 3)) + [0.0, 0.0, 1.0]
    X_before = X.copy()
    for subject in SUBJECTS:
        for cam in cameras_for(subject):
            X_cam = world_to_camera(X, cam)
            assert np.abs(camera_to_world(X_cam, cam) - X).max() < 1e-6
            assert np.allclose(world_to_camera(cam.translation, cam), 0.0, atol=1e-12)
    assert np.array_equal(X, X_before)   # input unchanged


def test_torch_and_numpy_agree(rng):
    cam = cameras_for("S11")[2]
    X = rng.normal(size=(6, 17, 3)) + [0.0, 0.0, 1.0]
    Xt = torch.tensor(X)
    assert np.allclose(world_to_camera(Xt, cam).numpy(), world_to_camera(X, cam), atol=1e-12)
    X_cam = world_to_camera(X, cam)
    for distort in (True, False):
        pt = project_to_2d(torch.tensor(X_cam), cam, distort=distort)
        assert isinstance(pt, torch.Tensor)
        assert np.allclose(pt.numpy(), project_to_2d(X_cam, cam, distort=distort), atol=1e-9)


def test_capture_volume_is_in_front_and_inside_every_image():
    centre = np.array([[0.0, 0.3, 0.9]])            # a pelvis near the middle of the room
    for subject in SUBJECTS:
        for cam in cameras_for(subject):
            X_cam = world_to_camera(centre, cam)
            assert X_cam[0, 2] > 3.0                 # in front, a few metres away
            uv = project_to_2d(X_cam, cam)
            assert 0 < uv[0, 0] < cam.res_w and 0 < uv[0, 1] < cam.res_h


def test_optical_axis_projects_to_centre():
    cam = cameras_for("S1")[1]
    for distort in (True, False):
        assert np.allclose(project_to_2d(np.array([0.0, 0.0, 4.0]), cam, distort), cam.center)


def test_pinhole_projection_round_trip(rng):
    cam = cameras_for("S7")[3]
    X_cam = rng.uniform(-0.8, 0.8, size=(50, 3)) + [0.0, 0.0, 5.0]
    uv = project_to_2d(X_cam, cam, distort=False)
    back = (uv - cam.center) / cam.focal_length * X_cam[:, 2:3]   # unproject at the known depth
    assert np.abs(back - X_cam[:, :2]).max() < 1e-6


def test_distortion_model_by_hand():
    cam = cameras_for("S9")[0]
    X = np.array([0.3, -0.2, 2.0])
    x, y = 0.15, -0.1
    k1, k2, k3 = cam.radial_distortion
    p1, p2 = cam.tangential_distortion
    r2 = x * x + y * y
    scale = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3 + p1 * x + p2 * y
    expected = cam.focal_length * (np.array([x, y]) * scale + np.array([p1, p2]) * r2) + cam.center
    assert np.allclose(project_to_2d(X, cam, distort=True), expected, atol=1e-9)
    # without distortion coefficients the two models agree
    plain = dataclasses.replace(cam, radial_distortion=np.zeros(3),
                                tangential_distortion=np.zeros(2))
    assert np.allclose(project_to_2d(X, plain, True), project_to_2d(X, cam, False), atol=1e-9)
    assert not np.allclose(project_to_2d(X, cam, True), project_to_2d(X, cam, False), atol=0.5)


def test_screen_normalisation_round_trip(rng):
    uv = rng.uniform(0, 1000, size=(8, 17, 2))
    for w, h in ((1000, 1002), (1000, 1000)):
        n = normalize_screen_coordinates(uv, w, h)
        assert np.abs(image_coordinates(n, w, h) - uv).max() < 1e-6
    corners = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    assert np.allclose(normalize_screen_coordinates(corners, 1000, 1002),
                       [[-1, -1.002], [1, 1.002], [0, 0]])
    t = normalize_screen_coordinates(torch.tensor(uv), 1000, 1002)
    assert isinstance(t, torch.Tensor)
    assert np.allclose(t.numpy(), normalize_screen_coordinates(uv, 1000, 1002))
    with pytest.raises(DataError, match=r"\(\.\.\., 2\)"):
        normalize_screen_coordinates(np.zeros((3, 3)), 1000, 1000)


def test_camera_repr_is_short():
    assert "54138969" in repr(cameras_for("S1")[0])
    assert isinstance(cameras_for("S1")[0], Camera)


def test_realmotion_projects_inside_the_images():
    if not REALMOTION.is_file():
        pytest.skip(f"real motion file absent: {REALMOTION} (only present beside the checkout)")
    from mmdiff.data import load_positions_3d

    data = load_positions_3d(REALMOTION)
    inside = total = 0
    for subject in SUBJECTS:
        for action in list(data[subject])[:4]:
            world = data[subject][action][::50]                       # (F', 32, 3) metres
            for cam in cameras_for(subject):
                X_cam = world_to_camera(world, cam)
                assert (X_cam[..., 2] > 0).all()
                uv = project_to_2d(X_cam, cam)
                ok = (uv[..., 0] >= 0) & (uv[..., 0] < cam.res_w) & (uv[..., 1] >= 0) & \
                    (uv[..., 1] < cam.res_h)
                inside, total = inside + ok.sum(), total + ok.size
    assert inside / total > 0.97
