"""The Alignment page through AppTest: the portfolio worst first, a pilot's verdict and chart (the
spec checked for the right series and thresholds), the pickers in the URL, the metric dictionary."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest
from test_pages import assert_clean, open_page, texts

from pilot_health.reports import alignment_report as report
from pilot_health.rules.catalogue import load_catalogue
from pilot_health.store import queries

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


def test_a_pilot_link_shows_the_verdict_the_numbers_and_a_chart_with_the_right_series_and_thresholds(
    demo_store, app_env
):
    app_env(demo_store)
    at = alignment_page(pilot="FN-01")
    assert_clean(at)
    row = next(r for r in report.portfolio_alignment(demo_store) if r.pilot_id == "FN-01")
    assert row.verdict in texts(at.error), "inverted: the verdict in a red box above the chart"
    assert len(row.reasons) > report.WHY_SHOWN and f"Why here in the list: {', '.join(row.reasons)}." in texts(
        at.caption
    ), "every reason, not the table's two"
    assert at.dataframe[0].value.set_index("pilot_id").loc["FN-01", "why"] == report.short_why(", ".join(row.reasons))
    shown = metrics(at)
    assert shown["Alignment"] == "Inverted" and shown["Decay"] == f"{row.primary_decay.relative:.0%}"
    assert shown["KPI progress"] == f"{row.kpi_progress.progress:.0%}"
    assert at.selectbox(key="metric").value == row.primary_metric == "roc_auc"
    layers = chart_layers(at)
    marks = [m for m, _ in layers]
    assert marks[:2] == ["rect", "line"]
    bands = layers[0][1].set_index("level")
    reference = (
        layers[1][1].query("environment == 'live'")["value"].iloc[: SETTINGS.decay_reference_weeks].mean()
    )  # the first live weeks
    assert bands.loc["warning", "high"] == pytest.approx(reference * (1 - SETTINGS.decay_warning))
    assert bands.loc["critical", "high"] == pytest.approx(reference * (1 - SETTINGS.decay_critical))
    series = layers[1][1]
    assert set(series["environment"]) == {"lab", "live"}
    events = next(
        frame
        for mark, frame in layers
        if mark == "point" and "what" in frame and "decay critical" in set(frame["what"])
    )
    assert {"decay warning", "decay critical"} <= set(events["what"])
    kpi_lines = next(frame for mark, frame in layers if mark == "rule")
    with demo_store.read() as con:
        record = queries.fetch_pilot(con, "FN-01")
    assert dict(zip(kpi_lines["line"], kpi_lines["value"])) == {
        "baseline": record["kpi_baseline"],
        "target": record["kpi_target"],
    }
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
    other = next(m for m in numbers.evidence.technical_metrics if m != numbers.primary_metric)
    app_env(demo_store)
    at = alignment_page(pilot="RO-05")
    assert at.selectbox(key="metric").value == numbers.primary_metric
    at = alignment_page(pilot="RO-05", metric=other)
    assert_clean(at)
    assert at.selectbox(key="metric").value == other
    lines = next(frame for mark, frame in chart_layers(at) if mark == "line")
    assert len(lines) == len(numbers.evidence.series(other, "lab", "technical")), "the chosen metric's weeks are drawn"


def test_the_metric_chooser_shows_everyday_names_and_keeps_the_key_in_the_url(demo_store, app_env):
    numbers = report.numbers_for(report.load_evidence(demo_store), "RO-05", load_catalogue())
    other = next(m for m in numbers.evidence.technical_metrics if m != numbers.primary_metric)
    row = report.assess_alignment(numbers, load_catalogue())
    app_env(demo_store)
    at = alignment_page(pilot="FN-01")
    chooser = at.selectbox(key="metric")
    assert "ROC AUC" in chooser.options and "roc_auc" not in chooser.options and chooser.value == "roc_auc"
    at = alignment_page(pilot="RO-05")
    assert "metric" not in at.query_params, "the primary metric is the default: no parameter"
    at.selectbox(key="metric").set_value(other).run()
    assert_clean(at)
    assert at.query_params["metric"] in (other, [other]), "the key goes into the address, not the name shown"
    assert row.names[other] in at.selectbox(key="metric").options
    at.selectbox(key="metric").set_value(numbers.primary_metric).run()
    assert "metric" not in at.query_params


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


@pytest.mark.slow
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
    assert (
        saved["roc_auc"]["direction"] == "down"
        and saved["roc_auc"]["kind"] == "technical"
        and saved["roc_auc"]["upload_id"] is None
    )
    assert metrics(at)["Decay"] != before, "ROC AUC read as lower-is-better: its fall is no longer decay"


# -- business words, no None, the cadence, the chart as the verdict reads it -------------------------------


def headers(frame_element) -> dict[str, dict]:
    """Each shown column's header and tooltip, as the grid receives them."""
    config = json.loads(frame_element.proto.columns)
    return {name: {"label": c.get("label"), "help": c.get("help", "")} for name, c in config.items()}


def shown_cells(frame_element) -> list[str]:
    """Every cell as the grid draws it: a missing value is the table's placeholder."""
    frame = frame_element.value
    placeholder = frame_element.proto.placeholder if frame_element.proto.HasField("placeholder") else "None"
    return [placeholder if pd.isna(v) else str(v) for v in frame.astype(object).to_numpy().ravel()]


def test_the_tables_speak_plain_words_with_the_technical_terms_in_tooltips_and_show_no_none(demo_store, app_env):
    app_env(demo_store)
    at = alignment_page()
    assert_clean(at)
    main, numbers = at.dataframe[0], at.dataframe[1]  # the portfolio, then the numbers behind each verdict
    assert set(numbers.value.columns) == set(report.DETAIL_COLUMNS)
    labels = {name: h["label"] for table in (main, numbers) for name, h in headers(table).items()}
    assert labels["rho"] == "How closely they move together" and "ρ" in headers(numbers)["rho"]["help"]
    assert labels["lag"] == "Delay" and headers(numbers)["lag"]["help"].startswith("Lag")
    assert labels["periods"] == "Data points" and headers(numbers)["periods"]["help"].startswith("Periods")
    assert not {"ρ", "Lag", "Periods"} & set(labels.values())
    cells = shown_cells(main) + shown_cells(numbers)
    assert "None" not in cells and "nan" not in cells
    metric_names = set(main.value["technical_label"].dropna())
    assert {"ROC AUC", "F1 score", "R²", "Error (RMSE)"} <= metric_names and not {
        "roc_auc",
        "f1",
        "r2",
        "rmse",
    } & metric_names
    assert all(v == round(v) for v in main.value["kpi_progress"].dropna()), "whole per cents"
    # a delay reads in words, from the same numbers the domain computes (which pilots have one depends on the demo's stories)
    table = report.portfolio_table(report.worst_first(report.portfolio_alignment(demo_store)))
    expected = {
        p: report.delay_words(lag, period) for p, lag, period in zip(table["pilot_id"], table["lag"], table["period"])
    }
    shown = dict(zip(numbers.value["pilot_id"], numbers.value["lag"]))
    assert {p: (None if pd.isna(v) else v) for p, v in shown.items()} == {p: expected[p] for p in shown}
    assert report.delay_words(4, "week") == "4 weeks later" and report.delay_words(0, "month") == "same month"


def test_a_long_portfolio_shows_the_worst_first_until_show_all(demo_store, app_env, monkeypatch):
    monkeypatch.setattr(report, "TABLE_ROWS", 10)  # the demo has 24 pilots, under the real cap of 25
    app_env(demo_store)
    at = alignment_page()
    assert_clean(at)
    rows = report.portfolio_alignment(demo_store)
    assert list(at.dataframe[0].value["pilot_id"]) == [r.pilot_id for r in rows[:10]]
    assert any("Showing the worst 10 of 24 pilots" in t for t in texts(at.caption))
    at.toggle(key="all").set_value(True).run()
    assert_clean(at)
    assert len(at.dataframe[0].value) == 24


def test_the_inverted_verdict_and_its_chart_agree(demo_store, app_env):
    """CS-02: ROC AUC rises and churn rises. Drawn as uploaded both lines went up under “inverted”;
    churn is better lower, so its panel runs upside down and the verdict says why."""
    app_env(demo_store)
    at = alignment_page(pilot="CS-02")
    assert_clean(at)
    row = next(r for r in report.portfolio_alignment(demo_store) if r.pilot_id == "CS-02")
    assert row.verdict in texts(at.error) and "upside down" in row.verdict
    technical, kpi = chart_specs(at)
    value = lambda spec: next(l for l in spec["layer"] if l["encoding"].get("y", {}).get("title"))  # noqa: E731
    assert (
        not value(technical)["encoding"]["y"]["scale"].get("reverse")
        and value(kpi)["encoding"]["y"]["scale"]["reverse"] is True
    )
    assert "lower is better" in value(kpi)["encoding"]["y"]["title"][1]
    assert [mark for mark, _ in chart_layers(at, judged=True)][0] == "rect", "the compared periods are shaded"
    caption = " ".join(texts(at.caption))
    assert "Monthly churn rate week by week" in caption and "upside down because lower is better" in caption
    assert metrics(at)["Alignment"] == "Inverted"


def test_the_first_card_never_says_more_than_fits(demo_store, app_env):
    app_env(demo_store)
    for pilot_id, short in (("FN-03", "–"), ("CS-05", "Too early"), ("CS-04", "Unclear")):
        at = alignment_page(pilot=pilot_id)
        assert_clean(at)
        assert metrics(at)["Alignment"] == short, pilot_id
        assert len(metrics(at)["Alignment"]) <= 9


def test_three_monthly_points_are_named_monthly_and_the_axis_ends_with_them(tmp_path, app_env):
    from datetime import timedelta

    from test_alignment_chart import months_ago
    from test_risk import TODAY, Story

    story = Story(
        lab=[],
        live=[(months_ago(n), 0.8 + 0.01 * (3 - n)) for n in (3, 2, 1)],
        kpi=[(months_ago(n) + timedelta(days=3), 3.0 + 0.1 * (3 - n)) for n in (3, 2, 1)],
    )
    story.record["kpi_deadline"] = TODAY + timedelta(days=3 * 365)
    store = story.store(tmp_path / "s.duckdb")
    app_env(store)
    at = alignment_page(pilot="P-1")
    assert_clean(at)
    caption = " ".join(texts(at.caption))
    assert "Accuracy month by month" in caption and "week by week" not in caption
    for spec in chart_specs(at):
        domain = next(l for l in spec["layer"] if l["encoding"].get("y", {}).get("title"))["encoding"]["x"]["scale"][
            "domain"
        ]
        end = pd.Timestamp(year=domain[1]["year"], month=domain[1]["month"], day=domain[1]["date"])
        assert end <= pd.Timestamp(TODAY) + pd.Timedelta(days=1), (
            "the axis does not run on to the KPI deadline years away"
        )


def test_the_alignment_tiles_and_behind_plan_count_are_the_domains(demo_store, app_env):
    """The five tiles and the “N of them behind plan” caption come from alignment_report.alignment_counts."""
    app_env(demo_store)
    at = alignment_page()
    assert_clean(at)
    counts = report.alignment_counts(report.portfolio_table(report.portfolio_alignment(demo_store)))
    assert {label: int(value) for label, value in metrics(at).items()} == {
        label.capitalize(): counts.tile(label) for label in report.LABEL_TILES
    }
    assert counts.pilots == 24 and sum(counts.tile(label) for label in report.LABEL_TILES) == 24
    assert counts.behind_plan >= 1  # the demo has pilots behind plan
    assert any(
        f"24 pilots, worst first. {counts.behind_plan} of them have a KPI behind plan" in t for t in texts(at.caption)
    )


def test_the_alignment_counts_by_hand():
    """Seven pilots' labels worked out by hand: “no comparison” is counted with insufficient data
    on its tile; a pilot without KPI progress (behind_plan None) is not behind plan."""
    table = pd.DataFrame(
        {
            "label": [
                "aligned",
                "aligned",
                "inverted",
                "no comparison",
                "insufficient data",
                "inconclusive",
                "aligned",
            ],
            "behind_plan": [True, False, True, None, None, False, True],
        }
    )
    counts = report.alignment_counts(table)
    assert counts == report.AlignmentCounts(
        pilots=7,
        aligned=3,
        decoupled=0,
        inverted=1,
        inconclusive=1,
        insufficient_data=1,
        no_comparison=1,
        behind_plan=3,
    )
    assert [counts.tile(label) for label in report.LABEL_TILES] == [3, 0, 1, 1, 2]


def test_the_alignment_detail_is_one_computation_for_the_page_and_the_bench(demo_store):
    """alignment_report.alignment_detail: the pilot's row as the portfolio computes it, its metrics
    with the primary one first, chart data for each, the weeks' span; None for a pilot not in the store."""
    rows = {r.pilot_id: r for r in report.portfolio_alignment(demo_store)}
    pilot_id = max((p for p, r in rows.items() if r.primary_metric), key=lambda p: (len(rows[p].names), p))
    row = rows[pilot_id]
    detail = report.alignment_detail(demo_store, row.as_of, pilot_id)
    assert detail is not None
    assert (detail.row.pilot_id, detail.row.label, detail.row.concern, detail.row.reasons) == (
        pilot_id,
        row.label,
        row.concern,
        row.reasons,
    )
    assert detail.metrics[0] == row.primary_metric
    assert set(detail.metrics) == set(row.names) - {row.kpi_metric}  # every technical metric, once
    assert set(detail.charts) == set(detail.metrics)
    assert all(chart is not None and not chart.technical.empty for chart in detail.charts.values())
    assert detail.span is not None and detail.span[0] < detail.span[1]
    assert report.alignment_detail(demo_store, row.as_of, "XX-99") is None
