"""The Failure-pattern risk page as a steering committee sees it (issue 18), in a real headless
Chromium at 1440×900 and 1280×900 against a real `streamlit run app.py` on a temporary demo store:
every pilot's health drawn as a coloured cell with its word in the heatmap, the red pilots named
under the counts, and the pattern cards' "evidence known" lines not cut off. Screenshots are kept
in the test's temporary folder (its path is printed) to look at.

Skips, with the reason, without Chromium (see browser_support.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import RENDERED_MS, Dashboard, assert_no_errors_shown, load_demo_store, open_link, start_dashboard

pytestmark = pytest.mark.browser

# Any visible text that the browser cuts off: wider than its box, and its box clips it.
CLIPPED = """(root) => [...root.querySelectorAll('p, span, label, div')]
  .filter(e => e.children.length === 0 && e.innerText && e.innerText.trim() && e.offsetParent !== null)
  .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible')
  .map(e => e.innerText.trim())"""


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("browser-risk")
    db, env = load_demo_store(folder)
    with start_dashboard(folder, db, env) as server:
        yield server


@pytest.fixture(scope="module")
def demo_health(dashboard) -> dict[str, str]:
    from pilot_health.analytics import risk
    from pilot_health.store.database import Store

    return {r.pilot_id: r.health for r in risk.assess(Store(dashboard.db))}


@pytest.mark.parametrize("width", [1440, 1280])
def test_each_pilots_health_is_a_coloured_word_and_the_red_ones_are_named(
    browser, dashboard, demo_health, script_errors, tmp_path, width
):
    from playwright.sync_api import expect

    from pilot_health.reports import charts

    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        open_link(page, dashboard, "/Risk?all=true", "Pilots × patterns")
        heatmap = page.get_by_test_id("stVegaLiteChart")
        expect(heatmap).to_have_count(1, timeout=RENDERED_MS)
        for pilot_id, verdict in demo_health.items():  # the health cell: its colour, and its word on it
            # Vega labels each drawn mark with its data (aria-label); the cell's ends with its tooltip.
            cell = heatmap.locator(f'.mark-rect [role="graphics-symbol"][aria-label*="Pilot: {pilot_id}; Health: "]')
            expect(cell).to_have_count(1, timeout=RENDERED_MS)
            assert cell.get_attribute("aria-label").endswith(
                f"Pilot: {pilot_id}; Health: {charts.HEALTH_WORDS[verdict]}"
            )
            assert cell.get_attribute("fill").lower() == charts.HEALTH_COLOURS[verdict]
            word = heatmap.locator(
                f'.mark-text [role="graphics-symbol"][aria-label*="pilot_label: {pilot_id} · "][aria-label*="health_short: "]'
            )
            expect(word).to_have_count(1)
            assert word.get_attribute("aria-label").endswith(f"health_short: {charts.HEALTH_SHORT[verdict]}")
            assert word.text_content() == charts.HEALTH_SHORT[verdict]  # the word drawn on the cell
        red = sorted(p for p, v in demo_health.items() if v == "red")
        named = page.get_by_test_id("stCaptionContainer").filter(has_text="Red, the committee's attention now:")
        expect(named).to_be_visible(timeout=RENDERED_MS)
        assert sorted(re.findall(r"\b[A-Z]{2}-\d{2}\b", named.inner_text())) == red
        page.screenshot(path=tmp_path / f"risk_{width}.png", full_page=False)

        # One pilot's cards: the evidence line is worded and nothing on the cards is cut off.
        open_link(page, dashboard, "/Risk?pilot=CS-01", "Pilots × patterns")
        cards = page.get_by_text(re.compile(r"^\d+% of evidence known$"))
        expect(cards).to_have_count(5, timeout=RENDERED_MS)
        main = page.get_by_test_id("stMain")
        expect(main.get_by_test_id("stMetric")).to_have_count(9, timeout=RENDERED_MS)  # four counts, five cards
        expect(main.get_by_test_id("stSkeleton")).to_have_count(0, timeout=RENDERED_MS)
        expect(
            main.get_by_test_id("stMetricDelta").filter(
                has_text=re.compile(r"^(High|Medium|Low|Insufficient evidence)$")
            )
        ).to_have_count(5)
        cards.first.scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / f"risk_cards_{width}.png", full_page=False)
        clipped = [
            t
            for t in main.evaluate(CLIPPED)
            if "evidence" in t or re.fullmatch(r"High|Medium|Low|Insufficient evidence", t)
        ]
        assert not clipped, clipped
        assert page.get_by_text("None", exact=True).count() == 0
        assert_no_errors_shown(page, script_errors, except_saying="Health: Amber.")
        print(f"screenshots in {tmp_path}")
    finally:
        context.close()
