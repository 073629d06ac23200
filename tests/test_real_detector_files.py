"""Real detectors' output files from public repositories (tests/real_detector_files.json lists
each with its source, commit and licence): every one is read by ``--layout auto``, survives the
fuzz mutations with a result or a DataError, and each video lifts with the demo weights as
steadily as README says.

The files themselves are not in this repository (their authors did not license them to us):
put them in ``$MMDIFF_DETECTORS``, ``../shared/detectors/`` or ``data/detectors/`` (git-ignored)
under the names the list gives; a test whose file is absent is skipped and says which.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from mmdiff.errors import DataError
from mmdiff.wild.keypoints.sequence import read_people

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_keypoints_quirks import _mutate, _read_or_refuse  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LIST = json.loads((REPO / "tests" / "real_detector_files.json").read_text())
FOLDERS = [Path(p) for p in (os.environ.get("MMDIFF_DETECTORS"),) if p] + [
    REPO.parent / "shared" / "detectors", REPO / "data" / "detectors"]
DEMO = REPO / "ckpts" / "demo"
FORMATS = {"alphapose", "coco_results", "videopose3d_custom", "detectron2_npz", "openpose",
           "mmpose", "mediapipe"}


def _find(entry) -> Path:
    for folder in FOLDERS:
        if (folder / entry["file"]).exists():
            return folder / entry["file"]
    pytest.skip(f"{entry['file']} is not in any of {[str(f) for f in FOLDERS]}")


def _ids(entries):
    return [e["file"].split("/")[-1][:40] for e in entries]


def test_the_list_says_where_each_file_comes_from():
    """Provenance is complete: repository, path, commit, licence, format; two or more
    projects per format family."""
    for e in LIST:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", e["repo"]) and e["path"] and e["licence"], e
        assert re.match(r"[0-9a-f]{40}", e["commit"]), e["file"]
        assert e["format"] in FORMATS and e["file"].split("/")[0] in {
            "alphapose", "coco_results", "videopose3d", "openpose", "mmpose", "mediapipe"}
    families = {}
    for e in LIST:
        families.setdefault(e["file"].split("/")[0], set()).add(e["repo"])
    assert all(len(repos) >= 2 for repos in families.values()), families


@pytest.mark.parametrize("entry", LIST, ids=_ids(LIST))
def test_every_real_file_is_read_or_refused_clearly(entry):
    path = _find(entry)
    size = tuple(entry["image_size"]) if entry.get("image_size") else (1000, 1000)
    if "refused" in entry:
        with pytest.raises(DataError, match=re.escape(entry["refused"])):
            read_people(path, image_size=size)
        return
    people, notes = read_people(path, image_size=size)
    assert people and notes[0].startswith(f"input: {path}")
    for kp in people:
        assert kp.pixels.shape == (len(kp.frame), 17, 2)
        assert np.isfinite(kp.pixels[kp.lifted]).all()


@pytest.mark.parametrize("entry", [e for e in LIST if e["file"].endswith(".json")],
                         ids=_ids([e for e in LIST if e["file"].endswith(".json")]))
def test_fuzzed_real_files_give_keypoints_or_a_clear_error(entry, tmp_path):
    path = _find(entry)
    data = json.loads(path.read_text())
    rng = np.random.default_rng(0)
    for k in range(6):
        mutated = tmp_path / f"m{k}.json"
        mutated.write_text(json.dumps(_mutate(data, rng)))
        _read_or_refuse(mutated)


VIDEOS = [e for e in LIST if e.get("video") and e.get("bone_variation") is not None]


@pytest.mark.slow
@pytest.mark.skipif(not (DEMO / "lifter.pth").is_file(), reason="ckpts/demo/ is missing")
@pytest.mark.parametrize("entry", VIDEOS, ids=_ids(VIDEOS))
def test_real_videos_lift_as_steadily_as_readme_says(entry):
    """The most confident person's median bone-length variation with the demo weights and
    predict's defaults stays within 0.5 points of the figure README gives."""
    from mmdiff.checkpoints import load_denoiser, load_lifter
    from mmdiff.config import load_config
    from mmdiff.wild import predict_file
    path = _find(entry)
    cfg = load_config(DEMO / "eval_config.yml")
    size = entry.get("image_size") or (None, None)
    pred = predict_file(path, cfg, load_lifter(DEMO / "lifter.pth", device="cpu"),
                        load_denoiser(DEMO / "mmdiff.pth", device="cpu"), width=size[0],
                        height=size[1], device="cpu")
    assert pred.people[0].report.median * 100 <= entry["bone_variation"] + 0.5
