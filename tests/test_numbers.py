"""The shared numbers the risk engine (and later the alignment and adoption pages) are built on,
each checked against a straightforward computation of the same thing: ADKAR barrier points,
rank correlation, weekly/monthly resampling, the alignment labels, lab-to-live gap, live decay,
KPI progress, adoption rate, and the per-pilot series slicing of the evidence."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from pilot_health.analytics.adoption import ADKAR, adoption_rate, barrier_point, barrier_points, group_barrier
from pilot_health.analytics.alignment import _resample, alignment, kpi_progress, lab_live_gap, live_decay, spearman
from pilot_health.analytics.evidence import Evidence
from pilot_health.rules.catalogue import load_catalogue

SETTINGS = load_catalogue().analysis
WEEKS = pd.date_range("2025-01-06", periods=40, freq="W-MON")  # Mondays, as date_trunc('week') gives them


def weekly(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=WEEKS[: len(values)])


# -- adoption ------------------------------------------------------------------------------------------


def test_barrier_points_follow_the_one_respondent_rule_with_blanks_skipped():
    rng = np.random.default_rng(7)
    scores = rng.integers(1, 6, size=(300, 5)).astype(float)
    scores[rng.random((300, 5)) < 0.15] = np.nan  # skipped questions
    frame = pd.DataFrame(scores, columns=list(ADKAR)).astype("Int64")  # as the store returns them
    expected = [barrier_point(row) or "none" for row in frame.to_dict("records")]
    assert barrier_points(frame).tolist() == expected
    assert barrier_points(frame.astype("float64")).tolist() == expected


def test_a_blank_answer_is_never_a_barrier():
    frame = pd.DataFrame([dict(awareness=None, desire=4, knowledge=None, ability=2, reinforcement=1)]).astype("float64")
    assert barrier_points(frame).tolist() == ["ability"]


def test_group_barrier_counts_every_element_and_picks_the_most_common():
    rows = (
        [dict(awareness=5, desire=2, knowledge=5, ability=5, reinforcement=5)] * 4
        + [dict(awareness=5, desire=5, knowledge=3, ability=5, reinforcement=5)] * 2
        + [dict(awareness=5, desire=5, knowledge=5, ability=5, reinforcement=5)] * 3
    )
    result = group_barrier(pd.DataFrame(rows))
    assert result.respondents == 9 and result.stuck == 6
    assert result.element == "desire" and result.element_count == 4
    assert result.distribution == {
        "awareness": 0,
        "desire": 4,
        "knowledge": 2,
        "ability": 0,
        "reinforcement": 0,
        "none": 3,
    }


def test_adoption_rate_averages_the_last_weeks():
    rate = adoption_rate(weekly([10] * 10 + [20, 30, 40, 50]), 200, SETTINGS)
    last = [10, 20, 30, 40, 50][-SETTINGS.smoothing_weeks :]
    assert rate.active_users == pytest.approx(np.mean(last))
    assert rate.rate == pytest.approx(np.mean(last) / 200)
    assert rate.weeks == 14 and rate.latest_week == WEEKS[13].date()
    assert adoption_rate(weekly([10]), None, SETTINGS) is None


# -- rank correlation and resampling ------------------------------------------------------------


def test_spearman_matches_pandas_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(3, 40))
        x, y = rng.integers(0, 6, n).astype(float), rng.integers(0, 6, n).astype(float)
        reference = pd.DataFrame({"x": x, "y": y}).corr(method="spearman").loc["x", "y"]  # pandas' own ranks, no scipy
        assert spearman(x, y) == pytest.approx(0.0 if np.isnan(reference) else reference)


@pytest.mark.parametrize("period, pandas_period", [("week", "W-SUN"), ("month", "M")])
def test_resampling_matches_pandas_periods(period, pandas_period):
    rng = np.random.default_rng(5)
    days = pd.date_range("2024-01-01", "2026-01-01", freq="D")
    for _ in range(50):
        index = pd.DatetimeIndex(np.sort(rng.choice(days, size=int(rng.integers(1, 80)), replace=False)))
        series = pd.Series(rng.random(len(index)), index=index)
        expected = series.groupby(series.index.to_period(pandas_period).start_time).mean()
        got = _resample(series, period)
        assert got.index.equals(expected.index)
        assert np.allclose(got.to_numpy(), expected.to_numpy())


# -- technical against business -----------------------------------------------------------------


def test_alignment_labels():
    rising, flat = np.linspace(0.7, 0.9, 30), 3.0 + 0.01 * np.sin(np.arange(30))
    falling = np.linspace(3.0, 2.5, 30)
    assert alignment(weekly(rising), weekly(flat), "up", "up", SETTINGS).label == "decoupled"
    assert alignment(weekly(rising), weekly(falling), "up", "up", SETTINGS).label == "inverted"
    assert alignment(weekly(rising), weekly(falling), "up", "down", SETTINGS).label == "aligned", (
        "a falling cost is progress"
    )
    result = alignment(weekly(rising), weekly(np.linspace(3.0, 3.6, 30)), "up", "up", SETTINGS)
    assert result.label == "aligned" and result.periods == 30 and result.period == "week"
    assert alignment(weekly(rising[:3]), weekly(flat[:3]), "up", "up", SETTINGS).label == "insufficient data"


def test_alignment_falls_back_to_months_when_the_kpi_is_monthly():
    kpi = pd.Series(np.linspace(3.0, 3.6, 13), index=pd.date_range("2025-01-01", periods=13, freq="MS"))
    technical = pd.Series(np.linspace(0.7, 0.9, 58), index=pd.date_range("2025-01-06", periods=58, freq="W-MON"))
    result = alignment(technical, kpi, "up", "up", SETTINGS)
    assert result.period == "month" and result.periods == 13 and result.label == "aligned"


def test_the_articles_lab_to_live_cliff():
    gap = lab_live_gap(
        weekly([0.92] * 20), pd.Series([0.67] * 8, index=WEEKS[20:28]), "accuracy", "up", SETTINGS, at="first_live"
    )
    assert gap.lab == pytest.approx(0.92) and gap.live == pytest.approx(0.67)
    assert gap.relative == pytest.approx(0.25 / 0.92)
    assert gap.live_from == WEEKS[20].date() and gap.live_values == min(8, SETTINGS.first_live_weeks)


def test_an_error_metric_is_worse_when_it_rises():
    gap = lab_live_gap(
        weekly([10.0] * 10), pd.Series([13.0] * 4, index=WEEKS[10:14]), "rmse", "down", SETTINGS, at="first_live"
    )
    assert gap.relative == pytest.approx(0.3)


def test_live_decay_from_the_first_live_weeks():
    values = [0.90] * 12 + [0.70] * 12
    decay = live_decay(weekly(values), "auc", "up", SETTINGS)
    assert decay.reference == pytest.approx(0.90) and decay.latest == pytest.approx(0.70)
    assert decay.relative == pytest.approx(0.2 / 0.9)
    assert decay.level == ("critical" if SETTINGS.decay_critical <= 0.2 / 0.9 else "warning")
    assert live_decay(weekly(values[: SETTINGS.decay_min_weeks - 1]), "auc", "up", SETTINGS) is None


def test_kpi_progress_against_time_elapsed():
    kpi = weekly([3.0] * 10 + [3.1] * 10)
    progress = kpi_progress(kpi, 3.0, 3.6, date(2025, 1, 1), date(2026, 1, 1), datetime(2025, 10, 1), 0.25, SETTINGS)
    assert progress.progress == pytest.approx(0.1 / 0.6)
    assert progress.time_elapsed == pytest.approx((date(2025, 10, 1) - date(2025, 1, 1)).days / 365)
    assert progress.behind is True
    on_plan = kpi_progress(
        weekly([3.5] * 8), 3.0, 3.6, date(2025, 1, 1), date(2026, 1, 1), datetime(2025, 10, 1), 0.25, SETTINGS
    )
    assert on_plan.behind is False


# -- the evidence's series slicing --------------------------------------------------------------------


def test_evidence_series_are_the_weekly_means_of_the_store_rows():
    """The engine reads series as slices of one sorted frame; each must equal a plain filter + mean,
    including a metric stored under two kinds and pilots without any data."""
    rng = np.random.default_rng(11)
    rows = []
    for pilot in ("A-1", "B-2", "C-3"):
        for metric, kind in (
            ("accuracy", "technical"),
            ("revenue", "business"),
            ("accuracy", "business"),
            ("active_users", "adoption"),
        ):
            for environment in ("lab", "live"):
                for week in rng.choice(WEEKS, size=int(rng.integers(0, 12)), replace=False):
                    rows.append((pilot, metric, kind, environment, pd.Timestamp(week), float(rng.random()), 1))
    frame = pd.DataFrame(rows, columns=["pilot_id", "metric", "kind", "environment", "week", "value", "n"])
    frame = frame.sort_values(["pilot_id", "metric", "kind", "environment", "week"]).reset_index(drop=True)
    pilots = pd.DataFrame({"pilot_id": ["A-1", "B-2", "C-3", "D-4"], "name": ["a", "b", "c", "d"]})
    evidence = Evidence(datetime(2026, 1, 1), pilots, frame, pd.DataFrame(columns=["pilot_id", *ADKAR]))
    for pilot_id in ("A-1", "B-2", "C-3", "D-4"):
        one = evidence.pilot(pilot_id)
        mine = frame[frame["pilot_id"] == pilot_id]
        for metric in ("accuracy", "revenue", "active_users", "missing"):
            for environment in ("lab", "live", None):
                for kind in ("technical", "business", "adoption", None):
                    chosen = mine[
                        (mine["metric"] == metric)
                        & ((mine["environment"] == environment) if environment else True)
                        & ((mine["kind"] == kind) if kind else True)
                    ]
                    expected = chosen.groupby("week")["value"].mean().sort_index()
                    got = one.series(metric, environment, kind)
                    assert got.index.equals(pd.DatetimeIndex(expected.index)), (pilot_id, metric, environment, kind)
                    assert np.allclose(got.to_numpy(), expected.to_numpy()), (pilot_id, metric, environment, kind)
        live = mine[(mine["kind"] == "technical") & (mine["environment"] == "live")]["week"]
        assert list(one.weeks("technical", "live")) == sorted(live.unique())
        assert one.technical_metrics == sorted(mine.loc[mine["kind"] == "technical", "metric"].unique())


def test_the_shared_numbers_name_what_they_hold(demo_store):
    """The risk engine's context and PilotNumbers say evidence, record, analysis, catalogue and numbers
    (not e, r, a, c, n), for whoever reads the engine or a page that uses them."""
    from pilot_health.analytics import risk
    from pilot_health.analytics.evidence import load_evidence
    from pilot_health.analytics.pilot_numbers import PilotNumbers
    from pilot_health.rules.thresholds import catalogue_for

    evidence = load_evidence(demo_store, datetime(2026, 3, 1), ["SC-01"]).pilot("SC-01")
    catalogue = catalogue_for(demo_store)
    context = risk._Context(evidence, catalogue, datetime(2026, 3, 1), False)
    assert context.evidence is evidence and context.record is evidence.record
    assert context.catalogue is catalogue and context.analysis is catalogue.analysis
    assert isinstance(context.numbers, PilotNumbers)
    numbers = context.numbers
    assert numbers.evidence is evidence and numbers.record is evidence.record and numbers.analysis is catalogue.analysis
    for holder in (context, numbers):
        assert [name for name in vars(holder) if len(name) == 1] == []


def test_small_counts_are_written_in_words_and_larger_ones_in_digits():
    from pilot_health.formatting import number_words

    assert [number_words(n) for n in (0, 1, 5, 12, 20)] == ["no", "one", "five", "twelve", "twenty"]
    assert number_words(21) == "21" and number_words(1500) == "1,500"
