"""mmdiff.wild.framing: the Human3.6M framing's constants are Human3.6M's (measured again on the
embedded training subjects and on real motion through the published cameras), and the framing
makes a person's model input independent of the frame it was filmed in."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmdiff.camera import cameras_for, normalize_screen_coordinates, project_to_2d, world_to_camera
from mmdiff.data.npz import load_npz_key
from mmdiff.errors import DataError
from mmdiff.skeleton import reduce_32_to_17
from mmdiff.wild.framing import (H36M_BODY_LENGTH, H36M_PELVIS, body_length_2d, framing_for,
                                 h36m_framing, image_framing)

REPO = Path(__file__).resolve().parents[1]
REALMOTION = REPO.parent / "shared" / "realmotion" / "data_3d_h36m_realmotion.npz"
TRAIN = ("S1", "S5", "S6", "S7", "S8")


def _check_constants(u: np.ndarray) -> None:
    """u: (N, 17, 2) normalised training views: median length and pelvis match the constants."""
    assert np.median(body_length_2d(u)) == pytest.approx(H36M_BODY_LENGTH, rel=0.05)
    np.testing.assert_allclose(np.median(u[:, 0], axis=0), H36M_PELVIS, atol=0.03)


def test_constants_match_the_embedded_training_detections():
    views = load_npz_key(REPO / "data" / "sample" / "data_2d_h36m_synth_det.npz", "positions_2d")
    u = [normalize_screen_coordinates(v, 1000, 1002) for s in TRAIN if s in views
         for takes in views[s].values() for v in takes]
    _check_constants(np.concatenate(u))


@pytest.mark.skipif(not REALMOTION.is_file(), reason="../shared/realmotion is missing")
def test_constants_match_real_motion_through_the_published_cameras():
    motion = np.load(REALMOTION, allow_pickle=True)["positions_3d"].item()
    u = []
    for s in TRAIN:
        for x in list(motion[s].values())[::4]:
            x17 = reduce_32_to_17(x[::5])                                    # (F, 17, 3) world m
            for cam in cameras_for(s):
                px = project_to_2d(world_to_camera(x17, cam), cam)
                u.append(normalize_screen_coordinates(np.asarray(px), 1000, 1002))
    _check_constants(np.concatenate(u))


def test_body_length_ignores_sitting_but_not_size():
    stand = np.zeros((17, 2))
    stand[[0, 7, 8, 9, 10], 1] = [0, -2, -4, -5, -6]                        # pelvis .. head
    stand[[1, 4], 0] = [-1, 1]
    stand[[2, 5], 1], stand[[3, 6], 1] = 4, 8                               # knees, ankles
    stand[[2, 3], 0], stand[[5, 6], 0] = -1, 1
    sit = stand.copy()
    sit[[2, 5], 1], sit[[2, 5], 0] = 0, [-1 - 4, 1 + 4]                     # thighs sideways
    sit[[3, 6], 0], sit[[3, 6], 1] = sit[[2, 5], 0], 4                  # shins down
    assert body_length_2d(stand) == pytest.approx(6 + 8)
    assert body_length_2d(sit) == pytest.approx(body_length_2d(stand))
    assert body_length_2d(2 * stand) == pytest.approx(2 * body_length_2d(stand))
    with pytest.raises(DataError, match=r"expected \(\.\.\., 17, 2\), found \(17, 3\)"):
        body_length_2d(np.zeros((17, 3)))


def test_h36m_framing_removes_the_frames_scale_and_position(rng):
    track = rng.normal(size=(30, 17, 2)) * 40 + [300, 500]                   # pixels
    moved = track * 0.3 + [17.0, -4.0]
    track[4] = moved[4] = np.nan                                            # a gap
    a, b = h36m_framing(track), h36m_framing(moved)
    assert b.scale == pytest.approx(a.scale / 0.3)
    np.testing.assert_allclose(b.apply(moved), a.apply(track), atol=1e-4)
    u = a.apply(np.delete(track, 4, axis=0))
    assert np.median(body_length_2d(u)) == pytest.approx(H36M_BODY_LENGTH, rel=1e-4)
    np.testing.assert_allclose(np.median(u[:, 0], axis=0), H36M_PELVIS, atol=1e-4)
    assert "scaled x" in a.text() and np.isnan(b.apply(moved)[4]).all()


def test_image_framing_is_videopose3ds_and_errors_name_the_fault(rng):
    px = rng.uniform(0, 640, size=(3, 17, 2))
    np.testing.assert_allclose(image_framing(360, 640).apply(px),
                               normalize_screen_coordinates(px, 360, 640), atol=1e-5)
    with pytest.raises(DataError, match="needs the image size"):
        framing_for("image", px)
    with pytest.raises(DataError, match="image size must be positive"):
        image_framing(0, 10)
    with pytest.raises(DataError, match="no frame has all 17 points"):
        h36m_framing(np.full((2, 17, 2), np.nan))
    with pytest.raises(DataError, match="body length is 0.0 px"):
        h36m_framing(np.zeros((2, 17, 2)))
