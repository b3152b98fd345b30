"""Period dates (months, quarters, fiscal quarters, ISO weeks), columns that mix date spellings,
12-hour-clock (AM/PM) survey dates, and percentages — through the real engine (issue 16, items 4,
6, 7 and 8), plus the parsing functions on their own.

Each file is written the way the tool that makes it writes it: a BI/planning export dates a row by
its period (`Jan-24` is Excel's `mmm-yy`), a SurveyMonkey export has its two header rows and
`MM/DD/YYYY hh:mm:ss AM` times. Expected dates and values are worked out by hand, never by the
engine; stored rows are read back from the store.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from pilot_health.ingest import IngestOptions, ingest, percents
from pilot_health.ingest import values as v
from pilot_health.ingest.periods import looks_like_period, period_date, period_start


def upload(store, name: str, text: str, **options):
    return ingest(store, text.encode("utf-8"), name, IngestOptions(**options), commit=True)


def stored(store, result) -> list[tuple[str, datetime, float]]:
    assert result.status == "stored", f"{result.file_name}: {result.status}: {result.refusal} {result.problems}"
    with store.read() as con:
        rows = con.execute(
            "SELECT metric, observed_at, value FROM metric_observations WHERE upload_id = ? ORDER BY metric, observed_at",
            [result.upload_id],
        ).fetchall()
    return [(m, pd.Timestamp(t).to_pydatetime(), x) for m, t, x in rows]


def long_file(dates: list[str], values: list[str] | None = None, metric: str = "accuracy", pilot: str = "SC-01") -> str:
    values = values or [f"0.{80 + i:02d}" for i in range(len(dates))]
    lines = ["pilot_id,metric,environment,observed_at,value"]
    lines += [f'{pilot},{metric},live,"{d}",{x}' for d, x in zip(dates, values)]
    return "\r\n".join(lines) + "\r\n"


def d(year: int, month: int, day: int, *rest: int) -> datetime:
    return datetime(year, month, day, *rest)


# -- item 4: a date column written as periods ----------------------------------------------------

PERIOD_COLUMNS = {
    # Excel's mmm-yy: twelve months of 2024, never "24 January"
    "excel_mmm_yy": (
        [
            "Jan-24",
            "Feb-24",
            "Mar-24",
            "Apr-24",
            "May-24",
            "Jun-24",
            "Jul-24",
            "Aug-24",
            "Sep-24",
            "Oct-24",
            "Nov-24",
            "Dec-24",
        ],
        [d(2024, m, 1) for m in range(1, 13)],
    ),
    "month_year": (["Jan 2024", "Feb 2024", "Mar 2024"], [d(2024, 1, 1), d(2024, 2, 1), d(2024, 3, 1)]),
    "full_month_year": (
        ["January 2024", "February 2024", "September 2024"],
        [d(2024, 1, 1), d(2024, 2, 1), d(2024, 9, 1)],
    ),
    "iso_month": (["2024-01", "2024-02", "2024-11"], [d(2024, 1, 1), d(2024, 2, 1), d(2024, 11, 1)]),
    "eurostat_month": (["2024M01", "2024M02", "2024M12"], [d(2024, 1, 1), d(2024, 2, 1), d(2024, 12, 1)]),
    "quarter_year": (
        ["Q1 2024", "Q2 2024", "Q3 2024", "Q4 2024"],
        [d(2024, 1, 1), d(2024, 4, 1), d(2024, 7, 1), d(2024, 10, 1)],
    ),
    "year_dash_quarter": (["2024-Q1", "2024-Q2", "2025-Q1"], [d(2024, 1, 1), d(2024, 4, 1), d(2025, 1, 1)]),
    "year_space_quarter": (["2024 Q1", "2024 Q3"], [d(2024, 1, 1), d(2024, 7, 1)]),
    "fiscal_quarter": (
        ["FY24 Q1", "FY24 Q2", "FY2024 Q3", "FY2024 Q4"],
        [d(2024, 1, 1), d(2024, 4, 1), d(2024, 7, 1), d(2024, 10, 1)],
    ),
    # ISO weeks start on Monday; week 1 of 2026 starts on 29 December 2025
    "iso_week": (
        ["2024-W01", "2024-W02", "2024-W52", "2026-W01"],
        [d(2024, 1, 1), d(2024, 1, 8), d(2024, 12, 23), d(2025, 12, 29)],
    ),
    "week_year": (["W01 2024", "W10 2024"], [d(2024, 1, 1), d(2024, 3, 4)]),
}


@pytest.mark.parametrize("case", list(PERIOD_COLUMNS))
def test_a_date_column_of_periods_is_stored_on_each_period_start(demo_store, case):
    dates, expected = PERIOD_COLUMNS[case]
    result = upload(demo_store, f"{case}.csv", long_file(dates))

    rows = stored(demo_store, result)
    assert result.rows_rejected == 0, result.problems
    assert [t for _, t, _ in rows] == expected
    assert [x for _, _, x in rows] == pytest.approx([0.80 + i / 100 for i in range(len(dates))])


def test_fiscal_quarters_follow_the_fiscal_year_start_setting(demo_store, monkeypatch):
    monkeypatch.setenv("PILOT_HEALTH_FISCAL_YEAR_START", "7")  # July: FY2024 runs from 1 July 2023
    result = upload(demo_store, "fiscal.csv", long_file(["FY24 Q1", "FY24 Q2", "FY2024 Q3", "FY2024 Q4"]))

    assert [t for _, t, _ in stored(demo_store, result)] == [
        d(2023, 7, 1),
        d(2023, 10, 1),
        d(2024, 1, 1),
        d(2024, 4, 1),
    ]


def test_a_period_column_is_found_by_its_values_under_any_header(demo_store):
    # A planning sheet's long export: the date column is headed "Fiscal quarter", a name no list holds.
    text = (
        "Pilot,Metric,Environment,Fiscal quarter,Value\r\n"
        "SC-01,accuracy,live,FY24 Q1,0.81\r\n"
        "SC-01,accuracy,live,FY24 Q2,0.83\r\n"
    )
    result = upload(demo_store, "fiscal_quarters.csv", text)

    assert result.mapping.targets["Fiscal quarter"] == "observed_at"
    assert [(t, x) for _, t, x in stored(demo_store, result)] == [
        (d(2024, 1, 1), pytest.approx(0.81)),
        (d(2024, 4, 1), pytest.approx(0.83)),
    ]


def test_an_excel_month_column_in_a_one_column_per_metric_file(demo_store):
    # Excel's "mmm-yy" month column, as a pivot copied to CSV writes it, with a metric per column.
    text = "Month,accuracy,on_shelf_availability\r\nJan-24,0.81,93.5%\r\nFeb-24,0.82,94%\r\nMar-24,0.84,95.25%\r\n"
    rows = stored(demo_store, upload(demo_store, "monthly.csv", text, pilot_id="RO-01", environment="live"))

    assert rows == [
        ("accuracy", d(2024, 1, 1), pytest.approx(0.81)),
        ("accuracy", d(2024, 2, 1), pytest.approx(0.82)),
        ("accuracy", d(2024, 3, 1), pytest.approx(0.84)),
        ("on_shelf_availability", d(2024, 1, 1), pytest.approx(93.5)),
        ("on_shelf_availability", d(2024, 2, 1), pytest.approx(94)),
        ("on_shelf_availability", d(2024, 3, 1), pytest.approx(95.25)),
    ]


# -- item 7: one column, several spellings ---------------------------------------------------------


def test_a_column_mixing_spellings_reads_each_cell_and_rejects_only_the_unreadable_one(demo_store):
    # 31/01/2024 proves the column day-first, so 05/04/2024 is 5 April; 45366 is an Excel serial day.
    dates = ["2024-01-15", "31/01/2024", "Feb 29 2024", "45366", "05/04/2024", "Jun 2024", "sometime in May"]
    result = upload(demo_store, "mixed_dates.csv", long_file(dates))

    rows = stored(demo_store, result)
    assert [(t, x) for _, t, x in rows] == [
        (d(2024, 1, 15), pytest.approx(0.80)),
        (d(2024, 1, 31), pytest.approx(0.81)),
        (d(2024, 2, 29), pytest.approx(0.82)),
        (d(2024, 3, 15), pytest.approx(0.83)),
        (d(2024, 4, 5), pytest.approx(0.84)),
        (d(2024, 6, 1), pytest.approx(0.85)),
    ]
    assert result.rows_rejected == 1
    problem = result.problems[0]
    assert (problem.row, problem.column) == (8, "observed_at")
    assert "‘sometime in May’ could not be read" in problem.message
    assert not any("day-first or month-first" in w for w in result.warnings), "31/01/2024 decided the order"


def test_a_mixed_column_with_a_second_part_above_12_is_month_first(demo_store):
    result = upload(demo_store, "mixed_us.csv", long_file(["2024-01-15", "01/31/2024", "02/03/2024", "Mar 9 2024"]))

    assert [t for _, t, _ in stored(demo_store, result)] == [
        d(2024, 1, 15),
        d(2024, 1, 31),
        d(2024, 2, 3),
        d(2024, 3, 9),
    ]


def test_a_plain_iso_column_keeps_its_own_format(demo_store):
    result = upload(demo_store, "iso.csv", long_file(["2024-01-01", "2024-01-08", "2024-01-15 10:30:00"]))

    assert [t for _, t, _ in stored(demo_store, result)] == [d(2024, 1, 1), d(2024, 1, 8), d(2024, 1, 15, 10, 30)]


# -- item 6: SurveyMonkey's 12-hour clock --------------------------------------------------------

SURVEYMONKEY_HEADER = (
    "Respondent ID,Collector ID,Start Date,End Date,IP Address,Email Address,First Name,Last Name,Custom Data 1,"
    "I have a clear picture of why the business is moving to the new demand forecasting system.,"
    "I am personally motivated to support this change and take part in it.,"
    "I have received enough information and training to know what to do differently.,"
    "I can apply the new skills and behaviours in my day-to-day job.,"
    '"My efforts with the new system are recognised, and there is support to keep it going.",What else should we know?\r\n'
    ",,,,,,,,,Response,Response,Response,Response,Response,Open-Ended Response\r\n"
)


def surveymonkey(end_dates: list[str]) -> str:
    rows = []
    for i, end in enumerate(end_dates):
        rows.append(
            f"11463025{i:04d},431822915,{end},{end},198.51.100.{20 + i},,,,Fresh planners,Agree,Agree,"
            "Neither agree nor disagree,Agree,Disagree,\r\n"
        )
    return SURVEYMONKEY_HEADER + "".join(rows)


def responded(store, result) -> dict[str, datetime]:
    assert result.status == "stored", f"{result.status}: {result.refusal} {result.problems}"
    with store.read() as con:
        rows = con.execute(
            "SELECT respondent_id, responded_at FROM survey_responses WHERE upload_id = ?", [result.upload_id]
        ).fetchall()
    return {r: pd.Timestamp(t).to_pydatetime() for r, t in rows}


def test_surveymonkey_am_pm_dates_are_month_first_by_default(demo_store):
    result = upload(
        demo_store,
        "surveymonkey_us.csv",
        surveymonkey(["03/05/2024 02:02:11 PM", "04/05/2024 09:15:00 AM", "12/01/2024 12:30:00 AM"]),
        pilot_id="SC-01",
    )

    assert responded(demo_store, result) == {
        "114630250000": d(2024, 3, 5, 14, 2, 11),
        "114630250001": d(2024, 4, 5, 9, 15),
        "114630250002": d(2024, 12, 1, 0, 30),
    }
    assert any("month-first" in w and "12-hour clock" in w for w in result.warnings), result.warnings


def test_surveymonkey_am_pm_dates_are_day_first_when_the_column_proves_it(demo_store):
    result = upload(
        demo_store,
        "surveymonkey_eu.csv",
        surveymonkey(["13/05/2024 02:02:11 PM", "04/05/2024 09:15:00 AM"]),
        pilot_id="SC-01",
    )

    assert responded(demo_store, result) == {
        "114630250000": d(2024, 5, 13, 14, 2, 11),
        "114630250001": d(2024, 5, 4, 9, 15),
    }
    assert not any("day-first or month-first" in w for w in result.warnings)


# -- item 8: percentages -----------------------------------------------------------------------------


def test_percent_signs_become_shares_whatever_the_decimal_separator(demo_store):
    point = upload(
        demo_store,
        "accuracy_point.csv",
        long_file(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], ["92%", "92.5 %", "93.25%", "0.925"]),
    )
    assert [x for _, _, x in stored(demo_store, point)] == pytest.approx([0.92, 0.925, 0.9325, 0.925])

    comma = "pilot_id;metric;environment;observed_at;value\r\n" + "".join(
        f"SC-01;accuracy;live;2024-02-0{i + 1};{x}\r\n" for i, x in enumerate(["92%", "92,5 %", "0,925", "0,93"])
    )
    rows = stored(demo_store, upload(demo_store, "accuracy_comma.csv", comma))
    assert [x for _, _, x in rows] == pytest.approx([0.92, 0.925, 0.925, 0.93])


def test_a_metric_kept_in_percent_keeps_the_number_as_written(demo_store):
    # on_shelf_availability's unit is % in the metric dictionary; RO-02's KPI is in % in the register.
    text = (
        "pilot_id,metric,environment,observed_at,value\r\n"
        "RO-01,on_shelf_availability,live,2024-01-01,92%\r\n"
        "RO-01,on_shelf_availability,live,2024-01-08,92.5 %\r\n"
        "RO-01,on_shelf_availability,live,2024-01-15,93.1\r\n"
        "RO-02,Labour cost as share of sales,live,2024-01-01,11.2%\r\n"
        "RO-02,accuracy,live,2024-01-01,88%\r\n"
    )
    rows = stored(demo_store, upload(demo_store, "percent_points.csv", text))

    assert [(m, x) for m, _, x in rows] == [
        ("Labour cost as share of sales", pytest.approx(11.2)),
        ("accuracy", pytest.approx(0.88)),
        ("on_shelf_availability", pytest.approx(92)),
        ("on_shelf_availability", pytest.approx(92.5)),
        ("on_shelf_availability", pytest.approx(93.1)),
    ]


def test_a_wide_file_puts_each_metric_on_its_own_scale(demo_store):
    text = "date,accuracy,on_shelf_availability\r\n2024-01-01,91%,95%\r\n2024-01-08,0.92,95.5 %\r\n"
    rows = stored(demo_store, upload(demo_store, "wide.csv", text, pilot_id="RO-01", environment="live"))

    assert [(m, t, x) for m, t, x in rows] == [
        ("accuracy", d(2024, 1, 1), pytest.approx(0.91)),
        ("accuracy", d(2024, 1, 8), pytest.approx(0.92)),
        ("on_shelf_availability", d(2024, 1, 1), pytest.approx(95)),
        ("on_shelf_availability", d(2024, 1, 8), pytest.approx(95.5)),
    ]


# -- the parsing functions on their own ------------------------------------------------------------

PERIODS = {
    "Jan-24": d(2024, 1, 1),
    "Dec-99": d(1999, 12, 1),
    "Jan 2024": d(2024, 1, 1),
    "January 2024": d(2024, 1, 1),
    "Sept 2024": d(2024, 9, 1),
    "2024 Mar": d(2024, 3, 1),
    "2024-01": d(2024, 1, 1),
    "2024/12": d(2024, 12, 1),
    "2024M01": d(2024, 1, 1),
    "2024m7": d(2024, 7, 1),
    "01/2024": d(2024, 1, 1),
    "Q1 2024": d(2024, 1, 1),
    "Q4-24": d(2024, 10, 1),
    "2024-Q2": d(2024, 4, 1),
    "2024 Q3": d(2024, 7, 1),
    "2024Q4": d(2024, 10, 1),
    "FY24 Q1": d(2024, 1, 1),
    "FY2024 Q2": d(2024, 4, 1),
    "Q3 FY24": d(2024, 7, 1),
    "FY2025": d(2025, 1, 1),
    "2024-W01": d(2024, 1, 1),
    "2024W09": d(2024, 2, 26),
    "W01 2024": d(2024, 1, 1),
    "Week 2 2024": d(2024, 1, 8),
    "2020-W53": d(2020, 12, 28),
    "2026-W01": d(2025, 12, 29),
}
NOT_PERIODS = ["2024-13", "Q5 2024", "2021-W53", "Foo 2024", "2024-01-31", "Feb 29 2024", "45322", "202401", "Jan", ""]


def period_of(texts: list[str], fiscal_start: int = 1) -> list:
    con = duckdb.connect()
    return [
        r[0]
        for r in con.execute(
            f"SELECT {period_start('t', fiscal_start)} FROM (SELECT unnest(?::VARCHAR[]) AS t, generate_subscripts(?::VARCHAR[], 1) AS i) ORDER BY i",
            [texts, texts],
        ).fetchall()
    ]


def test_period_start_of_every_spelling():
    assert dict(zip(PERIODS, period_of(list(PERIODS)))) == PERIODS
    assert all(looks_like_period(t) for t in PERIODS)


def test_period_date_in_python_agrees():
    assert {t: period_date(t) for t in PERIODS} == {t: x.date() for t, x in PERIODS.items()}
    assert [period_date(t) for t in NOT_PERIODS] == [None] * len(NOT_PERIODS)
    assert [period_date(t, 7) for t in ("FY2024", "FY24 Q3", "Q2 FY2025")] == [
        d(2023, 7, 1).date(),
        d(2024, 1, 1).date(),
        d(2024, 10, 1).date(),
    ]


def test_what_is_no_period_is_null():
    assert period_of(NOT_PERIODS) == [None] * len(NOT_PERIODS)
    assert not any(
        looks_like_period(t) for t in ["Foo 2024", "2024-01-31", "Feb 29 2024", "45322", "202401", "Jan", ""]
    )


def test_fiscal_years_are_named_by_the_year_they_end_in():
    assert period_of(["FY2024", "FY24 Q1", "FY24 Q4", "Q2 FY2025"], fiscal_start=7) == [
        d(2023, 7, 1),
        d(2023, 7, 1),
        d(2024, 4, 1),
        d(2024, 10, 1),
    ]
    assert period_of(["FY2024 Q1"], fiscal_start=4) == [d(2023, 4, 1)]
    with pytest.raises(ValueError):
        period_start("t", 13)


def detect(values: list[str], hint: str | None = None) -> tuple[v.DateDecision, list]:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE raw AS SELECT unnest(?::VARCHAR[]) AS c0, generate_subscripts(?::VARCHAR[], 1) AS i",
        [values, values],
    )
    decision = v.detect_date_format(con, "raw", "c0", "the date column", hint)
    parsed = [r[0] for r in con.execute(f"SELECT {v.timestamp('c0', decision.format)} FROM raw ORDER BY i").fetchall()]
    return decision, parsed


def test_detect_chooses_one_format_for_a_uniform_column():
    assert detect(["2024-01-31", "2024-02-01"])[0].format is v.ISO
    assert detect(["Jan-24", "Feb-24"])[0].format is v.PERIOD
    assert detect(["31/01/2024", "01/02/2024"])[0].format is v.DMY
    assert detect(["45322", "45323"])[0].format is v.EXCEL


def test_detect_reads_a_mixed_column_cell_by_cell():
    decision, parsed = detect(
        ["2024-01-31", "31/01/2024", "Feb 29 2024", "45322", "03/04/2024", "Q2 2024", "20240105", "no date"]
    )
    assert decision.format is v.MIXED_DMY and decision.warning is None
    assert parsed == [
        d(2024, 1, 31),
        d(2024, 1, 31),
        d(2024, 2, 29),
        d(2024, 1, 31),
        d(2024, 4, 3),
        d(2024, 4, 1),
        d(2024, 1, 5),
        None,
    ]

    decision, parsed = detect(["2024-01-31", "03/04/2024"], hint="mdy")
    assert decision.format is v.MIXED_MDY and parsed == [d(2024, 1, 31), d(2024, 3, 4)]


def test_detect_finds_a_second_spelling_beyond_the_sample():
    values = ["2024-01-01"] * (v.SAMPLE_ROWS + 10) + ["Feb 29 2024"]
    decision, parsed = detect(values)
    assert decision.format is v.MIXED_DMY and parsed[-1] == d(2024, 2, 29) and parsed[0] == d(2024, 1, 1)


def test_twelve_hour_clock_is_month_first_unless_the_column_says_otherwise():
    decision, parsed = detect(["03/05/2024 02:02:11 PM", "04/05/2024 09:02:11 AM"])
    assert decision.format is v.MDY and parsed == [d(2024, 3, 5, 14, 2, 11), d(2024, 4, 5, 9, 2, 11)]
    assert "read month-first" in decision.warning
    decision, parsed = detect(["13/05/2024 02:02:11 PM", "04/05/2024 09:02:11 AM"])
    assert (
        decision.format is v.DMY
        and decision.warning is None
        and parsed == [d(2024, 5, 13, 14, 2, 11), d(2024, 5, 4, 9, 2, 11)]
    )
    decision, _ = detect(["03/05/2024 14:02:11", "04/05/2024 09:02:11"])
    assert decision.format is v.DMY and "read day-first" in decision.warning, (
        "a 24-hour clock says nothing: day-first, as before"
    )


def test_number_divides_percent_signs_only_where_asked():
    con = duckdb.connect()
    texts = ["92%", "92,5 %", "0,925", "1.234,5"]
    as_written = con.execute(
        f"SELECT {v.number('t', True)} FROM (SELECT unnest(?::VARCHAR[]) AS t)", [texts]
    ).fetchall()
    shares = con.execute(
        f"SELECT {v.number('t', True, 'true')} FROM (SELECT unnest(?::VARCHAR[]) AS t)", [texts]
    ).fetchall()
    assert [r[0] for r in as_written] == pytest.approx([92, 92.5, 0.925, 1234.5])
    assert [r[0] for r in shares] == pytest.approx([0.92, 0.925, 0.925, 1234.5])


def test_percent_units():
    assert all(percents.is_percent_unit(u) for u in ("%", " % ", "percent", "Percentage points", "pp"))
    assert not any(percents.is_percent_unit(u) for u in ("share", "$", "points", None, ""))


def test_two_digit_years_are_years_of_this_century():
    assert detect(["31-01-24", "01-02-24"])[1] == [d(2024, 1, 31), d(2024, 2, 1)]
    assert detect(["29-Feb-24", "29 February 2024"])[1] == [d(2024, 2, 29), d(2024, 2, 29)]
    assert detect(["31/01/2024 10:00", "01/02/2024"])[1] == [d(2024, 1, 31, 10), d(2024, 2, 1)]


def test_which_metrics_are_kept_in_percent():
    from pilot_health.rules.metric_dictionary import MetricAnswer, load_metric_dictionary

    names = ["picks_rate", "accuracy", "Forecast accuracy", "Labour cost as share of sales", "mystery_score"]
    kept = percents.kept_in_percent(
        names,
        load_metric_dictionary(),
        {"picks_rate": MetricAnswer("business", "up", "%")},
        {"labour_cost_as_share_of_sales": "%"},
    )
    assert kept == ["picks_rate", "Forecast accuracy", "Labour cost as share of sales"]
