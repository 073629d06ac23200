"""Checks on the committed notebooks (their execution is tested by `pytest --nbval-lax notebooks/`)
and on the hygiene tool that keeps them clean."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from mmdiff.course import notebook_hygiene as hygiene
from mmdiff.errors import DataError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ORDERED = ("00_quick_start", "01_data_exploration", "02_lifter_prior", "03_forward_noising",
           "04_cross_channel_embedding", "05_training", "06_reverse_process", "07_evaluation",
           "08_what_diffusion_is_for")
MAX_BYTES = 1_000_000


def _present():
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _code(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


notebook = pytest.mark.parametrize("path", _present(), ids=lambda p: p.stem)


def test_ordered_notebooks_present():
    names = [p.stem for p in _present()]
    assert names == list(ORDERED), f"notebooks/ holds {names}, expected {list(ORDERED)}"
    assert not list(NOTEBOOKS.rglob(".ipynb_checkpoints")), "committed .ipynb_checkpoints/"
    assert not [p for p in NOTEBOOKS.glob("*.ipynb") if "-Copy" in p.name]


@notebook
def test_small(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes"


@notebook
def test_clean(path):
    nb = _load(path)
    assert "widgets" not in nb.get("metadata", {}), f"{path.name}: widget state committed"
    for i, cell in enumerate(_code(nb)):
        expected = i + 1 if cell["outputs"] else None                   # stable, see hygiene
        assert cell["execution_count"] == expected, f"{path.name} code cell {i}: execution count"
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"{path.name} code cell {i}: error output"
            assert hygiene.WIDGET_MIME not in out.get("data", {}), \
                f"{path.name} code cell {i}: widget output committed"
    assert not hygiene.clean_file(path, check=True), \
        f"{path.name} is not clean: run `make clean-notebooks`"


def _calls(tree: ast.AST) -> list[str]:
    """Dotted names of every call in a syntax tree: ``torch.manual_seed``, ``mm.train.fit``..."""
    return [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _parse(source: str) -> ast.Module:
    """A cell's code without IPython's magics / shell escapes."""
    return ast.parse(hygiene.python_source(source))


@notebook
def test_first_cell_imports_seeds_device(path):
    tree = _parse(_src(_code(_load(path))[0]))
    imports = {(a.name, a.asname) for node in ast.walk(tree) if isinstance(node, ast.Import)
               for a in node.names}
    assert ("mmdiff", "mm") in imports, f"{path.name}: first cell does not `import mmdiff as mm`"
    seeds = [c for c in _calls(tree) if c.endswith(("manual_seed", "default_rng", "seed"))]
    assert seeds, f"{path.name}: first cell calls no seeding function"
    devices = [ast.unparse(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
               and any(getattr(t, "id", None) == "device" for t in n.targets)]
    assert devices and devices[0].startswith("mm.default_device("), \
        f"{path.name}: `device` must come from mm.default_device(), found {devices}"


@notebook
def test_checked_outputs(path):
    checked = [c for c in _code(_load(path)) if hygiene.CHECK_MARK in _src(c)]
    assert len(checked) >= 2, f"{path.name}: {len(checked)} `{hygiene.CHECK_MARK}` cells, need >= 2"
    for cell in checked:
        text = "".join(hygiene._text(o.get("text", o.get("data", {}).get("text/plain", "")))
                       for o in cell["outputs"])
        assert re.search(r"\d\.\d", text), \
            f"{path.name}: checked cell prints no number to compare:\n{_src(cell)}"


EQUATION = re.compile(r"\$\$.+?\$\$|\$[^$\n]*(\\[a-zA-Z]+|[=^_])[^$\n]*\$", re.S)


@notebook
def test_teaching_structure(path):
    """An equation in the text, numbered exercises at the end, and every training call bounded
    by a budget that the test suite's fast mode shrinks."""
    nb = _load(path)
    md = [_src(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert any(EQUATION.search(m) for m in md), f"{path.name}: no LaTeX equation in the markdown"
    assert re.search(r"^#+ .*Exercises", md[-1], re.M), f"{path.name}: does not end with Exercises"
    assert len(re.findall(r"^\d+\. ", md[-1], re.M)) >= 3, f"{path.name}: fewer than 3 exercises"
    trees = [_parse(_src(c)) for c in _code(nb)]
    fast_names = {t.id for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Assign)
                  and "FAST" in ast.unparse(n.value) for t in n.targets if isinstance(t, ast.Name)}
    for tree in trees:
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            if ast.unparse(call.func).split(".")[-1] not in ("fit", "fit_lifter"):
                continue
            budget = {k.arg: k.value for k in call.keywords}.get("max_steps")
            names = {n.id for n in ast.walk(budget) if isinstance(n, ast.Name)} if budget else set()
            assert names & (fast_names | {"FAST"}), \
                f"{path.name}: {ast.unparse(call.func)}(...) has no max_steps set from FAST"


@notebook
def test_cells_short(path):
    """At most hygiene.MAX_STATEMENTS statements per code cell and hygiene.MAX_LINE_CHARS
    characters per line (`python -m mmdiff.course.notebook_hygiene --lint` lists the offenders)."""
    problems = hygiene.cell_problems(_load(path))
    assert not problems, f"{path.name}: move the logic into mmdiff/\n" + "\n".join(problems)


def test_statement_count_ignores_layout_and_magics():
    """Statements, not lines: joining lines does not lower the count, splitting a call over
    lines does not raise it, a compound statement counts itself plus its body, and imports are
    not logic."""
    assert hygiene.count_statements("import os\nx = f(1,\n      2)\nprint(x)") == 2
    assert hygiene.count_statements("import os\nfrom a import (b,\n  c)") == 0
    assert hygiene.count_statements("a = 1; b = 2; c = 3") == 3
    assert hygiene.count_statements("%matplotlib inline\n!ls\n  %time y = 1\nz = 2") == 1
    loop = "for i in range(3):\n    if i:\n        g(i)\n    else:\n        h(i)\n"
    assert hygiene.count_statements(loop) == 4                       # for, if, g(i), h(i)
    assert hygiene.count_statements("def f(x):\n    y = x\n    return y\n") == 3
    assert hygiene.count_statements("with open(p) as f:\n    data = f.read()") == 2
    assert hygiene.count_statements("# only a comment\n") == 0


def test_cell_problems_name_long_cells_and_lines():
    many = "\n".join(f"x{k} = {k}" for k in range(hygiene.MAX_STATEMENTS + 1))
    wide = "y = " + "1 + " * 30 + "1"                                # one statement, 125 chars
    nb = {"cells": [{"cell_type": "markdown", "source": "x" * 500},
                    {"cell_type": "code", "source": many},
                    {"cell_type": "code", "source": ["x = 1\n", wide]},
                    {"cell_type": "code", "source": "%time x = (1 +"},   # magic: not counted
                    {"cell_type": "code", "source": "x = (1 +"}]}
    problems = hygiene.cell_problems(nb)
    assert len(problems) == 3, problems
    assert problems[0].startswith(f"code cell 0: {hygiene.MAX_STATEMENTS + 1} statements")
    assert problems[1].startswith("code cell 1: lines over 100 characters (line 2: 125)")
    assert problems[2].startswith("code cell 3: not Python")
    assert hygiene.cell_problems(nb, max_statements=99, max_chars=200) == [problems[2]]


# --- the hygiene tool -------------------------------------------------------------------------
def _dirty_notebook():
    widget = {"output_type": "display_data", "metadata": {},
              "data": {hygiene.WIDGET_MIME: {"model_id": "abc"}, "text/plain": ["FigureWidget()"]}}
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"widgets": {"state": {"x": 1}}, "kernelspec": {"name": "python3"}},
            "cells": [
                {"cell_type": "code", "execution_count": 3, "id": "a",
                 "metadata": {"execution": {"t": 1}, "tags": ["keep"]},
                 "source": "print(1.5)\nfig",
                 "outputs": [{"output_type": "stream", "name": "stdout", "text": "1.5\n"},
                             {"output_type": "stream", "name": "stderr", "text": "100%|###|"},
                             widget]},
                {"cell_type": "code", "execution_count": 4, "id": "b", "metadata": {},
                 "source": "# NBVAL_CHECK_OUTPUT\nx",
                 "outputs": [{"output_type": "execute_result", "execution_count": 4,
                              "metadata": {}, "data": {"text/plain": ["0.250"]}}]},
                {"cell_type": "code", "execution_count": 5, "id": "c", "metadata": {},
                 "source": "obj", "outputs": [
                     {"output_type": "execute_result", "execution_count": 5, "metadata": {},
                      "data": {"text/plain": ["<Foo at 0x7f00deadbeef>"]}},
                     {"output_type": "error", "ename": "E", "evalue": "", "traceback": []}]},
                {"cell_type": "markdown", "id": "d", "metadata": {}, "source": "$x$"}]}


def test_clean_notebook_strips_widgets_keeps_text():
    nb = _dirty_notebook()
    before = json.dumps(nb, sort_keys=True)
    out = hygiene.clean_notebook(nb)
    assert json.dumps(nb, sort_keys=True) == before                      # input unchanged
    assert "widgets" not in out["metadata"]
    a, b, c, _ = out["cells"]
    assert a["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "1.5\n"}]
    assert a["execution_count"] == 1 and a["metadata"] == {"tags": ["keep"]}
    assert b["outputs"][0]["data"] == {"text/plain": ["0.250"]}
    assert b["execution_count"] == 2 and b["outputs"][0]["execution_count"] == 2
    assert c["outputs"] == [] and c["execution_count"] is None            # address and error


def test_clean_file_in_place_and_check(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(_dirty_notebook()))
    assert hygiene.main(["--check", str(path)]) == 1
    assert hygiene.clean_file(path) is True
    assert hygiene.clean_file(path, check=True) is False                   # idempotent
    assert hygiene.main(["--check", str(path)]) == 0


def test_clean_file_names_bad_file(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.ipynb"):
        hygiene.clean_file(bad)


def test_lint_lists_problems_and_exits_1(tmp_path, capsys):
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x = 1"}]}))
    assert hygiene.main(["--lint", str(path)]) == 0
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x = " + "1" * 120}]}))
    assert hygiene.main(["--lint", str(path)]) == 1
    assert "n.ipynb: code cell 0: lines over 100 characters" in capsys.readouterr().out
