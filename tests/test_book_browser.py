"""The static course pages (``make book``) in a real browser with the network blocked: every
figure renders without a kernel, every page's equations are typeset by the MathJax beside the
pages, nothing is requested from the network, and a plotly slider (the reverse-process stages of
lesson 06) moves its figure.

Uses ``book/`` when ``make book`` has built it (every page is checked); otherwise builds the page
of ``notebooks/06_reverse_process.ipynb`` in fast mode into the test's temp dir. Skipped (with
the reason) without Debian's Chromium or Playwright."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = REPO / "notebooks" / "06_reverse_process.ipynb"
pytestmark = [pytest.mark.browser, pytest.mark.slow]

_RENDERED_JS = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(
    el => !!el.querySelector('.main-svg') && !!el._fullLayout)"""
_MATH_JS = """async () => { await MathJax.startup.promise;
    return [document.querySelectorAll('mjx-container').length,
            document.querySelectorAll('mjx-merror').length]; }"""
_SLIDER_JS = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).findIndex(
    el => el.layout && el.layout.sliders && el.layout.sliders.length && el._transitionData &&
          el._transitionData._frames.length > 1)"""


def _book(tmp_path) -> Path:
    built = REPO / "book"
    if (built / "book.json").is_file():
        return built
    from mmdiff.course.book import build
    build([NOTEBOOK], tmp_path / "book", fast=True, log=lambda *_: None)
    return tmp_path / "book"


def test_book_figures_render_and_a_slider_moves(tmp_path, monkeypatch):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make browser` installs it")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    monkeypatch.chdir(REPO)
    root = _book(tmp_path)
    pages = json.loads((root / "book.json").read_text())["pages"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            asked = []                               # the network is blocked: file:// only
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                "file://") else (asked.append(route.request.url), route.abort()))
            for name, count in pages.items():
                page.goto((root / f"{name}.html").resolve().as_uri())
                page.wait_for_function("() => typeof Plotly !== 'undefined'", timeout=60_000)
                page.wait_for_timeout(1500)
                rendered = page.evaluate(_RENDERED_JS)
                assert len(rendered) == count and all(rendered), f"{name}: figures {rendered}"
                typeset, errors = page.evaluate(_MATH_JS)
                assert typeset > 0 and errors == 0, f"{name}: {typeset} equations, {errors} errors"
            assert not asked, f"requests to the network: {asked[:5]}"
            page.goto((root / "06_reverse_process.html").resolve().as_uri())
            page.wait_for_timeout(1500)
            index = page.evaluate(_SLIDER_JS)
            assert index >= 0, "no figure with a plotly slider on the reverse-process page"
            graph = f"document.querySelectorAll('.plotly-graph-div')[{index}]"
            before = page.evaluate(f"JSON.stringify({graph}.data.map(d => d.x))")
            page.evaluate(f"{graph}.scrollIntoView()")
            rail = page.locator(".plotly-graph-div").nth(index).locator(".slider-rail-rect").first
            box = rail.bounding_box()
            page.mouse.click(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
            page.wait_for_function(f"() => JSON.stringify({graph}.data.map(d => d.x)) !== {json.dumps(before)}",
                                   timeout=20_000)
            active = page.evaluate(f"{graph}.layout.sliders[0].active")
            page.screenshot(path=str(tmp_path / "book_06.png"))
        finally:
            browser.close()
    assert active > 0
