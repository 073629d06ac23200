"""Readers for the JSON files 2D pose detectors write; each returns :class:`Detections`.

Formats (field names as the tools write them):

* AlphaPose results (``alphapose-results.json``) and COCO keypoint results: a flat list, one
  entry per detected person, ``{"image_id": "12.jpg" | 12, "category_id": 1, "keypoints":
  [x1, y1, c1, ...], "score": s, "box": [x, y, w, h], "idx": track}``. ``box`` and ``idx`` are
  optional (AlphaPose writes ``idx`` 0 for everyone unless it tracks: ids repeated within a
  frame are ignored). The frame number is the image id, or the last number in the image name.
  A COCO dataset file (``{"annotations": [...]}`` with ``bbox``) reads the same way.
* MMPose / RTMPose predictions (``--save-predictions``): ``{"meta_info": {...},
  "instance_info": [{"frame_id": 1, "instances": [{"keypoints": [[x, y], ...],
  "keypoint_scores": [...], "bbox": [[x1, y1, x2, y2]], "bbox_score": s}, ...]}, ...]}``; a list
  of such frames, or one image's list of instances. ``meta_info.keypoint_id2name`` names the layout.
* OpenPose ``--write_json``: one file per frame (``<name>_000000000012_keypoints.json``) with
  ``{"people": [{"person_id": [-1], "pose_keypoints_2d": [x, y, c, ...]}]}`` (OpenPose 1.0:
  ``pose_keypoints``); a point it did not find is ``0, 0, 0``; pass the folder
  (frame number from the file name) or one file; a JSON list of such frames is read as a video.
* MediaPipe BlazePose landmarks: see :mod:`mmdiff.wild.keypoints.mediapipe`.
* A list of frames, each one person's points (``[[x, y(, c)], ...]`` or a flat list, or
  ``{"keypoints": ...}``): the kit's plain JSON.

Every error names the file and the entry (``entry 12``, ``frame 3``) at fault.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from mmdiff.errors import DataError
from mmdiff.wild.keypoints.detections import DetectionRows, Detections
from mmdiff.wild.keypoints.layouts import layout_from_names


def load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON: {err}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a text (JSON) file: {err}") from None


def frame_number(name) -> int | None:
    """The frame number an image id or file name carries: the int itself, or the last digit
    group of the name's stem ('frame_000012.jpg' -> 12, 'v_000000000003_keypoints' -> 3)."""
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        return int(name)
    if isinstance(name, float) and name.is_integer():
        return int(name)
    groups = re.findall(r"\d+", Path(str(name)).stem)
    return int(groups[-1]) if groups else None


def _natural(name) -> list:
    """Sort key: digit runs compare as numbers ('f2' < 'f10')."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def frame_numbers(names: list, rows: DetectionRows, what: str) -> dict:
    """{name: frame number} for the distinct names.

    The number a name carries (:func:`frame_number`), when the names carry distinct numbers in
    the order of the names (natural sort); frames numbered with a common step (every 100th
    frame saved) are renumbered consecutively. Otherwise (no numbers, repeats, or numbers out
    of order such as the microseconds of a time stamp) the names' natural sort order, so
    missing frames cannot be seen. Both are said in the notes."""
    distinct = list(dict.fromkeys(names))
    numbers = {n: frame_number(n) for n in distinct}
    values = list(numbers.values())
    in_order = [numbers[n] for n in sorted(distinct, key=_natural)]
    if None in values or len(set(values)) < len(distinct) or in_order != sorted(in_order):
        rows.notes.append(f"{what} carry no distinct frame numbers in name order: frames are "
                          f"numbered in name order, so frames without a detection cannot be seen")
        return {n: i for i, n in enumerate(sorted(distinct, key=_natural))}
    step = int(np.gcd.reduce(np.diff(sorted(values)))) if len(values) > 1 else 1
    if step > 1:
        first = min(values)
        rows.notes.append(f"{what} step by {step} (every {step}th frame was saved): renumbered "
                          f"consecutively from {first}")
        return {n: first + (v - first) // step for n, v in numbers.items()}
    return numbers


def _floats(value, what: str, where: str, source: Path) -> np.ndarray:
    """``value`` as a float array; DataError naming the entry when it is not numbers."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{source}, {where}: {what} must be numbers, found {value!r:.80}") from None


def _list(value, what: str, where: str, source: Path) -> list:
    if not isinstance(value, list):
        raise DataError(f"{source}, {where}: {what} must be a list, found "
                        f"{type(value).__name__}")
    return value


def _entry_dict(entry, where: str, source: Path, need: tuple) -> dict:
    if not isinstance(entry, dict):
        raise DataError(f"{source}, {where}: expected an object with {list(need)}, found "
                        f"{type(entry).__name__}")
    missing = [k for k in need if k not in entry]
    if missing:
        raise DataError(f"{source}, {where}: missing {missing} (keys: {sorted(entry)})")
    return entry


def _track_id(value, where: str, source: Path):
    """AlphaPose ``idx`` / OpenPose ``person_id`` / MMPose ``track_id``: a number or [number];
    -1 (OpenPose's 'none') and missing give None. A longer or nested list (AlphaPose without
    ``--pose_track`` writes ``[[0.0], [0.0]]``, the candidates it merged) is no track id: None."""
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != 1 or isinstance(value[0], list):
            return None
        value = value[0]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) \
            or value != int(value):
        raise DataError(f"{source}, {where}: a track id must be an integer, found {value!r}")
    return None if int(value) < 0 else int(value)


def read_coco_results(data: list, source: Path,
                      form: str = "AlphaPose / COCO results") -> Detections:
    """AlphaPose results / COCO keypoint results: a flat list of detections with ``image_id``."""
    rows = DetectionRows(str(source), form)
    need = ("image_id", "keypoints")
    entries = [_entry_dict(e, f"entry {i}", source, need) for i, e in enumerate(data)]
    for i, e in enumerate(entries):
        if not isinstance(e["image_id"], (str, int, float)) or isinstance(e["image_id"], bool):
            raise DataError(f"{source}, entry {i}: image_id must be a name or a number, found "
                            f"{e['image_id']!r:.80}")
    numbers = frame_numbers([e["image_id"] for e in entries], rows, "image ids")
    for i, e in enumerate(entries):
        where = f"entry {i} (image_id {e['image_id']!r})"
        box = e.get("box", e.get("bbox"))
        if box is not None:
            box = _xywh_box(box, where, source)
        rows.add(numbers[e["image_id"]], e["keypoints"], where, score=e.get("score"), box=box,
                 track=_track_id(e.get("idx", e.get("track_id")), where, source))
    return rows.build()


def _xywh_box(box, where: str, source: Path) -> np.ndarray:
    b = _floats(box, "the box", where, source).ravel()
    if b.shape != (4,):
        raise DataError(f"{source}, {where}: expected a box [x, y, w, h], found {box!r}")
    return np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]])


def read_mmpose(data, source: Path) -> Detections:
    """MMPose / RTMPose predictions (``instance_info`` per frame, or one image's instances)."""
    rows = DetectionRows(str(source), "MMPose predictions")
    layout = None
    frames = data
    if isinstance(data, dict):
        meta = data.get("meta_info")
        names = meta.get("keypoint_id2name") if isinstance(meta, dict) else None
        if isinstance(names, dict) and all(str(k).isdigit() for k in names):
            layout = layout_from_names([str(names[k]) for k in sorted(names, key=int)])
        frames = data["instance_info"]
    if not isinstance(frames, list):
        raise DataError(f"{source}: 'instance_info' must be a list, found {type(frames).__name__}")
    if frames and isinstance(frames[0], dict) and "keypoints" in frames[0]:
        frames = [{"frame_id": 0, "instances": frames}]                      # one image
    for i, f in enumerate(frames):
        f = _entry_dict(f, f"frame entry {i}", source, ("instances",))
        number = f.get("frame_id", i)
        for k, inst in enumerate(_list(f["instances"], "'instances'", f"frame entry {i}", source)):
            where = f"frame entry {i} (frame_id {number}), instance {k}"
            inst = _entry_dict(inst, where, source, ("keypoints",))
            rows.add(number, _mmpose_points(inst, where, source), where,
                     score=_first(inst.get("bbox_score")),
                     box=_xyxy_box(inst.get("bbox"), where, source),
                     track=_track_id(inst.get("track_id"), where, source))
    return rows.build(layout)


def _first(value):
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _mmpose_points(inst: dict, where: str, source: Path) -> np.ndarray:
    xy = _floats(inst["keypoints"], "'keypoints'", where, source)
    if xy.ndim == 3 and len(xy) == 1:
        xy = xy[0]
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise DataError(f"{source}, {where}: 'keypoints' must be a list of [x, y] pairs, found "
                        f"shape {xy.shape}" + (" (3D keypoints?)" if xy.shape[-1:] == (3,) else ""))
    scores = _floats(inst.get("keypoint_scores", np.ones(len(xy))), "'keypoint_scores'", where,
                     source).ravel()
    if scores.shape != (len(xy),):
        raise DataError(f"{source}, {where}: {len(xy)} keypoints but {scores.size} "
                        f"keypoint_scores")
    return np.concatenate([xy, scores[:, None]], axis=1)                     # (P, 3)


def _xyxy_box(box, where: str, source: Path):
    if box is None:
        return None
    b = _floats(box, "'bbox'", where, source).ravel()
    if b.shape != (4,):
        raise DataError(f"{source}, {where}: expected 'bbox' [x1, y1, x2, y2], found {box!r}")
    return b


def read_openpose_frames(frames: list, names: list, source: Path) -> Detections:
    """OpenPose frames (dicts with ``people``); ``names`` gives each frame's number."""
    rows = DetectionRows(str(source), "OpenPose JSON")
    numbers = frame_numbers(names, rows, "OpenPose file names") if len(names) > 1 else {names[0]: 0}
    for name, frame in zip(names, frames):
        frame = _entry_dict(frame, f"frame {name}", source, ("people",))
        for k, person in enumerate(_list(frame["people"], "'people'", f"frame {name}", source)):
            where = f"frame {name}, person {k}"
            if isinstance(person, dict) and "pose_keypoints" in person:      # OpenPose 1.0
                person = {**person, "pose_keypoints_2d": person["pose_keypoints"]}
            person = _entry_dict(person, where, source, ("pose_keypoints_2d",))
            rows.add(numbers[name], person["pose_keypoints_2d"], where,
                     track=_track_id(person.get("person_id"), where, source))
    return rows.build()


def read_openpose_folder(folder: Path) -> Detections:
    """A folder of OpenPose per-frame ``*.json`` files."""
    files = sorted(folder.glob("*.json"))
    if not files:
        raise DataError(f"{folder}: no *.json files (expected OpenPose --write_json output)")
    frames = [load_json(f) for f in files]
    for f, data in zip(files, frames):
        if not isinstance(data, dict) or "people" not in data:
            raise DataError(f"{f}: expected an OpenPose frame with 'people'")
    return read_openpose_frames(frames, [f.name for f in files], folder)


def read_plain_frames(data: list, source: Path) -> Detections:
    """The kit's plain JSON: one person per frame, points or ``{"keypoints": ...}``."""
    rows = DetectionRows(str(source), "frames of keypoints")
    for i, f in enumerate(data):
        if isinstance(f, dict):
            f = _entry_dict(f, f"frame {i}", source, ("keypoints",))["keypoints"]
        rows.add(i, f, f"frame {i}")
    return rows.build()


def read_json_detections(path: Path, image_size=None) -> Detections:
    """Any of the JSON forms above, recognised by its keys."""
    from mmdiff.wild.keypoints.mediapipe import is_mediapipe, read_mediapipe
    data = load_json(path)
    if isinstance(data, dict):
        if "instance_info" in data:
            return read_mmpose(data, path)
        if "people" in data:
            return read_openpose_frames([data], [path.name], path)
        if "annotations" in data:
            return read_coco_results(data["annotations"], path, "COCO keypoint annotations")
        raise DataError(f"{path}: unrecognised JSON object with keys {sorted(data)[:8]}; "
                        f"expected AlphaPose/COCO results, MMPose, OpenPose or MediaPipe output")
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty list of detections or frames")
    first = data[0]
    if isinstance(first, dict) and "image_id" in first:
        return read_coco_results(data, path)
    if isinstance(first, dict) and "instances" in first:
        return read_mmpose(data, path)
    if isinstance(first, dict) and "keypoint_scores" in first:
        return read_mmpose(data, path)
    if isinstance(first, dict) and "people" in first:
        return read_openpose_frames(data, [f"{i}" for i in range(len(data))], path)
    if is_mediapipe(first):
        return read_mediapipe(data, path, image_size)
    return read_plain_frames(data, path)
