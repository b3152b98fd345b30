"""A SurveyMonkey "All responses, expanded" export dropped on the Upload data page in a real
Chromium, against a real dashboard on a temporary demo store (issue 16, item 6).

The file (tests/fixtures/uploads/surveymonkey_matrix_adkar.csv) has SurveyMonkey's two header rows:
matrix questions with each ADKAR statement in row 2, a team question, an open comment, the pilot
code in a custom variable column (`pilot`), 8 respondents, 12-hour month-first dates. The page must
name the ADKAR columns by their statements, ask nothing the file already says, and store all 8
responses with none rejected (row 2 is a header, not a response).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import (
    FIRST_RENDER_MS,
    RENDERED_MS,
    ROOT,
    Dashboard,
    assert_no_errors_shown,
    load_demo_store,
    open_expander,
    open_link,
    start_dashboard,
    store_file_read,
)

pytestmark = pytest.mark.browser

FIXTURE = ROOT / "tests" / "fixtures" / "uploads" / "surveymonkey_matrix_adkar.csv"
STATEMENTS = {
    "I understand why we are introducing the tool": "Awareness score",
    "I want to use the tool in my daily work": "Desire score",
    "I know how to use the tool for my tasks": "Knowledge score",
    "I am able to use the tool without help from others": "Ability score",
    "Good use of the tool is recognised by my manager": "Reinforcement score",
}


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("browser_surveymonkey")
    db, env = load_demo_store(folder)
    with start_dashboard(folder, db, env) as server:
        yield server


def test_a_surveymonkey_export_is_stored_without_questions_or_rejected_rows(page, dashboard, script_errors):
    from playwright.sync_api import expect

    open_link(page, dashboard, "/Upload_data", "Upload data")
    page.locator('input[type="file"]').set_input_files(str(FIXTURE))
    expect(page.get_by_text("Check before storing")).to_be_visible(timeout=FIRST_RENDER_MS)
    expect(page.get_by_text("SurveyMonkey survey export").first).to_be_attached(timeout=RENDERED_MS)

    # Nothing the file already says is asked: the pilot, the dates' order; nothing blocks storing.
    store = page.get_by_role("button", name="Store 8 rows")
    expect(store).to_be_enabled(timeout=RENDERED_MS)
    expect(page.get_by_role("combobox", name="Which pilot do these rows belong to?")).to_have_count(0)
    expect(page.get_by_text("Lab or live?")).to_have_count(0)
    expect(page.get_by_text("Dates like 03/04/2024 are")).to_have_count(0)
    expect(page.get_by_text("Before storing:")).to_have_count(0)
    expect(page.get_by_text("Why 1 row cannot be stored")).to_have_count(0)
    expect(page.get_by_test_id("stMetric").filter(has_text="Rejected").get_by_test_id("stMetricValue")).to_have_text(
        "0"
    )

    # The columns are named by the statements in SurveyMonkey's second header row, each feeding its ADKAR element.
    open_expander(page, "Columns and what they feed")
    expander = (
        page.get_by_test_id("stExpander")
        .filter(has=page.locator("summary", has_text="Columns and what they feed"))
        .first
    )
    for statement, target in STATEMENTS.items():
        box = expander.get_by_test_id("stSelectbox").filter(has_text=statement)
        expect(box).to_have_count(1, timeout=RENDERED_MS)
        expect(box.get_by_role("combobox", name=statement, exact=True)).to_have_value(target)
    expect(expander.get_by_text(re.compile(r"column_\d+"))).to_have_count(0)
    assert_no_errors_shown(page, script_errors)

    store.click()
    receipt = page.get_by_text(re.compile(r"Stored 8 rows from surveymonkey_matrix_adkar\.csv as upload (\d+)"))
    expect(receipt).to_be_visible(timeout=FIRST_RENDER_MS)
    upload_id = int(re.search(r"as upload (\d+)", receipt.inner_text()).group(1))
    assert_no_errors_shown(page, script_errors)

    con = store_file_read(dashboard.db)
    try:
        stored, rejected = con.execute(
            "SELECT (SELECT count(*) FROM survey_responses WHERE upload_id = ?), rows_rejected FROM uploads WHERE upload_id = ?",
            [upload_id, upload_id],
        ).fetchone()
        respondents = {
            r[0]
            for r in con.execute(
                "SELECT respondent_id FROM survey_responses WHERE upload_id = ?", [upload_id]
            ).fetchall()
        }
    finally:
        con.close()
    assert (stored, rejected) == (8, 0)
    assert "" not in respondents and None not in respondents and len(respondents) == 8
