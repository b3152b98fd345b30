"""The pilot chart says what the verdict says: for every demo pilot and for hand-built series, the
direction the verdict gives each series (better or worse) is the direction its line goes on the
screen (up = better: a lower-is-better series is drawn on an upside-down scale), over the periods the
verdict compared; the axis ends with the data; the cadence is named from the data; alert crossings
are marks with a legend, never overlapping text; metric names are plain words."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from test_risk import NOW, TODAY, Story, line

from pilot_health.analytics.alignment import mann_kendall
from pilot_health.analytics.evidence import load_evidence
from pilot_health.reports import alignment_report as report
from pilot_health.reports import charts
from pilot_health.rules.catalogue import load_catalogue
from pilot_health.rules.metric_dictionary import MetricInfo

CATALOGUE = load_catalogue()
SETTINGS = CATALOGUE.analysis


def panels(chart) -> list[dict]:
    """The page's panels as Vega-Lite specs (technical, then KPI)."""
    return [panel.to_dict() for panel in charts.alignment_panels(chart)]


def value_layer(panel: dict) -> dict:
    """The layer drawing the series itself (its y field is `value`, with an axis title)."""
    return next(
        layer
        for layer in panel["layer"]
        if layer["mark"] in ("line",)
        or (isinstance(layer["mark"], dict) and layer["mark"].get("type") == "line")
        and "title" in layer["encoding"]["y"]
    )


def drawn_upside_down(panel: dict) -> bool:
    return bool(value_layer(panel)["encoding"]["y"].get("scale", {}).get("reverse", False))


def screen_direction(chart, which: str) -> str:
    """Which way the series goes on the screen over the compared periods, by the same trend test the
    verdict uses (Mann–Kendall), on the values as drawn: "up", "down" or "none"."""
    panel = panels(chart)[0 if which == "technical" else 1]
    values = chart.plotted(which).to_numpy(dtype=float)
    if drawn_upside_down(panel):
        values = -values
    return mann_kendall(values, SETTINGS.significance).direction


def assert_chart_agrees_with_verdict(chart, row) -> None:
    judged = chart.judged
    assert judged is not None and judged.label not in ("insufficient data",)
    for which, trend, name in (("technical", judged.technical, row.technical_label), ("kpi", judged.kpi, row.kpi_name)):
        if trend is None or trend.direction == "none":
            continue
        drawn = screen_direction(chart, which)
        assert drawn == trend.direction, (
            f"{row.pilot_id}: the verdict says {name} {'improves' if trend.direction == 'up' else 'worsens'} "
            f"but its line goes {drawn} on the chart"
        )
        said = "(better)" if trend.direction == "up" else "(worse)"
        sentence = next(part for part in row.verdict.split(";") if name in part)
        assert said in sentence or ("better" if trend.direction == "up" else "worse") in sentence, (
            row.pilot_id,
            sentence,
        )


# -- every demo pilot --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from pilot_health.demo.portfolio import DEMO_NOW, load_demo
    from pilot_health.store.database import Store

    store = Store(tmp_path_factory.mktemp("demo-chart") / "demo.duckdb")
    load_demo(store, today=DEMO_NOW.date())
    evidence = load_evidence(store, DEMO_NOW)
    return {pilot_id: report.numbers_for(evidence, pilot_id, CATALOGUE) for pilot_id in evidence.pilots["pilot_id"]}


@pytest.mark.slow
def test_every_demo_verdict_goes_the_way_its_chart_goes(demo):
    checked = []
    for pilot_id, numbers in demo.items():
        row = report.assess_alignment(numbers, CATALOGUE)
        if row.alignment is None or row.alignment.label == "insufficient data":
            continue
        chart = report.chart_data(numbers)
        assert_chart_agrees_with_verdict(chart, row)
        assert drawn_upside_down(panels(chart)[1]) == (numbers.kpi_direction == "down"), pilot_id
        assert drawn_upside_down(panels(chart)[0]) == (numbers.direction(numbers.primary_metric) == "down"), pilot_id
        checked.append(pilot_id)
    assert len(checked) >= 12, checked
    assert {"FN-01", "CS-02", "SC-04", "RO-02"} <= set(checked), "inverted and lower-is-better stories are among them"


@pytest.mark.parametrize("pilot_id", ["CS-02", "FN-01"])
def test_an_inverted_pilot_with_a_lower_is_better_kpi_explains_its_upside_down_scale(demo, pilot_id):
    """CS-02: ROC AUC and churn both rise — drawn as they are, both lines went up under “inverted”.
    Churn is better lower: upside down, its line goes down while ROC AUC goes up."""
    numbers = demo[pilot_id]
    row = report.assess_alignment(numbers, CATALOGUE)
    chart = report.chart_data(numbers)
    assert row.label == "inverted" and numbers.kpi_direction == "down"
    technical, kpi = screen_direction(chart, "technical"), screen_direction(chart, "kpi")
    assert {technical, kpi} == {"up", "down"}, "inverted: one line up, the other down, as drawn"
    assert f"Lower is better for {row.kpi_name}" in row.verdict and "upside down" in row.verdict
    title = value_layer(panels(chart)[1])["encoding"]["y"]["title"]
    assert title[0] == row.kpi_name and "lower is better" in title[1]


# -- hand-built series -------------------------------------------------------------------------------


def story_chart(story: Story, tmp_path, kpi_direction: str = "up"):
    story.record["kpi_direction"] = kpi_direction
    store = story.store(tmp_path / "s.duckdb")
    numbers = report.numbers_for(load_evidence(store, NOW), "P-1", CATALOGUE)
    return report.assess_alignment(numbers, CATALOGUE), report.chart_data(numbers)


@pytest.mark.parametrize(
    "technical_metric, technical, kpi, kpi_direction, label",
    [
        ("accuracy", (0.70, 0.90), (3.0, 3.6), "up", "aligned"),  # both rise, both better
        ("accuracy", (0.70, 0.90), (3.6, 3.0), "down", "aligned"),  # KPI falls, lower is better: up on the chart
        ("rmse", (12.0, 8.0), (3.0, 3.6), "up", "aligned"),  # error falls: up on the chart
        ("accuracy", (0.70, 0.90), (3.0, 3.6), "down", "inverted"),  # both rise, but the KPI rising is worse
        ("rmse", (8.0, 12.0), (3.6, 3.0), "down", "inverted"),  # error rises (worse), KPI falls (better)
    ],
)
def test_built_series_are_drawn_the_way_the_verdict_reads_them(
    tmp_path, technical_metric, technical, kpi, kpi_direction, label
):
    tech_noise, kpi_noise = (
        np.random.default_rng(1),
        np.random.default_rng(2),
    )  # independent: their changes are unrelated
    live = [(w, v + tech_noise.normal(0, abs(technical[1] - technical[0]) / 40)) for w, v in line(*technical, 40, 40)]
    story = Story(
        lab=[],
        live=live,
        kpi=[(w, v + kpi_noise.normal(0, 0.01)) for w, v in line(*kpi, 40, 40)],
        technical_metric=technical_metric,
    )
    story.record["kpi_baseline"], story.record["kpi_target"] = (3.0, 3.6) if kpi_direction == "up" else (3.6, 3.0)
    row, chart = story_chart(story, tmp_path, kpi_direction)
    assert row.label == label, row.alignment.why
    assert_chart_agrees_with_verdict(chart, row)
    want = {"aligned": lambda t, k: t == k == "up", "inverted": lambda t, k: {t, k} == {"up", "down"}}[label]
    assert want(screen_direction(chart, "technical"), screen_direction(chart, "kpi"))


def test_the_shaded_window_is_the_periods_the_verdict_compared(tmp_path):
    story = Story(lab=line(0.7, 0.8, 60, 60), live=line(0.78, 0.88, 30, 30), kpi=line(3.0, 3.5, 52, 52))
    row, chart = story_chart(story, tmp_path)
    start, end = chart.judged_window
    assert start.date() == row.alignment.first_period and end.date() == row.alignment.last_period + timedelta(days=6)
    assert len(chart.plotted("technical")) == row.alignment.periods == 30, "only live weeks, only those compared"
    band = next(
        layer
        for layer in panels(chart)[0]["layer"]
        if layer["mark"] == "rect"
        or (isinstance(layer["mark"], dict) and layer["mark"].get("type") == "rect" and "x2" in layer["encoding"])
    )
    assert "x2" in band["encoding"]


# -- the axis, the cadence, the labels ---------------------------------------------------------------


def months_ago(n: int) -> datetime:
    day = (NOW - pd.DateOffset(months=n)).to_pydatetime()
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def test_three_monthly_values_get_an_axis_of_their_months_and_a_monthly_caption(tmp_path):
    """Three monthly values, a KPI plan running years on: the axis ends with the data, the caption
    says month by month."""
    story = Story(
        lab=[],
        live=[(months_ago(n), 0.8 + 0.01 * (3 - n)) for n in (3, 2, 1)],
        kpi=[(months_ago(n) + timedelta(days=3), 3.0 + 0.1 * (3 - n)) for n in (3, 2, 1)],
    )
    story.record["kpi_deadline"] = TODAY + timedelta(days=3 * 365)
    row, chart = story_chart(story, tmp_path)
    assert chart.technical_cadence == "month" and chart.kpi_cadence == "month"
    caption = report.chart_caption(chart, SETTINGS)
    assert "month by month" in caption and "week by week" not in caption and "3 monthly values" in caption
    first, last = chart.data_span
    assert chart.span[1] - last <= pd.Timedelta(days=35), (
        "at most a month past the last value (for “where it should be by now”)"
    )
    for panel in panels(chart):
        domain = value_layer(panel)["encoding"]["x"]["scale"]["domain"]
        shown = [pd.Timestamp(year=d["year"], month=d["month"], day=d["date"]) for d in domain]
        assert shown[0] == first.normalize() and shown[1] == chart.span[1].normalize()
        assert shown[1] < pd.Timestamp(story.record["kpi_deadline"]) - pd.Timedelta(days=365), (
            "not years on to the deadline"
        )


def test_where_it_should_be_by_now_long_after_the_data_is_said_not_drawn(tmp_path):
    old = [(w - timedelta(days=400), v) for w, v in line(3.0, 3.3, 20, 20)]
    story = Story(lab=[], live=[(w - timedelta(days=400), v) for w, v in line(0.7, 0.8, 20, 20)], kpi=old)
    row, chart = story_chart(story, tmp_path)
    assert chart.expected_now is not None and not chart.expected_now_shown
    assert chart.span == chart.data_span
    assert "after the last value shown, so it is not drawn" in report.chart_caption(chart, SETTINGS)
    assert not any(
        "where it should be by now" in str(layer.get("encoding", {}))
        or layer.get("mark", {}) == {"type": "point", "shape": "diamond"}
        for layer in panels(chart)[1]["layer"]
    )


@pytest.mark.parametrize(
    "index, cadence",
    [
        (pd.date_range("2026-01-01", periods=10, freq="D"), "day"),
        (pd.date_range("2026-01-05", periods=10, freq="W-MON"), "week"),
        (pd.date_range("2026-01-01", periods=3, freq="MS"), "month"),
        (pd.date_range("2025-01-01", periods=4, freq="QS"), "quarter"),
    ],
)
def test_the_cadence_is_named_from_the_spacing_of_the_values(index, cadence):
    assert report.cadence_of(index) == cadence


def test_alert_crossings_are_marks_with_a_legend_never_text(demo):
    charts = [c for c in (report.chart_data(n) for n in demo.values()) if c is not None and not c.events.empty]
    # a demo pilot whose decay and drift both crossed a level (markers of two kinds on one panel)
    chart = next(c for c in charts if {w.split()[0] for w in c.events["what"]} == {"decay", "drift"})
    layers = panels(chart)[0]["layer"]
    assert not any(
        (layer["mark"] == "text" or (isinstance(layer["mark"], dict) and layer["mark"].get("type") == "text"))
        for layer in layers
    )
    events = next(layer for layer in layers if "shape" in layer.get("encoding", {}))
    assert (
        events["encoding"]["shape"]["legend"]["title"]
        == events["encoding"]["fill"]["legend"]["title"]
        == "Alert level crossed"
    )


@pytest.mark.parametrize(
    "key, label, source, plain",
    [
        ("roc_auc", "ROC AUC", "built-in", "ROC AUC"),
        ("f1", "F1", "built-in", "F1 score"),
        ("r2", "R²", "built-in", "R²"),
        ("rmse", "RMSE", "built-in", "Error (RMSE)"),
        ("time_to_resolve", "time_to_resolve", "guessed", "Time to resolve"),
        ("rmse", "Forecast error", "answered", "Forecast error"),
    ],
)
def test_metric_keys_read_as_plain_names(key, label, source, plain):
    assert report.plain_metric_name(MetricInfo(key, label, "technical", "down", None, source)) == plain


def test_the_screen_table_has_whole_per_cents_words_and_no_none(demo):
    rows = report.worst_first([report.assess_alignment(n, CATALOGUE) for n in demo.values()])
    table = report.portfolio_table(rows)
    view = report.screen_table(table)
    assert len(view) == min(len(table), report.TABLE_ROWS) and len(report.screen_table(table, None)) == len(table)
    for column in ("lab_live_gap", "decay", "kpi_progress", "time_elapsed"):
        shown = view[column].dropna()
        assert (shown == shown.round(0)).all(), column
    assert not view["technical_label"].isin(["roc_auc", "f1", "r2", "rmse"]).any()
    assert set(view["lag"].dropna()) <= {
        "same week",
        "same month",
        *{f"{n} week{'s' if n != 1 else ''} later" for n in range(1, 9)},
        *{f"{n} month{'s' if n != 1 else ''} later" for n in range(1, 9)},
    }
    assert not any(v is None or v == "None" for v in view.astype(object).where(view.notna(), "–").to_numpy().ravel())


def test_the_screen_table_names_the_two_weightiest_reasons_and_counts_the_rest(demo):
    assert (
        report.short_why("inverted, ROC AUC decay critical, ROC AUC drift critical, KPI behind plan")
        == "inverted, ROC AUC decay critical + 2 more"
    )
    assert report.short_why("decoupled, KPI behind plan") == "decoupled, KPI behind plan"
    assert report.short_why("nothing of concern") == "nothing of concern"
    rows = report.worst_first([report.assess_alignment(n, CATALOGUE) for n in demo.values()])
    table = report.portfolio_table(rows)
    view = report.screen_table(table, None)
    longest = max(rows, key=lambda r: len(r.reasons))
    assert len(longest.reasons) > report.WHY_SHOWN, "the demo has a pilot with more reasons than the table shows"
    shown = view.loc[view["pilot_id"] == longest.pilot_id, "why"].item()
    assert shown == ", ".join(longest.reasons[:2]) + f" + {len(longest.reasons) - 2} more"
    assert table.loc[table["pilot_id"] == longest.pilot_id, "why"].item() == ", ".join(longest.reasons), (
        "the download keeps every reason"
    )
