"""mmdiff.course.book: executed notebooks made static (plotly outputs and widget figures
as HTML)."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from mmdiff.course import book
from mmdiff.errors import DataError


def _executed_notebook():
    xs = np.array([0.5, 1.5], dtype="float64")
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_fig"]}},
        "slider": {"model_name": "IntSliderModel", "state": {"value": 3}},
        "fig": {"model_name": "AnyModel", "state": {
            "_widget_data": [{"type": "scatter", "x": {"dtype": "float64", "shape": [2]}, "y": [3, 4]}],
            "_widget_layout": {"title": {"text": "live"}}, "_py2js_restyle": None},
            "buffers": [{"path": ["_widget_data", 0, "x", "buffer"], "encoding": "base64",
                         "data": base64.b64encode(xs.tobytes()).decode()},
                        {"path": ["_py2js_restyle", "x", "buffer"], "encoding": "base64", "data": ""}]}}
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"widgets": {book.STATE_MIME: {"state": state}}},
            "cells": [{"cell_type": "code", "source": "display(box)", "metadata": {}, "execution_count": 1,
                       "outputs": [{"output_type": "display_data", "metadata": {},
                                    "data": {"text/plain": "VBox()", book.WIDGET_MIME: {"model_id": "box"}}}]},
                      {"cell_type": "code", "source": "fig", "metadata": {}, "execution_count": 2,
                       "outputs": [{"output_type": "execute_result", "metadata": {}, "execution_count": 2,
                                    "data": {book.PLOTLY_MIME: {"data": [{"type": "bar", "y": [1]}],
                                                                 "layout": {}}}}]}]}


def test_staticize_turns_figures_and_widgets_into_html():
    nb = _executed_notebook()
    before = json.dumps(nb, sort_keys=True)
    out, count = book.staticize(nb)
    assert json.dumps(nb, sort_keys=True) == before                       # input unchanged
    assert count == 2 and "widgets" not in out["metadata"]
    widget_html = out["cells"][0]["outputs"][0]["data"]["text/html"]
    assert "plotly-graph-div" in widget_html and "live" in widget_html and book.NOTE in widget_html
    assert "[0.5,1.5]" in widget_html.replace(" ", "")                    # the buffer, decoded
    assert list(out["cells"][1]["outputs"][0]["data"]) == ["text/html"]


def test_render_loads_plotly_from_beside_the_page(tmp_path):
    page = book.render(book.staticize(_executed_notebook())[0], "demo")
    assert '<script src="plotly.min.js"></script>' in page and "plotly-graph-div" in page
    assert book.write_plotly_js(tmp_path).stat().st_size > 1_000_000
    with pytest.raises(DataError, match="missing.ipynb"):
        book.build([tmp_path / "missing.ipynb"], tmp_path / "out", log=lambda *_: None)


def test_build_records_each_lessons_run_time(tmp_path, monkeypatch):
    """book.json gives, per page, its figures and the seconds its execution took (the course's
    wall time is their sum), and the log says both."""
    (tmp_path / "01_a.ipynb").write_text("{}")
    monkeypatch.setattr(book, "execute", lambda path, fast=False: _executed_notebook())
    monkeypatch.setattr(book, "write_mathjax", lambda out: None)
    lines = []
    pages = book.build([tmp_path / "01_a.ipynb"], tmp_path / "out", log=lines.append)
    doc = json.loads((tmp_path / "out" / "book.json").read_text())
    assert pages == doc["pages"] == {"01_a": 2}
    assert set(doc["seconds"]) == {"01_a"} and doc["seconds"]["01_a"] >= 0
    assert any(line.startswith("book: 01_a.ipynb ran in") for line in lines)
    assert lines[-1] == "book: 1 lessons ran in 0.0 min"
