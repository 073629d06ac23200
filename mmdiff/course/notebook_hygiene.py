"""Keep committed notebooks small, diffable and meaningful for nbval.

    python -m mmdiff.course.notebook_hygiene notebooks/*.ipynb
                                       # strip in place (make clean-notebooks)
    python -m mmdiff.course.notebook_hygiene --check notebooks/*.ipynb
                                       # exit 1 if a file would change
    python -m mmdiff.course.notebook_hygiene --execute notebooks/03_forward_noising.ipynb
                                       # re-run with MMDIFF_FAST=1, then strip (refreshes the
                                       # outputs that `# NBVAL_CHECK_OUTPUT` cells are checked against)
    python -m mmdiff.course.notebook_hygiene --lint notebooks/*.ipynb
                                       # list cells too long to read

What is removed: widget and figure outputs (anything richer than plain text: a plotly
FigureWidget embeds megabytes of JavaScript and changing ids), the notebook's widget-state
metadata, error outputs, stderr (progress bars) and per-cell timing metadata. Execution counts
are dropped from cells without outputs; a cell that keeps outputs gets its position among the
code cells (1, 2, ...) as a stable count, because nbval refuses outputs of an "unrun" cell.
What is kept: small plain-text outputs (stdout and ``text/plain`` results up to ``MAX_TEXT``
characters) and every text output of a ``# NBVAL_CHECK_OUTPUT`` cell, which nbval compares
against. Without memory addresses (``0x7f...``), which are never stable.

What a lesson's code cell may hold (:func:`cell_problems`, checked by the test suite): at most
``MAX_STATEMENTS`` statements, counted by the Python parser, so that packing more onto a line
does not help (``a = f(x)`` or ``import torch`` is 1; a ``for`` / ``if`` / ``with`` / ``def`` is 1
plus the statements of its body), and no line over ``MAX_LINE_CHARS`` characters. A cell that
needs more is logic for the package, with a name and a docstring. IPython magics and shell
escapes (lines starting with ``%`` or ``!``) are not Python and are not counted.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import sys
from pathlib import Path

from mmdiff.engine.atomic import write_atomic
from mmdiff.errors import DataError

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
MAX_TEXT = 2000
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_CELL_META_DROP = ("execution", "ExecuteTime", "collapsed", "scrolled")
_NB_META_DROP = ("widgets",)
MAX_STATEMENTS = 15      # per code cell: what a reader holds in mind at once
MAX_LINE_CHARS = 100     # per line: readable beside a figure without scrolling sideways


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def python_source(source) -> str:
    """A code cell's source without IPython magics and shell escapes (``%...``, ``!...``)."""
    return "\n".join(ln for ln in _text(source).splitlines()
                     if not ln.lstrip().startswith(("%", "!")))


def count_statements(source) -> int:
    """Statements of logic in a code cell, nested bodies included: every ``ast.stmt`` node of its
    parse but imports (a lesson's set-up cell imports what it uses). Raises SyntaxError when the
    cell is not Python."""
    return sum(isinstance(node, ast.stmt) and not isinstance(node, (ast.Import, ast.ImportFrom))
               for node in ast.walk(ast.parse(python_source(source))))


def cell_problems(nb: dict, max_statements: int = MAX_STATEMENTS,
                  max_chars: int = MAX_LINE_CHARS) -> list[str]:
    """One message per code cell over the statement or line-length limit, naming the cell by its
    index among the code cells (0-based) and its first line of code."""
    problems = []
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for i, cell in enumerate(code):
        source = _text(cell.get("source", ""))
        lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
        first = next((ln for ln in lines if not ln.startswith("#")), lines[0] if lines else "")[:60]
        try:
            n = count_statements(source)
        except SyntaxError as exc:
            problems.append(f"code cell {i}: not Python ({exc.msg}, line {exc.lineno}) | {first}")
            continue
        if n > max_statements:
            problems.append(f"code cell {i}: {n} statements (> {max_statements}) | {first}")
        long = [(k + 1, len(ln)) for k, ln in enumerate(source.splitlines()) if len(ln) > max_chars]
        if long:
            where = ", ".join(f"line {k}: {c}" for k, c in long)
            problems.append(f"code cell {i}: lines over {max_chars} characters ({where}) | {first}")
    return problems


def _keep_output(out: dict, checked: bool, count: int) -> dict | None:
    """The output to keep (a cleaned copy) or None to drop it."""
    kind = out.get("output_type")
    if kind == "stream":
        text = _text(out.get("text", ""))
        if out.get("name") != "stdout" or _ADDRESS.search(text):
            return None
        return out if checked or len(text) <= MAX_TEXT else None
    if kind in ("execute_result", "display_data"):
        data = out.get("data", {})
        if set(data) != {"text/plain"}:                     # figures, widgets, HTML, images
            return None
        text = _text(data["text/plain"])
        if _ADDRESS.search(text) or (not checked and len(text) > MAX_TEXT):
            return None
        kept = {k: v for k, v in out.items() if k != "metadata"}
        kept["metadata"] = {}
        if kind == "execute_result":
            kept["execution_count"] = count
        return kept
    return None                                             # errors are never committed


def clean_notebook(nb: dict) -> dict:
    """A cleaned copy of a notebook (the JSON dict of an .ipynb file); the input is unchanged."""
    nb = copy.deepcopy(nb)
    for key in _NB_META_DROP:
        nb.get("metadata", {}).pop(key, None)
    code_index = 0
    for cell in nb.get("cells", []):
        for key in _CELL_META_DROP:
            cell.get("metadata", {}).pop(key, None)
        if cell.get("cell_type") != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        code_index += 1
        checked = CHECK_MARK in _text(cell.get("source", ""))
        cell["outputs"] = [o for o in (_keep_output(out, checked, code_index)
                                       for out in cell.get("outputs", [])) if o is not None]
        cell["execution_count"] = code_index if cell["outputs"] else None
    return nb


def _dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def clean_file(path, check: bool = False) -> bool:
    """Clean one .ipynb in place (or only report with ``check``). Returns True if it changed."""
    path = Path(path)
    try:
        original = path.read_text(encoding="utf-8")
        nb = json.loads(original)
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable notebook ({exc})") from exc
    cleaned = _dumps(clean_notebook(nb))
    changed = cleaned != original
    if changed and not check:
        write_atomic(path, lambda f: f.write(cleaned.encode("utf-8")))
    return changed


def execute_file(path, timeout: int = 900) -> None:
    """Run a notebook top to bottom with MMDIFF_FAST=1 in its own folder, keep its outputs."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    os.environ["MMDIFF_FAST"] = "1"
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmdiff.course.notebook_hygiene",
                                     description="Strip widget outputs, widget state and "
                                                 "execution counts from notebooks.")
    parser.add_argument("paths", nargs="+", help=".ipynb files")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if unclean")
    parser.add_argument("--execute", action="store_true",
                        help="first run each notebook with MMDIFF_FAST=1 (refreshes checked outputs)")
    parser.add_argument("--lint", action="store_true",
                        help=f"change nothing; list code cells over {MAX_STATEMENTS} statements or "
                             f"with lines over {MAX_LINE_CHARS} characters, exit 1 if any")
    args = parser.parse_args(argv)
    if args.lint:
        found = 0
        for p in args.paths:
            nb = json.loads(Path(p).read_text(encoding="utf-8"))
            for problem in cell_problems(nb):
                print(f"{p}: {problem}")
                found += 1
        return 1 if found else 0
    unclean = []
    for p in args.paths:
        if args.execute:
            execute_file(p)
        if clean_file(p, check=args.check):
            unclean.append(p)
    verb = "would change" if args.check else "cleaned"
    for p in unclean:
        print(f"{verb}: {p}")
    return 1 if args.check and unclean else 0


if __name__ == "__main__":
    sys.exit(main())
