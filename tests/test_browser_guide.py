"""What only a browser shows about the words on screen: a page's link to the Guide opens the
topic inside the dashboard (and a link inside the Guide opens another topic), and money shows in
the configured currency. Chromium and the server come from browser_support.py, as for every
browser test; without Chromium these tests are skipped with the reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_support import (
    FIRST_RENDER_MS,
    Dashboard,
    assert_no_errors_shown,
    download_table,
    load_demo_store,
    open_link,
    start_dashboard,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("browser_guide")
    db, env = load_demo_store(folder)
    env["PILOT_HEALTH_CURRENCY"] = "€"
    with start_dashboard(folder, db, env) as server:
        yield server


def test_a_page_links_to_its_guide_topic_and_the_guide_links_on(page, dashboard, script_errors):
    from playwright.sync_api import expect

    open_link(page, dashboard, "/Pilot_register", "Pilot register")
    page.get_by_role("link", name="What each column of the register means").click()
    expect(page.get_by_role("heading", name="The pilot register").first).to_be_visible(timeout=FIRST_RENDER_MS)
    assert parse_qs(urlsplit(page.url).query).get("topic") == ["register"], page.url
    main = page.get_by_test_id("stMain")
    assert "docs/" not in main.inner_text()
    # A link between topics opens the other topic in the Guide, not a file of the repository.
    open_link(page, dashboard, "/Guide?topic=risk", "How the failure-pattern risk scores work")
    # (Streamlit opens a link in text in a new tab, so the reader keeps their place.)
    with page.context.expect_page() as opened:
        main.get_by_role("link", name="metric dictionary", exact=False).first.click()
    other = opened.value
    expect(other.get_by_role("heading", name="The metric dictionary").first).to_be_visible(timeout=FIRST_RENDER_MS)
    assert urlsplit(other.url).path.endswith("/Guide") and parse_qs(urlsplit(other.url).query).get("topic") == [
        "metrics"
    ], other.url
    assert_no_errors_shown(page, script_errors)


def test_the_downloaded_portfolio_and_the_headline_use_the_configured_currency(page, dashboard, script_errors):
    open_link(page, dashboard, "/", "All pilots")
    spend = page.get_by_test_id("stMetric").filter(has_text="Spend to date").get_by_test_id("stMetricValue")
    assert re.fullmatch(r"€[\d.]+[kMB]?", spend.inner_text().strip()), spend.inner_text()
    _, rows = download_table(page)
    assert rows and "budget" in rows[0], "the file keeps plain numbers for spreadsheets"
