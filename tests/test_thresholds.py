"""Thresholds set in the dashboard: they win over the catalogue file, are checked by the file's own
rules, change the scores they feed, are audited, and setting one back to the file's value removes it."""
from __future__ import annotations

import pytest

from pilot_health import queries
from pilot_health.access import Person
from pilot_health.catalogue import load_catalogue
from pilot_health.errors import PilotHealthError
from pilot_health.risk import assess
from pilot_health.thresholds import catalogue_for, save_thresholds, threshold_settings
from test_risk import NOW, Story, line

ADMIN = Person("ann@example.com", "admin", signed_in=True)


def test_every_numeric_setting_and_signal_threshold_is_listed_with_its_file_value(store):
    settings = {s.key: s for s in threshold_settings(store)}
    file_catalogue = load_catalogue()
    assert settings["analysis.decay_critical"].in_file == file_catalogue.analysis.decay_critical
    assert settings["signals.live_decay"].in_file == file_catalogue.threshold("live_decay")
    assert settings["signals.live_decay"].label.startswith(file_catalogue.signal("live_decay").question)
    assert settings["health.red_high_patterns"].whole_number and not settings["scoring.insufficient_coverage"].whole_number
    signals = [k for k in settings if k.startswith("signals.")]
    assert len(signals) == sum(1 for p in file_catalogue.patterns.values() for s in p.signals if s.threshold is not None)
    assert all(s.in_force == s.in_file and s.changed_by is None for s in settings.values())


def test_a_threshold_set_in_the_dashboard_changes_the_score_it_feeds(tmp_path):
    # Live accuracy 25% below its best: critical decay at the file's 20%, not at a threshold of 30%.
    story = Story(live=line(0.80, 0.80, 30, 40) + line(0.60, 0.60, 10, 10))
    store = story.store(tmp_path / "s.duckdb")
    fired = lambda: {s.key: s.state for s in assess(store, NOW)[0].patterns["governance_vacuum"].signals}["live_decay"]
    assert fired() == "fired"
    assert save_thresholds(store, {"signals.live_decay": 0.30}, by=ADMIN) == ["signals.live_decay"]
    assert catalogue_for(store).threshold("live_decay") == 0.30 and catalogue_for(store).fingerprint != load_catalogue().fingerprint
    assert fired() == "clear"
    setting = {s.key: s for s in threshold_settings(store)}["signals.live_decay"]
    assert (setting.in_force, setting.in_file, setting.changed_by) == (0.30, 0.2, "ann@example.com")
    # Back to the file's value: the dashboard's value is gone.
    assert save_thresholds(store, {"signals.live_decay": 0.2}, by=ADMIN) == ["signals.live_decay"]
    with store.read() as con:
        assert queries.threshold_overrides(con) == {}
        trail = queries.audit_entries(con)
    assert fired() == "fired"
    assert list(trail["detail"]) == ["0.3 → 0.2 (the file's value)", "0.2 → 0.3"]
    assert set(trail["action"]) == {"threshold_change"} and set(trail["who"]) == {"ann@example.com"}


def test_thresholds_that_break_the_catalogues_rules_are_refused_whole(store):
    before = store.version()
    with pytest.raises(PilotHealthError, match="Not saved: .*decay_critical must be at least decay_warning"):
        save_thresholds(store, {"analysis.decay_warning": 0.3, "analysis.min_respondents": 7}, by=ADMIN)
    with pytest.raises(PilotHealthError, match="Not saved: .*less than or equal to 100"):
        save_thresholds(store, {"scoring.high": 140}, by=ADMIN)
    with pytest.raises(PilotHealthError, match="There is no threshold analysis.nothing"):
        save_thresholds(store, {"analysis.nothing": 1}, by=ADMIN)
    assert store.version() == before  # nothing at all was stored
    assert save_thresholds(store, {"analysis.decay_warning": 0.3, "analysis.decay_critical": 0.4}, by=ADMIN) == [
        "analysis.decay_critical", "analysis.decay_warning"]
    assert catalogue_for(store).analysis.decay_critical == 0.4


def test_whole_number_settings_stay_whole(store):
    save_thresholds(store, {"analysis.min_respondents": 7}, by=ADMIN)
    assert catalogue_for(store).analysis.min_respondents == 7
    assert isinstance(catalogue_for(store).analysis.min_respondents, int)
