"""Plotly figures for the notebooks and the command line, each with an ``update(...)`` that
redraws it in place.

Every builder returns a ``View(fig, update)``: ``fig`` is a ``go.Figure`` (or a
``go.FigureWidget`` with ``widget=True``, which needs ``anywidget`` in Jupyter), and ``update``
replaces the data of the existing traces, found by their handle names (``view.trace("3d/joints")``),
so an ipywidgets callback is one line::

    view = viz.skeleton_3d(pose, widget=True)
    widgets.interact(lambda i: view.update(poses[i]), i=(0, len(poses) - 1))

Modules, by topic:

    base        View, Traces (named trace handles), array checks (DataError on a bad shape)
    skeletons   bones by side, 3D / 2D skeleton traces, GMM ellipses, equal-aspect scenes
    poses       skeleton_3d, pose_2d, sequence_view, poses_side_by_side
    diffusion   noisy_pose_view, schedule_plot, points_view (lesson 08's toy samples)
    reverse     reverse_step_view, hypothesis_cloud, calibration_plot, depth_flip_view
    graphs      adjacency_heatmap, cross_channel_graph, attention_heatmap, node_labels
    charts      bar_chart, per_joint_bars, per_action_bars, line_chart, histogram
    html        pose_sequence_view, write_pose_html (the page ``mmdiff predict --html`` writes)

Conventions. 3D poses are (J, 3) metres, J = 17 or 32 (bones from ``mmdiff.skeleton``); camera
coordinates (x right, y down, z forward) are drawn with "up" pointing up, world coordinates
(z up) as they are. 2D poses are (J, 2) normalised screen coordinates (u right, v down), pixels
only in the HTML page. Left joints are red, right joints blue, the spine grey. Inputs (numpy or
torch) are never modified.
"""
from mmdiff.viz.base import (CENTRE_COLOR, LEFT_COLOR, RIGHT_COLOR, SIDES, Traces, View,
                             handle_names)
from mmdiff.viz.charts import bar_chart, histogram, line_chart, per_action_bars, per_joint_bars
from mmdiff.viz.diffusion import noisy_pose_view, points_view, schedule_curves, schedule_plot
from mmdiff.viz.graphs import (TEMPLATE_17, adjacency_heatmap, attention_heatmap,
                               cross_channel_graph, node_labels)
from mmdiff.viz.html import pose_sequence_view, write_pose_html
from mmdiff.viz.poses import pose_2d, poses_side_by_side, sequence_view, skeleton_3d
from mmdiff.viz.reverse import (calibration_plot, depth_flip_view, hypothesis_cloud,
                               reverse_step_view)
from mmdiff.viz.skeletons import skeleton_layout

__all__ = ["View", "Traces", "handle_names", "LEFT_COLOR", "RIGHT_COLOR", "CENTRE_COLOR", "SIDES",
           "skeleton_layout", "skeleton_3d", "pose_2d", "sequence_view", "poses_side_by_side",
           "noisy_pose_view", "schedule_plot", "schedule_curves", "node_labels", "TEMPLATE_17",
           "adjacency_heatmap", "cross_channel_graph", "attention_heatmap", "bar_chart",
           "per_joint_bars", "per_action_bars", "line_chart", "histogram", "pose_sequence_view",
           "write_pose_html", "reverse_step_view", "hypothesis_cloud", "calibration_plot",
           "depth_flip_view", "points_view"]
