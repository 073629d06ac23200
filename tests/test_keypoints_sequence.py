"""read_keypoints end to end: file -> layout -> person -> Human3.6M-17 -> filled and flagged,
with notes that say what was chosen."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mmdiff.errors import DataError
from mmdiff.wild.keypoints import coco_to_h36m, halpe_to_h36m, read_keypoints

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _keypoint_files import (alphapose_entry, body25, coco_frames, halpe_frames,  # noqa: E402
                             write_json)


def test_alphapose_halpe_sequence(tmp_path):
    main, other = halpe_frames(6), halpe_frames(6, shift=(300, 0))
    main[4, 9, 2] = 0.1                                                     # left wrist unsure
    entries = []
    for f in range(6):
        if f != 2:                                                           # frame 2: no detection
            entries.append(alphapose_entry(f, main[f], 2.9, track=0))
        if f in (1, 3):                                                      # the other scores higher
            entries.append(alphapose_entry(f, other[f], 3.5, track=0))
    kp = read_keypoints(write_json(tmp_path / "ap.json", entries))
    assert kp.source_layout == "halpe26" and kp.pixels.shape == (6, 17, 2)
    expected = halpe_to_h36m(main)[..., :2]                                  # 2 px per frame: linear
    np.testing.assert_allclose(kp.pixels, expected, atol=1e-4)
    assert kp.filled_frames.tolist() == [False, False, True, False, False, False]
    assert kp.interpolated_joints[4, 13] and kp.interpolated_joints[2].all()  # LWrist is H36M 13
    assert kp.interpolated_joints.sum() == 18 and not kp.low_confidence.any()
    notes = "\n".join(kp.notes)
    assert "layout: halpe26 (26 points per person)" in notes
    assert "track ids repeat within frame 1" in notes and "person: track 0" in notes
    assert "1 filled by interpolation" in notes and "1 interpolated" in notes


def test_layout_option_and_errors(tmp_path):
    dets = [{"image_id": i, "keypoints": f.ravel().tolist(), "score": 1.0}
            for i, f in enumerate(coco_frames(3))]
    path = write_json(tmp_path / "dets.json", dets)
    kp = read_keypoints(path)
    np.testing.assert_allclose(kp.pixels, coco_to_h36m(coco_frames(3))[..., :2], rtol=1e-6)
    assert "layout: coco (17 points per person)" in kp.notes[1]
    with pytest.raises(DataError, match=r"dets.json: layout 'halpe26' has 26 joints, the file has 17"):
        read_keypoints(path, layout="halpe26")
    with pytest.raises(DataError, match="--layout coco"):
        read_keypoints(path, layout="h36m")                                  # the face check


def test_read_npz_h36m_and_errors(tmp_path):
    h36m = coco_to_h36m(coco_frames())[..., :2]
    np.savez(tmp_path / "k.npz", keypoints=h36m)
    kp = read_keypoints(tmp_path / "k.npz")
    np.testing.assert_allclose(kp.pixels, h36m, rtol=1e-6)
    assert kp.source_layout == "h36m" and (kp.scores == 1).all()
    np.savez(tmp_path / "bad.npz", keypoints=np.zeros((3, 15, 2)))
    with pytest.raises(DataError, match=r"bad.npz: no known layout has 15 points"):
        read_keypoints(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="no such keypoint file"):
        read_keypoints(tmp_path / "missing.json")
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(DataError, match="expected a .json"):
        read_keypoints(tmp_path / "x.txt")


def test_openpose_json_frames_fill_empty_frame(tmp_path):
    frames = [{"people": [{"pose_keypoints_2d": body25(f).ravel().tolist()}] if i != 1 else []}
              for i, f in enumerate(coco_frames(3))]
    kp = read_keypoints(write_json(tmp_path / "op.json", frames))
    assert kp.source_layout == "openpose25" and kp.pixels.shape == (3, 17, 2)
    np.testing.assert_allclose(kp.pixels[1], (kp.pixels[0] + kp.pixels[2]) / 2)  # interpolated
    assert kp.filled_frames.tolist() == [False, True, False]                # and flagged


def test_long_gap_frames_are_nan_and_image_size_from_videopose3d(tmp_path):
    kp = coco_frames(12)[..., :2].astype(np.float32)
    kp[3:10] = np.nan                                                       # 7 frames: a gap
    np.savez_compressed(tmp_path / "v.npz", positions_2d={"v": {"custom": [kp]}},
                        metadata={"layout_name": "coco", "video_metadata": {"v": {"w": 640, "h": 480}}})
    out = read_keypoints(tmp_path / "v.npz", max_gap=5)
    assert out.image_size == (640, 480) and out.gap_frames.sum() == 7
    assert np.isnan(out.pixels[3:10]).all() and out.lifted.sum() == 5
    assert np.isnan(out.normalized(640, 480)[5]).all()
