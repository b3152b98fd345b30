"""The risk engine on stores built by hand: one pattern present at a time, blank evidence, the
health rule, as-of dates, the catalogue, and the demo's designed stories."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from conftest import DEMO_TODAY

from pilot_health.analytics import risk
from pilot_health.errors import ConfigError
from pilot_health.models import Pilot
from pilot_health.rules.catalogue import PATTERN_KEYS, SIGNAL_KEYS, load_catalogue
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now

TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 12, 0)


def weeks_ago(n: int) -> datetime:
    return datetime.combine(TODAY - timedelta(weeks=n), datetime.min.time())


def line(start: float, end: float, weeks: int, first_week_ago: int) -> list[tuple[datetime, float]]:
    """A straight weekly series from `start` to `end` ending this week."""
    return [(weeks_ago(first_week_ago - i), start + (end - start) * i / max(weeks - 1, 1)) for i in range(weeks)]


@dataclass
class Story:
    """A pilot and its data, healthy by default; each test breaks exactly one pattern."""

    record: dict = field(
        default_factory=lambda: dict(
            pilot_id="P-1",
            name="Test pilot",
            business_unit="Test",
            stage="production",
            approved_on=TODAY - timedelta(days=730),
            stage_since=TODAY - timedelta(days=180),
            target_production_on=TODAY - timedelta(days=200),
            target_users=100,
            data_effort_pct=45,
            integration_target="ERP",
            change_champion="Ann Lee",
            executive_sponsor="Bo Kim",
            sponsor_level="vp",
            accountable_owner="Cy Ng",
            kpi_name="Revenue per visit",
            kpi_baseline=3.0,
            kpi_target=3.6,
            kpi_unit="$",
            kpi_deadline=TODAY + timedelta(days=180),
            **{
                f: True
                for f in (
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
            },
        )
    )
    lab: list = field(default_factory=lambda: line(0.80, 0.90, 60, 60))
    live: list = field(default_factory=lambda: line(0.78, 0.88, 52, 52))
    kpi: list = field(default_factory=lambda: line(3.0, 3.5, 52, 52))
    users: list = field(default_factory=lambda: [(w, 90.0) for w, _ in line(0, 0, 20, 20)])
    survey: list = field(
        default_factory=lambda: [dict(awareness=5, desire=5, knowledge=5, ability=4, reinforcement=4)] * 10
    )
    technical_metric: str = "accuracy"

    def store(self, path) -> Store:
        store = Store(path)
        with store.write() as con:
            queries.insert_pilots(con, [Pilot.model_validate(self.record, context={"today": TODAY})], utc_now())
            upload = queries.insert_upload(
                con,
                kind="metrics",
                file_name="t.csv",
                sha256="x",
                rows_stored=1,
                rows_rejected=0,
                uploaded_at=datetime(2020, 1, 1),
                uploaded_by="test",
            )
            rows = []
            for series, metric, kind, environment in (
                (self.lab, self.technical_metric, "technical", "lab"),
                (self.live, self.technical_metric, "technical", "live"),
                (self.kpi, "revenue_per_visit", "business", "live"),
                (self.users, "active_users", "adoption", "live"),
            ):
                rows += [
                    dict(
                        pilot_id="P-1",
                        metric=metric,
                        kind=kind,
                        environment=environment,
                        observed_at=w,
                        value=v,
                        upload_id=upload,
                    )
                    for w, v in series
                ]
            if rows:
                queries.insert_rows(con, "metric_observations", pd.DataFrame(rows))
            if self.survey:
                answers = [
                    dict(
                        pilot_id="P-1",
                        respondent_id=f"R{i}",
                        responded_at=weeks_ago(2),
                        wave=1,
                        team="T",
                        role="r",
                        comment=None,
                        upload_id=upload,
                        **scores,
                    )
                    for i, scores in enumerate(self.survey)
                ]
                queries.insert_rows(con, "survey_responses", pd.DataFrame(answers))
        return store


def assess(story: Story, tmp_path) -> risk.PilotRisk:
    return risk.assess(story.store(tmp_path / "risk.duckdb"), NOW)[0]


def statuses(result: risk.PilotRisk) -> dict[str, str]:
    return {k: p.status for k, p in result.patterns.items()}


def fired(result: risk.PilotRisk, pattern: str) -> dict[str, str]:
    return {s.key: s.evidence for s in result.patterns[pattern].signals if s.state == risk.FIRED}


def test_a_healthy_pilot_is_green_with_every_pattern_low(tmp_path):
    result = assess(Story(), tmp_path)
    assert statuses(result) == {k: "low" for k in PATTERN_KEYS}
    assert all(p.score == 0 and p.coverage == 1 for p in result.patterns.values())
    assert result.health == "green" and result.missing_evidence == []


def test_data_debt_alone(tmp_path):
    story = Story()
    story.record.update(
        data_effort_pct=10, pipeline_automated=False, data_quality_monitored=False, master_data_managed=False
    )
    story.live = line(0.62, 0.63, 52, 52)  # curated lab data 0.8–0.9; production data far below from the start
    result = assess(story, tmp_path)
    assert statuses(result) == {**{k: "low" for k in PATTERN_KEYS}, "data_debt": "high"}
    evidence = fired(result, "data_debt")
    assert set(evidence) == {
        "data_effort_below_guidance",
        "no_automated_pipeline",
        "no_data_quality_monitoring",
        "no_master_data_management",
        "lab_to_live_drop",
    }
    assert evidence["data_effort_below_guidance"] == "Data engineering is 10% of the effort, below the 40% guidance."
    assert (
        evidence["lab_to_live_drop"].startswith("Live Accuracy 0.62 vs lab 0.")
        and "worse than in the lab (threshold 15%)" in evidence["lab_to_live_drop"]
    )
    assert result.health == "red" and result.health_reason.startswith(
        "Data Debt is high. Decisive evidence for Data Debt: a "
    )


def test_integration_avoidance_alone(tmp_path):
    story = Story()
    story.record.update(
        stage="pilot",
        stage_since=TODAY - timedelta(days=300),
        integration_target="none",
        api_designed=False,
        latency_defined=False,
        error_handling_designed=False,
        integration_resourced=False,
    )
    result = assess(story, tmp_path)
    assert statuses(result) == {**{k: "low" for k in PATTERN_KEYS}, "integration_avoidance": "high"}
    evidence = fired(result, "integration_avoidance")
    assert len(evidence) == 6
    assert evidence["integration_open_too_long"] == (
        "10 months in the pilot stage, and the interface to the system of record is not designed, latency requirements are not "
        "defined, error handling is not designed and nobody is resourced for the integration work."
    )
    assert evidence["no_system_of_record"] == "The register says there is no system of record to integrate with."


def test_organisational_resistance_alone(tmp_path):
    story = Story()
    story.record.update(
        change_champion="none",
        sponsor_level="manager",
        executive_sponsor="Di Fox",
        change_plan=False,
        training_ready=False,
    )
    story.survey = [dict(awareness=4, desire=2, knowledge=4, ability=4, reinforcement=4)] * 7 + [
        dict(awareness=5, desire=5, knowledge=5, ability=5, reinforcement=5)
    ] * 3
    story.users = [(w, 20.0) for w, _ in line(0, 0, 20, 20)]
    result = assess(story, tmp_path)
    assert statuses(result) == {**{k: "low" for k in PATTERN_KEYS}, "organisational_resistance": "high"}
    evidence = fired(result, "organisational_resistance")
    assert len(evidence) == 6
    assert (
        evidence["adkar_barrier"]
        == "In wave 1, 7 of 10 respondents (70%) are stuck at Desire, the most common barrier point (threshold 35%)."
    )
    assert evidence["adoption_below_target"].startswith("20 active users against a target of 100 (20%)")
    assert evidence["sponsor_below_director"] == "Di Fox is at manager level, below director."


def test_governance_vacuum_alone(tmp_path):
    story = Story()
    story.record.update(
        monitoring_in_place=False,
        drift_alerts=False,
        responsible_ai_review=False,
        escalation_path=False,
        accountable_owner="none",
    )
    story.live = line(0.78, 0.88, 40, 52) + line(
        0.88, 0.55, 12, 12
    )  # falls in the last 12 weeks (the KPI has not felt it yet)
    result = assess(story, tmp_path)
    assert statuses(result) == {**{k: "low" for k in PATTERN_KEYS}, "governance_vacuum": "high"}
    evidence = fired(result, "governance_vacuum")
    assert len(evidence) == 6
    # the last 4 weeks average 0.595 (0.55 + 1.5/11 × 0.33); the first 8 live weeks 0.789 (0.78 + 3.5/39 × 0.10): 25% worse
    assert evidence["live_decay"].startswith("Live Accuracy averages 0.595 over the 4 weeks to ")
    assert "against 0.789 in its first 8 live weeks (the reference" in evidence["live_decay"]
    assert (
        ": 25% worse than its first live weeks (threshold 20%), more than its week-to-week noise explains"
        in evidence["live_decay"]
    )


def test_wrong_success_metrics_alone(tmp_path):
    story = Story()
    story.kpi = [
        (w, 3.0 + (0.01 if i % 2 else -0.01)) for i, (w, _) in enumerate(line(0, 0, 52, 52))
    ]  # flat at the baseline
    story.record.update(kpi_deadline=TODAY + timedelta(days=20))
    result = assess(story, tmp_path)
    assert statuses(result) == {**{k: "low" for k in PATTERN_KEYS}, "wrong_success_metrics": "high"}
    evidence = fired(result, "wrong_success_metrics")
    assert set(evidence) == {"technical_not_business", "kpi_behind_plan"}
    assert evidence["technical_not_business"].startswith(
        "Accuracy improved clearly (would happen by chance less than 1 time in 1,000) while Revenue per visit showed no clear change"
    )
    assert "0% of the way from 3.00 to 3.60" in evidence["kpi_behind_plan"]


def test_no_kpi_at_all_is_wrong_success_metrics(tmp_path):
    story = Story()
    story.record.update(kpi_name=None, kpi_baseline=None, kpi_target=None, kpi_unit=None, kpi_deadline=None)
    story.kpi = []
    result = assess(story, tmp_path)
    pattern = result.patterns["wrong_success_metrics"]
    assert pattern.status in ("medium", "high")
    assert "technical_not_business" not in fired(result, "wrong_success_metrics")
    not_business = next(s for s in pattern.signals if s.key == "technical_not_business")
    assert not_business.state == risk.UNKNOWN, "the missing KPI is counted by no_business_kpi, not again here"


def test_blank_readiness_answers_read_insufficient_evidence_everywhere(tmp_path):
    """A pilot nobody has said anything about yet: never 'low risk'."""
    story = Story(lab=[], live=[], kpi=[], users=[], survey=[])
    story.record = dict(
        pilot_id="P-1",
        name="New",
        business_unit="Test",
        stage="pilot",
        kpi_name="Revenue per visit",
        kpi_baseline=3.0,
        kpi_target=3.6,
    )
    result = assess(story, tmp_path)
    assert statuses(result) == {k: "insufficient" for k in PATTERN_KEYS}
    assert result.health == "insufficient"
    todo = [text for _, text in result.missing_evidence]
    assert "Nobody has said whether drift alerts exist." in todo
    assert len(todo) >= 20


def test_coverage_and_score_are_weighted_shares(tmp_path):
    story = Story()
    story.record.update(monitoring_in_place=False, drift_alerts=None, responsible_ai_review=None)
    pattern = assess(story, tmp_path).patterns["governance_vacuum"]
    catalogue = load_catalogue()
    weights = {s.key: s.weight for s in catalogue.patterns["governance_vacuum"].signals}
    known = sum(weights.values()) - weights["no_drift_alerts"] - weights["no_responsible_ai_review"]
    assert pattern.coverage == round(known / sum(weights.values()), 3)
    assert pattern.score == round(100 * weights["no_production_monitoring"] / known, 1)


@pytest.mark.parametrize(
    "high, medium, months, decisive, stage, expected",
    [
        (1, 0, None, False, "pilot", "amber"),  # one high pattern: fix it before the next review
        (1, 0, None, True, "pilot", "red"),  # … high on decisive evidence: the committee's attention now
        (2, 0, None, False, "production", "red"),
        (0, 4, None, False, "pilot", "amber"),  # medium patterns alone never make red
        (0, 1, None, True, "pilot", "amber"),  # decisive evidence that only raised a pattern to medium
        (0, 1, None, False, "pilot", "amber"),
        (0, 0, 20, False, "pilot", "amber"),
        (0, 1, 20, False, "pilot", "amber"),
        (1, 0, 20, False, "pilot", "red"),  # long in the pilot stage with a high pattern
        (1, 0, 17, False, "pilot", "amber"),
        (2, 0, None, False, "cancelled", "amber"),  # no decision needed: never red
        (1, 0, None, True, "cancelled", "amber"),
        (0, 0, None, False, "pilot", "green"),
    ],
)
def test_the_health_rule(high, medium, months, decisive, stage, expected):
    catalogue = load_catalogue()

    def pattern(status, evidence):
        return risk.PatternResult("x", f"P{status}", 50, 1.0, status, [], 1, "", [], evidence)

    statuses_ = ["high"] * high + ["medium"] * medium
    statuses_ += ["low"] * (5 - len(statuses_))
    patterns = {
        f"p{i}": pattern(s, ["a 20% drop from lab to live"] if decisive and i == 0 else [])
        for i, s in enumerate(statuses_)
    }
    verdict, reason = risk.health(patterns, months, catalogue, stage)
    assert verdict == expected, reason
    if stage == "cancelled" and high:
        assert reason.startswith("Cancelled, so no decision is needed (it would otherwise be red)"), reason


def test_an_older_catalogue_with_the_retired_medium_count_still_loads(tmp_path):
    from conftest import ROOT

    text = (ROOT / "config" / "signals.toml").read_text(encoding="utf-8")
    older = tmp_path / "signals.toml"
    older.write_text(text.replace("[health]\n", "[health]\nred_medium_patterns = 2\n"), encoding="utf-8")
    assert load_catalogue(older).health == load_catalogue().health


def test_scores_as_of_a_past_date_use_only_what_was_uploaded_by_then(tmp_path):
    story = Story()
    store = story.store(tmp_path / "risk.duckdb")
    with store.write() as con:  # a later upload makes the live results decay
        upload = queries.insert_upload(
            con,
            kind="metrics",
            file_name="late.csv",
            sha256="y",
            rows_stored=1,
            rows_rejected=0,
            uploaded_at=datetime(2026, 5, 20),
            uploaded_by="test",
        )
        rows = [
            dict(
                pilot_id="P-1",
                metric="accuracy",
                kind="technical",
                environment="live",
                observed_at=weeks_ago(0) + timedelta(days=d),
                value=0.5,
                upload_id=upload,
            )
            for d in range(1, 6)
        ]
        queries.insert_rows(con, "metric_observations", pd.DataFrame(rows))
    before = risk.assess(store, datetime(2026, 5, 1))[0]
    assert before.patterns["governance_vacuum"].status == "low"
    trend = risk.risk_trend(store, "P-1", months=3, today=TODAY)
    assert list(trend["month"].drop_duplicates().dt.month) == [4, 5, 6]
    assert set(trend["pattern"]) == set(PATTERN_KEYS)


def test_the_detail_with_rows_scores_exactly_as_the_portfolio(demo_risk_store):
    """The detail view recomputes one pilot with the rows kept; nothing else may change."""
    from pilot_health.demo.portfolio import DEMO_NOW

    for pilot_id in ("SC-01", "RO-02", "CS-02"):
        plain = risk.assess(demo_risk_store, DEMO_NOW, [pilot_id])[0]
        detailed = risk.assess(demo_risk_store, DEMO_NOW, [pilot_id], with_rows=True)[0]
        assert detailed == plain  # rows are left out of the comparison; everything else must match
        assert all(s.rows is None for p in plain.patterns.values() for s in p.signals)
        shown = {s.key: s.rows for p in detailed.patterns.values() for s in p.signals if s.rows is not None}
        assert {"data_effort_below_guidance", "no_business_kpi", "sponsor_below_director"} <= set(shown)
        assert set(shown["no_business_kpi"]["field"]) >= {"kpi_name", "kpi_baseline", "kpi_target"}
    decay_rows = next(
        s.rows
        for s in risk.assess(demo_risk_store, DEMO_NOW, ["FN-01"], with_rows=True)[0]
        .patterns["governance_vacuum"]
        .signals
        if s.key == "live_decay"
    )
    assert set(decay_rows["environment"]) <= {"lab", "live"} and len(decay_rows) > 8


def test_every_signal_of_the_catalogue_has_an_evaluator():
    catalogue = load_catalogue()
    keys = {s.key for p in catalogue.patterns.values() for s in p.signals}
    assert keys == {k for keys_ in SIGNAL_KEYS.values() for k in keys_} == set(risk.EVALUATORS)


def test_a_broken_catalogue_is_one_clear_sentence(tmp_path):
    text = load_catalogue().source and open(load_catalogue().source, encoding="utf-8").read()
    bad = tmp_path / "signals.toml"
    bad.write_text(text.replace("weight = 3", "weight = -3", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"signals\.toml has a mistake at patterns\.data_debt\.signals\.\d+\.weight"):
        load_catalogue(bad)
    bad.write_text("this is [ not toml", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_catalogue(bad)


def test_changed_thresholds_change_the_scores(tmp_path):
    text = open(load_catalogue().source, encoding="utf-8").read()
    lenient = tmp_path / "signals.toml"
    lenient.write_text(text.replace("threshold = 40\n", "threshold = 5\n"), encoding="utf-8")
    story = Story()
    story.record.update(data_effort_pct=10)
    store = story.store(tmp_path / "risk.duckdb")
    default = risk.assess(store, NOW)[0]
    relaxed = risk.assess(store, NOW, catalogue=load_catalogue(lenient))[0]
    assert "data_effort_below_guidance" in fired(default, "data_debt")
    assert "data_effort_below_guidance" not in fired(relaxed, "data_debt")


# -- the demo portfolio's designed stories -----------------------------------------------------------

DESIGNED = {
    "data_debt": ["SC-01", "RO-05", "FN-05"],
    "integration_avoidance": ["SC-03", "FN-04"],
    "organisational_resistance": ["RO-02", "CS-01", "MK-03"],
    "governance_vacuum": ["FN-01", "CS-04"],
    "wrong_success_metrics": ["RO-03", "CS-02", "FN-03"],
}
HEALTHY = ["SC-02", "SC-04", "RO-01", "FN-02", "CS-03", "CS-05", "MK-01", "MK-02"]
# Red: the committee's attention now (a high pattern on decisive evidence, two high patterns, or a
# high pattern past 18 months in the pilot stage). The other troubled pilots are amber.
NEEDS_THE_COMMITTEE = {
    "SC-01": "decisive",
    "RO-05": "decisive",
    "RO-02": "two high",
    "SC-03": "two high",
    "FN-04": "two high",
}


@pytest.fixture(scope="module")
def demo_risk_store(tmp_path_factory):
    from pilot_health.demo.portfolio import load_demo

    store = Store(tmp_path_factory.mktemp("risk-demo") / "demo.duckdb")
    load_demo(store, today=DEMO_TODAY)
    return store


@pytest.fixture(scope="module")
def demo_risk(demo_risk_store):
    from pilot_health.demo.portfolio import DEMO_NOW

    return {r.pilot_id: r for r in risk.assess(demo_risk_store, DEMO_NOW)}


@pytest.mark.parametrize("pattern, pilot_id", [(p, i) for p, ids in DESIGNED.items() for i in ids])
def test_the_demo_stories_come_out_as_designed(demo_risk, pattern, pilot_id):
    result = demo_risk[pilot_id]
    assert result.patterns[pattern].status == "high", (pilot_id, statuses(result))
    assert result.health == ("red" if pilot_id in NEEDS_THE_COMMITTEE else "amber"), (pilot_id, result.health_reason)
    top = max(p.score or 0 for p in result.patterns.values())
    assert result.patterns[pattern].score >= top - 5, "the designed pattern is (about) the strongest"


def test_the_healthy_demo_pilots_are_green(demo_risk):
    assert {pilot_id: demo_risk[pilot_id].health for pilot_id in HEALTHY} == {pilot_id: "green" for pilot_id in HEALTHY}


def test_the_demo_portfolio_is_a_believable_mix(demo_risk):
    """A few red, more amber, a healthy core: red keeps its meaning (issue 18)."""
    counts = Counter(r.health for r in demo_risk.values())
    assert 3 <= counts["red"] <= 5 and 6 <= counts["amber"] <= 9, counts
    assert counts["green"] >= 8 and counts["green"] > counts["red"] and counts["insufficient"] <= 2, counts
    assert sum(counts.values()) == 24


def test_the_red_demo_pilots_say_why_the_committee_must_look_now(demo_risk):
    red = {p: r for p, r in demo_risk.items() if r.health == "red"}
    assert set(red) == set(NEEDS_THE_COMMITTEE)
    for pilot_id, why in NEEDS_THE_COMMITTEE.items():
        reason = red[pilot_id].health_reason
        assert ("Decisive evidence for" in reason) if why == "decisive" else (" are high." in reason), (
            pilot_id,
            reason,
        )
    assert (
        "Decisive evidence for Data Debt: a " in red["SC-01"].health_reason
        and "drop from lab to live" in red["SC-01"].health_reason
    )
    assert "no live results 10 months after approval" in red["RO-05"].health_reason


def test_the_article_cliff_is_the_evidence(demo_risk):
    evidence = fired(demo_risk["SC-01"], "data_debt")["lab_to_live_drop"]
    assert evidence.startswith("Live Accuracy 0.7") and "vs lab 0.9" in evidence


def test_the_paused_planogram_pilot_shows_both_of_its_patterns(demo_risk):
    result = demo_risk["RO-04"]
    assert result.patterns["organisational_resistance"].status == "high", statuses(result)
    assert result.patterns["integration_avoidance"].status == "medium", statuses(result)
    assert fired(result, "integration_avoidance").keys() >= {"api_not_designed", "integration_not_resourced"}
    assert result.health == "amber"


def test_cancelled_demo_pilots_are_amber_with_the_reason_they_would_be_red(demo_risk):
    for pilot_id in ("FN-05", "MK-03"):
        result = demo_risk[pilot_id]
        assert result.stage == "cancelled" and result.health == "amber"
        assert result.health_reason.startswith("Cancelled, so no decision is needed (it would otherwise be red)"), (
            result.health_reason
        )


def test_every_other_troubled_demo_pilot_is_amber(demo_risk):
    others = set(demo_risk) - set(HEALTHY) - set(NEEDS_THE_COMMITTEE) - {"SC-05", "MK-04"}
    assert {p: demo_risk[p].health for p in others} == {p: "amber" for p in others}


def test_proposed_demo_pilots_read_insufficient_evidence(demo_risk):
    assert demo_risk["SC-05"].health == demo_risk["MK-04"].health == "insufficient"


def test_every_signal_and_rule_is_explained_in_the_docs():
    from conftest import ROOT

    doc = (ROOT / "docs" / "risk.md").read_text(encoding="utf-8")
    catalogue = load_catalogue()
    for pattern in catalogue.patterns.values():
        assert pattern.name in doc
        for signal in pattern.signals:
            row = next((line for line in doc.splitlines() if line.startswith(f"| `{signal.key}` |")), None)
            assert row is not None, signal.key
            assert row.rstrip(" |").endswith(f"{signal.weight:g}"), (
                f"docs/risk.md gives another weight for {signal.key}"
            )
