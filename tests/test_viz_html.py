"""Tests for mmdiff.viz.html: the animated predict page (3D beside 2D pixels, play / pause,
slider, filled frames and flagged joints marked), written as a standalone file."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff import viz
from mmdiff.errors import DataError


@pytest.fixture
def sequence(rng):
    p3 = rng.normal(size=(5, 17, 3)) * 0.3
    px = rng.uniform(100, 900, size=(5, 17, 2))
    return p3, px


def test_animation_frames_slider_and_play_pause(sequence):
    p3, px = sequence
    filled = np.array([False, False, True, False, False])
    flagged = np.zeros((5, 17), bool)
    flagged[3, [2, 5]] = True
    view = viz.pose_sequence_view(p3, px, (1000, 800), title="clip", filled_frames=filled,
                                  flagged_joints=flagged, fps=10)
    fig = view.fig
    assert len(fig.frames) == 5
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0", "1", "2 filled", "3", "4"]
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["play", "pause"]
    assert fig.layout.updatemenus[0].buttons[0].args[1]["frame"]["duration"] == 100.0
    assert "filled by interpolation" in fig.frames[2].layout.title.text
    assert "filled" not in fig.frames[1].layout.title.text
    # the 2D panel is the image, y down, equal aspect
    assert fig.layout.xaxis.range == (0, 1000) and fig.layout.yaxis.range == (800, 0)
    assert "1000 x 800 px" in fig.layout.annotations[1].text
    # frames redraw the handles' traces; 3D drawn with up = -y
    index = {h: i for i, h in enumerate(viz.handle_names(fig))}
    frame = fig.frames[3]
    k = frame.traces.index(index["3d/joints"])
    np.testing.assert_allclose(frame.data[k].z, -p3[3, :, 1])
    k = frame.traces.index(index["2d/flagged joints"])
    np.testing.assert_allclose(frame.data[k].x, px[3, [2, 5], 0])
    view.update(3)
    np.testing.assert_allclose(view.trace("2d/joints").x, px[3, :, 0])
    assert len(view.trace("2d/flagged joints").x) == 2


def test_3d_only_page_and_write(sequence, tmp_path):
    p3, _ = sequence
    view = viz.pose_sequence_view(p3)
    assert viz.handle_names(view.fig) == ["3d/centre bones", "3d/left bones", "3d/right bones",
                                          "3d/joints"]
    path = viz.write_pose_html(p3, tmp_path / "sub" / "v.html", keypoints_px=sequence[1],
                               image_size=(1000, 800))
    text = path.read_text()
    assert "plotly" in text[:100000].lower() and "Plotly.addFrames" in text
    assert text.count('"name":"4"') >= 1                                 # the last frame


def test_bad_input_names_the_shape(sequence):
    p3, px = sequence
    with pytest.raises(DataError, match=r"keypoints_px: expected shape \(n, 17, 2\) or "
                       r"\(people, n, 17, 2\), found \(5, 16, 2\)"):
        viz.pose_sequence_view(p3, px[:, :16], (10, 10))
    with pytest.raises(DataError, match="frame counts differ"):
        viz.pose_sequence_view(p3, px[:4], (10, 10))
    with pytest.raises(DataError, match="image_size"):
        viz.pose_sequence_view(p3, px, None)
    with pytest.raises(DataError, match=r"filled_frames: expected shape \(5,\), found \(4,\)"):
        viz.pose_sequence_view(p3, px, (10, 10), filled_frames=np.zeros(4, bool))
    with pytest.raises(DataError, match="fps"):
        viz.pose_sequence_view(p3, fps=0)


def test_several_people_side_by_side(rng):
    """Two people on one frame axis: each gets its own handles, person 1 is absent (NaN) in
    frame 0, and the 3D skeletons stand SPACING apart in their left-to-right 2D order."""
    p3 = rng.normal(size=(2, 4, 17, 3)) * 0.3
    p3[1, 0] = np.nan
    px = rng.uniform(100, 400, size=(2, 4, 17, 2))
    px[0, ..., 0] += 500                                                     # person 0 right
    px[1, 0] = np.nan
    filled = np.zeros((2, 4), bool)
    filled[1, 2] = True
    view = viz.pose_sequence_view(p3, px, (1000, 800), filled_frames=filled,
                                  labels=["track 3", "track 7"])
    names = viz.handle_names(view.fig)
    assert "3d/1/joints" in names and "2d/1/flagged joints" in names and "3d/joints" in names
    assert [s.label for s in view.fig.layout.sliders[0].steps] == ["0", "1", "2 filled", "3"]
    view.update(1)
    x0, x1 = view.trace("3d/joints").x, view.trace("3d/1/joints").x
    np.testing.assert_allclose(np.array(x0) - p3[0, 1, :, 0], viz.html.SPACING / 2)
    np.testing.assert_allclose(np.array(x1) - p3[1, 1, :, 0], -viz.html.SPACING / 2)
    view.update(0)
    assert np.isnan(np.array(view.trace("3d/1/joints").x, dtype=float)).all()
    with pytest.raises(DataError, match=r"filled_frames: expected shape \(2, 4\)"):
        viz.pose_sequence_view(p3, px, (1000, 800), filled_frames=np.zeros(4, bool))
