"""SurveyMonkey's "All responses, expanded" export through the real engine.

The export has two header rows. Row 1: `Respondent ID, Collector ID, Start Date, End Date, IP Address,
Email Address, First Name, Last Name, Custom Data 1`, custom variables (here `pilot`), then one cell
per question — a matrix question's text over the first of its columns, the cells to its right empty.
Row 2: empty under the metadata, `Response` / `Open-Ended Response` under single questions,
`Other (please specify)` under a choice's "other" box, and each statement's text under a matrix
question. Dates are month-first with a 12-hour clock (`03/05/2024 02:02:11 PM`). The fixture is
tests/fixtures/uploads/surveymonkey_matrix_adkar.csv; the expectations below are read off that file
by hand (Strongly disagree 1 … Strongly agree 5; `1 - Not at all` is 1, `5 - Completely` is 5).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pandas as pd
import pytest
from test_ingest_formats import ADKAR, UPLOADS, adkar_means, stored_responses, upload

FIXTURE = "surveymonkey_matrix_adkar.csv"
STATEMENTS = {
    "awareness": "I understand why we are introducing the tool",
    "desire": "I want to use the tool in my daily work",
    "knowledge": "I know how to use the tool for my tasks",
    "ability": "I am able to use the tool without help from others",
    "reinforcement": "Good use of the tool is recognised by my manager",
}
SCORES = {  # respondent -> (A, D, K, A, R); None = left blank
    "114920350868": (5, 4, 4, 4, 3),
    "114920350731": (4, 4, 3, 3, 2),
    "114920350602": (4, 5, 2, 2, 2),
    "114920350577": (3, 2, 2, 1, 2),
    "114920350433": (5, 5, 4, 5, 4),
    "114920350391": (4, 4, 4, 4, None),
    "114920350288": (1, 2, 3, 2, 1),
    "114920350150": (4, 3, 4, 3, 3),
}


def rows_of(frame: pd.DataFrame) -> dict[str, tuple]:
    return {
        r["respondent_id"]: tuple(None if r[f"{e}_is_null"] else int(r[e]) for e in ADKAR) for _, r in frame.iterrows()
    }


def fixture_rows() -> list[list[str]]:
    return list(csv.reader(io.StringIO((UPLOADS / FIXTURE).read_text(encoding="utf-8"), newline="")))


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def as_xlsx(rows: list[list[str]]) -> bytes:
    """The same export as SurveyMonkey's .xlsx: the same two header rows, each matrix question's
    cell merged over its statements, ids as numbers and the dates as Excel date-times."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet"
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row, 1):
            if value == "":
                continue
            if r > 2 and c in (3, 4):
                cell = sheet.cell(r, c, datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p"))
                cell.number_format = "mm/dd/yyyy hh:mm:ss AM/PM"
            else:
                sheet.cell(r, c, int(value) if r > 2 and c in (1, 2) else value)
    for cells in ("K1:L1", "M1:O1", "P1:Q1"):
        sheet.merge_cells(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_second_header_row_is_read_as_headers_not_as_a_response(demo_store):
    result = upload(demo_store, FIXTURE)
    frame = stored_responses(demo_store, result)

    assert result.format.header_rows == 2
    assert (result.rows_read, result.rows_to_store, result.rows_rejected, result.rows_left_out) == (8, 8, 0, 0)
    assert result.problems == []
    assert len(frame) == 8 and set(frame.pilot_id) == {"SC-01"}
    assert rows_of(frame) == SCORES
    assert adkar_means(demo_store, result) == pytest.approx((30 / 8, 29 / 8, 26 / 8, 24 / 8, 17 / 7))


def test_the_statements_name_the_columns_and_find_the_adkar_questions(demo_store):
    result = upload(demo_store, FIXTURE, commit=False)
    mapping = result.mapping

    assert mapping.export == "SurveyMonkey survey export"
    for element, statement in STATEMENTS.items():
        assert mapping.column_for(element) == statement
        assert mapping.questions[statement] == statement
    assert not any(h.startswith("column_") for h in result.headers), result.headers
    assert "Which team are you in? - Other (please specify)" in result.headers
    assert mapping.column_for("team") == "Which team are you in?"
    assert mapping.column_for("pilot_id") == "pilot"
    assert mapping.column_for("respondent_id") == "Respondent ID"
    assert mapping.column_for("responded_at") == "End Date"
    assert mapping.column_for("comment") == "Is there anything else you would like to tell us?"
    assert not any("in order" in note for note in mapping.notes), "found by wording, not by position"
    assert result.needs == []


def test_teams_comments_and_times_are_stored_as_written(demo_store):
    result = upload(demo_store, FIXTURE)
    frame = stored_responses(demo_store, result).set_index("respondent_id")

    assert frame.team.value_counts().to_dict() == {"Finance": 4, "Operations": 4}
    comments = {r: c for r, c in frame.comment.items() if not frame.loc[r, "comment_is_null"]}
    assert comments == {
        "114920350731": "Need more practice time, ideally with real orders",
        "114920350577": 'Nobody has shown us the "exceptions" screen',
        "114920350288": "I don't see why we need it.",
    }
    # `03/14/2024` proves the column month-first, so `03/05/2024 02:05:38 PM` is 5 March, 14:05:38.
    assert pd.Timestamp(frame.loc["114920350868", "responded_at"]) == pd.Timestamp("2024-03-14 16:58:40")
    assert pd.Timestamp(frame.loc["114920350391", "responded_at"]) == pd.Timestamp("2024-03-05 14:05:38")
    assert pd.Timestamp(frame.loc["114920350150", "responded_at"]) == pd.Timestamp("2024-03-04 12:01:44")


def test_the_xlsx_export_with_merged_question_cells_reads_the_same(demo_store):
    result = upload(demo_store, "surveymonkey_matrix_adkar.xlsx", data=as_xlsx(fixture_rows()))
    frame = stored_responses(demo_store, result).set_index("respondent_id")

    assert result.format.container == "xlsx" and result.format.header_rows == 2
    assert (result.rows_to_store, result.rows_rejected, result.rows_left_out) == (8, 0, 0)
    assert rows_of(frame.reset_index()) == SCORES
    assert {e: result.mapping.column_for(e) for e in ADKAR} == STATEMENTS
    assert pd.Timestamp(frame.loc["114920350391", "responded_at"]) == pd.Timestamp("2024-03-05 14:05:38")


def test_a_question_text_that_mentions_training_does_not_decide_its_statements(demo_store):
    rows = fixture_rows()
    rows[0][15] = "Since the training sessions, how much do you agree with each statement?"
    result = upload(demo_store, "surveymonkey_training.csv", data=as_csv(rows), commit=False)

    assert {e: result.mapping.column_for(e) for e in ADKAR} == STATEMENTS
    assert result.rows_rejected == 0 and result.rows_to_store == 8


def test_the_same_statement_under_two_questions_is_named_with_its_question(demo_store):
    rows = fixture_rows()
    rows[0][15] = "Before the rollout"  # a matrix with the ability statement, then another asking it again
    rows[0][16:16] = ["After the rollout"]
    rows[1][16:16] = [STATEMENTS["ability"]]
    for row in rows[2:]:
        row[16:16] = [row[15]]
    result = upload(demo_store, "surveymonkey_twice.csv", data=as_csv(rows), commit=False)

    assert f"Before the rollout - {STATEMENTS['ability']}" in result.headers
    assert f"After the rollout - {STATEMENTS['ability']}" in result.headers
    assert result.mapping.column_for("ability") == f"Before the rollout - {STATEMENTS['ability']}"
    assert result.mapping.column_for("reinforcement") == STATEMENTS["reinforcement"]
    assert result.rows_rejected == 0 and result.rows_to_store == 8


def test_a_wide_matrix_leaves_row_one_mostly_empty_and_is_still_the_header(demo_store):
    """20 statements under one question: row 1 has fewer filled cells than empty ones."""
    rows = fixture_rows()
    extra = [f"The rollout plan covers step {n}" for n in range(1, 16)]
    rows[0][16:16] = [""] * len(extra)
    rows[1][16:16] = extra
    for row in rows[2:]:
        row[16:16] = ["Agree"] * len(extra)
    result = upload(demo_store, "surveymonkey_wide.csv", data=as_csv(rows))

    assert result.format.header_rows == 2
    assert (result.rows_to_store, result.rows_rejected) == (8, 0)
    assert {e: result.mapping.column_for(e) for e in ADKAR} == STATEMENTS
    assert rows_of(stored_responses(demo_store, result)) == SCORES
