"""Motion statistics, and the embedded data's against real motion (../shared/realmotion)."""
from __future__ import annotations

import pytest

from mmdiff.data.h36m import load_positions_3d
from mmdiff.data.synthetic import make_positions_3d, motion_statistics


@pytest.mark.slow
def test_statistics_close_to_real_motion(shared_dir):
    real_path = shared_dir / "realmotion" / "data_3d_h36m_realmotion.npz"
    if not real_path.is_file():
        pytest.skip(f"{real_path} is absent")
    real = motion_statistics(load_positions_3d(real_path), fps=12.5)
    ours = motion_statistics(make_positions_3d(0, frames=60))
    assert abs(ours["root_height_mean"] - real["root_height_mean"]) < 0.08
    for key in ("speed_root_mean_p95", "speed_wrists_mean_p95", "speed_head_mean_p95"):
        assert ours[key][0] == pytest.approx(real[key][0], rel=0.35), key
    assert ours["elbow_flex_p5_p50_p95"][1] == pytest.approx(real["elbow_flex_p5_p50_p95"][1], abs=25)
