"""A BI crosstab uploaded in a real browser: one column per month, a `Measure Names` and a `Region`
column, totals, no pilot column. The person answers the one question the file cannot (which
pilot) and stores; the receipt counts what was stored and what was left out.

Runs against a real `streamlit run app.py` on a temporary demo store, with the machinery of
browser_support.py (skipped, with the reason, when no Chromium is available).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import (
    FIRST_RENDER_MS,
    RENDERED_MS,
    Dashboard,
    assert_no_errors_shown,
    download,
    load_demo_store,
    open_link,
    start_dashboard,
    store_file_read,
)

pytestmark = pytest.mark.browser

# Tableau's "Download > Crosstab" as CSV: UTF-16 with a byte-order mark, tab-separated, CR LF.
TABLEAU = (
    "Measure Names\tRegion\tJanuary 2024\tFebruary 2024\tMarch 2024\r\n"
    "Revenue\tEMEA\t120,500\t131,250\t128,000\r\n"
    "Revenue\tAmericas\t98,000\t\t104,300\r\n"
    "Revenue\tTotal\t218,500\t131,250\t232,300\r\n"
    "Orders\tEMEA\t1,204\t1,310\t1,288\r\n"
    "Orders\tAmericas\t980\t1,011\t1,043\r\n"
    "Orders\tTotal\t2,184\t2,321\t2,331\r\n"
)


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("browser_crosstab")
    db, env = load_demo_store(folder)
    with start_dashboard(folder, db, env) as server:
        yield server


def test_a_tableau_crosstab_needs_only_the_pilot_and_its_receipt_counts_the_totals_left_out(
    page, dashboard, script_errors, tmp_path
):
    from playwright.sync_api import expect

    export = tmp_path / "Sales by region.csv"
    export.write_bytes(b"\xff\xfe" + TABLEAU.encode("utf-16-le"))
    open_link(page, dashboard, "/Upload_data", "Upload data")
    page.locator('input[type="file"]').set_input_files(str(export))
    expect(page.get_by_text("Check before storing")).to_be_visible(timeout=FIRST_RENDER_MS)
    expect(page.get_by_text("Before storing: choose the pilot.")).to_be_visible(timeout=RENDERED_MS)
    store = page.get_by_role("button", name="Store 11 rows")
    expect(store).to_be_disabled(timeout=RENDERED_MS)

    # The one answer: which pilot.
    page.get_by_role("combobox", name="Which pilot do these rows belong to?").click()
    page.keyboard.type("SC-01")
    page.get_by_role("option", name="SC-01", exact=True).click()
    expect(store).to_be_enabled(timeout=RENDERED_MS)
    store.click()

    receipt = page.get_by_text(re.compile(r"Stored 11 rows from Sales by region\.csv as upload (\d+)"))
    expect(receipt).to_be_visible(timeout=FIRST_RENDER_MS)
    upload_id = int(re.search(r"as upload (\d+)", receipt.inner_text()).group(1))
    expect(page.get_by_text(re.compile(r"Left out 2 total rows")).first).to_be_visible(timeout=RENDERED_MS)
    receipt_file = download(page, page.get_by_role("button", name="Download (CSV)").first)
    assert receipt_file.suggested_filename == f"receipt_upload_{upload_id}.csv"
    facts = {
        row["receipt"]: row[""]
        for row in csv.DictReader(io.StringIO(Path(receipt_file.path()).read_text(encoding="utf-8")))
    }
    assert (facts["Rows stored"], facts["Rows rejected"], facts["Rows left out"]) == ("11", "0", "2"), facts
    assert facts["Pilots"] == "SC-01" and facts["Dates"] == "2024-01-01 to 2024-03-01", facts
    assert_no_errors_shown(page, script_errors)

    con = store_file_read(dashboard.db)
    try:
        rows = con.execute(
            "SELECT metric, environment, count(*) FROM metric_observations WHERE upload_id = ? GROUP BY ALL ORDER BY metric",
            [upload_id],
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        ("Orders · Region: Americas", "live", 3),
        ("Orders · Region: EMEA", "live", 3),
        ("Revenue · Region: Americas", "live", 2),
        ("Revenue · Region: EMEA", "live", 3),
    ]
