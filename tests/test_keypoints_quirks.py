"""What real detector files do that their documentation does not say, reproduced in small
hand-made files (each quirk was found in a real file listed in tests/real_detector_files.json),
and a fuzz test: a mutated file gives keypoints or a DataError, never another exception."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mmdiff.errors import DataError
from mmdiff.wild.framing import h36m_framing
from mmdiff.wild.keypoints import read_detections, read_keypoints
from mmdiff.wild.keypoints.sequence import read_people

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _keypoint_files import (alphapose_entry, body25, coco_frames, halpe_frames,  # noqa: E402
                             mediapipe33, write_json)


def test_alphapose_untracked_idx_lists_are_no_track_ids(tmp_path):
    """Without --pose_track AlphaPose writes idx [0.0], [[0.0], [0.0]] (candidates merged by
    pose NMS) or deeper; with it, a plain number."""
    a, b = halpe_frames(6), halpe_frames(6, shift=(300.0, 0.0))
    forms = [[0.0], [[0.0], [0.0]], [[0.0], [0.0], [[0.0]]]]
    entries = [alphapose_entry(f, a[f], 2.9, track=forms[f % 3]) for f in range(6)]
    entries += [alphapose_entry(f, b[f], 2.0, track=[0.0]) for f in range(6)]
    people, notes = read_people(write_json(tmp_path / "untracked.json", entries))
    assert len(people) == 2 and "linked by box IoU" in notes[2]
    np.testing.assert_allclose(people[1].pixels[:, 0, 0] - people[0].pixels[:, 0, 0], 300.0)
    tracked = [alphapose_entry(f, a[f], 2.9, track=4) for f in range(6)]
    tracked += [alphapose_entry(f, b[f], 2.0, track=9) for f in range(6)]
    people, notes = read_people(write_json(tmp_path / "tracked.json", tracked))
    assert [p.person for p in people] == [4, 9] and "the file's track ids" in notes[2]


def test_time_stamps_and_sampled_frames_are_numbered_in_order(tmp_path):
    """UP-Fall names frames by time stamp (the last digit group is microseconds); a file that
    saved every 100th frame numbers them 0, 100, 200, ..."""
    stamps = ["2018-07-04T12_04_17.938369.png", "2018-07-04T12_04_18.001234.png",
              "2018-07-04T12_04_18.062001.png"]
    entries = [alphapose_entry(0, p) for p in halpe_frames(3)]
    for e, name in zip(entries, stamps):
        e["image_id"] = name
    det = read_detections(write_json(tmp_path / "stamps.json", entries))
    assert det.frame.tolist() == [0, 1, 2] and "name order" in det.notes[0]
    np.testing.assert_allclose(det.points[:, 0, 0], halpe_frames(3)[:, 0, 0])
    entries = [alphapose_entry(0, p) for p in halpe_frames(4)]
    for i, e in enumerate(entries):
        e["image_id"] = f"{i * 100 + 300:010d}.png"
    det = read_detections(write_json(tmp_path / "every100.json", entries))
    assert det.frame.tolist() == [300, 301, 302, 303] and "step by 100" in det.notes[0]


def test_openpose_points_it_did_not_find_are_not_lifted_at_zero(tmp_path):
    """OpenPose writes 0, 0, 0 for a point it did not find: never used as a position. A short
    run is interpolated; feet that are never found make the frames unseen (not lifted); a face
    seen from behind (no nose, one ear) still gives Head and Neck/Nose."""
    pts = body25(coco_frames(12))                                           # (12, 25, 3)
    pts[4:6, 11] = 0.0                                                       # right ankle lost
    pts[:, 0] = pts[:, 15] = pts[:, 16] = pts[:, 18] = 0.0                  # nose, eyes, l. ear
    frames = [{"people": [{"pose_keypoints_2d": p.ravel().tolist()}]} for p in pts]
    kp = read_keypoints(write_json(tmp_path / "op.json", frames))
    assert np.isfinite(kp.pixels).all() and kp.lifted.all()
    np.testing.assert_allclose(kp.pixels[:, 10], pts[:, 17, :2])            # Head: right ear
    ankle = [pts[3, 11, :2] + [1, 1], pts[3, 11, :2] + [2, 2]]             # interpolated
    np.testing.assert_allclose(kp.pixels[4:6, 3], ankle, atol=1e-4)
    pts[:, 14] = 0.0                                                         # left ankle: never
    frames = [{"people": [{"pose_keypoints_2d": p.ravel().tolist()}]} for p in pts]
    kp = read_keypoints(write_json(tmp_path / "op2.json", frames))
    assert not kp.lifted.any() and np.isnan(kp.pixels[:, 6]).all()
    assert "never placed by the detector" in kp.notes[-1] and "LFoot 12" in kp.notes[-1]


def test_openpose_1_0_and_mediapipe_savers_forms(tmp_path):
    old = {"version": 1.0, "people": [{"pose_keypoints": body25(coco_frames(1))[0].ravel().tolist(),
                                       "face_keypoints": [], "hand_left_keypoints": []}]}
    assert read_detections(write_json(tmp_path / "v1.json", old)).num_points == 25
    lms = [mediapipe33(p) for p in coco_frames(3)]
    wrapped = [{"frame": 40, "keypoints": []}] + [
        {"frame": 41 + i, "keypoints": [dict(id=j, **lm) for j, lm in enumerate(f)]}
        for i, f in enumerate(lms)]
    det = read_detections(write_json(tmp_path / "mp.json", wrapped))
    assert det.frame.tolist() == [41, 42, 43] and det.layout == "mediapipe33"
    by_index = [{str(j): lm for j, lm in enumerate(f)} for f in lms]
    det = read_detections(write_json(tmp_path / "mp2.json", by_index))
    assert len(det) == 3 and "no frame numbers" in det.notes[0]


def test_detectron2_video_npz(tmp_path):
    """VideoPose3D's infer_video_d2.py: per frame [[], boxes (N, 5)] and [[], keypoints
    (N, 4, 17)] object arrays; a frame without a person holds empty lists."""
    kp = coco_frames(3)                                                      # (3, 17, 3)
    boxes, points = np.empty((4, 2), object), np.empty((4, 2), object)
    for f in range(4):
        boxes[f, 0] = points[f, 0] = []
        if f == 2:
            boxes[f, 1] = points[f, 1] = []
            continue
        k = kp[min(f, 2)]
        d2 = np.stack([k[:, 0], k[:, 1], np.full(17, 7.5), k[:, 2] * 1.05])  # x y logit prob
        boxes[f, 1] = np.array([[400, 80, 600, 800, 0.99]])
        points[f, 1] = d2[None]
    np.savez(tmp_path / "clip.mp4.npz", boxes=boxes, keypoints=points,
             segments=np.full(4, None), metadata={"w": 1920, "h": 1080})
    det = read_detections(tmp_path / "clip.mp4.npz")
    assert det.form.startswith("Detectron2") and det.frame.tolist() == [0, 1, 3]
    assert det.image_size == (1920, 1080) and det.layout == "coco"
    np.testing.assert_allclose(det.points[0, :, 2], kp[0, :, 2] * 1.05)
    assert "above 1" in " ".join(det.notes)                                # probabilities > 1


def test_a_named_layout_is_trusted_a_guessed_one_checked(tmp_path):
    """Poor faces in a detector's own COCO file are read (said in the notes); a plain array
    whose order is guessed is still checked."""
    pts = coco_frames(3)
    pts[:, 1:5, :2] = pts[:, [11, 12, 13, 14], :2]                          # faces far apart
    entries = [alphapose_entry(f, p, 2.0) for f, p in enumerate(pts)]
    kp = read_keypoints(write_json(tmp_path / "ap.json", entries))
    assert kp.pixels.shape == (3, 17, 2)
    np.savez(tmp_path / "plain.npz", keypoints=pts)
    with pytest.raises(DataError, match="--layout coco reads them as COCO"):
        read_keypoints(tmp_path / "plain.npz", layout="coco")


# --- fuzz ---------------------------------------------------------------------------------------
def _base_files(tmp_path) -> list[Path]:
    """One small file per JSON form the readers take."""
    a, b = halpe_frames(8), halpe_frames(8, shift=(300.0, 0.0))
    ap = [alphapose_entry(f, a[f], 2.9, track=[[0.0], [0.0]]) for f in range(8)]
    ap += [alphapose_entry(f, b[f], 2.0, track=[0.0]) for f in range(2, 8)]
    op = [{"people": [{"person_id": [-1], "pose_keypoints_2d": p.ravel().tolist()}]}
          for p in body25(coco_frames(8))]
    mm = {"meta_info": {}, "instance_info": [
        {"frame_id": f, "instances": [{"keypoints": p[:, :2].tolist(),
                                       "keypoint_scores": p[:, 2].tolist(),
                                       "bbox": [[0, 0, 900, 900]], "bbox_score": 0.9}]}
        for f, p in enumerate(coco_frames(8))]}
    mp = [{"frame": f, "keypoints": mediapipe33(p)} for f, p in enumerate(coco_frames(8))]
    return [write_json(tmp_path / name, data) for name, data in
            (("ap.json", ap), ("op.json", op), ("mm.json", mm), ("mp.json", mp))]


def _mutate(data, rng, depth=0):
    """A copy of JSON data with one random change somewhere inside."""
    if isinstance(data, dict) and data:
        key = list(data)[rng.integers(len(data))]
        out = dict(data)
        roll = rng.random()
        if roll < 0.25 and depth:
            del out[key]
        elif roll < 0.4:
            out[key] = [None, "x", float("nan"), -1, [], {}, 1e308][rng.integers(7)]
        else:
            out[key] = _mutate(data[key], rng, depth + 1)
        return out
    if isinstance(data, list) and data:
        out = list(data)
        roll = rng.random()
        if roll < 0.15:
            rng.shuffle(out)
        elif roll < 0.3:
            out = out[:rng.integers(len(out))]
        elif roll < 0.4:
            out[rng.integers(len(out))] = [None, "x", float("nan"), [], {}][rng.integers(5)]
        else:
            i = rng.integers(len(out))
            out[i] = _mutate(data[i], rng, depth + 1)
        return out
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return [float("nan"), float("inf"), -data, data * 1e6, 0, None, "7"][rng.integers(7)]
    return [None, 3, "", [1]][rng.integers(4)]


def _read_or_refuse(path) -> None:
    """Read every person and frame them; only DataError may stop it."""
    try:
        people, _ = read_people(path, image_size=(1000, 1000))
        for kp in people:
            if kp.lifted.any():
                h36m_framing(kp.pixels[kp.lifted])
    except DataError as err:
        assert str(err).strip() and "Traceback" not in str(err)


@pytest.mark.parametrize("seed", range(4))
def test_fuzzed_files_give_keypoints_or_a_clear_error(tmp_path, seed):
    rng = np.random.default_rng(seed)
    for base in _base_files(tmp_path):
        data, text = json.loads(base.read_text()), base.read_text()
        for k in range(30):
            path = tmp_path / f"m{k}_{base.name}"
            if k % 5 == 4:
                path.write_text(text[:rng.integers(1, len(text))])           # truncated
            else:
                path.write_text(json.dumps(_mutate(data, rng)))
            _read_or_refuse(path)
