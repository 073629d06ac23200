"""Motion statistics, and the embedded data's against real motion (../shared/realmotion)."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff.cli import main
from mmdiff.data.h36m import load_positions_3d
from mmdiff.data.synthetic import (compare_statistics, make_positions_3d, motion_statistics,
                                   stance_drift)


@pytest.fixture(scope="module")
def small_set() -> dict:
    """Two subjects, every action, short takes: enough for coarse checks in about a second."""
    return make_positions_3d(0, subjects=("S5", "S9"), frames=50)


def test_statistics_are_complete_and_sane(small_set):
    st = motion_statistics(small_set)
    assert st["frames"] == sum(len(a) for acts in small_set.values() for a in acts.values())
    assert 0 < st["root_height_p5_p50_p95"][0] < st["root_height_p5_p50_p95"][2] < 1.1
    assert 0 < st["knee_flex_p5_p50_p95"][1] < 90 and 0 < st["elbow_flex_p5_p50_p95"][1] < 120
    assert 5 <= st["pca_components_90"] <= 20
    for action in ("Walking", "SittingDown"):
        mean, p5, p50, p95 = st[f"root_height[{action}]"]
        assert p5 <= p50 <= p95 and st[f"root_height_lowest[{action}]"] <= p5


def test_actions_are_done_at_the_heights_people_do_them(small_set):
    """Coarse, physical bounds: standing actions keep the pelvis high, seated ones on a chair,
    SittingDown is mostly on the floor (a sitting pelvis is ~0.1 m up)."""
    st = motion_statistics(small_set)
    for action in ("Directions", "Discussion", "Greeting", "Walking", "WalkTogether"):
        assert 0.85 < st[f"root_height[{action}]"][2] < 0.97, action
    assert 0.45 < st["root_height[Sitting]"][2] < 0.7
    assert st["root_height[SittingDown]"][2] < 0.25
    assert st["root_height_lowest[SittingDown]"] < 0.15
    assert st["root_speed[Walking]"] > 3 * st["root_speed[Sitting]"]


def test_stance_drift_measures_sliding_feet():
    F = 20
    still = np.zeros((F, 32, 3))
    still[:, [3, 8], 2] = 0.03                                          # ankles on the floor
    assert stance_drift(still).max() == 0.0
    sliding = still.copy()
    sliding[:, 3, 0] = np.linspace(0, 0.5, F)                           # right ankle glides
    assert stance_drift(sliding).max() == pytest.approx(0.5)


def test_compare_statistics_rows(small_set):
    st = motion_statistics(small_set)
    rows = compare_statistics(st, st)
    assert all(ok and rel == 0 for *_, rel, ok in rows)
    names = [r[0] for r in rows]
    assert "pose spread (mm)" in names and "root height SittingDown (m)" in names
    worse = dict(st, pose_spread_mm=st["pose_spread_mm"] * 1.2)
    assert not dict((r[0], r[4]) for r in compare_statistics(worse, st))["pose spread (mm)"]


def test_data_stats_command(tmp_path, capsys):
    from mmdiff.data.h36m import save_positions_3d
    save_positions_3d(tmp_path / "a.npz", make_positions_3d(0, ("S1",), 20, ("Walking",)))
    assert main(["data", "stats", "--positions", str(tmp_path / "a.npz"), "--fps", "12.5"]) == 0
    assert "pose_spread_mm" in capsys.readouterr().out
    assert main(["data", "stats", "--positions", str(tmp_path / "a.npz"),
                 "--reference", str(tmp_path / "a.npz")]) == 0
    assert "within 10 %" in capsys.readouterr().out


@pytest.mark.slow
def test_statistics_within_10_percent_of_real_motion(shared_dir):
    """The embedded data's statistics against real Human3.6M motion (read at run time only)."""
    real_path = shared_dir / "realmotion" / "data_3d_h36m_realmotion.npz"
    if not real_path.is_file():
        pytest.skip(f"{real_path} is absent")
    real = motion_statistics(load_positions_3d(real_path), fps=12.5)
    rows = compare_statistics(motion_statistics(make_positions_3d(0)), real)
    off = [(name, round(rel * 100, 1)) for name, _, _, rel, ok in rows if not ok]
    core = {"pose spread (mm)", "PCA components for 90 %", "root height (m)",
            "knee flexion p50 (deg)", "elbow flexion p50 (deg)", "root speed mean (m/s)",
            "head speed mean (m/s)", "wrists speed mean (m/s)"}
    assert not core & {name for name, _ in off}, off
    assert len(off) <= 4, off
