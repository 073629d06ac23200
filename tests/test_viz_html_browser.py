"""The page ``mmdiff predict --html`` writes plays in a real browser: play advances the frames
and the title, pause stops them, every named trace is there. Skipped (with the reason) without
Debian's Chromium or Playwright."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from mmdiff.viz import write_pose_html

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_page_plays_and_pauses(tmp_path, rng):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make browser` installs it")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    p3 = rng.normal(size=(40, 17, 3)) * 0.3
    px = rng.uniform(100, 900, size=(40, 17, 2))
    filled = np.zeros(40, bool)
    filled[5] = True
    page_path = write_pose_html(p3, tmp_path / "view.html", title="clip", keypoints_px=px,
                                image_size=(1000, 1000), filled_frames=filled, fps=25)
    title_js = "document.querySelector('.gtitle').textContent"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 700})
            page.goto(page_path.resolve().as_uri())
            page.wait_for_selector(".main-svg", timeout=60_000)
            graph = "document.querySelector('.plotly-graph-div')"
            assert page.evaluate(f"{graph}._transitionData._frames.length") == 40
            assert page.evaluate(f"{graph}.data.map(t => t.meta)")[-1] == "2d/flagged joints"
            assert page.evaluate(title_js) == "clip: frame 0 of 40"
            page.get_by_text("play", exact=True).click()
            deadline = time.time() + 30
            while page.evaluate(title_js) == "clip: frame 0 of 40" and time.time() < deadline:
                time.sleep(0.2)
            page.get_by_text("pause", exact=True).click()
            time.sleep(0.5)
            paused = page.evaluate(title_js)
            time.sleep(1.0)
            assert paused != "clip: frame 0 of 40" and page.evaluate(title_js) == paused
        finally:
            browser.close()
