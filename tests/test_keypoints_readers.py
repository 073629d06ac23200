"""Readers of each detector format, on small hand-made files: two people per frame, missing
frames, low-confidence joints, and malformed files (a DataError naming the file and the entry)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mmdiff.errors import DataError
from mmdiff.wild.keypoints import read_detections

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _keypoint_files import (alphapose_entry, body25, coco_frames, halpe_frames,  # noqa: E402
                             mediapipe33, write_json)


# --- AlphaPose / COCO results -----------------------------------------------------------------
def alphapose_file(tmp_path, track=None, name="alphapose-results.json"):
    """4 frames of Halpe-26; frame 2 has no detection; a second person in frames 1 and 3."""
    main, other = halpe_frames(4), halpe_frames(4, shift=(300, 0), score=0.8)
    main[3, 9, 2] = 0.1                                                     # low-confidence wrist
    entries = []
    for f in (0, 1, 3):
        entries.append(alphapose_entry(f, main[f], 2.9, track=None if track is None else track[0]))
        if f in (1, 3):
            entries.append(alphapose_entry(f, other[f], 2.1,
                                           track=None if track is None else track[1]))
    return write_json(tmp_path / name, entries), main, other


def test_alphapose_halpe_two_people_missing_frame(tmp_path):
    path, main, other = alphapose_file(tmp_path)
    det = read_detections(path)
    assert det.form.startswith("AlphaPose") and det.num_points == 26 and det.layout is None
    assert det.frame.tolist() == [0, 1, 1, 3, 3]                            # frame 2: nobody
    np.testing.assert_allclose(det.points[0], main[0])
    np.testing.assert_allclose(det.points[2], other[1])
    # AlphaPose box [x, y, w, h] -> x1 y1 x2 y2
    np.testing.assert_allclose(det.box[0], [*main[0, :, :2].min(0), *main[0, :, :2].max(0)])
    assert (det.track == -1).all() and det.score[0] == 2.9


def test_alphapose_track_ids_numeric_or_list(tmp_path):
    path, *_ = alphapose_file(tmp_path, track=(7, [3.0]))
    assert read_detections(path).track.tolist() == [7, 7, 3, 7, 3]


def test_alphapose_image_names_without_numbers_are_ordered_and_said(tmp_path):
    entries = [alphapose_entry(n, halpe_frames(1)[0]) for n in ("b.jpg", "a.jpg", "c.jpg")]
    for e, n in zip(entries, ("b.jpg", "a.jpg", "c.jpg")):
        e["image_id"] = n
    det = read_detections(write_json(tmp_path / "x.json", entries))
    assert det.frame.tolist() == [0, 1, 2] and "name order" in det.notes[0]


@pytest.mark.parametrize("change, message", [
    (lambda e: e.pop("keypoints"), r"entry 1: missing \['keypoints'\] \(keys: \['box'"),
    (lambda e: e.update(keypoints=e["keypoints"][:-1]), r"entry 1 .*x, y, score triples, found 77"),
    (lambda e: e.update(box=[1, 2, 3]), r"entry 1 .*box \[x, y, w, h\]"),
    (lambda e: e.update(idx="a"), r"entry 1 .*track id must be an integer"),
    (lambda e: e["keypoints"].__setitem__(4, None), r"entry 1 .*NaN or inf"),
    (lambda e: e.update(score="high"), r"entry 1 .*expected numbers for the keypoints, frame and score"),
])
def test_alphapose_malformed_entries_name_file_and_entry(tmp_path, change, message):
    entries = [alphapose_entry(f, halpe_frames(2)[f]) for f in (0, 1)]
    change(entries[1])
    path = write_json(tmp_path / "bad.json", entries)
    with pytest.raises(DataError, match=rf"bad.json, {message}"):
        read_detections(path)


def test_mixed_point_counts_and_invalid_json(tmp_path):
    entries = [alphapose_entry(0, halpe_frames(1)[0]), alphapose_entry(1, coco_frames(1)[0])]
    with pytest.raises(DataError, match=r"mixed.json: detections have different point counts 26 "
                                        r"\(first at entry 0.*17 \(first at entry 1"):
        read_detections(write_json(tmp_path / "mixed.json", entries))
    (tmp_path / "broken.json").write_text('[{"image_id": 0,')
    with pytest.raises(DataError, match="broken.json: not valid JSON"):
        read_detections(tmp_path / "broken.json")
    with pytest.raises(DataError, match="empty.json: expected a non-empty list"):
        read_detections(write_json(tmp_path / "empty.json", []))


# --- MMPose / RTMPose -------------------------------------------------------------------------
def mmpose_data(frames, names=None):
    """frames: {frame_id: [(26 or 17, 3) points, ...]} -> MMPose's --save-predictions JSON."""
    info = [{"frame_id": f, "instances": [
        {"keypoints": p[:, :2].tolist(), "keypoint_scores": p[:, 2].tolist(),
         "bbox": [[*p[:, :2].min(0).tolist(), *p[:, :2].max(0).tolist()]], "bbox_score": 0.9}
        for p in people]} for f, people in frames.items()]
    meta = {"dataset_name": "coco"}
    if names is not None:
        meta["keypoint_id2name"] = {str(i): n for i, n in enumerate(names)}
    return {"meta_info": meta, "instance_info": info}


def test_mmpose_frames_people_and_layout_from_names(tmp_path):
    from mmdiff.wild.keypoints import COCO_17
    a, b = coco_frames(3), coco_frames(3) + [300, 0, 0]
    a[1, 10, 2] = 0.05
    data = mmpose_data({1: [a[0], b[0]], 2: [a[1]], 4: [a[2], b[2]]}, names=COCO_17)
    det = read_detections(write_json(tmp_path / "rtm.json", data))
    assert det.form == "MMPose predictions" and det.layout == "coco"
    assert det.frame.tolist() == [1, 1, 2, 4, 4]                            # frame 3 missing
    np.testing.assert_allclose(det.points[2], a[1])
    np.testing.assert_allclose(det.box[1], [*b[0, :, :2].min(0), *b[0, :, :2].max(0)])
    assert det.score[0] == 0.9
    # one image: a bare list of instances
    det = read_detections(write_json(tmp_path / "img.json", data["instance_info"][0]["instances"]))
    assert det.frame.tolist() == [0, 0] and det.layout is None


def test_mmpose_malformed(tmp_path):
    data = mmpose_data({0: [coco_frames(1)[0]], 1: [coco_frames(1)[0]]})
    data["instance_info"][1]["instances"][0]["keypoint_scores"] = [0.5] * 16
    with pytest.raises(DataError, match=r"m.json, frame entry 1 \(frame_id 1\), instance 0: 17 "
                                        r"keypoints but 16 keypoint_scores"):
        read_detections(write_json(tmp_path / "m.json", data))
    data = mmpose_data({0: [coco_frames(1)[0]]})
    data["instance_info"][0]["instances"][0]["keypoints"] = [[1, 2, 3]] * 17
    with pytest.raises(DataError, match=r"instance 0: 'keypoints' must be a list of \[x, y\].*3D"):
        read_detections(write_json(tmp_path / "m3.json", data))
    with pytest.raises(DataError, match=r"m4.json, frame entry 0: missing \['instances'\]"):
        read_detections(write_json(tmp_path / "m4.json", {"instance_info": [{"frame_id": 0}]}))


# --- MediaPipe ----------------------------------------------------------------------------------
def test_mediapipe_pixels_people_and_frame_numbers(tmp_path):
    a, b = coco_frames(2), coco_frames(2) + [300, 0, 0]
    frames = [{"frame": 10, "pose_landmarks": [mediapipe33(a[0]), mediapipe33(b[0])]},
              {"frame": 12, "pose_landmarks": [mediapipe33(a[1])]}]
    det = read_detections(write_json(tmp_path / "mp.json", frames))
    assert det.layout == "mediapipe33" and det.frame.tolist() == [10, 10, 12]
    np.testing.assert_allclose(det.points[2, 0], a[1, 0])                   # nose
    # a plain list of frames, each one person's 33 landmarks
    det = read_detections(write_json(tmp_path / "mp1.json", [mediapipe33(a[0]), mediapipe33(a[1])]))
    assert det.frame.tolist() == [0, 1]


def test_mediapipe_normalised_landmarks_need_and_use_the_image_size(tmp_path):
    norm = coco_frames(1)[0] / [1000.0, 500.0, 1.0]                         # x / w, y / h
    path = write_json(tmp_path / "mpn.json", [{"landmarks": mediapipe33(norm)}])
    with pytest.raises(DataError, match="mpn.json: MediaPipe landmarks are normalised.*--width"):
        read_detections(path)
    det = read_detections(path, image_size=(1000, 500))
    np.testing.assert_allclose(det.points[0, 0, :2], coco_frames(1)[0, 0, :2])
    assert any("normalised to [0, 1]: scaled" in n and "1000 x 500" in n for n in det.notes)


def test_mediapipe_malformed(tmp_path):
    lms = mediapipe33(coco_frames(1)[0])
    with pytest.raises(DataError, match=r"mp.json, frame 1, person 0: expected 33 landmarks, found 32"):
        read_detections(write_json(tmp_path / "mp.json", [lms, lms[:32]]))
    lms[5] = {"x": 1.0}
    with pytest.raises(DataError, match=r"mp2.json, frame 0, person 0, landmark 5: expected an "
                                        r"object with 'x' and 'y'"):
        read_detections(write_json(tmp_path / "mp2.json", [lms]))


# --- OpenPose -----------------------------------------------------------------------------------
def write_openpose_folder(folder: Path, frames: dict) -> Path:
    """frames: {number: [(17, 3) COCO points or None per person]} -> *_keypoints.json files."""
    folder.mkdir()
    for n, people in frames.items():
        write_json(folder / f"clip_{n:012d}_keypoints.json", {"version": 1.3, "people": [
            {"person_id": [-1], "pose_keypoints_2d": body25(p).ravel().tolist()} for p in people]})
    return folder


def test_openpose_folder_frames_from_file_names(tmp_path):
    a, b = coco_frames(4), coco_frames(4) + [300, 0, 0]
    folder = write_openpose_folder(tmp_path / "op", {0: [a[0], b[0]], 1: [a[1]], 3: [a[3], b[3]]})
    det = read_detections(folder)
    assert det.form == "OpenPose JSON" and det.num_points == 25
    assert det.frame.tolist() == [0, 0, 1, 3, 3]                            # frame 2 missing
    assert (det.track == -1).all()                                          # person_id [-1]: none
    # undetected BODY_25 points (0, 0, 0) do not shape the box
    np.testing.assert_allclose(det.box[0], [*a[0, :, :2].min(0), *a[0, :, :2].max(0)])


def test_openpose_malformed(tmp_path):
    folder = write_openpose_folder(tmp_path / "op", {0: [coco_frames(1)[0]]})
    write_json(folder / "clip_000000000001_keypoints.json", {"people": [{"pose_keypoints_2d": [1, 2]}]})
    with pytest.raises(DataError, match=r"op, frame clip_000000000001_keypoints.json, person 0: "
                                        r"a flat keypoint list holds x, y, score triples"):
        read_detections(folder)
    write_json(folder / "clip_000000000001_keypoints.json", {"bodies": []})
    with pytest.raises(DataError, match=r"clip_000000000001_keypoints.json: expected an OpenPose "
                                        r"frame with 'people'"):
        read_detections(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no \\*.json files"):
        read_detections(tmp_path / "empty")


# --- arrays and VideoPose3D custom npz ------------------------------------------------------------
def test_videopose3d_custom_npz(tmp_path):
    kp = coco_frames(5)[..., :2].astype(np.float32)
    meta = {"layout_name": "coco", "num_joints": 17,
            "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]],
            "video_metadata": {"clip": {"w": 1280, "h": 720}}}
    np.savez_compressed(tmp_path / "data_2d_custom_x.npz",
                        positions_2d={"clip": {"custom": [kp]}}, metadata=meta)
    det = read_detections(tmp_path / "data_2d_custom_x.npz")
    assert det.form == "VideoPose3D custom npz" and det.layout == "coco"
    assert det.image_size == (1280, 720) and len(det) == 5
    np.testing.assert_allclose(det.points[..., :2], kp)
    assert (det.points[..., 2] == 1).all() and "no confidences" in det.notes[0]
    np.savez_compressed(tmp_path / "two.npz", metadata=meta,
                        positions_2d={"clip": {"custom": [kp]}, "other": {"custom": [kp]}})
    with pytest.raises(DataError, match=r"two.npz: the file holds 2 videos; pass --video, one of "
                                        r"\['clip', 'other'\]"):
        read_detections(tmp_path / "two.npz")
    assert len(read_detections(tmp_path / "two.npz", video="other")) == 5
    np.savez_compressed(tmp_path / "bad.npz", positions_2d={"clip": {"camera0": [kp]}})
    with pytest.raises(DataError, match=r"bad.npz, positions_2d\['clip'\]: expected \{'custom'"):
        read_detections(tmp_path / "bad.npz")


def test_arrays_nan_frames_are_missing_and_plain_json_frames(tmp_path):
    kp = coco_frames(4)[..., :2]
    kp[2] = np.nan
    kp[1, 3] = np.nan
    np.save(tmp_path / "k.npy", kp)
    det = read_detections(tmp_path / "k.npy")
    assert det.frame.tolist() == [0, 1, 3] and det.points[1, 3, 2] == 0.0
    det = read_detections(write_json(tmp_path / "frames.json", coco_frames(2).tolist()))
    assert det.form == "frames of keypoints" and det.frame.tolist() == [0, 1]
    with pytest.raises(DataError, match=r"f.json, frame 1: expected numbers"):
        read_detections(write_json(tmp_path / "f.json", [[[1, 2]], [["a", "b"]]]))
