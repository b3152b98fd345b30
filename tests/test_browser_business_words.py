"""The Alignment and Adoption pages as a business owner sees them at 1280 and 1440 px wide: no card
text cut short, no chart running past the page's right edge, no “None” on screen, the alignment
chart's panels lined up on one time axis. Screenshots of each view are kept with the test's
temporary files (the path is printed on failure).

Runs against a real `streamlit run` on a temporary demo store (browser_support.py); skipped, with
the reason, when there is no Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_support import (
    RENDERED_MS,
    Dashboard,
    assert_no_errors_shown,
    finished_running,
    fresh_page,
    load_demo_store,
    open_link,
    start_dashboard,
)

pytestmark = pytest.mark.browser

VIEWS = [
    ("/Alignment", "Technical vs business alignment"),
    ("/Alignment?pilot=CS-02", "Technical vs business alignment"),  # inverted, churn better lower
    ("/Alignment?pilot=FN-03", "Technical vs business alignment"),  # nothing to compare: the first card
    ("/Adoption", "Adoption: readiness and real usage"),
    ("/Adoption?pilot=CS-04", "Adoption: readiness and real usage"),  # main barrier Reinforcement
]
CLIPPED = """() => [...document.querySelectorAll('[data-testid="stMetric"] *')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim())"""
OVERFLOWING_CHARTS = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(c => {
    const drawn = c.querySelector('svg, canvas'); const box = c.getBoundingClientRect();
    return drawn ? drawn.getBoundingClientRect().right - box.right : 0; }).filter(d => d > 1)"""


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("business-words")
    db, env = load_demo_store(folder)
    with start_dashboard(folder, db, env) as server:
        yield server


@pytest.mark.parametrize("width, height", [(1440, 900), (1280, 800)])
def test_cards_charts_and_tables_fit_and_nothing_says_none(browser, dashboard, tmp_path, width, height):
    for link, ready in VIEWS:
        errors: list[str] = []
        with fresh_page(browser, [dashboard.url], errors) as page:
            page.set_viewport_size({"width": width, "height": height})
            open_link(page, dashboard, link, ready)
            finished_running(page)
            page.wait_for_timeout(1500)  # Vega draws after the script has finished
            shot = tmp_path / f"{width}{link.replace('/', '_').replace('?', '_').replace('=', '-')}.png"
            page.screenshot(path=str(shot))
            page.set_viewport_size({"width": width, "height": 3200})  # the whole page, for the checks below
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shot.with_suffix(".tall.png")))
            assert page.evaluate(CLIPPED) == [], f"{link} at {width} px: card text cut short (see {shot})"
            assert page.evaluate(OVERFLOWING_CHARTS) == [], (
                f"{link} at {width} px: a chart runs past the page (see {shot})"
            )
            main = page.get_by_test_id("stMain").inner_text(timeout=RENDERED_MS)
            assert "None" not in main.split(), f"{link} at {width} px shows “None”"
            if "pilot=CS-02" in link:
                panels = page.get_by_test_id("stVegaLiteChart")
                assert panels.count() == 2
                lefts = [panels.nth(i).locator('[aria-label*="Y-axis"]').first.bounding_box() for i in range(2)]
                assert all(lefts) and abs(lefts[0]["x"] + lefts[0]["width"] - lefts[1]["x"] - lefts[1]["width"]) <= 2, (
                    "both panels' plotting areas start at the same x: one time axis"
                )
                assert "upside down" in main
            assert_no_errors_shown(page, errors, except_saying="Inverted over")  # an inverted verdict is red on purpose
