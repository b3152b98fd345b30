"""The home page's numbers, computed without Streamlit and checked against the store itself."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import DEMO_NOW, DEMO_TODAY

from pilot_health.analytics import portfolio, risk
from pilot_health.analytics.evidence import load_evidence
from pilot_health.models import Pilot, months_since
from pilot_health.register.pilots import create_pilot
from pilot_health.reports import steering_pack
from pilot_health.rules.thresholds import catalogue_for


@pytest.fixture
def frame(demo_store):
    return portfolio.load_portfolio(demo_store, DEMO_TODAY, 45)


def test_one_row_per_pilot_in_lifecycle_order(frame, demo_store):
    with demo_store.read() as con:
        assert len(frame) == con.execute("SELECT count(*) FROM pilots").fetchone()[0]
    order = {s: i for i, s in enumerate(portfolio.STAGES)}
    assert frame["stage"].map(order).is_monotonic_increasing


def test_stage_counts_match_the_register(frame, demo_store):
    counts = portfolio.stage_counts(frame)
    assert list(counts["stage"]) == list(portfolio.STAGES)
    with demo_store.read() as con:
        expected = dict(con.execute("SELECT stage, count(*) FROM pilots GROUP BY stage").fetchall())
    assert dict(zip(counts["stage"], counts["pilots"])) == {s: expected.get(s, 0) for s in portfolio.STAGES}


def test_time_in_stage_and_the_pilot_clock(frame):
    sc03 = frame.set_index("pilot_id").loc["SC-03"]
    expected = (pd.Timestamp(DEMO_TODAY) - pd.Timestamp(sc03["stage_since"])).days / 30.4375
    assert sc03["months_in_stage"] == pytest.approx(expected, abs=0.05)
    assert sc03["pilot_clock"] == "over_18"
    clocks = frame.set_index("pilot_id")["pilot_clock"]
    assert clocks["CS-05"] == "under_6" and clocks["SC-01"] == "over_6"
    assert pd.isna(clocks["SC-02"]), "the clock is only for pilots in the pilot stage"


def test_months_since_by_hand():
    # 1 Jan → 1 Jul 2026 is 181 days; an average month is 365.25 / 12 = 30.4375 days: 5.9466 months
    assert months_since(date(2026, 1, 1), date(2026, 7, 1)) == pytest.approx(5.9466, abs=1e-4)
    # four years, one of them leap, are 1,461 days: exactly 48 months; the time of day does not count
    assert months_since(datetime(2024, 1, 1, 18, 30), datetime(2028, 1, 1, 23, 59, 59)) == 48.0
    assert months_since(pd.Timestamp("2026-03-31"), date(2026, 3, 31)) == 0.0
    assert months_since("2026-02-01", date(2026, 3, 1)) == pytest.approx(28 / 30.4375)
    for unknown in (None, pd.NaT, float("nan")):
        assert months_since(unknown, date(2026, 3, 1)) is None


def test_months_in_stage_is_one_number_on_the_home_page_in_the_risk_engine_and_in_the_packs(frame, demo_store):
    """The one function (models.months_since) behind all three: the home page rounds it to a tenth."""
    record = load_evidence(demo_store, DEMO_NOW, ["SC-03"]).pilot("SC-03").record
    expected = months_since(record["stage_since"], DEMO_TODAY)
    assert expected > 18
    assert frame.set_index("pilot_id").loc["SC-03", "months_in_stage"] == round(expected, 1)
    context = risk._Context(
        load_evidence(demo_store, DEMO_NOW, ["SC-03"]).pilot("SC-03"), catalogue_for(demo_store), DEMO_NOW, False
    )
    assert context.months_in_stage() == expected
    pack = SimpleNamespace(record=record, as_of=DEMO_NOW)
    assert steering_pack.PilotPack.months_in_stage.fget(pack) == expected


@pytest.mark.parametrize(
    "stage, months, clock",
    [
        ("pilot", 5.9, "under_6"),
        ("pilot", 6.0, "over_6"),
        ("pilot", 17.99, "over_6"),
        ("pilot", 18.0, "over_18"),
        ("scaling", 30.0, None),
        ("pilot", None, None),
    ],
)
def test_pilot_clock_boundaries(stage, months, clock):
    assert portfolio.pilot_clock(stage, months) == clock


def test_budget_and_spend(frame):
    sc03 = frame.set_index("pilot_id").loc["SC-03"]
    assert sc03["spend_share"] == pytest.approx(1_350_000 / 900_000)
    assert bool(sc03["over_budget"])
    summary = portfolio.summarise(frame, 45)
    assert summary.budget_total == pytest.approx(frame["budget"].sum())
    assert summary.spend_total == pytest.approx(frame["spend_to_date"].sum())
    assert summary.over_budget == int((frame["spend_to_date"] > frame["budget"]).sum()) > 0


def test_days_since_last_upload_agree_with_the_uploads_table(frame, demo_store):
    with demo_store.read() as con:
        newest = dict(
            con.execute(
                """
            SELECT m.pilot_id, max(u.uploaded_at) FROM metric_observations m JOIN uploads u USING (upload_id)
            WHERE u.withdrawn_at IS NULL GROUP BY m.pilot_id
            """
            ).fetchall()
        )
    rows = frame.set_index("pilot_id")
    for pilot_id, uploaded_at in newest.items():
        assert rows.loc[pilot_id, "days_since_upload"] <= (DEMO_TODAY - uploaded_at.date()).days
    assert rows.loc["FN-05", "freshness"] == "stale"
    assert rows.loc["SC-05", "freshness"] == "never" and pd.isna(rows.loc["SC-05", "last_upload_at"])
    assert rows.loc["SC-01", "freshness"] == "fresh"


def test_withdrawn_uploads_no_longer_count(demo_store):
    before = portfolio.load_portfolio(demo_store, DEMO_TODAY, 45).set_index("pilot_id").loc["SC-01"]
    with demo_store.write() as con:
        con.execute(
            """
            UPDATE uploads SET withdrawn_at = now()
            WHERE upload_id IN (SELECT DISTINCT upload_id FROM metric_observations WHERE pilot_id = 'SC-01')
               OR upload_id IN (SELECT DISTINCT upload_id FROM survey_responses WHERE pilot_id = 'SC-01' AND wave = 3)
            """
        )
    after = portfolio.load_portfolio(demo_store, DEMO_TODAY, 45).set_index("pilot_id").loc["SC-01"]
    assert after["last_upload_at"] < before["last_upload_at"]
    assert after["data_uploads"] == 2, "only survey waves 1 and 2 still count"


def test_a_pilot_without_stage_date_or_budget_is_shown_without_inventing_numbers(demo_store):
    create_pilot(demo_store, Pilot(pilot_id="NEW-1", name="Fresh idea", business_unit="Legal", stage="proposed"))
    row = portfolio.load_portfolio(demo_store, DEMO_TODAY, 45).set_index("pilot_id").loc["NEW-1"]
    assert pd.isna(row["months_in_stage"]) and pd.isna(row["spend_share"]) and row["freshness"] == "never"


def test_filters(frame):
    only = portfolio.filter_portfolio(frame, portfolio.PortfolioFilters(("Finance",), ("pilot",)))
    assert sorted(only["pilot_id"]) == ["FN-03", "FN-04"]
    assert len(portfolio.filter_portfolio(frame, portfolio.PortfolioFilters())) == len(frame)
    units = portfolio.filter_portfolio(frame, portfolio.PortfolioFilters(("Finance", "Marketing")))
    assert set(units["business_unit"]) == {"Finance", "Marketing"}


def test_summary_counts(frame):
    summary = portfolio.summarise(frame, 45)
    pilots = frame[frame["stage"] == "pilot"]
    assert summary.in_pilot == len(pilots)
    assert summary.past_purgatory == int((pilots["months_in_stage"] >= 6).sum())
    assert summary.past_cancellation == int((pilots["months_in_stage"] >= 18).sum()) >= 2
    assert summary.stale == int((frame["freshness"] == "stale").sum())
    assert summary.never == 2  # the two proposed pilots


def test_budget_by_business_unit(frame):
    units = portfolio.by_business_unit(frame)
    assert units["budget"].sum() == pytest.approx(frame["budget"].sum())
    assert set(units["business_unit"]) == set(frame["business_unit"])


# -- the portfolio's health: counts and worst-first order (risk page, steering pack, bench) -----------


def _pilot_risk(pilot_id: str, health: str, scores: tuple[float | None, ...]):
    """A scored pilot built by hand: its health verdict and its patterns' scores."""
    from datetime import datetime

    from pilot_health.analytics.risk import PatternResult, PilotRisk

    patterns = {
        f"p{i}": PatternResult(f"p{i}", f"Pattern {i}", score, 1.0, "low", [], i + 1, "")
        for i, score in enumerate(scores)
    }
    return PilotRisk(pilot_id, pilot_id, "Unit", "pilot", datetime(2026, 3, 1), health, "by hand", patterns)


def test_portfolio_health_counts_each_verdict_and_orders_worst_first_by_hand():
    """Seven pilots worked out by hand: red before amber before insufficient evidence before green;
    within a verdict, the highest pattern score first, then the code."""
    results = [
        _pilot_risk("GR-01", "green", (10, 5)),
        _pilot_risk("RD-02", "red", (70, 20)),
        _pilot_risk("AM-01", "amber", (55, None)),
        _pilot_risk("RD-01", "red", (90, 10)),
        _pilot_risk("IN-01", "insufficient", (None, None)),
        _pilot_risk("AM-02", "amber", (55, 40)),  # ties AM-01 on its top score: the code decides
        _pilot_risk("RD-03", "red", (40, 90)),  # ties RD-01 on its top score: the code decides
    ]
    health = portfolio.portfolio_health(results)
    assert health.worst_first == ("RD-01", "RD-03", "RD-02", "AM-01", "AM-02", "IN-01", "GR-01")
    assert health.red == ("RD-01", "RD-03", "RD-02") and health.amber == ("AM-01", "AM-02")
    assert health.insufficient == ("IN-01",) and health.green == ("GR-01",)
    assert health.counts == {"red": 3, "amber": 2, "green": 1, "insufficient": 1}
    assert list(health.counts) == list(portfolio.HEALTH_VERDICTS)
    assert health.named("red", 2) == (("RD-01", "RD-03"), 1) and health.named("green", 8) == (("GR-01",), 0)
    # The pilots a page's filters show: only those are counted and ordered.
    shown = portfolio.portfolio_health(results, ["GR-01", "RD-02", "AM-02", "RD-02"])
    assert shown.worst_first == ("RD-02", "AM-02", "GR-01")
    assert shown.counts == {"red": 1, "amber": 1, "green": 1, "insufficient": 0}
    assert portfolio.portfolio_health([]).counts == {"red": 0, "amber": 0, "green": 0, "insufficient": 0}


def test_the_pilot_clock_is_worded_from_its_constants(monkeypatch):
    assert portfolio.months_rule() == "days ÷ 30.44"
    assert portfolio.pilot_clock_rule().startswith("Past 6 months without integration") and "past 18 months" in (
        portfolio.pilot_clock_rule()
    )
    monkeypatch.setattr(portfolio, "PURGATORY_MONTHS", 9)
    monkeypatch.setattr(portfolio, "CANCELLATION_MONTHS", 24)
    monkeypatch.setattr(portfolio, "DAYS_PER_MONTH", 30.0)
    assert portfolio.months_rule() == "days ÷ 30.00"
    assert "Past 9 months" in portfolio.pilot_clock_rule() and "past 24 months" in portfolio.pilot_clock_rule()
