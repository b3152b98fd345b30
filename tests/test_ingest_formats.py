"""Every upload fixture through the real engine, checked against what the store then holds.

The facts asserted here are the ones tests/fixtures/uploads/README.md gives for each file: row
counts, every parsed value and timestamp (UTC), what is rejected or left out and why, the detected
format, and what is refused with nothing stored. Stored rows are read back from the store itself,
never from the engine's own summary, and NULL is checked with `IS NULL` in SQL (a NaN is not NULL).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

import pandas as pd
import pytest
from conftest import ROOT

from pilot_health.ingest import IngestOptions, IngestResult, ingest

UPLOADS = ROOT / "tests" / "fixtures" / "uploads"
ADKAR = ("awareness", "desire", "knowledge", "ability", "reinforcement")
TABLES = ("uploads", "pilots", "metric_observations", "survey_responses")
READINESS = (
    "pipeline_automated",
    "data_quality_monitored",
    "master_data_managed",
    "api_designed",
    "latency_defined",
    "error_handling_designed",
    "integration_resourced",
    "change_plan",
    "training_ready",
    "monitoring_in_place",
    "drift_alerts",
    "responsible_ai_review",
    "escalation_path",
)


# -- helpers ------------------------------------------------------------------------------------


def upload(store, name: str, *, commit: bool = True, data: bytes | None = None, **options) -> IngestResult:
    """Run one fixture (or `data` under that name) through the engine."""
    payload = (UPLOADS / name).read_bytes() if data is None else data
    return ingest(store, payload, name, IngestOptions(**options), commit=commit)


def expect_stored(result: IngestResult) -> None:
    assert result.status == "stored", f"{result.file_name}: {result.status}: {result.refusal} {result.problems}"
    assert result.upload_id is not None


def stored_observations(store, result: IngestResult) -> pd.DataFrame:
    """The rows of metric_observations this upload stored, with NULL told apart from NaN."""
    expect_stored(result)
    with store.read() as con:
        return con.execute(
            """
            SELECT pilot_id, metric, kind, environment, observed_at, value, value IS NULL AS value_is_null
            FROM metric_observations WHERE upload_id = ? ORDER BY pilot_id, metric, environment, observed_at
            """,
            [result.upload_id],
        ).df()


def stored_responses(store, result: IngestResult) -> pd.DataFrame:
    expect_stored(result)
    nulls = ", ".join(f"{e} IS NULL AS {e}_is_null" for e in ADKAR)
    with store.read() as con:
        return con.execute(
            f"SELECT *, comment IS NULL AS comment_is_null, {nulls} FROM survey_responses WHERE upload_id = ? ORDER BY responded_at, respondent_id",
            [result.upload_id],
        ).df()


def adkar_means(store, result: IngestResult) -> tuple[float, ...]:
    """Means over the stored rows, as SQL takes them: NULL (skipped) answers are left out."""
    with store.read() as con:
        return con.execute(
            f"SELECT {', '.join(f'avg({e})' for e in ADKAR)} FROM survey_responses WHERE upload_id = ?",
            [result.upload_id],
        ).fetchone()


def table_counts(store) -> dict[str, int]:
    with store.read() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def pilot_row(store, pilot_id: str) -> dict | None:
    with store.read() as con:
        cursor = con.execute("SELECT * FROM pilots WHERE pilot_id = ?", [pilot_id])
        row = cursor.fetchone()
        names = [d[0] for d in cursor.description]
    return dict(zip(names, row)) if row else None


def observations(frame: pd.DataFrame) -> list[tuple]:
    """(pilot, metric, environment, observed_at, value) sorted; value None when stored as NULL."""
    return sorted(
        (
            r.pilot_id,
            r.metric,
            r.environment,
            pd.Timestamp(r.observed_at),
            None if r.value_is_null else round(float(r.value), 9),
        )
        for r in frame.itertuples()
    )


def expected(rows) -> list[tuple]:
    """The same shape from (pilot, metric, environment, "date or timestamp", value) tuples."""
    return sorted((p, m, e, pd.Timestamp(t), None if v is None else round(float(v), 9)) for p, m, e, t, v in rows)


def series(frame: pd.DataFrame, metric: str, environment: str | None = None, pilot: str | None = None) -> list[tuple]:
    """[(observed_at, value)] of one metric, in time order."""
    rows = frame[frame.metric == metric]
    if environment:
        rows = rows[rows.environment == environment]
    if pilot:
        rows = rows[rows.pilot_id == pilot]
    return [
        (pd.Timestamp(t), round(float(v), 9))
        for t, v in rows.sort_values("observed_at")[["observed_at", "value"]].itertuples(index=False)
    ]


def weekly(start: str, values) -> list[tuple]:
    """[(date, value)] for values on consecutive weeks from `start`."""
    first = pd.Timestamp(start)
    return [(first + pd.Timedelta(weeks=i), round(float(v), 9)) for i, v in enumerate(values)]


def long_rows(pilot: str, metric: str, environment: str, start: str, values) -> list[tuple]:
    return [(pilot, metric, environment, t, v) for t, v in weekly(start, values)]


# -- metric exports, long layout: format detected, every value stored ------------------------------

LONG_FILES = {
    "metrics_long_utf8.csv": dict(
        format=dict(encoding="utf-8", byte_order_mark=False, delimiter=",", sep_line=False),
        decimal_comma=False,
        rows=long_rows(
            "SC-01",
            "accuracy",
            "lab",
            "2024-01-01",
            [0.800, 0.806, 0.812, 0.818, 0.824, 0.830, 0.836, 0.842, 0.848, 0.854],
        )
        + long_rows(
            "SC-01",
            "accuracy",
            "live",
            "2024-01-01",
            [0.760, 0.765, 0.770, 0.775, 0.780, 0.785, 0.790, 0.795, 0.800, 0.805],
        ),
    ),
    "metrics_semicolon_decimal_comma.csv": dict(
        format=dict(encoding="windows-1252", byte_order_mark=False, delimiter=";", sep_line=False),
        decimal_comma=True,
        rows=[
            ("SC-01", "accuracy", "lab", "2024-01-15", 0.92),
            ("SC-01", "accuracy", "live", "2024-01-22", 0.88),
            ("SC-01", "accuracy", "live", "2024-02-05", 0.9),
            ("SC-02", "inventory_value", "live", "2024-01-31", 1234.5),
            ("SC-02", "inventory_value", "live", "2024-02-29", 1200),
            ("SC-02", "inventory_value", "live", "2024-03-31", 1187.25),
            ("FN-02", "cost_per_invoice", "live", "2024-02-13", 4.1),
            ("FN-02", "cost_per_invoice", "live", "2024-02-27", 3.95),
            ("RO-04", "sales_per_square_metre", "live", "2024-03-01", 1450),
            ("SC-01", "delta_vs_baseline", "lab", "2024-03-16", -0.12),
        ],
    ),
    "metrics_sep_line.csv": dict(
        format=dict(encoding="utf-8", byte_order_mark=False, delimiter=";", sep_line=True),
        decimal_comma=False,
        rows=long_rows("RO-01", "on_shelf_availability", "live", "2024-01-01", [95.1, 95.4, 95.9, 96.3])
        + long_rows("RO-01", "accuracy", "lab", "2024-01-01", [0.91, 0.92, 0.92, 0.93]),
    ),
    "metrics_tab.tsv": dict(
        format=dict(encoding="utf-16-le", byte_order_mark=True, delimiter="\t", sep_line=False),
        decimal_comma=False,
        rows=long_rows("RO-05", "accuracy", "lab", "2024-02-05", [0.861, 0.868, 0.874, 0.879, 0.883])
        + long_rows("RO-05", "accuracy", "live", "2024-02-05", [0.812, 0.818, 0.826, 0.829, 0.835]),
    ),
    "metrics_utf16_nobom.csv": dict(
        format=dict(encoding="utf-16-le", byte_order_mark=False, delimiter="\t", sep_line=False),
        decimal_comma=False,
        rows=long_rows("CS-01", "accuracy", "live", "2024-01-08", [0.71, 0.72, 0.74, 0.73, 0.75, 0.77, 0.78, 0.78]),
    ),
    "metrics_pipe_bom.csv": dict(
        format=dict(encoding="utf-8", byte_order_mark=True, delimiter="|", sep_line=False),
        decimal_comma=False,
        rows=long_rows("FN-01", "default_rate", "live", "2024-01-01", [3.4, 3.3, 3.3, 3.1, 3.0, 2.9, 2.9, 2.8]),
    ),
    "metrics_percent_comma.csv": dict(
        format=dict(encoding="utf-8", byte_order_mark=False, delimiter=";", sep_line=False),
        decimal_comma=True,
        rows=long_rows("RO-01", "on_shelf_availability", "live", "2024-01-01", [92.5, 93, 93.75, 94.1, 95, 96.2]),
    ),
}


@pytest.mark.parametrize("name", list(LONG_FILES))
def test_long_metric_export_is_read_in_its_own_format_and_every_value_stored(demo_store, name):
    case = LONG_FILES[name]
    result = upload(demo_store, name)
    frame = stored_observations(demo_store, result)

    assert observations(frame) == expected(case["rows"])
    assert (result.rows_to_store, result.rows_rejected) == (len(case["rows"]), 0)
    assert result.problems == []
    assert result.format.container == "text"
    for attribute, value in case["format"].items():
        assert getattr(result.format, attribute) == value, attribute
    assert result.headers[0] == "pilot_id", "a byte-order mark must not stick to the first header"
    comma_warnings = [w for w in result.warnings if "decimal comma" in w]
    assert bool(comma_warnings) == case["decimal_comma"], result.warnings


def test_plain_utf8_file_gives_no_warnings(demo_store):
    result = upload(demo_store, "metrics_long_utf8.csv")
    expect_stored(result)
    assert result.warnings == []
    frame = stored_observations(demo_store, result)
    assert (frame.environment == "lab").sum() == 10 and (frame.environment == "live").sum() == 10


def test_decimal_comma_file_reads_thousands_dots_and_ignores_the_note_column(demo_store):
    result = upload(demo_store, "metrics_semicolon_decimal_comma.csv")
    frame = stored_observations(demo_store, result)
    inventory = dict(series(frame, "inventory_value", "live", "SC-02"))
    assert inventory[pd.Timestamp("2024-02-29")] == 1200, "`1.200` with a decimal comma is twelve hundred, not 1.2"
    assert inventory[pd.Timestamp("2024-01-31")] == 1234.5
    assert series(frame, "sales_per_square_metre") == [(pd.Timestamp("2024-03-01"), 1450.0)], "01/03/2024 is 1 March"
    assert "note" in result.headers and not result.mapping.targets["note"].startswith("metric:")
    assert "note" not in set(frame.metric)


# -- one number format per row -----------------------------------------------------------------------

NUMBER_ROWS = {  # day of January 2024 -> expected value (None = NULL); 92% of a metric not kept in percent is the share 0.92
    1: 1234.5,
    2: 0.92,
    3: 1234,
    4: 12.5,
    5: -12000,
    6: 4.5,
    7: 4.5,
    8: -0.12,
    9: None,
    10: None,
    11: None,
    12: None,
    13: None,
    14: None,
    15: None,
    16: None,
}


def test_number_formats_are_parsed_and_blanks_stored_as_null(demo_store):
    result = upload(demo_store, "metrics_number_formats.csv")
    frame = stored_observations(demo_store, result)

    assert result.rows_to_store == 16
    stored = {
        pd.Timestamp(r.observed_at).day: (None if r.value_is_null else float(r.value)) for r in frame.itertuples()
    }
    assert set(stored) == set(NUMBER_ROWS), "rows 17 (=1+2) and 18 (abc) are rejected, every other row stored"
    for day, value in NUMBER_ROWS.items():
        if value is None:
            assert stored[day] is None, f"2024-01-{day:02d} must be NULL, never 0 or NaN"
        else:
            assert stored[day] == pytest.approx(value), f"2024-01-{day:02d}"
    assert sum(v is not None for v in stored.values()) == 8
    assert 3.0 not in stored.values(), "a formula is never evaluated"
    assert (
        set(frame.pilot_id) == {"SC-02"}
        and set(frame.metric) == {"inventory_value"}
        and set(frame.environment) == {"live"}
    )
    assert not any("decimal comma" in w for w in result.warnings), "1,234.50 says decimal point"


def test_number_formats_formula_and_text_are_rejected_with_their_file_lines(demo_store):
    result = upload(demo_store, "metrics_number_formats.csv")
    expect_stored(result)

    assert result.rows_rejected == 2
    assert [(p.row, p.column) for p in result.problems] == [(18, "value"), (19, "value")]
    assert "spreadsheet formula" in result.problems[0].message and "=1+2" in result.problems[0].message
    assert "not a number" in result.problems[1].message and "abc" in result.problems[1].message
    rejected = result.rejected_rows
    assert list(rejected["line"]) == [18, 19]
    assert list(rejected["value"]) == ["=1+2", "abc"]
    assert "spreadsheet formula" in rejected["reason"].iloc[0] and "not a number" in rejected["reason"].iloc[1]
    with demo_store.read() as con:
        assert con.execute(
            "SELECT rows_stored, rows_rejected FROM uploads WHERE upload_id = ?", [result.upload_id]
        ).fetchone() == (16, 2)


# -- one date form per file ------------------------------------------------------------------------------

DATE_VALUES = [0.81, 0.82, 0.82, 0.83, 0.84, 0.85]
DATE_FILES = {  # expected observed_at (UTC) per data row, in file order
    "metrics_dates_iso.csv": [
        "2024-01-31 00:00:00",
        "2024-02-07 00:00:00",
        "2024-02-14 09:30:00",
        "2024-02-21 09:30:00",
        "2024-02-28 17:45:00",
        "2024-03-06 08:00:00.5",
    ],
    "metrics_dates_iso_tz.csv": [
        "2024-01-31 10:00:00",
        "2024-02-07 08:00:00",
        "2024-02-15 04:30:00",
        "2024-02-20 23:30:00",
        "2024-02-28 12:00:00.25",
        "2024-03-06 08:15:00",
    ],
    "metrics_dates_monthname.csv": ["2024-01-31", "2024-02-07", "2024-02-14", "2024-02-21", "2024-02-29", "2024-03-06"],
    "metrics_dates_compact.csv": ["2024-01-31", "2024-02-07", "2024-02-14", "2024-02-21", "2024-02-28", "2024-03-06"],
    "metrics_dates_epoch_s.csv": [
        "2024-01-31",
        "2024-02-07",
        "2024-02-14",
        "2024-02-21 09:30:00",
        "2024-02-28",
        "2024-03-06",
    ],
    "metrics_dates_epoch_ms.csv": [
        "2024-01-31",
        "2024-02-07",
        "2024-02-14",
        "2024-02-21 09:30:00",
        "2024-02-28 00:00:00.25",
        "2024-03-06",
    ],
    "metrics_dates_excel_serial.csv": [
        "2024-01-31 00:00:00",
        "2024-01-31 12:00:00",
        "2024-02-07",
        "2024-02-14",
        "2024-02-21 06:00:00",
        "2024-02-29",
    ],
    "metrics_dates_us.csv": ["2024-01-31", "2024-02-07", "2024-02-14", "2024-02-21", "2024-02-28", "2024-03-06"],
}
AMBIGUOUS_DAY_FIRST = ["2024-04-03", "2024-04-10", "2024-02-05", "2024-03-12", "2024-01-06", "2024-11-02"]
AMBIGUOUS_MONTH_FIRST = ["2024-03-04", "2024-10-04", "2024-05-02", "2024-12-03", "2024-06-01", "2024-02-11"]


def dated(frame: pd.DataFrame) -> list[tuple]:
    return sorted((pd.Timestamp(r.observed_at), round(float(r.value), 9)) for r in frame.itertuples())


def dated_expected(timestamps: list[str]) -> list[tuple]:
    return sorted((pd.Timestamp(t), v) for t, v in zip(timestamps, DATE_VALUES))


@pytest.mark.parametrize("name", list(DATE_FILES))
def test_every_date_form_is_stored_as_the_right_utc_timestamp(demo_store, name):
    result = upload(demo_store, name)
    frame = stored_observations(demo_store, result)

    assert dated(frame) == dated_expected(DATE_FILES[name]), "each row keeps its own date (zipped with its value)"
    assert (result.rows_to_store, result.rows_rejected) == (6, 0)
    assert set(frame.pilot_id) == {"SC-01"} and set(frame.metric) == {"accuracy"} and set(frame.environment) == {"live"}
    assert result.warnings == [], "only the ambiguous file warns"


def test_ambiguous_dates_warn_and_are_read_day_first(demo_store):
    result = upload(demo_store, "metrics_dates_ambiguous.csv")
    frame = stored_observations(demo_store, result)

    assert dated(frame) == dated_expected(AMBIGUOUS_DAY_FIRST)
    assert any("day-first" in w and "month-first" in w for w in result.warnings), result.warnings


def test_ambiguous_dates_read_month_first_when_the_user_says_so(demo_store):
    result = upload(demo_store, "metrics_dates_ambiguous.csv", date_order="mdy")
    frame = stored_observations(demo_store, result)

    assert dated(frame) == dated_expected(AMBIGUOUS_MONTH_FIRST)
    assert not any("day-first" in w for w in result.warnings), "the user chose; nothing left to warn about"


# -- title lines, comments, totals, footers, a second table ----------------------------------------

FRAMED_FILES = {
    "metrics_ga_preamble.csv": dict(
        preamble_lines=6,
        footer_lines=1,
        second_table_lines=4,
        warnings=["Total", "Device Category"],
        rows=long_rows("RO-02", "active_users", "live", "2024-01-01", [41, 44, 47, 52, 55, 58, 61, 63]),
    ),
    "metrics_title_lines.csv": dict(
        preamble_lines=2,
        footer_lines=2,
        second_table_lines=0,
        warnings=["Grand Total"],
        rows=long_rows("CS-01", "active_users", "live", "2024-01-01", [120, 134, 151, 160, 172, 185, 190, 204]),
    ),
}


@pytest.mark.parametrize("name", list(FRAMED_FILES))
def test_preamble_totals_footers_and_second_tables_are_skipped_with_warnings(demo_store, name):
    case = FRAMED_FILES[name]
    result = upload(demo_store, name)
    frame = stored_observations(demo_store, result)

    assert observations(frame) == expected(case["rows"])
    assert (result.rows_to_store, result.rows_rejected) == (8, 0), "totals are left out, not rejected"
    assert result.format.preamble_lines == case["preamble_lines"]
    assert result.format.footer_lines == case["footer_lines"]
    assert result.format.second_table_lines == case["second_table_lines"]
    for needle in case["warnings"]:
        assert any(needle in w for w in result.warnings), (needle, result.warnings)
    assert not {421.0, 1316.0, 1207.0} & set(frame.value), "no total or second-table number is stored"


# -- ragged rows, duplicates, formula-looking text, unknown pilots ----------------------------------


def test_ragged_rows_are_rejected_with_their_lines_and_field_counts(demo_store):
    result = upload(demo_store, "metrics_ragged.csv")
    frame = stored_observations(demo_store, result)

    assert (result.rows_to_store, result.rows_rejected) == (8, 2)
    assert series(frame, "cost_per_drop", "live", "SC-04") == [
        (pd.Timestamp(d), v)
        for d, v in [
            ("2024-01-01", 6.4),
            ("2024-01-08", 6.3),
            ("2024-01-22", 6.1),
            ("2024-02-05", 5.9),
            ("2024-02-12", 5.8),
        ]
    ]
    assert series(frame, "deliveries_per_day", "live", "SC-04") == [
        (pd.Timestamp("2024-01-01"), 1234.5),
        (pd.Timestamp("2024-01-22"), 1301.0),
        (pd.Timestamp("2024-02-05"), 1320.0),
    ], 'a quoted "1,234.5" is one field'
    assert [p.row for p in result.problems] == [5, 8]
    assert "4 values" in result.problems[0].message and "5 columns" in result.problems[0].message
    assert "6 values" in result.problems[1].message and "5 columns" in result.problems[1].message
    rejected = result.rejected_rows
    assert list(rejected["line"]) == [5, 8]
    assert "4 values" in rejected["reason"].iloc[0] and "6 values" in rejected["reason"].iloc[1]


def test_exact_duplicate_rows_are_stored_once_with_a_warning(demo_store):
    result = upload(demo_store, "metrics_duplicates.csv")
    frame = stored_observations(demo_store, result)

    assert len(frame) == result.rows_to_store == 10
    assert result.rows_left_out == 2 and result.rows_rejected == 0
    assert any("duplicate" in w for w in result.warnings), result.warnings
    assert not frame.duplicated(["pilot_id", "metric", "environment", "observed_at"]).any()
    assert series(frame, "revenue_per_visitor", "live", "MK-02") == weekly("2024-01-01", [2.11, 2.14, 2.13, 2.19, 2.22])
    assert series(frame, "accuracy", "lab", "MK-02") == weekly("2024-01-01", [0.64, 0.66, 0.67, 0.69, 0.70])


def test_formula_looking_metric_names_are_stored_exactly_as_written(demo_store):
    result = upload(demo_store, "metrics_formula_text.csv")
    frame = stored_observations(demo_store, result)

    assert result.rows_to_store == 6 and len(frame) == 6
    assert set(frame.metric) == {"accuracy", '=HYPERLINK("http://x","acc")', "@SUM(A1)"}
    assert series(frame, '=HYPERLINK("http://x","acc")') == [(pd.Timestamp("2024-01-08"), 0.72)]
    assert series(frame, "@SUM(A1)") == [(pd.Timestamp("2024-01-22"), 0.74)]
    assert [v for _, v in series(frame, "accuracy", "live", "CS-02")] == [0.71, 0.73, 0.74, 0.76]


def test_unknown_pilot_codes_refuse_the_whole_file_and_suggest_the_closest_codes(demo_store):
    """Product rule: metrics for a pilot code that does not exist refuse the file, nothing stored."""
    before = table_counts(demo_store)
    result = upload(demo_store, "metrics_unknown_pilot.csv")

    assert result.status == "refused" and result.upload_id is None
    assert "metrics_unknown_pilot.csv" in result.refusal
    suggestions = {
        code.upper(): [c.strip() for c in near.split(",")]
        for code, near in re.findall(r"([\w-]+) \(closest: ([^)]*)\)", result.refusal)
    }
    assert set(suggestions) == {"SC-99", "SC01"}, result.refusal
    assert suggestions["SC01"][0] == "SC-01", "sc01 is SC-01 without its dash"
    assert all(re.fullmatch(r"SC-0[1-5]", c) for c in suggestions["SC-99"]), suggestions
    assert "SC-01 (" not in result.refusal, "SC-01 itself is known"
    assert table_counts(demo_store) == before


# -- wide layouts ---------------------------------------------------------------------------------------


def test_one_column_per_metric_becomes_one_observation_per_cell(demo_store):
    result = upload(demo_store, "metrics_wide_per_metric.csv", pilot_id="SC-01", environment="live")
    frame = stored_observations(demo_store, result)

    assert len(frame) == result.rows_to_store == 24
    assert result.mapping.layout == "wide_metric"
    assert set(frame.metric) == {"accuracy", "f1", "precision"}, "`date` is not a metric"
    assert set(frame.pilot_id) == {"SC-01"} and set(frame.environment) == {"live"}
    assert series(frame, "accuracy") == weekly("2024-01-01", [0.81, 0.82, 0.82, 0.83, 0.84, 0.84, 0.85, 0.86])
    assert series(frame, "f1") == weekly("2024-01-01", [0.74, 0.75, 0.77, 0.77, 0.78, 0.79, 0.80, 0.81])
    assert series(frame, "precision") == weekly("2024-01-01", [0.78, 0.78, 0.79, 0.80, 0.81, 0.81, 0.82, 0.83])


def test_a_file_without_pilot_or_environment_is_not_stored_until_they_are_chosen(demo_store):
    before = table_counts(demo_store)
    result = upload(demo_store, "metrics_wide_per_metric.csv")

    assert result.status == "refused" and "metrics_wide_per_metric.csv" in result.refusal
    assert table_counts(demo_store) == before


def test_one_column_per_date_becomes_one_observation_per_cell(demo_store):
    result = upload(demo_store, "metrics_wide_per_date.csv", pilot_id="SC-01", environment="lab")
    frame = stored_observations(demo_store, result)

    assert len(frame) == result.rows_to_store == 32
    assert result.mapping.layout == "wide_date"
    assert set(frame.metric) == {"accuracy", "f1", "precision", "recall"}
    assert series(frame, "accuracy") == weekly("2024-01-01", [0.790, 0.795, 0.801, 0.806, 0.812, 0.815, 0.821, 0.824])
    assert series(frame, "f1") == weekly("2024-01-01", [0.702, 0.709, 0.714, 0.722, 0.728, 0.731, 0.737, 0.744])
    assert series(frame, "precision") == weekly("2024-01-01", [0.751, 0.755, 0.760, 0.766, 0.770, 0.774, 0.779, 0.781])
    assert series(frame, "recall") == weekly("2024-01-01", [0.661, 0.668, 0.673, 0.683, 0.690, 0.693, 0.700, 0.711])
    assert dict(series(frame, "recall"))[pd.Timestamp("2024-02-19")] == 0.711
    assert dict(series(frame, "accuracy"))[pd.Timestamp("2024-01-01")] == 0.79


RO02_USERS = [41, 44, 47, 52, 55, 58, 61, 63]
RO02_SESSIONS = [180, 192, 205, 221, 240, 236, 259, 270]


def test_usage_wide_stores_active_users_and_sessions_per_pilot(demo_store):
    result = upload(demo_store, "usage_wide.csv")
    frame = stored_observations(demo_store, result)

    assert result.kind == "usage"
    assert len(frame) == result.rows_to_store == 32
    assert set(frame.metric) == {"active_users", "sessions"} and set(frame.pilot_id) == {"SC-01", "RO-02"}
    assert set(frame.kind) == {"adoption"} and set(frame.environment) == {"live"}
    assert series(frame, "active_users", pilot="SC-01") == weekly("2024-01-01", [10, 11, 12, 13, 15, 16, 18, 19])
    assert series(frame, "sessions", pilot="SC-01") == weekly("2024-01-01", [46, 43, 51, 55, 62, 60, 71, 78])
    assert series(frame, "active_users", pilot="RO-02") == weekly("2024-01-01", RO02_USERS)
    assert series(frame, "sessions", pilot="RO-02") == weekly("2024-01-01", RO02_SESSIONS)


def test_amplitude_chart_export_one_row_per_metric_behind_title_lines(demo_store):
    result = upload(demo_store, "usage_amplitude_wide_per_date.csv", pilot_id="RO-02")
    frame = stored_observations(demo_store, result)

    assert result.format.preamble_lines == 2
    assert len(frame) == result.rows_to_store == 16
    assert set(frame.metric) == {"active_users", "sessions"}, "`Active users` is active_users"
    assert set(frame.pilot_id) == {"RO-02"}
    assert series(frame, "active_users") == weekly("2024-01-01", RO02_USERS)
    assert series(frame, "sessions") == weekly("2024-01-01", RO02_SESSIONS)


# -- real tool exports: MLflow and Weights & Biases ---------------------------------------------------

MLFLOW_RUNS = {  # run name -> the metrics README.md lists for it
    "tuned-final": {"accuracy": 0.87, "f1": 0.84, "rmse": 9.7, "delta_vs_baseline": 0.08},
    "fast-lr": {"accuracy": 0.7, "f1": 0.66, "rmse": 14.2, "delta_vs_baseline": -0.07},
    "deeper-trees": {"accuracy": 0.83, "f1": 0.79, "rmse": 10.9, "delta_vs_baseline": 0.03},
    "baseline-xgb": {"accuracy": 0.78, "f1": 0.74, "rmse": 12.4, "delta_vs_baseline": -0.12},
}


def test_mlflow_search_runs_stores_each_runs_metrics_as_lab_results(demo_store):
    result = upload(demo_store, "mlflow_search_runs.csv")
    frame = stored_observations(demo_store, result)

    assert result.mapping.export == "MLflow runs (search_runs)"
    assert len(frame) == result.rows_to_store == 16
    assert set(frame.metric) == {"accuracy", "f1", "rmse", "delta_vs_baseline"}, "no `metrics.` prefix, no params"
    assert set(frame.environment) == {"lab"} and set(frame.pilot_id) == {"SC-01"}, "pilot from tags.pilot_id"
    runs = {
        r["tags.mlflow.runName"]: r
        for r in csv.DictReader(io.StringIO((UPLOADS / "mlflow_search_runs.csv").read_text()))
    }
    by_time = {pd.Timestamp(t): dict(zip(g.metric, g.value.round(9))) for t, g in frame.groupby("observed_at")}
    assert len(by_time) == 4, "each run is one time"
    for name, metrics in MLFLOW_RUNS.items():
        times = {pd.Timestamp(runs[name][c]).tz_convert("UTC").tz_localize(None) for c in ("start_time", "end_time")}
        matches = [t for t in times if t in by_time]
        assert len(matches) == 1, f"{name} stored at its own start or end time"
        assert by_time[matches[0]] == pytest.approx(metrics), name
    assert sorted(frame[frame.metric == "delta_vs_baseline"].value.round(9)) == [-0.12, -0.07, 0.03, 0.08]


def test_mlflow_metric_history_keeps_each_step_at_its_millisecond_timestamp(demo_store):
    result = upload(demo_store, "mlflow_metric_history.csv", pilot_id="SC-01")
    frame = stored_observations(demo_store, result)

    assert len(frame) == result.rows_to_store == 6
    assert set(frame.metric) == {"accuracy"} and set(frame.environment) == {"lab"}
    millis = [48, 60, 74, 88, 103, 117]
    values = [0.75, 0.79, 0.83, 0.85, 0.86, 0.87]
    assert series(frame, "accuracy") == [
        (pd.Timestamp("2026-11-25 19:56:18") + pd.Timedelta(milliseconds=ms), v) for ms, v in zip(millis, values)
    ]


def test_mlflow_ui_download_stores_metrics_not_params_and_reads_apostrophe_negatives(demo_store):
    result = upload(demo_store, "mlflow_ui_download.csv")
    frame = stored_observations(demo_store, result)

    assert len(frame) == result.rows_to_store == 16
    assert set(frame.metric) == {"accuracy", "f1", "rmse", "delta_vs_baseline"}
    assert not {"learning_rate", "max_depth"} & set(frame.metric)
    assert any("learning_rate" in w and "max_depth" in w for w in result.warnings), result.warnings
    assert set(frame.environment) == {"lab"} and set(frame.pilot_id) == {"SC-01"}
    for metric in ("accuracy", "f1", "rmse", "delta_vs_baseline"):
        assert sorted(frame[frame.metric == metric].value.round(9)) == sorted(
            r[metric] for r in MLFLOW_RUNS.values()
        ), metric
    assert {-0.07, -0.12} <= set(frame.value.round(9)), '"\'-0.07" is -0.07'


WANDB_RUNS = {  # Created (UTC) -> (accuracy, val_loss)
    "2024-01-31 10:15:32": (0.812, 0.4321),
    "2024-02-01 09:02:11": (0.834, 0.4012),
    "2024-02-02 14:40:05": (0.655, 0.7123),
    "2024-02-05 08:00:00": (0.851, 0.3876),
}


def test_wandb_runs_table_stores_accuracy_and_val_loss_only(demo_store):
    result = upload(
        demo_store, "wandb_runs_table.csv", pilot_id="SC-01", keep_unfinished_runs=True
    )  # royal-pine-3 crashed
    frame = stored_observations(demo_store, result)

    assert result.mapping.export == "Weights & Biases runs table"
    assert len(frame) == result.rows_to_store == 8
    assert set(frame.metric) == {"accuracy", "val_loss"}, "lr, batch_size, _step, _runtime, _timestamp are not metrics"
    assert set(frame.environment) == {"lab"}
    assert series(frame, "accuracy") == [(pd.Timestamp(t), a) for t, (a, _) in WANDB_RUNS.items()]
    assert series(frame, "val_loss") == [(pd.Timestamp(t), v) for t, (_, v) in WANDB_RUNS.items()]


def test_wandb_chart_export_stores_the_last_step_of_each_run_on_the_chosen_date(demo_store):
    result = upload(demo_store, "wandb_chart_export.csv", pilot_id="SC-01", observed_on=date(2024, 2, 10))
    frame = stored_observations(demo_store, result)

    assert result.mapping.export == "Weights & Biases chart export"
    assert observations(frame) == expected(
        [
            ("SC-01", "accuracy (glad-sun-1)", "lab", "2024-02-10", 0.81),
            ("SC-01", "accuracy (misty-wave-2)", "lab", "2024-02-10", 0.82),
        ]
    ), "misty-wave-2's empty steps 7-9 are not zeros: its last value is step 6's 0.82"
    assert not any("__MIN" in m or "__MAX" in m for m in frame.metric)
    assert any("step" in w for w in result.warnings), result.warnings


def test_wandb_chart_export_is_dated_today_by_default(demo_store):
    before = date.today()
    result = upload(demo_store, "wandb_chart_export.csv", pilot_id="SC-01")
    frame = stored_observations(demo_store, result)

    assert len(frame) == 2
    assert {pd.Timestamp(t).date() for t in frame.observed_at} <= {before, date.today()}


# -- surveys ------------------------------------------------------------------------------------------------


@dataclass
class SurveyCase:
    name: str
    kept: int
    left_out: int
    teams: dict[str, int]
    means: tuple[float, ...]
    skipped: tuple[str, object] | None  # (column, value) of the one response with ability blank
    first: tuple[str, object, tuple[int, ...]]  # (column, value, scores) of a known response
    options: dict | None = None


SURVEYS = [
    SurveyCase(
        "qualtrics_adkar.csv",
        25,
        4,
        {"Fresh planners": 15, "Store fresh leads": 10},
        (102 / 25, 93 / 25, 83 / 25, 70 / 24, 61 / 25),
        ("respondent_id", "R_9mP0dCvB2nM7qWe"),
        ("respondent_id", "R_3eR6uJkL8oP1qSd", (5, 4, 4, 3, 3)),
    ),
    SurveyCase(
        "qualtrics_adkar_numeric.csv",
        25,
        4,
        {"1": 15, "2": 10},
        (102 / 25, 93 / 25, 83 / 25, 70 / 24, 61 / 25),
        ("respondent_id", "R_9mP0dCvB2nM7qWe"),
        ("respondent_id", "R_3eR6uJkL8oP1qSd", (5, 4, 4, 3, 3)),
    ),
    SurveyCase(
        "surveymonkey_adkar.csv",
        20,
        0,
        {"Fresh planners": 12, "Store fresh leads": 8},
        (80 / 20, 74 / 20, 66 / 20, 57 / 19, 49 / 20),
        ("respondent_id", "114630250519"),
        ("respondent_id", "114630250741", (4, 4, 3, 3, 2)),
    ),
    SurveyCase(
        "google_forms_adkar.csv",
        15,
        0,
        {"Fresh planners": 9, "Store fresh leads": 6},
        (60 / 15, 55 / 15, 48 / 15, 39 / 14, 36 / 15),
        ("responded_at", pd.Timestamp("2024-01-31 16:58:01")),
        ("responded_at", pd.Timestamp("2024-01-29 09:05:11"), (4, 4, 3, 3, 2)),
    ),
    SurveyCase(
        "microsoft_forms_adkar.xlsx",
        15,
        0,
        {"Fresh planners": 9, "Store fresh leads": 6},
        (59 / 15, 56 / 15, 49 / 15, 40 / 14, 37 / 15),
        ("respondent_id", "8"),
        ("respondent_id", "1", (4, 4, 3, 3, 2)),
    ),
    SurveyCase(
        "survey_adkar_order_only.csv",
        12,
        0,
        {"Fresh planners": 7, "Store fresh leads": 5},
        (47 / 12, 45 / 12, 39 / 12, 34 / 12, 27 / 12),
        None,
        ("respondent_id", "P01", (4, 4, 3, 3, 2)),
    ),
]


@pytest.mark.parametrize("case", SURVEYS, ids=lambda c: c.name)
def test_survey_export_keeps_the_right_responses_and_scores(demo_store, case):
    with demo_store.read() as con:
        last_wave = con.execute("SELECT max(wave) FROM survey_responses WHERE pilot_id = 'SC-01'").fetchone()[0] or 0
    result = upload(demo_store, case.name, pilot_id="SC-01")
    frame = stored_responses(demo_store, result)

    assert result.kind == "survey"
    assert len(frame) == result.rows_to_store == case.kept
    assert (result.rows_left_out, result.rows_rejected) == (case.left_out, 0)
    assert set(frame.pilot_id) == {"SC-01"}
    assert frame.respondent_id.is_unique
    assert frame.team.value_counts().to_dict() == case.teams
    assert adkar_means(demo_store, result) == pytest.approx(case.means, abs=1e-4)
    for element in ADKAR:  # never 0 for a skipped answer
        answered = frame.loc[~frame[f"{element}_is_null"], element]
        assert answered.between(1, 5).all(), element
    null_abilities = frame[frame.ability_is_null]
    if case.skipped is None:
        assert null_abilities.empty
    else:
        column, value = case.skipped
        assert list(null_abilities[column]) == [value], "exactly the skipped answer is NULL"
        assert not null_abilities[[f"{e}_is_null" for e in ADKAR if e != "ability"]].any(axis=None)
    column, value, scores = case.first
    row = frame[frame[column] == value]
    assert len(row) == 1 and tuple(int(row[e].iloc[0]) for e in ADKAR) == scores
    assert set(frame.wave) == {last_wave + 1}, "without a wave in the file, the pilot's next wave"


QUALTRICS_LEFT_OUT = {"R_1pQ8vXzK3mN2aLb", "R_2cW7yHtD5sE9fGh", "R_1oS8gBnM0qW9eRt", "R_0xX9bUiO1pA8sDf"}
QUALTRICS_COMMENTS = {
    "R_4gT5iMnB7vC2xZa": "Good tool, but the training was too short.",
    "R_6jU3pAsD5fG4hJk": 'The "exceptions" screen is confusing, especially on Mondays.',
    "R_0nA9fVbN1mQ8wEr": "Two things:\nberry forecasts are too high\nand the export is slow, sometimes 2 minutes.",
    "R_4rG5kQwE7rT2yUi": "=) Works well for me, thanks!",
    "R_7uK2xRtY4uI5oPa": "Manager never asks about it; we just keep using the old spreadsheet.",
    "R_4bN5wAsD7fG2hJk": "I don't trust the numbers yet.",
    "R_7eW2tFgH4jK5lZx": "Ça marche — mais l'écran est lent.",
}


def test_qualtrics_leaves_out_previews_and_unfinished_and_converts_berlin_time_to_utc(demo_store):
    result = upload(demo_store, "qualtrics_adkar.csv", pilot_id="SC-01")
    frame = stored_responses(demo_store, result)

    assert result.format.header_rows == 3 and result.format.byte_order_mark
    assert not QUALTRICS_LEFT_OUT & set(frame.respondent_id)
    assert any("Europe/Berlin" in w for w in result.warnings), result.warnings
    first, last = frame.iloc[0], frame.iloc[-1]
    assert first.respondent_id == "R_3eR6uJkL8oP1qSd" and pd.Timestamp(first.responded_at) == pd.Timestamp(
        "2024-01-29 07:44:49"
    )
    assert last.respondent_id == "R_9gR0uHjK2lZ7xCv" and pd.Timestamp(last.responded_at) == pd.Timestamp(
        "2024-02-08 14:03:34"
    )
    assert tuple(int(last[e]) for e in ADKAR) == (5, 5, 4, 4, 3)
    assert result.date_range == (pd.Timestamp("2024-01-29 07:44:49"), pd.Timestamp("2024-02-08 14:03:34"))


@pytest.mark.slow
def test_qualtrics_comments_are_stored_exactly_and_empty_ones_as_null(demo_store):
    result = upload(demo_store, "qualtrics_adkar.csv", pilot_id="SC-01")
    frame = stored_responses(demo_store, result)

    comments = {r.respondent_id: r.comment for r in frame.itertuples() if not r.comment_is_null}
    assert comments == QUALTRICS_COMMENTS
    assert frame.comment_is_null.sum() == 25 - len(QUALTRICS_COMMENTS)


@pytest.mark.slow
def test_qualtrics_numeric_export_gives_the_same_responses_as_the_text_export(demo_store):
    text = stored_responses(demo_store, upload(demo_store, "qualtrics_adkar.csv", pilot_id="SC-01", wave=7))
    numeric = stored_responses(demo_store, upload(demo_store, "qualtrics_adkar_numeric.csv", pilot_id="SC-01", wave=8))

    columns = ["respondent_id", "responded_at", *ADKAR, *(f"{e}_is_null" for e in ADKAR)]
    pd.testing.assert_frame_equal(
        text[columns].sort_values("respondent_id").reset_index(drop=True),
        numeric[columns].sort_values("respondent_id").reset_index(drop=True),
    )
    codes = set(zip(numeric.sort_values("respondent_id").team, text.sort_values("respondent_id").team))
    assert codes == {("1", "Fresh planners"), ("2", "Store fresh leads")}, "the numeric export's team codes"


def test_surveymonkey_reads_the_two_header_rows_and_its_12_hour_dates(demo_store):
    result = upload(demo_store, "surveymonkey_adkar.csv", pilot_id="SC-01")
    frame = stored_responses(demo_store, result).set_index("respondent_id")

    assert result.format.header_rows == 2
    assert pd.Timestamp(frame.loc["114630250741", "responded_at"]) == pd.Timestamp("2024-02-16 15:42:38")
    assert pd.Timestamp(frame.loc["114630250038", "responded_at"]) == pd.Timestamp("2024-02-05 11:14:01")


def test_surveymonkey_comments_are_stored_exactly(demo_store):
    result = upload(demo_store, "surveymonkey_adkar.csv", pilot_id="SC-01")
    frame = stored_responses(demo_store, result)

    comments = {r.respondent_id: r.comment for r in frame.itertuples() if not r.comment_is_null}
    assert comments == {
        "114630250704": "Need more practice time",
        "114630250593": "Nobody checks whether we use it.",
        "114630250445": "Better than the spreadsheet, honestly",
        "114630250223": "Too many screens",
    }


def test_google_forms_email_addresses_are_never_stored(demo_store):
    result = upload(demo_store, "google_forms_adkar.csv", pilot_id="SC-01")
    frame = stored_responses(demo_store, result)

    assert frame.respondent_id.str.match(r"^R-[0-9A-F]+$").all(), list(frame.respondent_id)
    assert frame.respondent_id.nunique() == 15
    assert any("pseudonym" in w for w in result.warnings), result.warnings
    with demo_store.read() as con:
        texts = con.execute(
            "SELECT string_agg(concat_ws('|', respondent_id, team, role, comment), '|') FROM survey_responses WHERE upload_id = ?",
            [result.upload_id],
        ).fetchone()[0]
        upload_record = con.execute("SELECT details FROM uploads WHERE upload_id = ?", [result.upload_id]).fetchone()[0]
    assert "@" not in texts and "example.com" not in texts
    assert "example.com" not in (upload_record or "")
    assert not result.preview.respondent_id.astype(str).str.contains("@").any()
    assert [pd.Timestamp(t) for t in (frame.responded_at.min(), frame.responded_at.max())] == [
        pd.Timestamp("2024-01-29 09:05:11"),
        pd.Timestamp("2024-02-14 17:22:48"),
    ], "Google's M/D/YYYY H:MM:SS, stored as written"


def test_microsoft_forms_workbook_uses_id_for_respondents_and_real_excel_times(demo_store):
    result = upload(demo_store, "microsoft_forms_adkar.xlsx", pilot_id="SC-01")
    frame = stored_responses(demo_store, result).set_index("respondent_id")

    assert result.format.container == "xlsx" and result.format.sheet == "Sheet1"
    assert set(frame.index) == {str(i) for i in range(1, 16)}, "ID, not the `anonymous` Email"
    assert pd.Timestamp(frame.loc["1", "responded_at"]) == pd.Timestamp("2024-02-12 09:15:38")
    assert pd.Timestamp(frame.loc["15", "responded_at"]) == pd.Timestamp("2024-02-21 11:07:30")


def test_survey_with_bare_question_numbers_is_mapped_by_position_with_a_warning(demo_store):
    result = upload(demo_store, "survey_adkar_order_only.csv", pilot_id="SC-01")
    frame = stored_responses(demo_store, result)

    assert [result.mapping.targets[q] for q in ("Q1", "Q2", "Q3", "Q4", "Q5")] == list(ADKAR)
    assert any("in order" in w and "Awareness" in w for w in result.warnings), result.warnings
    assert set(frame.respondent_id) == {f"P{i:02d}" for i in range(1, 13)}
    assert frame.responded_at.isna().all(), "no timestamps in the file"


# -- pilot register -------------------------------------------------------------------------------------------

NEW_01_READINESS = {
    "pipeline_automated": True,
    "data_quality_monitored": False,
    "master_data_managed": None,
    "api_designed": True,
    "latency_defined": True,
    "error_handling_designed": False,
    "integration_resourced": True,
    "change_plan": True,
    "training_ready": False,
    "monitoring_in_place": True,
    "drift_alerts": False,
    "responsible_ai_review": None,
    "escalation_path": True,
}


@pytest.mark.parametrize("name, container", [("pilots_register.csv", "text"), ("pilots_register.xlsx", "xlsx")])
def test_register_stores_new_pilots_and_rejects_an_unknown_stage(demo_store, name, container):
    result = upload(demo_store, name)
    expect_stored(result)

    assert result.kind == "pilot_register" and result.format.container == container
    assert (result.rows_to_store, result.rows_rejected) == (2, 1)
    assert result.pilots == ["NEW-01", "NEW-02"]

    new1 = pilot_row(demo_store, "NEW-01")
    assert (new1["name"], new1["business_unit"], new1["stage"]) == ("Bakery demand sensing", "Supply Chain", "pilot")
    assert (new1["budget"], new1["spend_to_date"]) == (650000, 210000)
    assert (new1["kpi_baseline"], new1["kpi_target"], new1["kpi_direction"]) == (9.5, 6, "down")
    assert (new1["approved_on"], new1["stage_since"]) == (date(2025, 3, 3), date(2025, 4, 1))
    assert {k: new1[k] for k in READINESS} == NEW_01_READINESS, "yes/no, y/n, TRUE/false, 1/0 and blank = NULL"

    new2 = pilot_row(demo_store, "NEW-02")
    assert (new2["name"], new2["business_unit"], new2["stage"]) == (
        "Returns fraud screening",
        "Retail Operations",
        "proposed",
    )
    assert new2["budget"] == 1200000, '"$1,200,000"'
    assert new2["approved_on"] is None
    assert new2["kpi_direction"] == "down", "baseline 3.1 > target 2.2"
    assert {k: new2[k] for k in READINESS} == {k: None for k in READINESS}

    assert pilot_row(demo_store, "NEW-03") is None
    assert [(p.row, p.column) for p in result.problems] == [(4, "stage")]
    assert "stage" in result.problems[0].message.lower() and "dreaming" in result.problems[0].message
    assert list(result.rejected_rows["line"]) == [4] and list(result.rejected_rows["column"]) == ["stage"]


# -- files to refuse, or to read despite their name -------------------------------------------------------------

REFUSED = {
    "empty.csv": "empty",
    "whitespace_only.csv": "nothing to read",
    "header_only.csv": "no data rows",
    "image_named.csv": "PNG",
    "old_excel.xls": ".xls",
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_unreadable_files_are_refused_and_nothing_is_stored(demo_store, name):
    before = table_counts(demo_store)
    result = upload(demo_store, name)

    assert result.status == "refused" and result.upload_id is None
    assert name in result.refusal and REFUSED[name] in result.refusal, result.refusal
    assert result.rows_to_store == 0
    assert table_counts(demo_store) == before


def test_workbook_named_csv_is_read_as_a_workbook(demo_store):
    result = upload(demo_store, "xlsx_renamed.csv")
    frame = stored_observations(demo_store, result)

    assert result.format.container == "xlsx" and result.format.sheet == "Metrics"
    assert observations(frame) == expected(
        long_rows("MK-01", "revenue_per_visit", "live", "2024-01-01", [3.21, 3.25, 3.24, 3.31, 3.36, 3.40])
    )


# -- storing twice ----------------------------------------------------------------------------------------------------


def test_checking_without_commit_stores_nothing(demo_store):
    before = table_counts(demo_store)
    result = upload(demo_store, "metrics_long_utf8.csv", commit=False)

    assert result.status == "ready" and result.rows_to_store == 20 and result.upload_id is None
    assert table_counts(demo_store) == before


def test_the_same_bytes_again_are_a_duplicate_and_store_nothing(demo_store):
    first = upload(demo_store, "metrics_long_utf8.csv")
    expect_stored(first)
    before = table_counts(demo_store)

    again = upload(demo_store, "metrics_long_utf8.csv")

    assert again.status == "duplicate" and again.duplicate_of == first.upload_id
    assert again.upload_id is None
    assert table_counts(demo_store) == before


def overlapping_copy(new_lab_value: str, extra_row: str = "") -> bytes:
    """metrics_long_utf8.csv's header and first two rows (SC-01 accuracy 2024-01-01, lab then live),
    with the lab value changed, and optionally one new row."""
    lines = (UPLOADS / "metrics_long_utf8.csv").read_text().splitlines(keepends=True)
    assert lines[1] == "SC-01,accuracy,lab,2024-01-01,0.800\n"
    return (lines[0] + lines[1].replace("0.800", new_lab_value) + lines[2] + extra_row).encode()


def stored_value(store, environment: str, day: str) -> list[float]:
    with store.read() as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT value FROM metric_observations JOIN uploads USING (upload_id) WHERE withdrawn_at IS NULL "
                "AND pilot_id = 'SC-01' AND metric = 'accuracy' AND environment = ? AND observed_at = ?",
                [environment, pd.Timestamp(day)],
            ).fetchall()
        ]


def test_overlapping_observations_keep_the_stored_values_by_default(demo_store):
    expect_stored(upload(demo_store, "metrics_long_utf8.csv"))
    before = table_counts(demo_store)

    result = upload(demo_store, "overlap.csv", data=overlapping_copy("0.900", "SC-01,accuracy,lab,2024-03-11,0.860\n"))
    frame = stored_observations(demo_store, result)

    assert result.already_stored == 2 and result.rows_to_store == 1
    assert any("already stored" in w and "kept" in w for w in result.warnings), result.warnings
    assert observations(frame) == expected([("SC-01", "accuracy", "lab", "2024-03-11", 0.86)])
    assert stored_value(demo_store, "lab", "2024-01-01") == [0.8], "the stored value was kept, not duplicated"
    assert table_counts(demo_store)["metric_observations"] == before["metric_observations"] + 1


def test_overlapping_observations_are_replaced_when_asked(demo_store):
    expect_stored(upload(demo_store, "metrics_long_utf8.csv"))
    before = table_counts(demo_store)

    result = upload(demo_store, "overlap.csv", data=overlapping_copy("0.950"), replace_existing=True)
    expect_stored(result)

    assert result.already_stored == 2 and result.rows_replaced == 2 and result.rows_to_store == 2
    assert stored_value(demo_store, "lab", "2024-01-01") == [0.95]
    assert stored_value(demo_store, "live", "2024-01-01") == [0.76]
    assert table_counts(demo_store)["metric_observations"] == before["metric_observations"]


def test_a_file_whose_every_row_is_already_stored_is_a_duplicate(demo_store):
    expect_stored(upload(demo_store, "metrics_long_utf8.csv"))
    before = table_counts(demo_store)

    result = upload(demo_store, "overlap.csv", data=overlapping_copy("0.950"))

    assert result.status == "duplicate" and result.upload_id is None
    assert any("already stored" in w for w in result.warnings)
    assert stored_value(demo_store, "lab", "2024-01-01") == [0.8]
    assert table_counts(demo_store) == before


def test_replacing_keeps_each_uploads_row_count_true(demo_store):
    """After a file replaces stored values, the earlier upload's rows_stored says what it still has."""
    first = upload(demo_store, "metrics_long_utf8.csv")
    overlap = b"pilot_id,metric,environment,observed_at,value\nSC-01,accuracy,lab,2024-01-01,0.5\nSC-01,accuracy,live,2024-01-01,0.4\n"
    second = ingest(demo_store, overlap, "fix.csv", IngestOptions(replace_existing=True), commit=True)
    assert second.status == "stored" and second.rows_replaced == 2
    with demo_store.read() as con:
        for upload_id in (first.upload_id, second.upload_id):
            claimed, actual = con.execute(
                "SELECT rows_stored, (SELECT count(*) FROM metric_observations WHERE upload_id = ?) FROM uploads WHERE upload_id = ?",
                [upload_id, upload_id],
            ).fetchone()
            assert claimed == actual
