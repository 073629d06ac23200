"""Tests for mmdiff.viz.reverse: traces by handle, update() redraws in place, the static slider,
bad shapes are DataErrors."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff import viz
from mmdiff.course.analysis import Calibration
from mmdiff.errors import DataError


@pytest.fixture
def stages(rng):
    target = rng.normal(size=(17, 3)) * 0.3
    poses = target + rng.normal(size=(4, 17, 3)) * np.array([0.04, 0.03, 0.02, 0.0])[:, None, None]
    labels = ["start x_6", "x0-hat at t=6", "x_0", "output"]
    errors = [{"x": 10.0 * i, "y": 5.0, "z": 20.0 - i, "P1": 30.0 - i} for i in range(4)]
    return poses, target, labels, errors


def test_reverse_step_view_shows_a_stage_over_the_ghost(stages):
    poses, target, labels, errors = stages
    view = viz.reverse_step_view(poses, target, labels, errors)
    np.testing.assert_allclose(view.trace("pose/joints").x, poses[0][:, 0])
    np.testing.assert_allclose(view.trace("ghost/joints").x, target[:, 0])
    assert list(view.trace("z").y) == [20.0, 19.0, 18.0, 17.0]
    view.update(2)
    np.testing.assert_allclose(view.trace("pose/joints").x, poses[2][:, 0])
    assert list(view.trace("errors at step").x) == [2] * 4
    assert view.fig.layout.title.text.startswith("x_0: P1 28.0 mm")
    view.update(0, poses=poses[::-1], target=target * 0, labels=labels, errors=errors[::-1])
    np.testing.assert_allclose(view.trace("ghost/joints").x, 0.0)
    np.testing.assert_allclose(view.trace("pose/joints").x, poses[3][:, 0])
    with pytest.raises(DataError, match="error rows"):
        viz.reverse_step_view(poses, target, labels, errors[:2])


def test_reverse_step_view_slider_frames(stages):
    poses, target, labels, errors = stages
    fig = viz.reverse_step_view(poses, target, labels, errors, slider=True).fig
    assert len(fig.frames) == 4 and len(fig.layout.sliders[0].steps) == 4
    assert [s.label for s in fig.layout.sliders[0].steps] == labels
    joints = fig.frames[3].data[3]
    np.testing.assert_allclose(joints.x, poses[3][:, 0])


def test_hypothesis_cloud_and_calibration_plot(rng):
    hyps, target = rng.normal(size=(5, 17, 3)) * 0.1, rng.normal(size=(17, 3)) * 0.1
    view = viz.hypothesis_cloud(hyps, target)
    assert len(view.trace("cloud").x) == 5 * 17
    np.testing.assert_allclose(view.trace("mean/joints").x, hyps.mean(0)[:, 0])
    view.update(hyps[:2], target)
    assert len(view.trace("cloud").x) == 2 * 17
    calib = Calibration(spread=np.arange(12.0).reshape(4, 3), error=np.ones((4, 3)),
                        count=np.ones((4, 3)), within_joint=np.zeros(3))
    plot = viz.calibration_plot(calib)
    assert list(plot.trace("y").x) == [1.0, 4.0, 7.0, 10.0]
    assert list(plot.trace("ideal").x) == [0, 11.0]


def test_depth_flip_view_redraws_the_reflected_pose(rng):
    pose = rng.normal(size=(17, 3)) * 0.3
    flipped = pose.copy()
    flipped[3, 2] += 0.4
    view = viz.depth_flip_view(pose, flipped, depth=5.0)
    np.testing.assert_allclose(view.trace("2d flipped/joints").x,
                               flipped[:, 0] / (5.0 + flipped[:, 2]))
    view.update(pose)
    np.testing.assert_allclose(view.trace("2d flipped/joints").x, view.trace("2d pose/joints").x)
