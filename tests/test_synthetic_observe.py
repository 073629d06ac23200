"""Simulated 2D for any 3D file: `mmdiff data observe`, file names, streams, cameras."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmdiff.camera import cameras_for
from mmdiff.cli import main
from mmdiff.data.gmm import true_projection
from mmdiff.data.h36m import load_positions_2d, load_positions_3d, save_positions_3d
from mmdiff.data.synthetic import observe
from mmdiff.errors import DataError

SAMPLE_3D = Path(__file__).resolve().parents[1] / "data" / "sample" / "data_3d_h36m_synth.npz"


@pytest.fixture(scope="module")
def small_3d(tmp_path_factory) -> Path:
    """Two subjects, two sequences each, from the committed sample, as data_3d_h36m_mine.npz."""
    pos = load_positions_3d(SAMPLE_3D)
    small = {s: {a: pos[s][a] for a in ("Walking 1", "Sitting 2")} for s in ("S1", "S9")}
    path = tmp_path_factory.mktemp("mocap") / "data_3d_h36m_mine.npz"
    save_positions_3d(path, small)
    return path


def test_names_follow_the_published_files():
    assert observe.dataset_name("x/data_3d_h36m_mine.npz") == "mine"
    assert observe.dataset_name("data_3d_h36m.npz") == ""
    assert observe.dataset_name("capture.npz") == "capture"
    assert observe.observation_files("mine") == {
        "det": "data_2d_h36m_mine_det.npz", "det_gmm": "data_2d_h36m_mine_det_gmm.npz",
        "gt_gmm": "data_2d_h36m_mine_gt_gmm.npz"}


def test_observe_file_writes_consistent_files(small_3d, tmp_path):
    paths = observe.observe_file(small_3d, tmp_path, seed=0, fps=12.5)
    assert {p.name for p in paths.values()} == set(observe.observation_files("mine").values())
    pos = load_positions_3d(small_3d)
    det, gmm, gt = (load_positions_2d(paths[k]) for k in ("det", "det_gmm", "gt_gmm"))
    for s in pos:
        for a, world in pos[s].items():
            for c, cam in enumerate(cameras_for(s)):
                truth = true_projection(world.astype(np.float64), cam)
                assert np.array_equal(gmm[s][a][c][:, :, 0, 1:3], det[s][a][c])   # kernel 0
                assert 2.0 < np.linalg.norm(det[s][a][c] - truth, axis=-1).mean() < 15.0
                assert np.abs(gt[s][a][c][:, :, 0, 1:3] - truth).max() < 1e-3
    again = observe.observe_file(small_3d, tmp_path / "again", seed=0, fps=12.5)
    assert np.array_equal(load_positions_2d(again["det_gmm"])["S9"]["Walking 1"][2],
                          gmm["S9"]["Walking 1"][2])


def test_a_sequence_does_not_depend_on_the_rest_of_the_file(small_3d):
    pos = load_positions_3d(small_3d)
    full = observe.observe(pos, seed=3, fps=12.5)[0]
    alone = observe.observe({"S9": {"Sitting 2": pos["S9"]["Sitting 2"]}}, seed=3, fps=12.5)[0]
    assert all(np.array_equal(x, y) for x, y in zip(full["S9"]["Sitting 2"],
                                                    alone["S9"]["Sitting 2"]))
    other = observe.observe({"S9": {"Sitting 2": pos["S9"]["Sitting 2"]}}, seed=4, fps=12.5)[0]
    assert not np.allclose(other["S9"]["Sitting 2"][0], alone["S9"]["Sitting 2"][0])


def test_unknown_subjects_need_cameras_of(tmp_path, small_3d):
    pos = load_positions_3d(small_3d)
    save_positions_3d(tmp_path / "data_3d_h36m_lab.npz", {"Alice": pos["S1"]})
    with pytest.raises(DataError, match="Alice"):
        observe.observe_file(tmp_path / "data_3d_h36m_lab.npz", tmp_path, fps=12.5)
    paths = observe.observe_file(tmp_path / "data_3d_h36m_lab.npz", tmp_path, fps=12.5,
                                 cameras_of="S1")
    assert set(load_positions_2d(paths["det"])) == {"Alice"}


def test_data_observe_command(small_3d, tmp_path, capsys):
    assert main(["data", "observe", "--positions", str(small_3d), "--out", str(tmp_path),
                 "--fps", "12.5", "--name", "lab"]) == 0
    assert (tmp_path / "data_2d_h36m_lab_det_gmm.npz").is_file()
    assert "data_2d_h36m_lab_gt_gmm.npz" in capsys.readouterr().out
    assert main(["data", "observe", "--positions", str(tmp_path / "missing.npz"),
                 "--out", str(tmp_path)]) != 0
