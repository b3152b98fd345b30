"""One column per date or period: BI crosstabs and product-analytics charts, built the way each tool writes them.

Tableau's "Download > Crosstab" (UTF-16 with a byte-order mark, tab-separated, `Measure Names`,
months written `January 2024`, numbers with thousands separators), Power BI's "Export data" of a
matrix (`Jan 2024`, a `Total` column and a `Total` row), an Excel pivot table copied as values
(tabular form: outer labels written once per group, `EMEA Total` subtotal rows, a `Grand Total`
column and row), Amplitude's chart CSV (title lines before the table, `Segment` and `Event`, weeks
as `2024-01-07T00:00:00`), Mixpanel's insights CSV (`Jan 1, 2024`), and a weekly report with
`W01 2024`. Every expectation is written out by hand: pilot, metric name (dimension kept as
`Metric · Dimension: value`), date (a period's first day), value — read back from the store.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from pilot_health.ingest import IngestOptions, IngestResult, ingest
from pilot_health.ingest.recognise import header_date, header_dates

LIVE = "live"


def run(store, data: bytes, name: str, commit: bool = True, **options) -> IngestResult:
    return ingest(store, data, name, IngestOptions(**options), commit=commit)


def stored(store, result: IngestResult) -> set[tuple]:
    """(pilot, metric, lab/live, date, value) of every stored row of this upload."""
    assert result.status == "stored", (result.status, result.refusal, [p.message for p in result.problems])
    with store.read() as con:
        rows = con.execute(
            "SELECT pilot_id, metric, environment, observed_at, value, value IS NULL FROM metric_observations WHERE upload_id = ?",
            [result.upload_id],
        ).fetchall()
    assert not any(row[5] for row in rows), "a blank cell stores nothing, never an empty value"
    assert len(rows) == result.rows_to_store
    return {(p, m, e, t.strftime("%Y-%m-%d"), v) for p, m, e, t, v, _ in rows}


# -- Tableau: Download > Crosstab ----------------------------------------------------------------

TABLEAU = (
    "Measure Names\tRegion\tJanuary 2024\tFebruary 2024\tMarch 2024\n"
    "Revenue\tEMEA\t120,500\t131,250\t128,000\n"
    "Revenue\tAmericas\t98,000\t\t104,300\n"
    "Revenue\tTotal\t218,500\t131,250\t232,300\n"
    "Orders\tEMEA\t1,204\t1,310\t1,288\n"
    "Orders\tAmericas\t980\t1,011\t1,043\n"
    "Orders\tTotal\t2,184\t2,321\t2,331\n"
)


def test_tableau_crosstab_becomes_one_row_per_measure_region_and_month(demo_store):
    data = b"\xff\xfe" + TABLEAU.replace("\n", "\r\n").encode("utf-16-le")
    preview = run(demo_store, data, "Sales by region.csv", commit=False)

    assert preview.mapping.layout == "wide_date" and preview.mapping.export == "Tableau crosstab"
    assert preview.needs == ["pilot_id"], (
        "the pilot is the only question: Measure Names names the metric, a BI export is live"
    )
    result = run(demo_store, data, "Sales by region.csv", pilot_id="SC-01")

    assert stored(demo_store, result) == {
        ("SC-01", "Revenue · Region: EMEA", LIVE, "2024-01-01", 120500.0),
        ("SC-01", "Revenue · Region: EMEA", LIVE, "2024-02-01", 131250.0),
        ("SC-01", "Revenue · Region: EMEA", LIVE, "2024-03-01", 128000.0),
        ("SC-01", "Revenue · Region: Americas", LIVE, "2024-01-01", 98000.0),
        ("SC-01", "Revenue · Region: Americas", LIVE, "2024-03-01", 104300.0),
        ("SC-01", "Orders · Region: EMEA", LIVE, "2024-01-01", 1204.0),
        ("SC-01", "Orders · Region: EMEA", LIVE, "2024-02-01", 1310.0),
        ("SC-01", "Orders · Region: EMEA", LIVE, "2024-03-01", 1288.0),
        ("SC-01", "Orders · Region: Americas", LIVE, "2024-01-01", 980.0),
        ("SC-01", "Orders · Region: Americas", LIVE, "2024-02-01", 1011.0),
        ("SC-01", "Orders · Region: Americas", LIVE, "2024-03-01", 1043.0),
    }
    assert (result.rows_read, result.rows_rejected, result.rows_left_out) == (6, 0, 2)
    assert any("Left out 2 total rows" in w for w in result.warnings), result.warnings


# -- Power BI: Export data of a matrix -----------------------------------------------------------

POWER_BI = (
    "\ufeffRegion,Jan 2024,Feb 2024,Mar 2024,Total\r\n"
    'EMEA,"1,250.50","1,310.00","1,402.25","3,962.75"\r\n'
    'APAC,830.00,,912.40,"1,742.40"\r\n'
    'Total,"2,080.50","1,310.00","2,314.65","5,705.15"\r\n'
)


def test_power_bi_matrix_takes_its_metric_from_the_file_name_and_leaves_totals_out(demo_store):
    data = POWER_BI.encode("utf-8")
    preview = run(demo_store, data, "weekly_active_users.csv", commit=False)

    assert preview.mapping.targets["Total"] == "", "a Total column is neither a date nor a value"
    assert preview.needs == ["pilot_id"]
    assert any("“weekly active users”" in w for w in preview.warnings), preview.warnings
    result = run(demo_store, data, "weekly_active_users.csv", pilot_id="RO-02")

    assert stored(demo_store, result) == {
        ("RO-02", "weekly active users · Region: EMEA", LIVE, "2024-01-01", 1250.5),
        ("RO-02", "weekly active users · Region: EMEA", LIVE, "2024-02-01", 1310.0),
        ("RO-02", "weekly active users · Region: EMEA", LIVE, "2024-03-01", 1402.25),
        ("RO-02", "weekly active users · Region: APAC", LIVE, "2024-01-01", 830.0),
        ("RO-02", "weekly active users · Region: APAC", LIVE, "2024-03-01", 912.4),
    }
    assert (result.rows_rejected, result.rows_left_out) == (0, 1), "the Total row is left out and counted"
    assert any("Total" in w and "Left out" in w for w in result.warnings), result.warnings


def test_the_metric_name_given_replaces_the_file_name(demo_store):
    result = run(demo_store, POWER_BI.encode("utf-8"), "export (3).csv", pilot_id="RO-02", metric_name="Net revenue")

    assert {m for _, m, _, _, _ in stored(demo_store, result)} == {
        "Net revenue · Region: EMEA",
        "Net revenue · Region: APAC",
    }
    assert not any("file's name" in w for w in result.warnings)


# -- Excel: a pivot table copied as values -------------------------------------------------------

EXCEL_PIVOT = (
    "Pilot,Region,2024-01,2024-02,2024-03,Grand Total\r\n"
    "SC-01,EMEA,0.941,0.952,0.958,2.851\r\n"
    ",APAC,0.912,,0.925,1.837\r\n"
    "SC-01 Total,,1.853,0.952,1.883,4.688\r\n"
    "RO-02,EMEA,0.889,0.897,0.901,2.687\r\n"
    "RO-02 Total,,0.889,0.897,0.901,2.687\r\n"
    "Grand Total,,2.742,1.849,2.784,7.375\r\n"
)


def test_excel_pivot_copy_fills_group_labels_and_leaves_subtotals_and_grand_totals_out(demo_store):
    result = run(demo_store, EXCEL_PIVOT.encode("utf-8"), "on_shelf_availability.csv")

    assert result.mapping.targets["Pilot"] == "pilot_id", "the pilot comes from the file: nothing to ask"
    assert result.mapping.targets["Grand Total"] == ""
    assert stored(demo_store, result) == {
        ("SC-01", "on shelf availability · Region: EMEA", LIVE, "2024-01-01", 0.941),
        ("SC-01", "on shelf availability · Region: EMEA", LIVE, "2024-02-01", 0.952),
        ("SC-01", "on shelf availability · Region: EMEA", LIVE, "2024-03-01", 0.958),
        ("SC-01", "on shelf availability · Region: APAC", LIVE, "2024-01-01", 0.912),
        ("SC-01", "on shelf availability · Region: APAC", LIVE, "2024-03-01", 0.925),
        ("RO-02", "on shelf availability · Region: EMEA", LIVE, "2024-01-01", 0.889),
        ("RO-02", "on shelf availability · Region: EMEA", LIVE, "2024-02-01", 0.897),
        ("RO-02", "on shelf availability · Region: EMEA", LIVE, "2024-03-01", 0.901),
    }
    assert (result.rows_rejected, result.rows_left_out) == (0, 3), "two subtotal rows and the grand total"
    assert any("“Grand Total”" in w and "not stored" in w for w in result.warnings), result.warnings
    assert any("“Pilot”" in w and "label above" in w for w in result.warnings), result.warnings


# -- Amplitude: chart CSV ------------------------------------------------------------------------

AMPLITUDE = (
    '"Event Segmentation"\n'
    '"Uniques, Weekly"\n'
    '"Jan 7, 2024 to Feb 3, 2024"\n'
    "\n"
    '"Segment","Event","2024-01-07T00:00:00","2024-01-14T00:00:00","2024-01-21T00:00:00","2024-01-28T00:00:00"\n'
    '"All Users","Forecast Viewed","412","436","451","470"\n'
    '"All Users","Order Approved","120","133","","151"\n'
)


def test_amplitude_chart_csv_skips_its_title_lines_and_keeps_event_names(demo_store):
    result = run(demo_store, AMPLITUDE.encode("utf-8"), "Forecast usage - Event Segmentation.csv", pilot_id="SC-01")

    assert result.mapping.export == "Amplitude chart export"
    assert result.format.preamble_lines == 4
    assert stored(demo_store, result) == {
        ("SC-01", "Forecast Viewed", LIVE, "2024-01-07", 412.0),
        ("SC-01", "Forecast Viewed", LIVE, "2024-01-14", 436.0),
        ("SC-01", "Forecast Viewed", LIVE, "2024-01-21", 451.0),
        ("SC-01", "Forecast Viewed", LIVE, "2024-01-28", 470.0),
        ("SC-01", "Order Approved", LIVE, "2024-01-07", 120.0),
        ("SC-01", "Order Approved", LIVE, "2024-01-14", 133.0),
        ("SC-01", "Order Approved", LIVE, "2024-01-28", 151.0),
    }, "Amplitude's default segment (All Users) is no segment: the event name alone"
    assert (result.rows_read, result.rows_rejected, result.rows_left_out) == (2, 0, 0)


# -- Mixpanel: insights CSV ----------------------------------------------------------------------

MIXPANEL = (
    '"Event","Jan 1, 2024","Jan 8, 2024","Jan 15, 2024"\n'
    '"Forecast Generated","320","341","365"\n'
    '"Schedule Published","88","","97"\n'
)


def test_mixpanel_insights_csv_with_month_day_year_headers(demo_store):
    result = run(demo_store, MIXPANEL.encode("utf-8"), "Insights.csv", pilot_id="RO-02")

    assert stored(demo_store, result) == {
        ("RO-02", "Forecast Generated", LIVE, "2024-01-01", 320.0),
        ("RO-02", "Forecast Generated", LIVE, "2024-01-08", 341.0),
        ("RO-02", "Forecast Generated", LIVE, "2024-01-15", 365.0),
        ("RO-02", "Schedule Published", LIVE, "2024-01-01", 88.0),
        ("RO-02", "Schedule Published", LIVE, "2024-01-15", 97.0),
    }


# -- ISO weeks, and a pilot column among the dimensions -------------------------------------------

WEEKLY = (
    "Project,KPI,Segment,W01 2024,W02 2024,W03 2024\n"
    "SC-01,Forecast accuracy,Stores,0.812,0.818,0.825\n"
    "SC-01,Forecast accuracy,Online,0.774,,0.781\n"
    "RO-02,Schedule adherence,Stores,0.902,0.911,0.915\n"
)


def test_iso_week_headers_store_the_monday_and_the_project_column_is_the_pilot(demo_store):
    result = run(demo_store, WEEKLY.encode("utf-8"), "weekly_kpis.csv")

    assert result.needs == []
    assert stored(demo_store, result) == {
        ("SC-01", "Forecast accuracy · Segment: Stores", LIVE, "2024-01-01", 0.812),
        ("SC-01", "Forecast accuracy · Segment: Stores", LIVE, "2024-01-08", 0.818),
        ("SC-01", "Forecast accuracy · Segment: Stores", LIVE, "2024-01-15", 0.825),
        ("SC-01", "Forecast accuracy · Segment: Online", LIVE, "2024-01-01", 0.774),
        ("SC-01", "Forecast accuracy · Segment: Online", LIVE, "2024-01-15", 0.781),
        ("RO-02", "Schedule adherence · Segment: Stores", LIVE, "2024-01-01", 0.902),
        ("RO-02", "Schedule adherence · Segment: Stores", LIVE, "2024-01-08", 0.911),
        ("RO-02", "Schedule adherence · Segment: Stores", LIVE, "2024-01-15", 0.915),
    }


# -- headers: each spelling and the period start stored ----------------------------------------------


@pytest.mark.parametrize(
    "header, day",
    [
        ("January 2024", date(2024, 1, 1)),
        ("Jan 2024", date(2024, 1, 1)),
        ("Sept 2024", date(2024, 9, 1)),
        ("2024-01", date(2024, 1, 1)),
        ("2024M03", date(2024, 3, 1)),
        ("Jan-24", date(2024, 1, 1)),
        ("2024-01-07T00:00:00", date(2024, 1, 7)),
        ("2024-01-07T06:00:00", datetime(2024, 1, 7, 6)),
        ("2024-01-01T00:00:00-08:00", date(2024, 1, 1)),
        ("Jan 1, 2024", date(2024, 1, 1)),
        ("1 Feb 2024", date(2024, 2, 1)),
        ("W01 2024", date(2024, 1, 1)),
        ("2024-W01", date(2024, 1, 1)),
        ("W10 2024", date(2024, 3, 4)),
        ("Week 5 2024", date(2024, 1, 29)),
        ("2025-W01", date(2024, 12, 30)),
        ("Q1 2024", date(2024, 1, 1)),
        ("2024 Q3", date(2024, 7, 1)),
        ("Q4-2024", date(2024, 10, 1)),
        ("31.01.2024", date(2024, 1, 31)),
        ("20240131", date(2024, 1, 31)),
    ],
)
def test_a_date_or_period_header_is_read_as_its_first_day(header, day):
    assert header_date(header) == day


@pytest.mark.parametrize(
    "header", ["Grand Total", "Total", "Region", "Measure Names", "2024", "Mar 15", "W54 2024", "2024-02-30", "Q5 2024"]
)
def test_totals_labels_and_impossible_dates_are_not_dates(header):
    assert header_date(header) is None


def test_slash_dates_in_headers_are_decided_over_all_headers():
    assert header_dates(["Region", "01/07/2024", "01/14/2024"]) == {
        "01/07/2024": date(2024, 1, 7),
        "01/14/2024": date(2024, 1, 14),
    }
    assert header_dates(["Region", "07/01/2024", "14/01/2024"]) == {
        "07/01/2024": date(2024, 1, 7),
        "14/01/2024": date(2024, 1, 14),
    }
