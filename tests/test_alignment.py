"""Technical vs business numbers on hand-built series with known answers, the per-pilot picture the
Alignment page and the `alignment` command show, and the command itself."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from test_risk import NOW, TODAY, Story, line

from pilot_health.analytics.alignment import alignment, crossings, decay_path, drift, drift_path, live_decay
from pilot_health.analytics.evidence import load_evidence
from pilot_health.reports import alignment_report as report
from pilot_health.rules.catalogue import load_catalogue

SETTINGS = load_catalogue().analysis
WEEKS = pd.date_range("2025-01-06", periods=60, freq="W-MON")


def weekly(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=WEEKS[: len(values)])


# -- alignment labels: the four cases the issue names ----------------------------------------------


def test_a_pair_built_to_move_together_is_aligned_at_lag_zero():
    rng = np.random.default_rng(1)
    steps = rng.normal(0, 1, 29)
    technical = 0.70 + 0.01 * np.concatenate([[0], np.cumsum(steps)])
    kpi = 3.0 + 0.05 * np.concatenate([[0], np.cumsum(steps)])  # the same moves, scaled
    result = alignment(weekly(technical), weekly(kpi), "up", "up", SETTINGS)
    assert result.label == "aligned" and result.lag == 0 and result.rho == pytest.approx(1.0)
    assert result.periods == 30 and result.period == "week"


def test_a_pair_whose_kpi_follows_two_weeks_later_is_aligned_at_lag_two():
    rng = np.random.default_rng(2)
    moves = rng.normal(0.5, 1, 40)  # both drift upwards, week by week the KPI repeats the model's move two weeks later
    technical = 0.7 + 0.01 * np.cumsum(moves)
    kpi = 3.0 + 0.05 * np.cumsum(np.concatenate([[0, 0], moves[:-2]]))
    result = alignment(weekly(technical), weekly(kpi), "up", "up", SETTINGS)
    assert result.label == "aligned" and result.lag == 2 and result.rho == pytest.approx(1.0)


def test_technical_rising_with_a_flat_kpi_is_decoupled():
    technical = np.linspace(0.70, 0.90, 26)
    kpi = 3.0 + 0.002 * np.sin(np.arange(26) * 2.1)  # wobbles, goes nowhere
    assert alignment(weekly(technical), weekly(kpi), "up", "up", SETTINGS).label == "decoupled"


def test_an_inverted_pair_is_inverted_and_direction_decides_what_inverted_means():
    technical = np.linspace(0.70, 0.90, 26)
    churn = np.linspace(2.0, 2.6, 26)  # churn rising: worse, while the model improves
    assert alignment(weekly(technical), weekly(churn), "up", "down", SETTINGS).label == "inverted"
    assert alignment(weekly(technical), weekly(churn), "up", "up", SETTINGS).label == "aligned", (
        "had churn been good news"
    )
    rmse = np.linspace(12.0, 9.0, 26)  # RMSE falling = the model improving
    assert alignment(weekly(rmse), weekly(churn), "down", "down", SETTINGS).label == "inverted"


def test_eleven_common_periods_are_insufficient_data_and_twelve_are_enough():
    assert SETTINGS.alignment_min_periods == 12
    eleven = alignment(weekly(np.linspace(0.7, 0.9, 11)), weekly(np.linspace(3, 3.5, 11)), "up", "up", SETTINGS)
    assert (
        eleven.label == "insufficient data" and eleven.periods == 11 and eleven.rho is None and eleven.technical is None
    )
    twelve = alignment(weekly(np.linspace(0.7, 0.9, 12)), weekly(np.linspace(3, 3.5, 12)), "up", "up", SETTINGS)
    assert twelve.label == "aligned" and twelve.periods == 12
    # Only the weeks both series share count: twenty technical weeks, eleven of them with a KPI value.
    partly = alignment(
        weekly(np.linspace(0.7, 0.9, 20)), pd.Series(np.linspace(3.0, 3.4, 11), index=WEEKS[9:20]), "up", "up", SETTINGS
    )
    assert partly.label == "insufficient data" and partly.periods == 11


# -- decay: 25% is critical, 5% is nothing, RMSE rising is worse ------------------------------------------


@pytest.mark.parametrize("drop, level", [(0.25, "critical"), (0.15, "warning"), (0.05, "none")])
def test_a_live_drop_raises_the_alert_its_size_deserves(drop, level):
    values = [0.80] * 12 + [0.80 * (1 - drop)] * 8
    decay = live_decay(weekly(values), "accuracy", "up", SETTINGS)
    assert decay.relative == pytest.approx(drop) and decay.level == level


def test_rmse_rising_is_decay_and_rmse_falling_is_not():
    rising = live_decay(weekly([10.0] * 12 + [12.5] * 8), "rmse", "down", SETTINGS)
    assert (
        rising.relative == pytest.approx(0.25)
        and rising.level == "critical"
        and rising.reference == pytest.approx(10.0)
    )
    falling = live_decay(weekly([10.0] * 12 + [7.5] * 8), "rmse", "down", SETTINGS)
    assert (
        falling.relative == pytest.approx(-0.25)
        and falling.level == "none"
        and falling.reference == pytest.approx(10.0)
    )


def test_the_decay_path_says_when_each_level_was_crossed():
    values = [0.80] * 10 + [0.70] * 4 + [0.60] * 6  # 12.5% worse, then 25% worse
    path = decay_path(weekly(values), "up", SETTINGS)
    found = crossings(path)
    assert [level for _, level in found] == ["warning", "critical"]
    warning_week, critical_week = (pd.Timestamp(day) for day, _ in found)
    # judged from week 12 (8 reference weeks + 4): last 4 weeks 0.75 (6.25% below 0.80), 0.725 (9.4%), 0.70 (12.5%) at the 4th week of 0.70
    assert warning_week == WEEKS[13] and critical_week > warning_week
    assert path["shortfall"].iloc[-1] == pytest.approx(0.25)
    assert path["shortfall"].iloc[-1] == pytest.approx(live_decay(weekly(values), "a", "up", SETTINGS).relative), (
        "one implementation"
    )


# -- drift -------------------------------------------------------------------------------------------


def test_drift_compares_the_last_weeks_with_the_first_in_reference_standard_deviations():
    reference = [0.80, 0.82, 0.78, 0.81, 0.79, 0.80, 0.82, 0.78]
    sd = float(np.std(reference, ddof=1))
    current = [0.80 - 3.5 * sd] * 4
    result = drift(weekly(reference + [0.8] * 6 + current), "accuracy", "up", SETTINGS)
    assert result.score == pytest.approx(3.5, abs=0.01) and result.level == "critical" and result.worse is True
    assert (result.reference_n, result.current_n) == (SETTINGS.drift_reference_weeks, SETTINGS.drift_current_weeks)
    assert result.reference_from == WEEKS[0].date() and result.current_until == WEEKS[17].date()
    small = drift(weekly(reference + [0.8] * 6 + [0.80 + sd] * 4), "accuracy", "up", SETTINGS)
    assert small.level == "none" and small.worse is False
    assert drift(weekly(reference + [0.8] * 3), "accuracy", "up", SETTINGS) is None, "windows would overlap"
    path = drift_path(weekly(reference + [0.8] * 6 + current), SETTINGS)
    assert path["score"].iloc[-1] == pytest.approx(result.score, abs=1e-3)
    assert [level for _, level in crossings(path)][-1] == "critical"


def test_a_flat_reference_does_not_make_any_wobble_infinite():
    result = drift(weekly([0.8] * 8 + [0.8] * 4 + [0.801] * 4), "accuracy", "up", SETTINGS)
    assert result.level == "none" and np.isfinite(result.score)


# -- the per-pilot picture ---------------------------------------------------------------------------------


def pilot_row(story: Story, tmp_path) -> report.PilotAlignment:
    store = story.store(tmp_path / "s.duckdb")
    return report.portfolio_alignment(store)[0]


def test_a_decoupled_pilot_reads_as_such_in_words_and_numbers(tmp_path):
    story = Story(kpi=[(w, 3.0 + 0.001 * (i % 2)) for i, (w, _) in enumerate(line(0, 0, 52, 52))])
    row = pilot_row(story, tmp_path)
    assert row.label == "decoupled" and "decoupled" in row.reasons
    live = [v for _, v in story.live]
    rise = (
        np.mean(live[-4:]) - np.mean(live[:4])
    ) * 100  # 4-week averages at each end, in points (accuracy is a share)
    assert row.verdict.startswith(f"Since {story.live[0][0]:%B %Y}, Live Accuracy rose {rise:.1f} points (better); ")
    assert "Revenue per visit has not moved" in row.verdict and "Decoupled over 52 weekly periods:" in row.verdict
    assert row.kpi_progress.progress == pytest.approx(0.0, abs=0.01) and row.kpi_progress.behind is True
    assert row.gaps["accuracy"].relative == pytest.approx((0.90 - 0.88) / 0.90, abs=0.005)


def test_an_error_metric_is_read_the_right_way_round_through_the_dictionary(tmp_path):
    """A pilot whose technical metric is RMSE: rising RMSE is decay, and RMSE falling while the KPI rises is aligned."""
    worse = Story(lab=[], live=[(w, 10.0) for w, _ in line(0, 0, 12, 20)] + [(w, 12.5) for w, _ in line(0, 0, 8, 8)])
    worse.technical_metric = "rmse"
    row = pilot_row(worse, tmp_path / "a")
    assert row.decays["rmse"].level == "critical" and row.decays["rmse"].direction == "down"
    better = Story(lab=[], live=line(12.0, 9.0, 52, 52))
    better.technical_metric = "rmse"
    row = pilot_row(better, tmp_path / "b")
    assert row.label == "aligned" and row.decays["rmse"].level == "none"
    live = [v for _, v in better.live]
    fall = (np.mean(live[:4]) - np.mean(live[-4:])) / np.mean(live[:4]) * 100
    assert f"Live Error (RMSE) fell {fall:.0f}% (better)" in row.verdict


def test_the_portfolio_is_worst_first(tmp_path):
    rows = report.portfolio_alignment(Story(kpi=line(3.5, 3.0, 52, 52)).store(tmp_path / "s.duckdb"))
    assert rows[0].label == "inverted"
    table = report.portfolio_table(rows)
    assert table.loc[0, "label"] == "inverted" and table.loc[0, "concern"] == rows[0].concern


def test_the_chart_data_carries_lab_and_live_the_alert_bands_and_the_kpi_plan(tmp_path):
    story = Story(live=[(w, 0.80) for w, _ in line(0, 0, 30, 40)] + [(w, 0.60) for w, _ in line(0, 0, 10, 10)])
    store = story.store(tmp_path / "s.duckdb")
    evidence = load_evidence(store, NOW)  # the stories' fixed today: the KPI plan is still running then
    numbers = report.numbers_for(evidence, "P-1", load_catalogue())
    chart = report.chart_data(numbers)
    assert set(chart.technical["environment"]) == {"lab", "live"}
    assert len(chart.technical) == len(story.lab) + len(story.live)
    bands = chart.bands.set_index("level")
    assert chart.reference == pytest.approx(0.80)
    assert bands.loc["warning", "high"] == pytest.approx(0.80 * (1 - SETTINGS.decay_warning))
    assert bands.loc["warning", "low"] == pytest.approx(0.80 * (1 - SETTINGS.decay_critical))
    assert bands.loc["critical", "high"] == pytest.approx(0.80 * (1 - SETTINGS.decay_critical))
    assert {"decay warning", "decay critical"} <= set(chart.events["what"])
    assert dict(zip(chart.kpi_lines["line"], chart.kpi_lines["value"])) == {"baseline": 3.0, "target": 3.6}
    approved, deadline = story.record["approved_on"], story.record["kpi_deadline"]
    share = (evidence.as_of.date() - approved).days / (deadline - approved).days
    assert chart.expected_now["value"] == pytest.approx(3.0 + share * 0.6)
    assert list(chart.plan["value"]) == [3.0, 3.6]
    start = TODAY - timedelta(weeks=8)
    cut = report.chart_data(numbers, start=start)
    assert pd.to_datetime(cut.technical["week"]).min() >= pd.Timestamp(start)
    assert cut.bands.equals(chart.bands), "thresholds come from all the data, not the cut"


@pytest.mark.parametrize(
    "first, last, unit, direction, words",
    [
        (0.80, 0.86, "share", "up", "Accuracy rose 6 points (better)"),
        (92.0, 92.5, "%", "up", "Accuracy has not moved"),
        (100.0, 88.0, "$", "down", "Accuracy fell 12% (better)"),
        (3.0, 3.2, "%", "down", "Accuracy rose 0.2 points (worse)"),
    ],
)
def test_changes_are_described_in_points_or_per_cent(first, last, unit, direction, words):
    assert report.describe_change("Accuracy", first, last, unit, direction) == words


# -- the command line ----------------------------------------------------------------------------------


def test_the_alignment_command_gives_every_pilot_with_the_named_fields(demo_store, run_command):
    result = run_command("alignment", "--db", str(demo_store.path), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    pilots = {p["pilot_id"]: p for p in payload["pilots"]}
    assert len(pilots) == 24
    for block in pilots.values():
        assert {
            "pilot_id",
            "label",
            "rho",
            "lag",
            "periods",
            "lab_live_gap",
            "decay",
            "kpi_progress",
            "time_elapsed",
        } <= set(block)
    assert pilots["RO-03"]["label"] == "decoupled" and pilots["CS-02"]["label"] == "inverted"
    assert pilots["FN-01"]["decay"]["roc_auc"]["level"] == "critical"
    expected = {r.pilot_id: r for r in report.portfolio_alignment(demo_store)}
    for code, block in pilots.items():
        row = expected[code]
        assert block["periods"] == (row.alignment.periods if row.alignment else 0)
        assert block["rho"] == (row.alignment.rho if row.alignment else None)
        for metric, gap in row.gaps.items():
            assert block["lab_live_gap"][metric]["relative"] == pytest.approx(gap.relative)
    assert [p["pilot_id"] for p in payload["pilots"]] == [r.pilot_id for r in report.portfolio_alignment(demo_store)], (
        "worst first"
    )


def test_the_alignment_command_for_one_pilot_and_a_wrong_code(demo_store, run_command):
    one = run_command("alignment", "--db", str(demo_store.path), "--pilot", "ro-03")
    assert one.returncode == 0 and "RO-03 · " in one.stdout and "Decoupled over" in one.stdout
    assert "drift, accuracy: score" in one.stdout and "reference weeks" in one.stdout
    wrong = run_command("alignment", "--db", str(demo_store.path), "--pilot", "RO-3")
    assert wrong.returncode == 1 and "There is no pilot RO-3" in wrong.stderr and "RO-03" in wrong.stderr


@pytest.fixture(scope="module")
def demo_rows(tmp_path_factory):
    from pilot_health.demo.portfolio import DEMO_NOW, load_demo
    from pilot_health.store.database import Store

    store = Store(tmp_path_factory.mktemp("demo-alignment") / "demo.duckdb")
    load_demo(store, today=DEMO_NOW.date())
    return {r.pilot_id: r for r in report.portfolio_alignment(store, DEMO_NOW)}


@pytest.mark.parametrize("pilot_id, label", [("RO-03", "decoupled"), ("CS-02", "inverted")])
def test_the_demo_alignment_stories_come_out_as_designed(demo_rows, pilot_id, label):
    """docs/demo.md tells these stories; the page must tell them too."""
    assert demo_rows[pilot_id].label == label


@pytest.mark.parametrize("pilot_id", ["FN-01", "CS-04"])
def test_the_demo_decay_stories_are_critical(demo_rows, pilot_id):
    row = demo_rows[pilot_id]
    assert row.primary_decay.level == "critical" and row.primary_decay.relative >= SETTINGS.decay_critical


def test_the_demo_healthy_pilots_are_aligned_and_on_plan(demo_rows):
    for pilot_id in ("RO-01", "SC-02", "CS-03", "FN-02", "MK-01", "MK-02"):
        row = demo_rows[pilot_id]
        assert row.label == "aligned" and row.kpi_progress.behind is False and row.concern == 0, pilot_id
