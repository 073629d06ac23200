"""Tests for mmdiff.viz.poses: expected traces by handle, update() redraws in place, inputs
unchanged, bad shapes are DataErrors naming the shape."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from mmdiff import viz
from mmdiff.errors import ConfigError, DataError
from mmdiff.skeleton import EDGES_17, LEFT_17, PARENTS_32


@pytest.fixture
def poses(rng):
    p3 = rng.normal(size=(17, 3)) * 0.3
    p2 = rng.normal(size=(17, 2)) * 0.2
    w = rng.dirichlet(np.ones(3), size=17)[..., None]                       # (17, 3, 1)
    gmm = np.concatenate([w, p2[:, None] + rng.normal(size=(17, 3, 2)) * 0.01,
                          np.abs(rng.normal(size=(17, 3, 2))) * 0.02], axis=-1)  # (17, 3, 5)
    return p3, p2, gmm


def _xyz(trace):
    return np.array([trace.x, trace.y, trace.z], dtype=float)


def test_skeleton_3d_traces_and_update(poses):
    p3 = poses[0]
    before = p3.copy()
    view = viz.skeleton_3d(p3)
    fig, update = view
    assert [t.name for t in fig.data] == ["centre bones", "left bones", "right bones", "joints"]
    assert viz.handle_names(fig) == ["3d/centre bones", "3d/left bones", "3d/right bones",
                                     "3d/joints"]
    # every bone is one segment: 2 points + a NaN break; left bones are the children in LEFT_17
    assert len(view.trace("3d/left bones").x) == 3 * sum(j in LEFT_17 for j, _ in EDGES_17)
    assert sum(len(t.x) for t in fig.data[:3]) == 3 * len(EDGES_17)
    # camera coordinates are drawn with up = -y
    np.testing.assert_allclose(view.trace("3d/joints").z, -p3[:, 1])
    old = _xyz(view.trace("3d/joints"))
    update(p3 + 0.5)
    assert not np.allclose(_xyz(view.trace("3d/joints")), old)
    np.testing.assert_array_equal(p3, before)


def test_unknown_handle_lists_the_handles(poses):
    with pytest.raises(KeyError, match="3d/joints"):
        viz.skeleton_3d(poses[0]).trace("2d/joints")


def test_skeleton_3d_equal_aspect_and_32_joints(rng):
    fig, _ = viz.skeleton_3d(rng.normal(size=(32, 3)), coords="world")
    assert fig.layout.scene.aspectmode == "cube"
    spans = [np.diff(fig.layout.scene[f"{a}axis"].range)[0] for a in "xyz"]
    np.testing.assert_allclose(spans, spans[0])
    assert sum(len(t.x) for t in fig.data[:3]) == 3 * sum(p >= 0 for p in PARENTS_32)


def test_bad_input_is_a_data_error_naming_the_shape():
    with pytest.raises(DataError, match="17 or 32"):
        viz.skeleton_3d(np.zeros((5, 3)))
    with pytest.raises(DataError, match=r"pose: expected shape \(n, 3\), found \(17, 2\)"):
        viz.skeleton_3d(np.zeros((17, 2)))
    with pytest.raises(DataError, match=r"found \(4, 17, 3\)"):
        viz.skeleton_3d(np.zeros((4, 17, 3)))                                # a sequence, not a pose
    with pytest.raises(DataError, match=r"gmm: expected shape \(n, n, 5\), found \(17, 3\)"):
        viz.pose_2d(np.zeros((17, 2)), np.zeros((17, 3)))
    with pytest.raises(ConfigError, match="coords"):
        viz.skeleton_3d(np.zeros((17, 3)), coords="image")


def test_widget_and_torch_input(poses):
    p3 = torch.tensor(poses[0])
    before = p3.clone()
    view = viz.skeleton_3d(p3, widget=True)
    assert isinstance(view.fig, go.FigureWidget)
    view.update(p3 * 2)
    np.testing.assert_allclose(view.trace("3d/joints").x, p3[:, 0].numpy() * 2)
    assert torch.equal(p3, before)


def test_pose_2d_gmm_ellipses(poses):
    _, p2, gmm = poses
    g0 = gmm.copy()
    view = viz.pose_2d(p2, gmm)
    fig, update = view
    shapes = fig.layout.shapes
    assert len(shapes) == 17 * 3 and all(s.type == "circle" for s in shapes)
    # ellipse = mean +- spread; opacity grows with weight
    s = shapes[0]
    np.testing.assert_allclose([s.x0, s.x1], [gmm[0, 0, 1] - gmm[0, 0, 3], gmm[0, 0, 1] + gmm[0, 0, 3]])
    order = np.argsort(gmm[0, :, 0])
    assert shapes[order[0]].opacity < shapes[order[-1]].opacity
    assert "w=" in view.trace("gmm means").hovertext[0]
    assert fig.layout.yaxis.autorange == "reversed"                         # v points down
    update(p2 * 2)                                                          # no GMM: no ellipses
    assert len(fig.layout.shapes) == 0 and len(view.trace("gmm means").x) == 0
    np.testing.assert_allclose(view.trace("2d/joints").x, p2[:, 0] * 2)
    np.testing.assert_array_equal(gmm, g0)


def test_pose_2d_zero_weight_kernels_are_not_drawn(poses):
    _, p2, gmm = poses
    gmm = gmm.copy()
    gmm[:, 2, 0] = 0.0
    fig, _ = viz.pose_2d(p2, gmm)
    assert len(fig.layout.shapes) == 17 * 2


def test_sequence_view_frames(rng):
    p3, p2 = rng.normal(size=(4, 17, 3)), rng.normal(size=(4, 17, 2))
    gmm = np.abs(rng.normal(size=(4, 17, 2, 5)))
    view = viz.sequence_view(p3, p2, gmm, slider=True)
    fig, update = view
    assert len(fig.data) == 9 and len(fig.frames) == 4 and len(fig.layout.sliders[0].steps) == 4
    # each plotly frame names the traces it redraws, by the handles' indices
    index = {h: i for i, h in enumerate(viz.handle_names(fig))}
    assert fig.frames[2].traces == tuple(index[h] for h in viz.poses.SEQUENCE_HANDLES)
    np.testing.assert_allclose(fig.frames[2].data[3].x, p3[2, :, 0])
    np.testing.assert_allclose(view.trace("3d/joints").x, p3[0, :, 0])
    update(2)
    np.testing.assert_allclose(view.trace("3d/joints").x, p3[2, :, 0])    # world coords as is
    np.testing.assert_allclose(view.trace("2d/joints").x, p2[2, :, 0])
    assert len(fig.layout.shapes) == 17 * 2
    with pytest.raises(DataError, match="frame counts"):
        viz.sequence_view(p3, p2[:3])


def test_sequence_view_swaps_sequence(rng):
    p3, p2 = rng.normal(size=(4, 17, 3)), rng.normal(size=(4, 17, 2))
    view = viz.sequence_view(p3, p2)
    q3, q2 = rng.normal(size=(7, 17, 3)) + 20.0, rng.normal(size=(7, 17, 2))
    gmm = np.abs(rng.normal(size=(7, 17, 3, 5)))
    view.update(6, sequence=(q3, q2, gmm))
    np.testing.assert_allclose(view.trace("3d/joints").x, q3[6, :, 0])
    assert len(view.fig.layout.shapes) == 17 * 3
    assert view.fig.layout.scene.xaxis.range[0] > 10.0                      # axes refitted


def test_poses_side_by_side(poses):
    p3 = poses[0]
    view = viz.poses_side_by_side({"GT": p3, "lifter": p3 + 0.1, "refined": p3})
    fig, update = view
    assert len(fig.data) == 12 and fig.layout.scene3.aspectmode == "cube"
    assert fig.layout.scene.xaxis.range == fig.layout.scene2.xaxis.range
    assert view.trace("refined/joints").scene == "scene3"
    update({"GT": p3, "lifter": p3, "refined": p3 * 0})
    np.testing.assert_allclose(view.trace("refined/joints").x, 0.0)
    np.testing.assert_allclose(view.trace("GT/joints").x, p3[:, 0])
    with pytest.raises(DataError, match="panels"):
        update({"GT": p3})


def test_side_by_side_mixed_joint_counts(rng):
    fig, _ = viz.poses_side_by_side({"32 joints": rng.normal(size=(32, 3)),
                                     "17 joints": rng.normal(size=(17, 3))}, coords="world")
    assert len(fig.data) == 8


def test_side_by_side_refits_its_cube_when_the_pose_moves(poses):
    """A pose far from the first is not cropped after update (the rank slider moves to far
    poses)."""
    p3 = poses[0]
    view = viz.poses_side_by_side({"GT": p3, "lifter": p3})
    eye = view.fig.layout.scene.camera.eye.y
    far = p3 * 3 + 2.0                                                    # display x = pose x
    view.update({"GT": far, "lifter": far})
    for scene in (view.fig.layout.scene, view.fig.layout.scene2):
        lo, hi = scene.xaxis.range
        assert lo <= far[:, 0].min() and hi >= far[:, 0].max()
    assert view.fig.layout.scene.camera.eye.y == eye                     # the viewing angle stays
