"""The demo portfolio: deterministic, realistic, every story present, loaded all at once."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from conftest import DEMO_TODAY, ROOT

from pilot_health.demo.portfolio import (
    ANCHOR,
    CSV_FILES,
    DEMO_NOW,
    DEMO_UPLOADER,
    build_portfolio,
    clear_demo,
    first_run,
    load_demo,
    write_csvs,
)
from pilot_health.errors import DuplicateError
from pilot_health.models import STAGES, Pilot
from pilot_health.store import queries

ADKAR = ["awareness", "desire", "knowledge", "ability", "reinforcement"]


@pytest.fixture(scope="module")
def demo():
    return build_portfolio()


def series(demo, pilot_id, metric, environment):
    rows = demo.metrics[
        (demo.metrics.pilot_id == pilot_id)
        & (demo.metrics.metric == metric)
        & (demo.metrics.environment == environment)
    ]
    return rows.sort_values("observed_at")["value"].reset_index(drop=True)


def live_decay_from_best(demo, pilot_id, metric):
    """Relative drop of the latest 4-week average from the best 4-week average (higher is better)."""
    live = series(demo, pilot_id, metric, "live").rolling(4).mean().dropna()
    return 1 - live.iloc[-1] / live.max()


def test_the_demo_is_the_same_every_time(demo):
    again = build_portfolio()
    for name in CSV_FILES:
        pd.testing.assert_frame_equal(getattr(demo, name), getattr(again, name))


def test_the_shipped_csv_files_are_exactly_the_demo(tmp_path):
    written = write_csvs(tmp_path)
    for path in written:
        shipped = ROOT / "data" / "demo" / path.name
        assert shipped.read_bytes() == path.read_bytes(), (
            f"data/demo/{path.name} is out of date: run python -m pilot_health demo --write-csv data/demo"
        )


def test_every_register_row_is_a_valid_pilot(demo):
    for record in demo.pilots.to_dict("records"):
        Pilot.model_validate(record)


def test_portfolio_shape(demo):
    pilots = demo.pilots
    assert 22 <= len(pilots) <= 26
    assert 4 <= pilots.business_unit.nunique() <= 5
    assert set(pilots.stage) == set(STAGES)
    assert pilots.pilot_id.is_unique


def test_two_years_of_weekly_metrics_of_every_kind(demo):
    m = demo.metrics
    span = m.observed_at.max() - m.observed_at.min()
    assert span >= pd.Timedelta(weeks=100)
    assert m.observed_at.max() == pd.Timestamp(ANCHOR)
    assert set(m.kind) == {"technical", "business"} and set(m.environment) == {"lab", "live"}
    weekly = (
        m[(m.pilot_id == "FN-01") & (m.environment == "live") & (m.kind == "technical")].observed_at.diff().dropna()
    )
    assert (weekly == pd.Timedelta(weeks=1)).all()
    assert len(demo.usage) > 500 and {"active_users", "sessions"} <= set(demo.usage.columns)


def test_three_survey_waves_with_teams_blanks_and_a_small_team(demo):
    s = demo.survey
    assert sorted(s.wave.unique()) == [1, 2, 3]
    assert s.groupby("pilot_id").team.nunique().max() >= 3
    scores = s[ADKAR]
    assert scores.isna().any().any(), "some questions are skipped (blank)"
    values = scores.stack().dropna().astype(int)
    assert values.between(1, 5).all()
    per_group = s.groupby(["pilot_id", "wave", "team"]).size()
    assert (per_group < 5).any(), "a team below the anonymity minimum exercises suppression"
    assert s.comment.notna().sum() > 50


def test_no_data_before_approval_or_after_a_pilot_stopped(demo):
    pilots = demo.pilots.set_index("pilot_id")
    for frame, column in ((demo.metrics, "observed_at"), (demo.usage, "date"), (demo.survey, "responded_at")):
        for pilot_id, times in frame.groupby("pilot_id")[column]:
            record = pilots.loc[pilot_id]
            if record.approved_on is not None:
                assert times.min() >= pd.Timestamp(record.approved_on), (pilot_id, column)
            if record.stage in ("paused", "cancelled"):
                assert times.max() <= pd.Timestamp(record.stage_since) + pd.Timedelta(days=14), (pilot_id, column)
    proposed = pilots[pilots.stage == "proposed"].index
    assert not demo.metrics.pilot_id.isin(proposed).any()


def test_the_article_lab_to_live_cliff(demo):
    lab = series(demo, "SC-01", "accuracy", "lab").tail(4).mean()
    live = series(demo, "SC-01", "accuracy", "live").tail(4).mean()
    assert lab == pytest.approx(0.92, abs=0.015)
    assert live == pytest.approx(0.67, abs=0.015)


# Each failure pattern must be clearly present in at least two pilots. These checks read the
# raw demo data the way a careful analyst would; the risk engine scores them properly later.


def test_data_debt_is_present(demo):
    p = demo.pilots
    low_data_effort = p[
        (p.data_effort_pct < 40) & (p.pipeline_automated == False) & (p.data_quality_monitored == False)  # noqa: E712
    ]
    assert {"SC-01", "RO-05", "FN-05"} <= set(low_data_effort.pilot_id)
    lab_only = set(demo.metrics[demo.metrics.environment == "lab"].pilot_id) - set(
        demo.metrics[demo.metrics.environment == "live"].pilot_id
    )
    assert "RO-05" in lab_only


def test_integration_avoidance_is_present(demo):
    p = demo.pilots.set_index("pilot_id")
    open_items = (p[["api_designed", "latency_defined", "integration_resourced"]] == False).sum(axis=1)  # noqa: E712
    months_in_pilot = (pd.Timestamp(ANCHOR) - pd.to_datetime(p.stage_since)).dt.days / 30.44
    avoiding = p[(open_items >= 2) & (p.stage == "pilot") & (months_in_pilot > 18)]
    assert {"SC-03", "FN-04"} <= set(avoiding.index)
    assert p.loc["SC-03", "integration_target"] == "none"


def test_organisational_resistance_is_present(demo):
    p = demo.pilots.set_index("pilot_id")
    weak_sponsor = p.sponsor_level.isin(["manager", "none"])
    no_plan = p.change_plan == False  # noqa: E712
    assert {"RO-02", "CS-01", "MK-03"} <= set(p[weak_sponsor & no_plan].index)
    usage = demo.usage.sort_values("date").groupby("pilot_id").active_users.last()
    for pilot_id in ("RO-02", "CS-01"):
        assert usage[pilot_id] / p.loc[pilot_id, "target_users"] < 0.35
    latest = demo.survey[
        (demo.survey.pilot_id == "RO-02") & (demo.survey.team == "Store managers") & (demo.survey.wave == 3)
    ]
    assert (latest.desire <= 3).mean() > 0.6, "store managers are stuck at Desire"


def test_governance_vacuum_is_present(demo):
    p = demo.pilots.set_index("pilot_id")
    for pilot_id, metric in (("FN-01", "roc_auc"), ("CS-04", "precision")):
        assert live_decay_from_best(demo, pilot_id, metric) >= 0.20, pilot_id
        assert p.loc[pilot_id, "drift_alerts"] == False  # noqa: E712


def test_wrong_success_metrics_is_present(demo):
    p = demo.pilots.set_index("pilot_id")
    assert p.loc["FN-03", "kpi_name"] == "none"  # the register says so: an answer, not a blank
    for pilot_id, metric, kpi in (
        ("RO-03", "accuracy", "gross_margin_on_marked_down_items"),
        ("CS-02", "roc_auc", "monthly_churn_rate"),
    ):
        technical = series(demo, pilot_id, metric, "live")
        business = series(demo, pilot_id, kpi, "live")
        assert technical.tail(4).mean() > technical.head(4).mean() * 1.1, pilot_id
        baseline, target = p.loc[pilot_id, "kpi_baseline"], p.loc[pilot_id, "kpi_target"]
        progress = (business.tail(4).mean() - baseline) / (target - baseline)
        assert progress < 0.1, (pilot_id, progress)


def test_a_few_pilots_are_healthy(demo):
    p = demo.pilots.set_index("pilot_id")
    healthy = []
    for pilot_id in p.index:
        record = p.loc[pilot_id]
        evidence = record[["pipeline_automated", "api_designed", "change_plan", "monitoring_in_place", "drift_alerts"]]
        if not (evidence == True).all() or pd.isna(record.kpi_name) or record.kpi_name == "none":  # noqa: E712
            continue
        kpi = demo.metrics[(demo.metrics.pilot_id == pilot_id) & (demo.metrics.kind == "business")].sort_values(
            "observed_at"
        )
        if kpi.empty:
            continue
        progress = (kpi.value.tail(4).mean() - record.kpi_baseline) / (record.kpi_target - record.kpi_baseline)
        if progress >= 0.5:
            healthy.append(pilot_id)
    assert {"SC-02", "RO-01", "FN-02", "CS-03", "MK-01", "MK-02"} <= set(healthy)


@pytest.mark.slow
def test_loading_stores_everything_with_an_upload_history(store):
    result = load_demo(store, today=DEMO_TODAY)
    demo = build_portfolio()
    assert result.redated_weeks == 0
    with store.read() as con:
        counts = queries.table_counts(con)
        assert counts["pilots"] == len(demo.pilots)
        assert counts["metric_observations"] == len(demo.metrics) + 2 * len(demo.usage)
        assert counts["survey_responses"] == len(demo.survey)
        assert counts["uploads"] == result.uploads
        stored, claimed = con.execute(
            """
            SELECT (SELECT count(*) FROM metric_observations) + (SELECT count(*) FROM survey_responses),
                   sum(rows_stored) FILTER (WHERE kind <> 'pilot_register') FROM uploads
            """
        ).fetchone()
        assert stored == claimed
        orphans = con.execute(
            "SELECT count(*) FROM metric_observations m"
            " WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.upload_id = m.upload_id)"
        ).fetchone()[0]
        assert orphans == 0
        latest = con.execute("SELECT max(uploaded_at) FROM uploads").fetchone()[0]
        assert latest <= DEMO_NOW
        assert con.execute("SELECT DISTINCT uploaded_by FROM uploads").fetchall() == [(DEMO_UPLOADER,)]
        blanks = con.execute("SELECT count(*) FROM survey_responses WHERE desire IS NULL").fetchone()[0]
        zeros = con.execute("SELECT count(*) FROM survey_responses WHERE desire = 0").fetchone()[0]
        assert blanks > 0 and zeros == 0
    assert store.meta()["demo_loaded"] == "yes"


@pytest.mark.slow
def test_loading_later_moves_the_calendar_not_the_values(store):
    later = DEMO_TODAY + timedelta(weeks=10, days=2)
    result = load_demo(store, today=later)
    assert result.redated_weeks == 10
    with store.read() as con:
        newest = con.execute("SELECT max(observed_at) FROM metric_observations WHERE kind = 'technical'").fetchone()[0]
        sc01 = con.execute("SELECT approved_on FROM pilots WHERE pilot_id = 'SC-01'").fetchone()[0]
        values = con.execute("SELECT sum(value) FROM metric_observations WHERE kind = 'technical'").fetchone()[0]
    shipped = build_portfolio()
    assert newest.date() == ANCHOR + timedelta(weeks=10)
    assert sc01 == shipped.pilots.set_index("pilot_id").loc["SC-01", "approved_on"] + timedelta(weeks=10)
    assert values == pytest.approx(shipped.metrics[shipped.metrics.kind == "technical"].value.sum())


@pytest.mark.slow
def test_loading_is_all_or_nothing(store):
    from pilot_health.register.pilots import create_pilot

    create_pilot(store, Pilot(pilot_id="CS-02", name="Someone else's pilot", business_unit="Legal", stage="pilot"))
    version = store.version()
    with pytest.raises(DuplicateError, match="CS-02"):
        load_demo(store, today=DEMO_TODAY)
    with store.read() as con:
        assert queries.table_counts(con) == {"pilots": 1, "uploads": 0, "metric_observations": 0, "survey_responses": 0}
    assert store.version() == version


@pytest.mark.slow
def test_loading_twice_is_refused(demo_store):
    with pytest.raises(DuplicateError, match="already loaded"):
        load_demo(demo_store, today=DEMO_TODAY)


def test_clearing_removes_the_demo_but_keeps_your_own_work(demo_store):
    from pilot_health.register.pilots import create_pilot

    create_pilot(demo_store, Pilot(pilot_id="MY-01", name="Our own pilot", business_unit="Legal", stage="proposed"))
    result = clear_demo(demo_store)
    assert result.pilots_removed == 24 and result.pilots_kept == []
    with demo_store.read() as con:
        counts = queries.table_counts(con)
        assert queries.pilot_ids(con) == ["MY-01"]
    assert counts["uploads"] == 0 and counts["metric_observations"] == 0 and counts["survey_responses"] == 0
    assert demo_store.meta()["demo_loaded"] == "no"


@pytest.mark.slow
def test_first_run_loads_the_demo_once_and_never_again(store):
    assert first_run(store, today=DEMO_TODAY) is not None
    assert first_run(store, today=DEMO_TODAY) is None
    clear_demo(store)
    assert first_run(store, today=DEMO_TODAY) is None, "a cleared demo must not come back"
    with store.read() as con:
        assert queries.table_counts(con)["pilots"] == 0


def test_first_run_leaves_a_store_with_pilots_alone(store):
    from pilot_health.register.pilots import create_pilot

    create_pilot(store, Pilot(pilot_id="MY-01", name="Ours", business_unit="Legal", stage="pilot"))
    assert first_run(store, today=DEMO_TODAY) is None
    with store.read() as con:
        assert queries.pilot_ids(con) == ["MY-01"]


# -- the demo's two past steering meetings ------------------------------------------------------------


def test_the_demo_has_two_past_meetings_whose_decisions_show_the_flow(demo_store):
    """Two meetings, four and eight weeks before the demo's now, each reviewing the numbers of its
    morning; on the demo's now one decision is overdue, one due within the week, one replaced by the
    later meeting, the rest open; conditions tied to a warning sign read met or not met from the
    risk engine."""
    from datetime import datetime

    from pilot_health.analytics import risk
    from pilot_health.reports import meetings

    held = meetings.meetings(demo_store)
    assert [(m.held_on.isoformat(), m.title, m.pinned_at) for m in held] == [
        ("2026-10-22", "October steering committee", datetime(2026, 10, 22, 8, 0)),
        ("2026-09-24", "September steering committee", datetime(2026, 9, 24, 8, 0)),
    ]
    found = meetings.decisions(demo_store, as_of=DEMO_NOW)
    assert sorted((d.pilot_id, d.decision, d.status, d.days_left) for d in found) == [
        ("CS-03", "scale", "open", 28),
        ("FN-01", "fix and review", "overdue", -7),
        ("MK-02", "continue", "open", 28),
        ("RO-05", "fix and review", "open", 21),
        ("SC-01", "fix and review", "replaced", -28),
        ("SC-01", "pause", "due", 5),
    ]
    assert [(d.pilot_id, d.status) for d in meetings.due_or_overdue(found)] == [("FN-01", "overdue"), ("SC-01", "due")]
    results = {r.pilot_id: r for r in risk.assess(demo_store, DEMO_NOW, records_at=DEMO_NOW)}
    tied = {
        d.pilot_id: meetings.condition_met(d, results[d.pilot_id])
        for d in found
        if d.signal_key and d.status != "replaced"
    }
    assert tied == {"SC-01": "not met", "FN-01": "not met", "MK-02": "met", "RO-05": "not met"}
    # Recorded on their day, by the demo; the audit trail's line of the demo's loading counts them.
    assert meetings.decisions(demo_store, as_of=datetime(2026, 9, 24, 13, 0)) == []
    assert {d.recorded_by for d in found} == {"demo"}
    with demo_store.read() as con:
        [(detail,)] = con.execute("SELECT detail FROM audit_log WHERE action = 'demo_load'").fetchall()
    assert detail.endswith(", 2 past meetings with 6 decisions")


@pytest.mark.slow
def test_a_view_pinned_at_a_demo_meeting_shows_the_portfolio_as_it_stood_and_the_changes_between_meetings(demo_store):
    """The register has a history (26 weeks before the demo's now): at the first meeting SC-05 was
    not yet proposed and CS-05 was still proposed; between the meetings SC-05 appeared, and the
    uploads made in between are counted."""
    from pilot_health.analytics import risk
    from pilot_health.reports import meetings
    from pilot_health.reports.changes import changes_since

    second, first = meetings.meetings(demo_store)
    then = {r.pilot_id: r for r in risk.assess(demo_store, first.pinned_at, records_at=first.pinned_at)}
    assert len(then) == 23 and "SC-05" not in then
    with demo_store.read() as con:
        stages = dict(queries.fetch_pilots(con, first.pinned_at)[["pilot_id", "stage"]].itertuples(index=False))
        began = queries.first_record_at(con)
        at_start = dict(queries.fetch_pilots(con, began)[["pilot_id", "stage"]].itertuples(index=False))
    assert (
        stages["CS-05"] == "pilot"
        and stages["MK-03"] == "cancelled"
        and stages["SC-01"] == "pilot"
        and "MK-04" in stages
    )
    assert began == DEMO_NOW - timedelta(weeks=26)
    # When the register began: CS-05 still proposed, MK-03 still in pilot, MK-04 and SC-05 not proposed yet.
    assert (
        at_start["CS-05"] == "proposed"
        and at_start["MK-03"] == "pilot"
        and "MK-04" not in at_start
        and len(at_start) == 22
    )
    found = changes_since(demo_store, first.pinned_at, until=second.pinned_at)
    assert "1 new pilot" in found.summary and "new uploads" in found.summary
    assert any(c.pilot_id == "SC-05" for c in found.changes)
    assert not changes_since(demo_store, second.pinned_at, until=DEMO_NOW).empty


def test_clearing_removes_the_demos_meetings_and_decisions_and_keeps_yours(demo_store):
    """Your own decision in a demo meeting keeps that meeting and its pilot; the demo's decisions
    and its other meeting go."""
    from pilot_health.reports import meetings

    october = meetings.meetings(demo_store)[0]
    mine = meetings.record_meeting(demo_store, "2026-11-18", "Our own review")
    meetings.record_decision(
        demo_store, "SC-02", october.meeting_id, "continue", "Our owner", "2026-12-20", by="ann@example.com"
    )
    meetings.record_decision(
        demo_store, "SC-04", mine.meeting_id, "scale", "Our owner", "2026-12-20", by="ann@example.com"
    )
    result = clear_demo(demo_store)
    assert result.pilots_kept == ["SC-02", "SC-04"]
    assert [m.title for m in meetings.meetings(demo_store)] == ["Our own review", "October steering committee"]
    assert sorted((d.pilot_id, d.owner) for d in meetings.decisions(demo_store)) == [
        ("SC-02", "Our owner"),
        ("SC-04", "Our owner"),
    ]
    assert demo_store.meta()["demo_meetings"] == ""


def test_the_demo_on_postgresql_holds_what_it_holds_in_the_file(_demo_file, postgres_demo_url):
    """The demo loaded into a PostgreSQL database (the tests' postgres_demo_url) and into a DuckDB
    file: the same rows in every table and the same uploads, with the same ids and hashes."""
    from pilot_health.store.database import Store, open_store

    with Store(_demo_file).read() as con:
        in_file = queries.store_facts(con)
    with open_store(postgres_demo_url).read() as con:
        on_server = queries.store_facts(con)
    assert in_file["counts"]["metric_observations"] > 1000 and in_file["counts"]["survey_responses"] > 100
    assert on_server["counts"] == in_file["counts"]
    assert on_server["uploads"] == in_file["uploads"]
    assert on_server["migrations"] == in_file["migrations"]
