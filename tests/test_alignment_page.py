"""The Alignment page through AppTest: the portfolio worst first, a pilot's verdict and chart (the
spec checked for the right series and thresholds), the pickers in the URL, the metric dictionary."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from pilot_health import alignment_report as report, queries
from pilot_health.catalogue import load_catalogue
from test_pages import assert_clean, open_page, texts

PAGE = "pages/4_Alignment.py"
SETTINGS = load_catalogue().analysis


def alignment_page(**query) -> AppTest:
    return open_page(PAGE, **query)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def chart_specs(at: AppTest) -> list[dict]:
    """The pilot chart's panels (technical, then KPI), as drawn."""
    return [json.loads(element.proto.spec) for element in at.get("vega_lite_chart")]


def chart_layers(at: AppTest, judged: bool = False) -> list[tuple[str, pd.DataFrame]]:
    """Each layer of the page's Vega-Lite chart as (mark type, the data it draws); the pale band of
    the periods the verdict compared only when `judged`."""
    layers = []
    for element in at.get("vega_lite_chart"):
        frames = {ds.name: pa.ipc.open_stream(ds.data.data).read_all().to_pandas() for ds in element.proto.datasets}
        panel = json.loads(element.proto.spec)
        for layer in panel["layer"]:
            mark = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
            data = layer.get("data") or panel.get("data")  # Altair hoists a lone dataset
            frame = frames[data["name"]]
            if judged or "compared for the verdict" not in set(frame.get("what", [])):
                layers.append((mark, frame))
    return layers


def test_the_portfolio_is_worst_first_with_the_labels_the_domain_computes(demo_store, app_env):
    app_env(demo_store)
    at = alignment_page()
    assert_clean(at)
    rows = report.portfolio_alignment(demo_store)
    counts = pd.Series([r.label for r in rows]).replace("no comparison", "insufficient data").value_counts()
    shown = metrics(at)
    for label in ("aligned", "decoupled", "inverted", "insufficient data"):
        assert int(shown[label.capitalize()]) == int(counts.get(label, 0)), label
    table = at.dataframe[0].value
    assert list(table["pilot_id"]) == [r.pilot_id for r in rows]
    by_id = {r.pilot_id: r for r in rows}
    assert list(table["label"]) == [by_id[p].label.capitalize() for p in table["pilot_id"]]
    assert table.loc[table["pilot_id"] == "RO-03", "label"].item() == "Decoupled"
    assert [d for d in at.get("download_button") if d.proto.label == "Download the table (CSV)"]
    assert at.selectbox(key="pilot").value is None


def test_a_pilot_link_shows_the_verdict_the_numbers_and_a_chart_with_the_right_series_and_thresholds(demo_store, app_env):
    app_env(demo_store)
    at = alignment_page(pilot="FN-01")
    assert_clean(at)
    row = next(r for r in report.portfolio_alignment(demo_store) if r.pilot_id == "FN-01")
    assert row.verdict in texts(at.error), "inverted: the verdict in a red box above the chart"
    shown = metrics(at)
    assert shown["Alignment"] == "Inverted" and shown["Decay"] == f"{row.primary_decay.relative:.0%}"
    assert shown["KPI progress"] == f"{row.kpi_progress.progress:.0%}"
    assert at.selectbox(key="metric").value == row.primary_metric == "roc_auc"
    layers = chart_layers(at)
    marks = [m for m, _ in layers]
    assert marks[:2] == ["rect", "line"]
    bands = layers[0][1].set_index("level")
    reference = layers[1][1].query("environment == 'live'")["value"].iloc[: SETTINGS.decay_reference_weeks].mean()  # the first live weeks
    assert bands.loc["warning", "high"] == pytest.approx(reference * (1 - SETTINGS.decay_warning))
    assert bands.loc["critical", "high"] == pytest.approx(reference * (1 - SETTINGS.decay_critical))
    series = layers[1][1]
    assert set(series["environment"]) == {"lab", "live"}
    events = next(frame for mark, frame in layers if mark == "point" and "what" in frame and "decay critical" in set(frame["what"]))
    assert {"decay warning", "decay critical"} <= set(events["what"])
    kpi_lines = next(frame for mark, frame in layers if mark == "rule")
    with demo_store.read() as con:
        record = queries.fetch_pilot(con, "FN-01")
    assert dict(zip(kpi_lines["line"], kpi_lines["value"])) == {"baseline": record["kpi_baseline"], "target": record["kpi_target"]}
    marker = next(frame for _, frame in layers if "what" in frame and "where it should be by now" in set(frame["what"]))
    assert len(marker) == 1


def test_metric_and_dates_come_from_the_url_and_cut_the_chart(demo_store, app_env):
    app_env(demo_store)
    at = alignment_page(pilot="SC-02")
    metrics_offered = at.selectbox(key="metric").options
    assert len(metrics_offered) >= 1
    start, end = at.date_input(key="dates").value
    at = alignment_page(pilot="SC-02", dates=["2026-01-05", "2026-06-29"])
    assert_clean(at)
    assert [str(d) for d in at.date_input(key="dates").value] == ["2026-01-05", "2026-06-29"]
    weeks = pd.to_datetime(chart_layers(at)[1][1]["week"])
    assert weeks.min() >= pd.Timestamp("2026-01-05") and weeks.max() <= pd.Timestamp("2026-06-29")


def test_a_second_metric_from_the_url(demo_store, app_env):
    numbers = report.numbers_for(report.load_evidence(demo_store), "RO-05", load_catalogue())
    other = next(m for m in numbers.e.technical_metrics if m != numbers.primary_metric)
    app_env(demo_store)
    at = alignment_page(pilot="RO-05")
    assert at.selectbox(key="metric").value == numbers.primary_metric
    at = alignment_page(pilot="RO-05", metric=other)
    assert_clean(at)
    assert at.selectbox(key="metric").value == other
    lines = next(frame for mark, frame in chart_layers(at) if mark == "line")
    assert len(lines) == len(numbers.e.series(other, "lab", "technical")), "the chosen metric's weeks are drawn"


def test_bad_url_values_are_reported_and_fall_back(demo_store, app_env):
    app_env(demo_store)
    at = alignment_page(pilot="ZZ-99", bu="Nowhere")
    assert_clean(at)
    warnings = " ".join(texts(at.warning))
    assert "ZZ\\-99" in warnings or "ZZ-99" in warnings
    assert "Nowhere" in warnings
    assert at.selectbox(key="pilot").value is None and len(at.dataframe[0].value) == 24
    at = alignment_page(pilot="FN-01", metric="no_such_metric")
    assert_clean(at)
    assert at.selectbox(key="metric").value == "roc_auc"


def test_filters_narrow_the_portfolio(demo_store, app_env):
    app_env(demo_store)
    at = alignment_page(bu="Finance", stage="Pilot")
    assert_clean(at)
    table = at.dataframe[0].value
    with demo_store.read() as con:
        pilots = queries.fetch_pilots(con)
    expected = set(pilots[(pilots.business_unit == "Finance") & (pilots.stage == "pilot")]["pilot_id"])
    assert set(table["pilot_id"]) == expected and expected


def test_a_pilot_without_technical_metrics_says_so(demo_store, app_env):
    app_env(demo_store)
    at = alignment_page(pilot="MK-04")
    assert_clean(at)
    assert any("No technical metric has been uploaded" in t for t in texts(at.info))
    assert not at.get("vega_lite_chart")


def test_correcting_a_metric_in_the_dictionary_is_remembered_and_changes_the_numbers(demo_store, app_env):
    app_env(demo_store)
    at = alignment_page(pilot="FN-01")
    before = metrics(at)["Decay"]
    expander_selects = at.selectbox(key="dict_metric")
    expander_selects.set_value("roc_auc").run()
    at.selectbox(key="dict.roc_auc.direction").set_value("down").run()
    at.button(key="dict_save").click().run()
    assert_clean(at)
    with demo_store.read() as con:
        saved = {r["metric_key"]: r for r in queries.metric_definitions(con)}
    assert saved["roc_auc"]["direction"] == "down" and saved["roc_auc"]["kind"] == "technical" and saved["roc_auc"]["upload_id"] is None
    assert metrics(at)["Decay"] != before, "ROC AUC read as lower-is-better: its fall is no longer decay"
