"""Thresholds set in the dashboard: they win over the catalogue file, are checked by the file's own
rules, change the scores they feed, are audited, and setting one back to the file's value removes it.
Every change is kept, so a moment in the past (a pinned link) gets the thresholds in force then."""

from __future__ import annotations

import time

import pytest
from test_risk import NOW, Story, line

from pilot_health.access import Person
from pilot_health.analytics.risk import assess
from pilot_health.errors import PilotHealthError
from pilot_health.rules.catalogue import load_catalogue
from pilot_health.rules.thresholds import catalogue_for, save_thresholds, threshold_settings
from pilot_health.store import queries
from pilot_health.store.database import utc_now

ADMIN = Person("ann@example.com", "admin", signed_in=True)


def test_every_numeric_setting_and_signal_threshold_is_listed_with_its_file_value(store):
    settings = {s.key: s for s in threshold_settings(store)}
    file_catalogue = load_catalogue()
    assert settings["analysis.decay_critical"].in_file == file_catalogue.analysis.decay_critical
    assert settings["signals.live_decay"].in_file == file_catalogue.threshold("live_decay")
    assert settings["signals.live_decay"].label.startswith(file_catalogue.signal("live_decay").question)
    assert (
        settings["health.red_high_patterns"].whole_number and not settings["scoring.insufficient_coverage"].whole_number
    )
    signals = [k for k in settings if k.startswith("signals.")]
    assert len(signals) == sum(
        1 for p in file_catalogue.patterns.values() for s in p.signals if s.threshold is not None
    )
    assert all(s.in_force == s.in_file and s.changed_by is None for s in settings.values())


def test_a_threshold_set_in_the_dashboard_changes_the_score_it_feeds(tmp_path):
    # Live accuracy 25% below its best: critical decay at the file's 20%, not at a threshold of 30%.
    story = Story(live=line(0.80, 0.80, 30, 40) + line(0.60, 0.60, 10, 10))
    store = story.store(tmp_path / "s.duckdb")
    fired = lambda: {s.key: s.state for s in assess(store, NOW)[0].patterns["governance_vacuum"].signals}["live_decay"]
    assert fired() == "fired"
    assert save_thresholds(store, {"signals.live_decay": 0.30}, by=ADMIN) == ["signals.live_decay"]
    assert (
        catalogue_for(store).threshold("live_decay") == 0.30
        and catalogue_for(store).fingerprint != load_catalogue().fingerprint
    )
    assert fired() == "clear"
    setting = {s.key: s for s in threshold_settings(store)}["signals.live_decay"]
    assert (setting.in_force, setting.in_file, setting.changed_by) == (0.30, 0.2, "ann@example.com")
    # Back to the file's value: the dashboard's value is gone.
    assert save_thresholds(store, {"signals.live_decay": 0.2}, by=ADMIN) == ["signals.live_decay"]
    with store.read() as con:
        assert queries.threshold_overrides(con) == {}
        trail = queries.audit_entries(con)
    assert fired() == "fired"
    assert list(trail["detail"]) == ["0.3 → 0.2 (as shipped)", "0.2 → 0.3"]
    assert set(trail["action"]) == {"threshold_change"} and set(trail["who"]) == {"ann@example.com"}


def test_thresholds_that_break_the_catalogues_rules_are_refused_whole(store):
    before = store.version()
    with pytest.raises(
        PilotHealthError, match="Not saved: .*“Decay that is critical” must be at least “Decay that is a warning”"
    ):
        save_thresholds(store, {"analysis.decay_warning": 0.3, "analysis.min_respondents": 7}, by=ADMIN)
    with pytest.raises(PilotHealthError, match="Not saved: .*less than or equal to 100"):
        save_thresholds(store, {"scoring.high": 140}, by=ADMIN)
    with pytest.raises(PilotHealthError, match="There is no threshold analysis.nothing"):
        save_thresholds(store, {"analysis.nothing": 1}, by=ADMIN)
    assert store.version() == before  # nothing at all was stored
    assert history(store) == []
    assert save_thresholds(store, {"analysis.decay_warning": 0.3, "analysis.decay_critical": 0.4}, by=ADMIN) == [
        "analysis.decay_critical",
        "analysis.decay_warning",
    ]
    assert catalogue_for(store).analysis.decay_critical == 0.4
    # One save, one moment: both rows of the history carry it, as the audit trail does.
    with store.read() as con:
        moments = con.execute(
            "SELECT DISTINCT set_at FROM threshold_history UNION SELECT DISTINCT happened_at FROM audit_log"
        ).fetchall()
    assert [row[:3] for row in history(store)] == [
        ("analysis.decay_critical", 0.4, "ann@example.com"),
        ("analysis.decay_warning", 0.3, "ann@example.com"),
    ]
    assert len(moments) == 1


def test_whole_number_settings_stay_whole(store):
    save_thresholds(store, {"analysis.min_respondents": 7}, by=ADMIN)
    assert catalogue_for(store).analysis.min_respondents == 7
    assert isinstance(catalogue_for(store).analysis.min_respondents, int)


def history(store) -> list[tuple]:
    with store.read() as con:
        return con.execute(
            "SELECT setting, value, set_by, set_at FROM threshold_history ORDER BY history_id"
        ).fetchall()


def tick() -> None:
    time.sleep(0.01)  # keep the moments of consecutive changes apart


def test_every_change_is_kept_and_a_past_moment_gets_the_thresholds_in_force_then(tmp_path):
    # The story's register says data engineering is 45% of the effort: clear against the file's
    # guidance of 40%, a warning sign against 50%.
    story = Story()
    assert story.record["data_effort_pct"] == 45
    store = story.store(tmp_path / "s.duckdb")
    key = "signals.data_effort_below_guidance"
    in_file = load_catalogue().threshold("data_effort_below_guidance")
    assert in_file == 40
    tick()
    before = utc_now()
    tick()
    save_thresholds(store, {key: 50}, by=ADMIN)
    tick()
    while_50 = utc_now()  # pinned while 50 was in force; it is set back to the file's value below
    tick()
    save_thresholds(store, {key: 40}, by="bob@example.com")
    tick()
    back_to_file = utc_now()
    tick()
    save_thresholds(store, {key: 30}, by=ADMIN)

    assert [row[:3] for row in history(store)] == [
        (key, 50.0, "ann@example.com"),
        (key, None, "bob@example.com"),
        (key, 30.0, "ann@example.com"),
    ]
    moments = [row[3] for row in history(store)]
    assert before < moments[0] <= while_50 < moments[1] <= back_to_file < moments[2]
    # Exactly at a change's moment, the change is in force.
    assert [catalogue_for(store, m).threshold("data_effort_below_guidance") for m in moments] == [50, 40, 30]
    assert catalogue_for(store, before).threshold("data_effort_below_guidance") == 40
    assert catalogue_for(store, while_50).threshold("data_effort_below_guidance") == 50  # set back later: still 50 then
    assert catalogue_for(store, back_to_file).threshold("data_effort_below_guidance") == 40
    assert (
        catalogue_for(store, back_to_file).fingerprint == load_catalogue().fingerprint
    )  # nothing set in the dashboard then
    assert catalogue_for(store).threshold("data_effort_below_guidance") == 30

    def state(**how) -> str:
        signals = assess(store, NOW, **how)[0].patterns["data_debt"].signals
        return {s.key: s.state for s in signals}["data_effort_below_guidance"]

    assert state(catalogue=catalogue_for(store, while_50)) == "fired"  # 45% is below 50%
    assert state(catalogue=catalogue_for(store, back_to_file)) == "clear"
    # A pinned read (records as they stood then) takes the thresholds of its moment by itself.
    assert state(records_at=while_50) == "fired"
    assert state(records_at=back_to_file) == "clear"
    assert state() == "clear"  # now: 30%
    # The page of thresholds shows what is in force now.
    setting = {s.key: s for s in threshold_settings(store)}[key]
    assert (setting.in_force, setting.changed_by) == (30, "ann@example.com")


def test_a_setting_the_catalogue_no_longer_has_is_ignored_at_any_moment(store):
    save_thresholds(store, {"analysis.min_respondents": 7}, by=ADMIN)
    with store.write() as con:  # a setting written by a version whose catalogue had it
        con.execute(
            "INSERT INTO threshold_history (setting, value, set_at, set_by) VALUES ('analysis.retired', 3, ?, 'x')",
            [utc_now()],
        )
    tick()
    assert catalogue_for(store, utc_now()).analysis.min_respondents == 7
    assert "analysis.retired" not in catalogue_for(store, utc_now()).overrides


def test_shares_read_as_per_cents_on_the_page_while_the_numbers_stay_as_the_file_has_them(store):
    settings = {s.key: s for s in threshold_settings(store)}
    participation, live_decay, effort = (
        settings["analysis.participation_warning"],
        settings["signals.live_decay"],
        settings["signals.data_effort_below_guidance"],
    )
    assert participation.share and participation.in_file == 0.6 and participation.shown(participation.in_file) == "60%"
    assert (
        live_decay.share and live_decay.shown(live_decay.in_file) == "20%"
    )  # its unit: "relative decay from the first live weeks"
    assert (
        settings["analysis.significance"].shown(0.05) == "5%"
        and settings["analysis.decay_warning"].shown(0.125) == "12.5%"
    )
    assert not effort.share and effort.shown(40) == "40%"  # already in per cent ("% of effort")
    months = settings["health.months_in_pilot_amber"]
    assert not months.share and months.shown(18) == "18" and settings["scoring.high"].shown(60) == "60"
    assert (
        "(" not in live_decay.label and "relative decay" in live_decay.explanation
    )  # the unit is said once, in the explanation


def _pattern(key: str, status: str, decisive: bool = False):
    from pilot_health.analytics.risk import PatternResult

    return PatternResult(
        key, key.title(), None, 1.0, status, [], 1, "", decisive_evidence=["a decisive sign"] if decisive else []
    )


def test_the_health_settings_say_what_the_health_rule_does():
    from pilot_health.analytics.risk import health
    from pilot_health.rules.thresholds import EXPLANATIONS

    catalogue = load_catalogue()
    rules = catalogue.health
    low = {k: _pattern(k, "low") for k in "abcde"}
    long = rules.months_in_pilot_amber
    # "A pilot this long in the pilot stage is at least amber, and red when a pattern is also high" (not medium)
    assert health(low, long, catalogue)[0] == "amber"
    assert health(low | {"a": _pattern("a", "medium")}, long, catalogue)[0] == "amber"
    assert health(low | {"a": _pattern("a", "high")}, long, catalogue)[0] == "red"
    assert "medium or high" not in EXPLANATIONS["health.months_in_pilot_amber"]
    # "at least this many high patterns is red; so is one with a pattern high on decisive evidence"
    highs = {k: _pattern(k, "high") for k in "abcde"[: rules.red_high_patterns]}
    assert health(low | highs, None, catalogue)[0] == "red"
    assert health(low | {"a": _pattern("a", "high", decisive=True)}, None, catalogue)[0] == "red"
    # "at least this many medium patterns is amber; so is one with a single high pattern"
    assert health(low | {"a": _pattern("a", "high")}, None, catalogue)[0] == "amber"
    mediums = {k: _pattern(k, "medium") for k in "abcde"[: rules.amber_medium_patterns]}
    assert health(low | mediums, None, catalogue)[0] == "amber"
    assert not [k for k in EXPLANATIONS if k.startswith("health.") and k.split(".")[1] not in type(rules).model_fields]
