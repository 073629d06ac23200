"""The course as static HTML pages with their figures: ``make book``
(``python -m mmdiff.course.book``).

    python -m mmdiff.course.book                       # every notebook, full mode, into book/
    python -m mmdiff.course.book --fast notebooks/06_reverse_process.ipynb --out /tmp/book

Each notebook is executed (cwd ``notebooks/``, ``MMDIFF_FAST=1`` with ``--fast``) with its
widget state stored, then every figure is made static: a plotly figure output becomes a plotly
``<div>``, and a widget output (a ``FigureWidget`` alone or inside an ipywidgets box) becomes the
figures it holds, in the state the run left them, with a note that its controls need a kernel.
Figures built with plotly frames and a slider (``slider=True`` in :mod:`mmdiff.viz`) stay
explorable without a kernel. plotly.js and MathJax 3 (its TeX-to-HTML component and fonts, from
the ``django-static-mathjax`` package) are written once beside the pages, and nbconvert's links
to CDNs (MathJax 2, require.js) are replaced or removed, so the pages load nothing from the
network and their equations render offline; ``index.html`` links the pages.
"""
from __future__ import annotations

import argparse
import copy
import html
import json
import os
import re
import shutil
import time
from pathlib import Path

from mmdiff.errors import DataError

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STATE_MIME = "application/vnd.jupyter.widget-state+json"
NOTE = ('<p class="mmdiff-book-note"><em>Interactive controls need a running kernel '
        '(open the notebook in JupyterLab); the figure shows the state the run left.</em></p>')


def execute(path: str | Path, fast: bool = False, timeout: int = 900):
    """Run a notebook top to bottom (cwd: its folder) and return it, widget state stored."""
    import nbclient
    import nbformat
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env_fast = os.environ.get("MMDIFF_FAST")
    os.environ["MMDIFF_FAST"] = "1" if fast else "0"
    try:
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                                resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_fast is None:
            os.environ.pop("MMDIFF_FAST", None)
        else:
            os.environ["MMDIFF_FAST"] = env_fast
    return nb


def _figure_div(fig: dict) -> str:
    """A plotly figure dict (data, layout, frames) as a static ``<div>`` (plotly.js loaded once
    by the page)."""
    import plotly.io as pio
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, auto_play=False,
                       config={"responsive": True})


def _widget_figures(model_id: str, state: dict, seen=None) -> list[dict]:
    """The plotly figures (data, layout) of widget ``model_id`` and of its children, in order."""
    seen = seen if seen is not None else set()
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    entry = state[model_id]
    s = entry.get("state", {})
    if "_widget_data" in s:                                    # a plotly FigureWidget (anywidget)
        s = _with_buffers(s, entry.get("buffers", []))
        return [{"data": s["_widget_data"], "layout": s.get("_widget_layout", {})}]
    figs = []
    for child in s.get("children", []):
        if isinstance(child, str) and child.startswith("IPY_MODEL_"):
            figs += _widget_figures(child[len("IPY_MODEL_"):], state, seen)
    return figs


def _with_buffers(state: dict, buffers: list) -> dict:
    """A copy of a widget state with its binary buffers (numpy arrays the kernel sent as
    ``{"dtype", "shape"}`` plus a base64 buffer at ``path``) put back as lists."""
    import base64

    import numpy as np
    state = copy.deepcopy(state)
    for buf in buffers:
        path = list(buf["path"])
        if path and path[-1] == "buffer":                    # {"dtype", "shape", "buffer"}
            path = path[:-1]
        if not path or path[0] not in ("_widget_data", "_widget_layout"):
            continue                                         # messages, not the figure
        *parents, last = path
        node = state
        for key in parents:
            node = node[key]
        spec = node[last]
        raw = base64.b64decode(buf["data"])
        node[last] = np.frombuffer(raw, dtype=spec["dtype"]).reshape(spec["shape"]).tolist()
    return state


def staticize(nb: dict) -> tuple[dict, int]:
    """A copy of an executed notebook whose figure and widget outputs are static HTML, and the
    number of figures made. The input is not modified."""
    nb = copy.deepcopy(dict(nb))
    state = (nb.get("metadata", {}).get("widgets", {}).get(STATE_MIME, {}) or {}).get("state", {})
    count = 0
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY_MIME in data:
                fig = data[PLOTLY_MIME]
                data.clear()
                data["text/html"] = _figure_div(fig)
                count += 1
            elif WIDGET_MIME in data:
                figs = _widget_figures(data[WIDGET_MIME]["model_id"], state)
                data.clear()
                data["text/html"] = "".join(_figure_div(f) for f in figs) + NOTE if figs else NOTE
                count += len(figs)
    nb.get("metadata", {}).pop("widgets", None)
    return nb, count


#: MathJax 3 configured as nbconvert configures MathJax 2 ($...$ inline, $$...$$ display)
MATHJAX = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
           "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true, "
           "processEnvironments: true, tags: 'ams'}};</script>\n"
           '<script src="mathjax/tex-chtml-full.js"></script>')
_MATHJAX_2 = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_REQUIRE = re.compile(r'<script src="https://[^"]*require[^"]*"[^>]*>\s*</script>')


def render(nb: dict, title: str) -> str:
    """The static notebook as one HTML page that loads ``plotly.min.js`` and MathJax from beside
    it (nbconvert's MathJax 2 and require.js links, both on a CDN, are taken out)."""
    import nbformat
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.from_dict(nb))
    if not _MATHJAX_2.search(body):
        raise DataError("book: nbconvert's MathJax block was not found; the page would load "
                        "MathJax from the network")
    body = _REQUIRE.sub("", _MATHJAX_2.sub(lambda _: MATHJAX, body, count=1))
    script = '<script src="plotly.min.js"></script>'
    return body.replace("<head>", f"<head>\n{script}", 1).replace(
        "<title>Notebook</title>", f"<title>{html.escape(title)}</title>")


def write_mathjax(out: Path) -> Path:
    """MathJax 3's TeX-to-CommonHTML component and its fonts (``django-static-mathjax``, a copy
    of MathJax with no dependencies) into ``out/mathjax/``, laid out as MathJax looks for them."""
    try:
        import mathjax
    except ImportError:
        raise DataError("book: MathJax is missing: pip install django-static-mathjax (the "
                        "notebooks extra installs it)") from None
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    target = out / "mathjax"
    fonts = Path("output") / "chtml" / "fonts" / "woff-v2"
    (target / fonts).mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / "tex-chtml-full.js", target / "tex-chtml-full.js")
    for font in (es5 / fonts).glob("*.woff"):
        shutil.copy2(font, target / fonts / font.name)
    return target


def write_plotly_js(out: Path) -> Path:
    """plotly.js as shipped with the plotly package (no network), beside the pages."""
    from plotly.offline import get_plotlyjs
    path = out / "plotly.min.js"
    path.write_text(get_plotlyjs(), encoding="utf-8")
    return path


def build(notebooks, out: str | Path = "book", fast: bool = False, log=print) -> dict[str, int]:
    """Execute, staticize and render each notebook into ``out``; write ``index.html``.
    Returns {page name: number of figures}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_plotly_js(out)
    write_mathjax(out)
    pages, seconds = {}, {}
    for path in map(Path, notebooks):
        if not path.is_file():
            raise DataError(f"book: notebook {path} not found")
        log(f"book: running {path.name}{' (fast mode)' if fast else ''} ...")
        t0 = time.perf_counter()
        executed = execute(path, fast=fast)
        seconds[path.stem] = round(time.perf_counter() - t0, 1)
        log(f"book: {path.name} ran in {seconds[path.stem]:.0f} s")
        nb, count = staticize(executed)
        (out / f"{path.stem}.html").write_text(render(nb, path.stem), encoding="utf-8")
        pages[path.stem] = count
    links = "\n".join(f'<li><a href="{html.escape(p)}.html">{html.escape(p)}</a> ({n} figures)</li>'
                      for p, n in pages.items())
    mode = " (fast mode: small budgets, numbers are smoke tests)" if fast else ""
    (out / "index.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>mmdiff"
                                    f" course</title></head><body><h1>mmdiff course{mode}</h1><ol>"
                                    f"{links}</ol></body></html>\n", encoding="utf-8")
    log(f"book: {len(pages)} lessons ran in {sum(seconds.values()) / 60:.1f} min")
    (out / "book.json").write_text(json.dumps({"fast": fast, "pages": pages, "seconds": seconds,
                                               "threads": os.environ.get("OMP_NUM_THREADS")},
                                              indent=1) + "\n")
    return pages


def main(argv=None) -> int:
    summary = " ".join(__doc__.split("\n\n")[0].split())   # the first paragraph, on one line
    p = argparse.ArgumentParser(prog="python -m mmdiff.course.book", description=summary)
    p.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    p.add_argument("--out", default="book")
    p.add_argument("--fast", action="store_true", help="MMDIFF_FAST=1: small budgets")
    args = p.parse_args(argv)
    nbs = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    pages = build(nbs, args.out, fast=args.fast)
    print(f"book: {len(pages)} pages, {sum(pages.values())} figures -> {args.out}/index.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
