"""Links into the dashboard, opened the way a colleague opens them: a real headless Chromium
against a real `streamlit run app.py`, started once for this module on a temporary demo store.

What only a browser shows is checked here: that a copied link (query parameters, a page opened
directly) renders the view it names after Streamlit's client-side rendering, and that the CSV
download hands over exactly the rows that are shown.

Chromium comes from $PILOT_HEALTH_CHROMIUM (set by `python3 run.py test`), else `chromium` on
PATH. Without one, or with $PILOT_HEALTH_BROWSER_SKIP set, every test here is skipped and the
reason is printed (pytest runs with -rs); they never pass silently. The machinery is shared with
the other browser tests in browser_support.py.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_support import (
    FIRST_RENDER_MS,
    PILOT_ID,
    RENDERED_MS,
    ROOT,
    Dashboard,
    assert_no_errors_shown,
    colleague_page,
    download,
    download_table,
    load_demo_store,
    metric_value,
    multiselect_tags,
    open_expander,
    open_link,
    start_dashboard,
    store_file_read,
    switch_on,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    """The real dashboard on a free port, reading a temporary store with the demo portfolio in it.

    Depends on `chromium_path` so that a skip happens before any process is started."""
    folder = tmp_path_factory.mktemp("browser")
    db, env = load_demo_store(folder)
    with start_dashboard(folder, db, env) as server:
        yield server


# --- The tests ------------------------------------------------------------------------------------


def test_filtered_link_opens_the_filtered_portfolio(page, dashboard, script_errors):
    """The issue's case: a link with filters, opened in a browser that never saw the dashboard."""
    from playwright.sync_api import expect

    open_link(page, dashboard, "/?bu=Finance&stage=Pilot", "All pilots")

    expect(metric_value(page, "Pilots shown")).to_have_text("2 pilots of 24", timeout=RENDERED_MS)
    expect(multiselect_tags(page, "Business unit")).to_have_text(["Finance"], timeout=RENDERED_MS)
    expect(multiselect_tags(page, "Stage")).to_have_text(["Pilot"], timeout=RENDERED_MS)
    expect(page.get_by_text("Filtered to Finance; Pilot.")).to_be_visible(timeout=RENDERED_MS)

    # The address keeps the filters, so copying it again gives the same view.
    query = parse_qs(urlsplit(page.url).query)
    assert query.get("bu") == ["Finance"] and query.get("stage") == ["Pilot"], page.url

    # Charts draw their labels as SVG text, after the rest of the page (Vega renders on its own).
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(3, timeout=RENDERED_MS)
    for axis_title in ("Months in current stage", "Budget and spend to date"):
        chart = charts.filter(has_text=axis_title)
        expect(chart).to_contain_text("FN-03 · Cash-flow forecasting", timeout=RENDERED_MS)
        expect(chart).to_contain_text("FN-04 · Expense fraud detection", timeout=RENDERED_MS)
    # Only the two Finance pilots in the pilot stage appear anywhere on the page.
    main_text = page.get_by_test_id("stMain").inner_text()
    assert set(PILOT_ID.findall(main_text)) == {"FN-03", "FN-04"}, main_text

    # The table is a canvas; its accessible copy holds the pilot codes in the first column.
    table = page.get_by_test_id("stDataFrame")
    expect(table.locator('[data-testid^="glide-cell-0-"]')).to_have_text(["FN-03", "FN-04"], timeout=RENDERED_MS)

    # And the file the browser downloads holds exactly the rows shown.
    name, rows = download_table(page)
    assert name == "pilot_health_portfolio.csv"
    assert sorted(r["pilot_id"] for r in rows) == ["FN-03", "FN-04"], rows
    assert {(r["business_unit"], r["stage"]) for r in rows} == {("Finance", "pilot")}, rows

    assert_no_errors_shown(page, script_errors)


def test_register_link_opens_the_pilots_edit_form(page, dashboard, script_errors):
    """A link straight to the second page (app.py never runs) shows the same record form."""
    from playwright.sync_api import expect

    open_link(page, dashboard, "/Pilot_register?pilot=SC-01", "Add or edit a pilot")

    expect(page.get_by_role("button", name="Save changes to SC-01")).to_be_visible(timeout=RENDERED_MS)
    expect(page.get_by_test_id("stText").filter(has_text="Fresh produce demand forecasting")).to_have_text(
        re.compile(r"^Fresh produce demand forecasting · Supply Chain · "), timeout=RENDERED_MS
    )
    expect(page.get_by_role("combobox", name="Pilot", exact=True)).to_have_value("SC-01", timeout=RENDERED_MS)
    expect(page).to_have_title(re.compile(r"^Pilot register · Pilot Health$"), timeout=RENDERED_MS)
    # The sidebar drawn by page_setup() is there too, with every page.
    sidebar = page.get_by_test_id("stSidebar")
    from pilot_health.ui.page import PAGES

    expect(sidebar.get_by_test_id("stPageLink")).to_have_count(
        len(PAGES), timeout=RENDERED_MS
    )  # every page, the new ones too
    expect(sidebar.get_by_role("link", name="Portfolio")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Failure-pattern risk")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Alignment")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Adoption")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Pilot register")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Upload data")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Guide")).to_be_visible()
    assert parse_qs(urlsplit(page.url).query).get("pilot") == ["SC-01"], page.url

    assert_no_errors_shown(page, script_errors)


def test_unknown_value_in_a_link_is_reported_and_the_full_portfolio_shown(page, dashboard, script_errors):
    from playwright.sync_api import expect

    open_link(page, dashboard, "/?stage=Bogus", "All pilots")

    warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="which does not exist here")
    expect(warning).to_have_count(1, timeout=RENDERED_MS)
    expect(warning).to_contain_text("“Bogus”")
    expect(metric_value(page, "Pilots shown")).to_have_text("24 pilots", timeout=RENDERED_MS)
    expect(multiselect_tags(page, "Stage")).to_have_count(0)
    expect(multiselect_tags(page, "Business unit")).to_have_count(0)

    _, rows = download_table(page)
    assert len(rows) == 24 and len({r["pilot_id"] for r in rows}) == 24, [r["pilot_id"] for r in rows]

    assert_no_errors_shown(page, script_errors)


def test_choosing_a_filter_puts_it_in_the_address_for_the_next_person(page, dashboard, browser, script_errors):
    """Filters chosen on screen end up in the URL; that URL, opened in another fresh browser,
    shows the same view."""
    from playwright.sync_api import expect

    open_link(page, dashboard, "/", "All pilots")
    page.get_by_role("combobox", name="Stage", exact=True).click()
    page.get_by_role("option", name="Production", exact=True).click()
    page.keyboard.press("Escape")
    expect(metric_value(page, "Pilots shown")).to_have_text("4 pilots of 24", timeout=RENDERED_MS)
    expect(page).to_have_url(re.compile(r"[?&]stage=Production\b"), timeout=RENDERED_MS)
    assert_no_errors_shown(page, script_errors)

    with colleague_page(browser, dashboard) as fresh:
        open_link(fresh, dashboard, page.url.removeprefix(dashboard.url), "All pilots")
        expect(metric_value(fresh, "Pilots shown")).to_have_text("4 pilots of 24", timeout=RENDERED_MS)
        expect(multiselect_tags(fresh, "Stage")).to_have_text(["Production"], timeout=RENDERED_MS)


def test_upload_preview_store_and_withdraw_in_a_browser(page, dashboard, script_errors):
    """The whole upload flow as a person does it: drop a file, read what was understood, store
    it, then withdraw it from the history."""
    from playwright.sync_api import expect

    fixture = ROOT / "tests" / "fixtures" / "uploads" / "metrics_long_utf8.csv"
    open_link(page, dashboard, "/Upload_data", "Upload data")
    page.locator('input[type="file"]').set_input_files(str(fixture))
    expect(page.get_by_text("Check before storing")).to_be_visible(timeout=FIRST_RENDER_MS)
    # The detected format sits in a table (drawn on a canvas; its accessible copy holds the text).
    expect(page.get_by_text("UTF-8 text, comma-separated").first).to_be_attached()
    store = page.get_by_role("button", name="Store 20 rows")
    expect(store).to_be_enabled(timeout=RENDERED_MS)
    store.click()
    receipt = page.get_by_text(re.compile(r"Stored 20 rows from metrics_long_utf8\.csv as upload (\d+)"))
    expect(receipt).to_be_visible(timeout=FIRST_RENDER_MS)
    upload_id = int(re.search(r"as upload (\d+)", receipt.inner_text()).group(1))

    page.get_by_role("button", name="Upload another file").click()
    expect(page.get_by_text("No file chosen yet")).to_be_visible(timeout=RENDERED_MS)
    # While the page redraws, the old and the new withdraw box can both be on screen for a moment.
    withdraw_box = page.get_by_role("combobox", name="Withdraw an upload")
    expect(withdraw_box).to_have_count(1, timeout=RENDERED_MS)
    withdraw_box.click()
    page.keyboard.type(f"{upload_id} · ")
    option = page.get_by_role("option", name=re.compile(rf"^{upload_id} · metrics_long_utf8\.csv"))
    expect(option).to_have_count(1, timeout=RENDERED_MS)
    option.click()
    page.get_by_role("button", name="Withdraw", exact=True).click()
    page.get_by_role("button", name=f"Yes, withdraw {upload_id}").click()
    expect(page.get_by_text(f"Upload {upload_id} withdrawn")).to_be_visible(timeout=RENDERED_MS)
    assert_no_errors_shown(page, script_errors)

    con = store_file_read(dashboard.db)
    try:
        withdrawn, rows = con.execute(
            "SELECT withdrawn_at, (SELECT count(*) FROM metric_observations WHERE upload_id = ?) FROM uploads WHERE upload_id = ?",
            [upload_id, upload_id],
        ).fetchone()
    finally:
        con.close()
    assert withdrawn is not None and rows == 20


def test_clicking_a_heatmap_cell_opens_the_pilots_risk_detail_and_the_link_reopens_it(
    page, dashboard, browser, script_errors
):
    """The risk page's heatmap-to-detail flow: a filtered deep link draws the heatmap, a click on a
    cell (Vega, so only a browser can do it) opens that pilot's detail and puts it in the address,
    and that address opened in a fresh browser context shows the same detail."""
    from playwright.sync_api import expect

    open_link(page, dashboard, "/Risk?bu=Supply+Chain", "Pilots × patterns")
    heatmap = page.get_by_test_id("stVegaLiteChart")
    expect(heatmap).to_have_count(1, timeout=RENDERED_MS)
    # Only Supply Chain pilots are rows of the heatmap.
    expect(heatmap).to_contain_text("SC-01 · ", timeout=RENDERED_MS)
    assert set(PILOT_ID.findall(heatmap.inner_text())) == {"SC-01", "SC-02", "SC-03", "SC-04", "SC-05"}, (
        heatmap.inner_text()
    )
    expect(page.get_by_role("heading", name=re.compile(r"^SC-01 · "))).to_have_count(0)

    # Vega draws each cell as an SVG path whose accessible label repeats its tooltip; the number on
    # top of it must not swallow the click.
    cell = heatmap.locator('.mark-rect [role="graphics-symbol"][aria-label*="Pilot: SC-01; Pattern: Data Debt;"]')
    expect(cell).to_have_count(1, timeout=RENDERED_MS)
    cell.click()

    detail = page.get_by_role("heading", name=re.compile(r"^SC-01 · Fresh produce demand forecasting"))
    expect(detail).to_be_visible(timeout=RENDERED_MS)
    expect(page).to_have_url(re.compile(r"[?&]pilot=SC-01(&|$)"), timeout=RENDERED_MS)
    query = parse_qs(urlsplit(page.url).query)
    assert query.get("bu") == ["Supply Chain"] and query.get("pilot") == ["SC-01"], page.url
    expect(page.get_by_text(re.compile(r"^Data Debt — high, score \d+$"))).to_be_visible(timeout=RENDERED_MS)
    expect(page.get_by_text("What to do next", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("Health: Red. Data Debt is high.")
    assert_no_errors_shown(page, script_errors, except_saying="Health: Red.")

    # The copied address, opened by a colleague with a fresh browser, shows the same pilot.
    link = page.url.removeprefix(dashboard.url)
    with colleague_page(browser, dashboard) as colleague:
        open_link(colleague, dashboard, link, "Pilots × patterns")
        expect(
            colleague.get_by_role("heading", name=re.compile(r"^SC-01 · Fresh produce demand forecasting"))
        ).to_be_visible(timeout=RENDERED_MS)
        expect(colleague.get_by_role("combobox", name="Pilot", exact=True)).to_have_value("SC-01", timeout=RENDERED_MS)
        expect(multiselect_tags(colleague, "Business unit")).to_have_text(["Supply Chain"], timeout=RENDERED_MS)


def test_an_alignment_link_with_pilot_and_dates_reopens_the_same_view_in_a_fresh_browser(
    page, dashboard, browser, script_errors
):
    """The Alignment page's whole state is in its address: a pilot and a date range opened in a
    browser that never saw the dashboard show that pilot's verdict, its chart and those dates;
    changing the metric's dates on screen writes them back into the address."""
    from playwright.sync_api import expect

    open_link(
        page, dashboard, "/Alignment?pilot=RO-03&dates=2026-04-06&dates=2026-10-26", "Technical vs business alignment"
    )
    expect(page.get_by_role("heading", name=re.compile(r"^RO-03 · Markdown pricing optimiser"))).to_be_visible(
        timeout=RENDERED_MS
    )
    verdict = page.get_by_test_id("stAlertContentWarning").filter(has_text="Decoupled over")
    expect(verdict).to_contain_text("Gross margin on marked-down items moved up and down", timeout=RENDERED_MS)
    expect(page.get_by_role("combobox", name="Technical metric", exact=True)).to_have_value(
        "Accuracy", timeout=RENDERED_MS
    )  # its everyday name; the address keeps the key
    dates = page.get_by_test_id("stDateInput").locator('input[type="date"]')
    expect(dates).to_have_count(2, timeout=RENDERED_MS)
    expect(dates.nth(0)).to_have_value("2026-04-06")
    expect(dates.nth(1)).to_have_value("2026-10-26")
    chart = page.get_by_test_id("stVegaLiteChart")
    expect(chart).to_have_count(2, timeout=RENDERED_MS)  # the technical panel, then the KPI's, on one time axis
    # Vega labels each drawn mark with its tooltip: lab and live weeks of accuracy, and the KPI's baseline and target lines.
    expect(chart.locator('[role="graphics-symbol"][aria-label*="Measured in: live"]').first).to_be_attached(
        timeout=RENDERED_MS
    )
    expect(chart.locator('[aria-label*="Line: baseline"]').first).to_be_attached()
    expect(chart.locator('[aria-label*="Line: target"]').first).to_be_attached()
    # The dates end in October: "where it should be by now" (today) lies past the axis, so it is said, not drawn.
    expect(chart.locator('[aria-label*="where it should be by now"]')).to_have_count(0)
    expect(page.get_by_text(re.compile("after the last value shown, so it is not drawn"))).to_be_visible()
    assert_no_errors_shown(page, script_errors)

    link = page.url.removeprefix(dashboard.url)
    assert parse_qs(urlsplit(link).query) == {"pilot": ["RO-03"], "dates": ["2026-04-06", "2026-10-26"]}, link
    with colleague_page(browser, dashboard) as colleague:
        open_link(colleague, dashboard, link, "Technical vs business alignment")
        expect(colleague.get_by_role("heading", name=re.compile(r"^RO-03 · "))).to_be_visible(timeout=RENDERED_MS)
        colleague_dates = colleague.get_by_test_id("stDateInput").locator('input[type="date"]')
        expect(colleague_dates.nth(0)).to_have_value("2026-04-06", timeout=RENDERED_MS)
        expect(colleague_dates.nth(1)).to_have_value("2026-10-26")
        expect(colleague.get_by_test_id("stAlertContentWarning").filter(has_text="Decoupled over")).to_be_visible()


def test_an_adoption_link_with_pilot_wave_and_team_reopens_the_same_view_in_a_fresh_browser(
    page, dashboard, browser, script_errors
):
    """The Adoption page's whole state is in its address: a pilot, a survey wave and a team opened in
    a browser that never saw the dashboard show that team's numbers for that wave and its charts, and
    the address, copied again, gives a colleague the same view."""
    from playwright.sync_api import expect

    from pilot_health.reports.adoption_report import portfolio_adoption
    from pilot_health.store.database import Store

    # The number to expect, from the same store without Streamlit (the app holds the file only briefly per view).
    pilot = next(p for p in portfolio_adoption(Store(dashboard.db)) if p.pilot_id == "RO-02")
    expected = str(pilot.wave(2).group("Store managers").respondents)

    open_link(page, dashboard, "/Adoption?pilot=RO-02&wave=2&team=Store+managers", "Adoption: readiness and real usage")
    expect(page.get_by_role("heading", name="RO-02 · Automated labour scheduling")).to_be_visible(timeout=RENDERED_MS)
    expect(page.get_by_role("combobox", name="Survey wave", exact=True)).to_have_value("2", timeout=RENDERED_MS)
    expect(page.get_by_role("combobox", name="Team", exact=True)).to_have_value("Store managers", timeout=RENDERED_MS)
    expect(metric_value(page, "Respondents")).to_have_text(expected, timeout=RENDERED_MS)
    # Profile, barrier points, teams heatmap, the team across waves and usage against target.
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.nth(3)).to_be_attached(timeout=RENDERED_MS)
    assert charts.count() >= 4, charts.count()
    assert_no_errors_shown(page, script_errors)

    link = page.url.removeprefix(dashboard.url)
    query = parse_qs(urlsplit(link).query)
    assert query.get("pilot") == ["RO-02"] and query.get("wave") == ["2"] and query.get("team") == ["Store managers"], (
        link
    )
    with colleague_page(browser, dashboard) as colleague:
        open_link(colleague, dashboard, link, "Adoption: readiness and real usage")
        expect(colleague.get_by_role("heading", name="RO-02 · Automated labour scheduling")).to_be_visible(
            timeout=RENDERED_MS
        )
        expect(colleague.get_by_role("combobox", name="Survey wave", exact=True)).to_have_value(
            "2", timeout=RENDERED_MS
        )
        expect(colleague.get_by_role("combobox", name="Team", exact=True)).to_have_value(
            "Store managers", timeout=RENDERED_MS
        )
        expect(metric_value(colleague, "Respondents")).to_have_text(expected, timeout=RENDERED_MS)


def test_the_adoption_downloads_never_name_a_team_below_the_minimum(page, dashboard, script_errors):
    """The anonymity rule, where it matters most: in the demo, RO-02's “Workforce planning” has 4
    respondents a wave (under the minimum of 5) and is pooled with “Area managers” into “Other teams”.
    Neither the page nor the files a person downloads may name it."""
    from playwright.sync_api import expect

    open_link(page, dashboard, "/Adoption?pilot=RO-02", "Adoption: readiness and real usage")
    expect(page.get_by_role("heading", name="RO-02 · Automated labour scheduling")).to_be_visible(timeout=RENDERED_MS)
    # Wait for the teams heatmap to have drawn its rows (Vega renders on its own) before reading the page.
    expect(page.get_by_test_id("stVegaLiteChart").filter(has_text="Other teams").first).to_be_visible(
        timeout=RENDERED_MS
    )

    open_expander(page, "The team table")
    _, teams = download_table(page, "Download the team table (CSV)")
    groups = [r["group"] for r in teams]
    assert "Other teams" in groups and "All respondents" in groups, teams
    assert not any("Workforce planning" in (cell or "") for r in teams for cell in r.values()), teams

    _, portfolio = download_table(page, "Download the table (CSV)")
    assert len(portfolio) == 24 and len({r["pilot_id"] for r in portfolio}) == 24, [r["pilot_id"] for r in portfolio]

    assert "Workforce planning" not in page.content()
    assert "Workforce planning" not in page.get_by_test_id("stMain").inner_text()
    assert_no_errors_shown(page, script_errors)


def test_the_pilots_steering_pack_downloads_as_a_one_page_pdf_with_its_name_and_five_scores(
    page, dashboard, script_errors
):
    """From a pilot's risk view, “Steering pack (PDF)” hands over one printable page naming the pilot
    and its five pattern scores as the page shows them (the document is made when clicked)."""
    from playwright.sync_api import expect

    pypdf = pytest.importorskip("pypdf", reason="pypdf (requirements-dev.txt) reads the downloaded PDF")
    open_link(page, dashboard, "/Risk?pilot=RO-03", "Pilots × patterns")
    heading = page.get_by_role("heading", name=re.compile(r"^RO-03 · "))
    expect(heading).to_be_visible(timeout=RENDERED_MS)
    titles = page.get_by_text(
        re.compile(
            r"^(Data Debt|Integration Avoidance|Organisational Resistance|Governance Vacuum|Wrong Success Metrics) — "
        )
    )
    expect(titles).to_have_count(5, timeout=RENDERED_MS)
    scores = []
    for title in titles.all_inner_texts():  # "Data Debt — high, score 82" or "… — insufficient evidence"
        name, _, rest = title.partition(" — ")
        status, _, score = rest.partition(", score ")
        scores.append(f"{name} {status.capitalize()}" + (f" {score}" if score else ""))
    pack = download(page, page.get_by_role("button", name="Steering pack (PDF)"), timeout=FIRST_RENDER_MS)
    assert re.fullmatch(r"pilot_health_RO-03_\d{8}_\d{4}\.pdf", pack.suggested_filename), pack.suggested_filename
    reader = pypdf.PdfReader(pack.path())
    assert len(reader.pages) == 1
    text = " ".join(reader.pages[0].extract_text().split())
    assert heading.inner_text() in text, text[:200]
    for score in scores:
        assert score in text, (score, text)
    assert f"Live view: {dashboard.url}/Risk?pilot=RO-03" in text
    assert_no_errors_shown(page, script_errors, except_saying="Health: ")


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_html_steering_packs_print_on_one_page(browser, dashboard, tmp_path, paper):
    """The self-contained HTML pilot packs, opened offline and printed by the browser, fit one page
    of A4 and of Letter (the portfolio's, which lists every pilot, and the layout of both are checked
    in test_browser_packs.py; the PDF packs in test_steering_pack.py)."""
    pypdf = pytest.importorskip("pypdf", reason="pypdf (requirements-dev.txt) reads the printed PDF")
    from pilot_health.reports.steering_pack import export
    from pilot_health.store.database import Store

    store = Store(dashboard.db, lock_wait_seconds=30)
    for pilot_id in ("SC-01", "RO-02"):  # RO-02: the longest health reason and evidence of the demo
        data, name = export(store, pilot_id=pilot_id, fmt="html", base_url=dashboard.url)
        path = tmp_path / name
        path.write_bytes(data)
        context = browser.new_context(offline=True)
        try:
            tab = context.new_page()
            tab.goto(path.as_uri())
            printed = tab.pdf(format=paper, print_background=True)
        finally:
            context.close()
        assert len(pypdf.PdfReader(io.BytesIO(printed)).pages) == 1, (pilot_id, paper)


def test_a_pinned_link_shows_the_same_numbers_after_uploads_withdrawals_and_edits(
    page, dashboard, browser, script_errors
):
    """A link from “Share this view” pins the view to its moment: after a register upload (a new
    Supply Chain pilot), a withdrawn survey wave and an edit to SC-01's record, a colleague opening
    the pinned home and risk links sees the numbers as they were, is told newer data exists, and
    “Show latest” drops the pin from the address and shows the changed numbers."""
    from datetime import datetime

    from playwright.sync_api import expect

    home_link, risk_link = "/?bu=Supply+Chain", "/Risk?pilot=SC-01"
    home_ready, risk_ready = "All pilots", "Pilots × patterns"
    pattern_title = re.compile(
        r"^(Data Debt|Integration Avoidance|Organisational Resistance|Governance Vacuum|Wrong Success Metrics) — "
    )
    new_name = "Fresh produce demand forecasting (renamed later)"

    def home_numbers(tab) -> dict:
        """The four metrics and the table's codes and names, once the page has drawn them."""
        metrics = tab.get_by_test_id("stMain").get_by_test_id("stMetric")
        expect(metrics).to_have_count(4, timeout=RENDERED_MS)
        shown = int(re.match(r"(\d+) pilots?", metric_value(tab, "Pilots shown").inner_text()).group(1))
        table = tab.get_by_test_id("stDataFrame")
        expect(table.locator('[data-testid^="glide-cell-0-"]')).to_have_count(shown, timeout=RENDERED_MS)
        return {
            "metrics": metrics.all_inner_texts(),
            "codes": table.locator('[data-testid^="glide-cell-0-"]').all_inner_texts(),
            "names": table.locator('[data-testid^="glide-cell-1-"]').all_inner_texts(),
        }

    def risk_numbers(tab) -> dict:
        """The health counts, SC-01's heading, health, pattern scores and its organisational-resistance evidence."""
        expect(tab.get_by_role("heading", name=re.compile(r"^SC-01 · "))).to_be_visible(timeout=RENDERED_MS)
        metrics = tab.get_by_test_id("stMain").get_by_test_id("stMetric")
        expect(metrics).to_have_count(9, timeout=RENDERED_MS)  # red/amber/green/insufficient, then the five patterns
        expect(tab.get_by_text(pattern_title)).to_have_count(5, timeout=RENDERED_MS)
        return {
            "heading": tab.get_by_role("heading", name=re.compile(r"^SC-01 · ")).inner_text(),
            "health": tab.get_by_text(re.compile(r"^Health: ")).inner_text(),
            "metrics": metrics.all_inner_texts(),
            "patterns": tab.get_by_text(pattern_title).all_inner_texts(),
            "resistance": tab.get_by_test_id("stExpander").filter(has_text="Organisational Resistance — ").inner_text(),
        }

    def pin(tab, *params: str) -> str:
        """The link “Share this view” offers, relative to the dashboard, after checking it names this view."""
        tab.get_by_test_id("stSidebar").get_by_role("button", name="Share this view").click()
        code = tab.get_by_test_id("stCode")
        expect(code).to_be_visible(timeout=RENDERED_MS)
        url = code.inner_text().strip()
        assert url.startswith(dashboard.url), url
        query = parse_qs(urlsplit(url).query)
        assert len(query.get("as_of", [])) == 1, url
        for param in params:
            key, value = param.split("=")
            assert query.get(key) == [value.replace("+", " ")], url
        tab.keyboard.press("Escape")
        link = url.removeprefix(dashboard.url)
        return link if link.startswith("/") else "/" + link

    # 1. The views as they are now, and 2. links pinned to this moment.
    open_link(page, dashboard, home_link, home_ready)
    home_before = home_numbers(page)
    assert "SC-01" in home_before["codes"] and "NEW-01" not in home_before["codes"], home_before
    pinned_home = pin(page, "bu=Supply+Chain")
    assert_no_errors_shown(page, script_errors)

    open_link(page, dashboard, risk_link, risk_ready)
    risk_before = risk_numbers(page)
    assert risk_before["heading"] == "SC-01 · Fresh produce demand forecasting", risk_before
    assert "In wave 3," in risk_before["resistance"], risk_before["resistance"]
    pinned_risk = pin(page, "pilot=SC-01")
    assert_no_errors_shown(page, script_errors, except_saying="Health: Red.")
    moments = {
        link: datetime.fromisoformat(parse_qs(urlsplit(link).query)["as_of"][0]) for link in (pinned_home, pinned_risk)
    }
    time.sleep(2)  # every change below is strictly after the pinned moments (which are whole seconds)

    # 3a. A register upload: NEW-01 joins Supply Chain (and NEW-02 Retail Operations).
    open_link(page, dashboard, "/Upload_data", "Upload data")
    page.locator('input[type="file"]').set_input_files(
        str(ROOT / "tests" / "fixtures" / "uploads" / "pilots_register.csv")
    )
    expect(page.get_by_text("Check before storing")).to_be_visible(timeout=FIRST_RENDER_MS)
    store = page.get_by_role("button", name="Store 2 rows")
    expect(store).to_be_enabled(timeout=RENDERED_MS)
    store.click()
    expect(page.get_by_text(re.compile(r"Stored 2 rows from pilots_register\.csv as upload \d+"))).to_be_visible(
        timeout=FIRST_RENDER_MS
    )
    page.get_by_role("button", name="Upload another file").click()
    expect(page.get_by_text("No file chosen yet")).to_be_visible(timeout=RENDERED_MS)

    # 3b. Withdraw SC-01's latest survey wave (one of the demo's simulated uploads).
    # Once the history lists the demo's uploads, the withdraw box is drawn again with them as choices.
    history_files = page.get_by_test_id("stDataFrame").locator('[data-testid^="glide-cell-"]')
    switch_on(
        page,
        "Include the demo's simulated uploads",
        shows=history_files.filter(has_text=re.compile(r"^(metrics|usage|survey)_[A-Z]{2}-\d{2}_")).first,
    )
    page.get_by_role("combobox", name="Withdraw an upload").click()
    page.keyboard.type("survey_SC-01_wave3")
    option = page.get_by_role("option", name=re.compile(r"^\d+ · survey_SC-01_wave3\.csv · "))
    expect(option).to_have_count(1, timeout=RENDERED_MS)
    upload_id = int(option.inner_text().split(" · ")[0])
    option.click()
    page.get_by_role("button", name="Withdraw", exact=True).click()
    page.get_by_role("button", name=f"Yes, withdraw {upload_id}").click()
    expect(page.get_by_text(f"Upload {upload_id} withdrawn")).to_be_visible(timeout=RENDERED_MS)
    assert_no_errors_shown(page, script_errors)

    # 3c. Edit SC-01's record: a new name, and no change champion any more.
    open_link(page, dashboard, "/Pilot_register?pilot=SC-01", "Add or edit a pilot")
    page.get_by_label("Name *", exact=True).fill(new_name)
    page.get_by_label("Change champion", exact=True).fill("")
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Save changes to SC-01").click()
    expect(page.get_by_text(f"Saved SC-01 · {new_name}.")).to_be_visible(timeout=RENDERED_MS)
    assert_no_errors_shown(page, script_errors)

    # The latest views have changed, so the pinned links below have something to prove.
    open_link(page, dashboard, home_link, home_ready)
    home_latest = home_numbers(page)
    assert home_latest["metrics"] != home_before["metrics"], home_latest
    assert "NEW-01" in home_latest["codes"] and new_name in home_latest["names"], home_latest
    open_link(page, dashboard, risk_link, risk_ready)
    risk_latest = risk_numbers(page)
    assert risk_latest["heading"] == f"SC-01 · {new_name}", risk_latest
    assert "In wave 3," not in risk_latest["resistance"], risk_latest["resistance"]
    assert (
        risk_latest["resistance"] != risk_before["resistance"] and risk_latest["metrics"] != risk_before["metrics"]
    ), risk_latest

    # 4. A colleague opens each pinned link: the numbers as they were, a banner, and the way to the latest.
    for link, ready, read, before, latest in (
        (pinned_home, home_ready, home_numbers, home_before, home_latest),
        (pinned_risk, risk_ready, risk_numbers, risk_before, risk_latest),
    ):
        with colleague_page(browser, dashboard) as colleague:
            colleague_errors: list[str] = []
            colleague.on("pageerror", lambda error: colleague_errors.append(str(error)))
            open_link(colleague, dashboard, link, ready)
            banner = colleague.get_by_test_id("stAlertContentInfo").filter(has_text="As of ")
            expect(banner).to_have_count(1, timeout=RENDERED_MS)
            expect(banner).to_contain_text(
                f"As of {moments[link]:%d %B %Y %H:%M} UTC, newer data exists — show latest."
            )
            assert read(colleague) == before, (link, read(colleague), before)
            # The bound widgets keep the pin in the address once the page has drawn.
            assert parse_qs(urlsplit(colleague.url).query).get("as_of") == parse_qs(urlsplit(link).query)["as_of"], (
                colleague.url
            )
            assert_no_errors_shown(colleague, colleague_errors, except_saying="Health: Red.")

            colleague.get_by_role("button", name="Show latest").click()
            expect(colleague).not_to_have_url(re.compile(r"[?&]as_of="), timeout=RENDERED_MS)
            expect(banner).to_have_count(0, timeout=RENDERED_MS)
            expect(colleague.get_by_test_id("stMain").get_by_test_id("stMetric")).to_have_text(
                latest["metrics"], use_inner_text=True, timeout=RENDERED_MS
            )
            assert read(colleague) == latest, (link, read(colleague), latest)
            query = parse_qs(urlsplit(colleague.url).query)
            expected = {key: values for key, values in parse_qs(urlsplit(link).query).items() if key != "as_of"}
            assert query == expected, colleague.url
            assert_no_errors_shown(colleague, colleague_errors, except_saying="Health: Red.")
