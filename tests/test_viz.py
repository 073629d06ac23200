"""Tests for mmdiff.viz: expected traces, update() changes data in place, inputs unchanged."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from mmdiff import viz
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
    fig, update = viz.skeleton_3d(p3)
    assert [t.name for t in fig.data] == ["centre bones", "left bones", "right bones", "joints"]
    # every bone is one segment: 2 points + a NaN break; left bones are the children in LEFT_17
    assert len(fig.data[1].x) == 3 * sum(j in LEFT_17 for j, _ in EDGES_17)
    assert sum(len(t.x) for t in fig.data[:3]) == 3 * len(EDGES_17)
    # camera coordinates are drawn with up = -y
    np.testing.assert_allclose(fig.data[3].z, -p3[:, 1])
    old = _xyz(fig.data[3])
    update(p3 + 0.5)
    assert not np.allclose(_xyz(fig.data[3]), old)
    np.testing.assert_array_equal(p3, before)


def test_skeleton_3d_equal_aspect_and_32_joints(rng):
    fig, _ = viz.skeleton_3d(rng.normal(size=(32, 3)), coords="world")
    assert fig.layout.scene.aspectmode == "cube"
    spans = [np.diff(fig.layout.scene[f"{a}axis"].range)[0] for a in "xyz"]
    np.testing.assert_allclose(spans, spans[0])
    assert sum(len(t.x) for t in fig.data[:3]) == 3 * sum(p >= 0 for p in PARENTS_32)


def test_skeleton_3d_rejects_bad_shape():
    with pytest.raises(ValueError, match="17 or 32"):
        viz.skeleton_3d(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="pose"):
        viz.skeleton_3d(np.zeros((17, 2)))


def test_widget_and_torch_input(poses):
    p3 = torch.tensor(poses[0])
    before = p3.clone()
    fig, update = viz.skeleton_3d(p3, widget=True)
    assert isinstance(fig, go.FigureWidget)
    update(p3 * 2)
    assert torch.equal(p3, before)


def test_pose_2d_gmm_ellipses(poses):
    _, p2, gmm = poses
    g0 = gmm.copy()
    fig, update = viz.pose_2d(p2, gmm)
    shapes = fig.layout.shapes
    assert len(shapes) == 17 * 3 and all(s.type == "circle" for s in shapes)
    # ellipse = mean +- spread; opacity grows with weight
    s = shapes[0]
    np.testing.assert_allclose([s.x0, s.x1], [gmm[0, 0, 1] - gmm[0, 0, 3], gmm[0, 0, 1] + gmm[0, 0, 3]])
    order = np.argsort(gmm[0, :, 0])
    assert shapes[order[0]].opacity < shapes[order[-1]].opacity
    assert "w=" in fig.data[4].hovertext[0]
    assert fig.layout.yaxis.autorange == "reversed"                         # v points down
    update(p2 * 2)                                                          # no GMM: no ellipses
    assert len(fig.layout.shapes) == 0
    np.testing.assert_allclose(fig.data[3].x, p2[:, 0] * 2)
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
    fig, update = viz.sequence_view(p3, p2, gmm, slider=True)
    assert len(fig.data) == 9 and len(fig.frames) == 4 and len(fig.layout.sliders[0].steps) == 4
    np.testing.assert_allclose(fig.data[3].x, p3[0, :, 0])
    update(2)
    np.testing.assert_allclose(fig.data[3].x, p3[2, :, 0])                # world coords as is
    np.testing.assert_allclose(fig.data[7].x, p2[2, :, 0])
    assert len(fig.layout.shapes) == 17 * 2
    with pytest.raises(ValueError, match="frame counts"):
        viz.sequence_view(p3, p2[:3])


def test_poses_side_by_side(poses):
    p3 = poses[0]
    fig, update = viz.poses_side_by_side({"GT": p3, "lifter": p3 + 0.1, "refined": p3})
    assert len(fig.data) == 12 and fig.layout.scene3.aspectmode == "cube"
    assert fig.layout.scene.xaxis.range == fig.layout.scene2.xaxis.range
    update({"GT": p3, "lifter": p3, "refined": p3 * 0})
    np.testing.assert_allclose(fig.data[11].x, 0.0)
    with pytest.raises(ValueError, match="panels"):
        update({"GT": p3})


def test_noisy_pose_view(poses):
    p3, p2, _ = poses
    x0 = np.concatenate([p2, p3], axis=-1)                                  # (17, 5)
    fig, update = viz.noisy_pose_view(x0)
    assert len(fig.data) == 16
    update(x0 + 1.0)
    np.testing.assert_allclose(fig.data[11].x, p2[:, 0] + 1.0)              # noisy 2D joints
    np.testing.assert_allclose(fig.data[3].x, p2[:, 0])                     # clean stays


class _Sched:
    def __init__(self, betas):
        self.betas = torch.tensor(betas)
        self.alphas_bar = torch.cumprod(1 - self.betas, 0)
        self.snr = self.alphas_bar / (1 - self.alphas_bar)


def test_schedule_plot_object_or_betas():
    betas = np.linspace(1e-4, 1e-3, 51)
    fig, update = viz.schedule_plot(betas, t=10)
    assert len(fig.data) == 6 and fig.layout.yaxis3.type == "log"
    np.testing.assert_allclose(fig.data[1].y, np.cumprod(1 - betas))
    assert fig.data[4].x == (10,)
    update(_Sched(np.linspace(1e-4, 2e-2, 100)), t=99)
    assert len(fig.data[0].x) == 100 and fig.data[5].x == (99,)
    np.testing.assert_allclose(fig.data[2].y[-1], float(_Sched(np.linspace(1e-4, 2e-2, 100)).snr[-1]))


def test_adjacency_and_attention_heatmaps(rng):
    fig, update = viz.adjacency_heatmap(np.eye(34))
    assert fig.data[0].x[0] == "2D Hip" and fig.data[0].x[17] == "3D Hip"
    update(np.ones((34, 34)))
    assert np.all(np.array(fig.data[0].z) == 1)
    maps = rng.random((5, 4, 34, 34))
    m0 = maps.copy()
    fig, update = viz.attention_heatmap(maps, layer=1, head=2)
    np.testing.assert_allclose(fig.data[0].z, maps[1, 2])
    update(4, 3)
    np.testing.assert_allclose(fig.data[0].z, maps[4, 3])
    assert "layer 4, head 3" in fig.layout.title.text
    update(0, 1, maps=np.zeros((2, 2, 34, 34)))
    np.testing.assert_allclose(fig.data[0].z, 0.0)
    np.testing.assert_array_equal(maps, m0)
    fig, _ = viz.attention_heatmap(rng.random((17, 17)))                    # (N, N) accepted
    assert fig.data[0].x[0] == "Hip"


def test_cross_channel_graph_edges_classified():
    edges = ([(i, j) for i, j in EDGES_17] + [(i + 17, j + 17) for i, j in EDGES_17]
             + [(j, j + 17) for j in range(17)])
    fig, update = viz.cross_channel_graph(edges)
    assert [t.name for t in fig.data[:3]] == ["2D bones (16)", "3D bones (16)", "2D-3D links (17)"]
    assert len(fig.data[3].x) == 17 and len(fig.data[4].x) == 17
    assert fig.data[2].visible
    update(False)
    assert fig.data[2].visible is False


def test_bars_lines_histograms(rng):
    fig, update = viz.per_joint_bars({"lifter": rng.random(17), "mmdiff": rng.random(17)})
    assert len(fig.data) == 2 and fig.data[0].x[0] == "Hip"
    update({"mmdiff": np.zeros(17)})
    assert np.all(np.array(fig.data[1].y) == 0)
    fig, _ = viz.per_action_bars({"P1": {"Walking": 40.0, "Eating": 50.0}})
    assert fig.data[0].x == ("Walking", "Eating")
    fig, update = viz.line_chart({"loss": ([0, 1], [2.0, 1.0])}, log_y=True)
    update({"loss": ([0, 1, 2], [2.0, 1.0, 0.5]), "val": ([0], [1.0])})
    assert [t.name for t in fig.data] == ["loss", "val"] and len(fig.data[0].x) == 3
    fig, update = viz.histogram({"gauss": rng.normal(size=100)})
    update({"gauss": np.zeros(5)})
    assert len(fig.data[0].x) == 5


def test_sequence_view_swaps_sequence(rng):
    p3, p2 = rng.normal(size=(4, 17, 3)), rng.normal(size=(4, 17, 2))
    fig, update = viz.sequence_view(p3, p2)
    q3, q2 = rng.normal(size=(7, 17, 3)) + 20.0, rng.normal(size=(7, 17, 2))
    gmm = np.abs(rng.normal(size=(7, 17, 3, 5)))
    update(6, sequence=(q3, q2, gmm))
    np.testing.assert_allclose(fig.data[3].x, q3[6, :, 0])
    assert len(fig.layout.shapes) == 17 * 3
    assert fig.layout.scene.xaxis.range[0] > 10.0                           # axes refitted


def test_side_by_side_mixed_joint_counts(rng):
    fig, _ = viz.poses_side_by_side({"32 joints": rng.normal(size=(32, 3)),
                                     "17 joints": rng.normal(size=(17, 3))}, coords="world")
    assert len(fig.data) == 8
