"""One person across frames: the file's track ids, or boxes linked by IoU; --person."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff.errors import DataError
from mmdiff.wild.keypoints.detections import DetectionRows, box_iou
from mmdiff.wild.keypoints.tracking import choose_person, file_tracks_usable, link_by_iou


def person(x, y=100.0, conf=0.9):
    """A 4-point 'person' whose box is x..x+100, y..y+200."""
    return np.array([[x, y, conf], [x + 100, y, conf], [x, y + 200, conf], [x + 100, y + 200, conf]])


def detections(frames, tracks=None):
    """frames: list of [(x, score), ...] per frame -> Detections (two people walking)."""
    rows = DetectionRows("clip.json", "test")
    for f, people in enumerate(frames):
        for k, (x, score) in enumerate(people):
            track = None if tracks is None else tracks[f][k]
            rows.add(f, person(x), f"frame {f}, person {k}", score=score, track=track)
    return rows.build()


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    b = np.array([[5, 0, 15, 10]], float)
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150], [0.0]])


def test_iou_links_people_the_best_per_frame_would_swap():
    # person A walks right from x=0, person B stands at x=400; B scores higher in frames 2-3
    frames = [[(0, 3.0), (400, 2.0)], [(10, 3.0), (400, 2.0)], [(400, 3.5), (20, 3.0)],
              [(30, 3.0), (400, 3.5)], [(40, 3.0)]]
    det = detections(frames)
    ids = link_by_iou(det)
    a = det.box[:, 0] < 300
    assert len(set(ids[a])) == 1 and len(set(ids[~a])) == 1 and ids[a][0] != ids[~a][0]
    chosen = choose_person(det)                                              # highest total score
    np.testing.assert_allclose(chosen.points[:, 0, 0], [0, 10, 20, 30, 40])
    assert "highest total person score" in chosen.notes[-1] and chosen.detected.all()
    other = choose_person(det, person=int(ids[~a][0]))
    np.testing.assert_allclose(other.points[:, 0, 0], 400)
    assert other.frame.tolist() == [0, 1, 2, 3]                             # B's frames only


def test_file_track_ids_are_used_when_unique_per_frame():
    frames = [[(0, 1.0), (400, 5.0)], [(400, 1.0), (10, 5.0)]]               # boxes jump: ids decide
    det = detections(frames, tracks=[[1, 2], [1, 2]])
    assert file_tracks_usable(det) == (True, "")
    chosen = choose_person(det, person=1)
    np.testing.assert_allclose(chosen.points[:, 0, 0], [0, 400])
    assert "the file's track ids" in chosen.notes[0]
    zeros = detections(frames, tracks=[[0, 0], [0, 0]])                     # AlphaPose without tracking
    usable, why = file_tracks_usable(zeros)
    assert not usable and "repeat within frame 0" in why
    assert "linked by box IoU" in choose_person(zeros).notes[0]


def test_unknown_person_lists_the_tracks():
    det = detections([[(0, 1.0), (400, 1.0)]])
    with pytest.raises(DataError, match=r"clip.json: no person \(track\) 5; tracks .*track 0: "
                                        r"frames 0-0, 1 detections.*track 1"):
        choose_person(det, person=5)


def test_person_frames_span_first_to_last_detection():
    det = detections([[(0, 1.0)], [], [(20, 1.0)], [(30, 1.0)]])
    chosen = choose_person(det)
    assert chosen.frame.tolist() == [0, 1, 2, 3]
    assert chosen.detected.tolist() == [True, False, True, True]
