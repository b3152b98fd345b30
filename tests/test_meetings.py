"""Meetings and decisions: stored, checked, audited, scoped by business unit, pinned, and tied to warning signs."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pytest
from conftest import DEMO_TODAY, without_demo_meetings

from pilot_health.access import Person
from pilot_health.analytics import risk
from pilot_health.errors import AccessDenied, NotFoundError
from pilot_health.reports.meetings import (
    DecisionError,
    condition_met,
    condition_risk,
    decisions,
    due_or_overdue,
    meetings,
    record_decision,
    record_meeting,
    status_of,
)
from pilot_health.store import queries


@pytest.fixture
def demo_store(demo_store):
    """The demo without its two past meetings: these tests record their own decisions on a clean slate."""
    return without_demo_meetings(demo_store)


ANN = "ann@example.com"
NOW = datetime.combine(DEMO_TODAY, datetime.max.time())


def _meeting(store, day=date(2026, 3, 2), title="March committee", by=ANN):
    return record_meeting(store, day, title, datetime.combine(day, datetime.min.time()), by=by)


def test_a_meeting_and_its_decision_are_stored_and_audited(demo_store):
    meeting = _meeting(demo_store)
    made = record_decision(
        demo_store,
        "sc-01",
        meeting.meeting_id,
        "Fix and review",
        " Ben Ortiz ",
        date(2026, 4, 15),
        conditions="Live accuracy back above 85%",
        by=ANN,
    )
    assert (made.pilot_id, made.decision, made.owner, made.due_on) == (
        "SC-01",
        "fix and review",
        "Ben Ortiz",
        date(2026, 4, 15),
    )
    [found] = decisions(demo_store, pilot_ids=["SC-01"])
    assert found.decision_id == made.decision_id and found.meeting_title == "March committee"
    assert found.pinned_at == datetime(2026, 3, 2) and found.conditions == "Live accuracy back above 85%"
    with demo_store.read() as con:
        trail = queries.audit_entries(con)
    top = trail.head(2)
    assert list(top["action"]) == ["decision_record", "meeting_add"] and set(top["who"]) == {ANN}
    assert (
        top.iloc[0]["subject"] == "SC-01"
        and "Fix and review" in top.iloc[0]["detail"]
        and "due 2026-04-15" in top.iloc[0]["detail"]
    )


@pytest.mark.parametrize(
    "change, field",
    [
        ({"pilot_id": "NOPE-9"}, "Pilot:"),
        ({"decision": "celebrate"}, "Decision:"),
        ({"owner": "  "}, "Owner:"),
        ({"due_on": date(2026, 3, 1)}, "Due date:"),
        ({"due_on": "next week"}, "Due date:"),
        ({"meeting_id": 999}, "Meeting:"),
        ({"signal_key": "moon_phase"}, "Warning sign:"),
        ({"signal_value": 0.1}, "Threshold:"),
    ],
)
def test_a_wrong_field_is_refused_naming_it_and_nothing_is_stored(demo_store, change, field):
    meeting = _meeting(demo_store)
    values = {
        "pilot_id": "SC-01",
        "meeting_id": meeting.meeting_id,
        "decision": "continue",
        "owner": "Ben",
        "due_on": date(2026, 4, 1),
    }
    values.update(change)
    with pytest.raises((DecisionError, NotFoundError), match=field):
        record_decision(demo_store, by=ANN, **values)
    assert decisions(demo_store) == []


def test_a_meeting_needs_a_title_and_a_date(demo_store):
    with pytest.raises(DecisionError, match="Title:"):
        record_meeting(demo_store, date(2026, 3, 2), "  ", by=ANN)
    with pytest.raises(DecisionError, match="Date:"):
        record_meeting(demo_store, "someday", "March", by=ANN)
    assert meetings(demo_store) == []


def test_status_open_due_overdue_and_replaced():
    on = date(2026, 4, 1)
    assert status_of(date(2026, 4, 20), on) == ("open", 19)
    assert status_of(date(2026, 4, 8), on) == ("due", 7)
    assert status_of(date(2026, 4, 1), on) == ("due", 0)
    assert status_of(date(2026, 3, 31), on) == ("overdue", -1)
    assert status_of(date(2026, 3, 31), on, replaced=True) == ("replaced", -1)


def test_statuses_follow_the_day_and_a_later_decision_replaces_an_earlier(demo_store):
    first = _meeting(demo_store, date(2026, 2, 2), "February committee")
    second = _meeting(demo_store, date(2026, 3, 2), "March committee")
    record_decision(demo_store, "SC-01", first.meeting_id, "fix and review", "Ben", date(2026, 3, 1), by=ANN)
    record_decision(demo_store, "SC-02", first.meeting_id, "continue", "Cleo", date(2026, 3, 6), by=ANN)
    record_decision(demo_store, "SC-01", second.meeting_id, "pause", "Ben", date(2026, 4, 30), by=ANN)
    on_march_2 = {(d.pilot_id, d.decision): d.status for d in decisions(demo_store, as_of=datetime(2026, 12, 31))}
    assert on_march_2[("SC-01", "fix and review")] == "replaced"
    day = datetime(2026, 3, 2, 12)
    with demo_store.write() as con:  # recorded in the past, so a moment in March sees them
        con.execute("UPDATE decisions SET recorded_at = ?", [datetime(2026, 3, 2, 9)])
    found = {(d.pilot_id, d.decision): d for d in decisions(demo_store, as_of=day)}
    assert found[("SC-02", "continue")].status == "due" and found[("SC-02", "continue")].days_left == 4
    assert found[("SC-01", "pause")].status == "open"
    later = decisions(demo_store, as_of=datetime(2026, 3, 10))
    assert [(d.pilot_id, d.status) for d in due_or_overdue(later)] == [("SC-02", "overdue")]


def test_a_pinned_moment_shows_only_what_was_recorded_by_then(demo_store):
    meeting = _meeting(demo_store)
    record_decision(demo_store, "SC-01", meeting.meeting_id, "continue", "Ben", date(2026, 4, 1), by=ANN)
    with demo_store.write() as con:
        con.execute("UPDATE decisions SET recorded_at = ?", [datetime(2026, 3, 2, 15)])
        con.execute("UPDATE meetings SET created_at = ?", [datetime(2026, 3, 2, 14)])
    assert decisions(demo_store, as_of=datetime(2026, 3, 2, 14, 59)) == []
    assert len(decisions(demo_store, as_of=datetime(2026, 3, 2, 15))) == 1
    assert (
        meetings(demo_store, as_of=datetime(2026, 3, 2, 13)) == []
        and len(meetings(demo_store, as_of=datetime(2026, 3, 2, 14))) == 1
    )


def test_editors_record_decisions_for_their_units_only_and_limited_readers_see_their_units(demo_store):
    meeting = _meeting(demo_store)
    viewer = Person("vic@example.com", "viewer")
    with pytest.raises(AccessDenied, match="needs the editor role"):
        record_decision(demo_store, "SC-01", meeting.meeting_id, "continue", "Ben", date(2026, 4, 1), by=viewer)
    with pytest.raises(AccessDenied):
        record_meeting(demo_store, date(2026, 3, 2), "Mine", by=viewer)
    retail = Person("rita@example.com", "editor", ("Retail Operations",))
    with pytest.raises(NotFoundError, match="Pilot: there is no pilot SC-01"):
        record_decision(demo_store, "SC-01", meeting.meeting_id, "continue", "Ben", date(2026, 4, 1), by=retail)
    record_decision(demo_store, "RO-01", meeting.meeting_id, "scale", "Rita", date(2026, 4, 1), by=retail)
    record_decision(demo_store, "SC-01", meeting.meeting_id, "continue", "Ben", date(2026, 4, 1), by=ANN)
    assert {d.pilot_id for d in decisions(demo_store.for_person(retail))} == {"RO-01"}
    assert {d.pilot_id for d in decisions(demo_store)} == {"RO-01", "SC-01"}
    assert [m.title for m in meetings(demo_store.for_person(retail))] == ["March committee"]


def test_a_condition_tied_to_a_warning_sign_reads_met_or_not_met_from_the_risk_engine(demo_store):
    meeting = _meeting(demo_store)
    by_pilot = {r.pilot_id: r for r in risk.assess(demo_store, NOW)}
    states = {pid: {s.key: s.state for p in r.patterns.values() for s in p.signals} for pid, r in by_pilot.items()}
    fired = next(pid for pid, s in states.items() if s.get("lab_to_live_drop") == "fired")
    clear = next(pid for pid, s in states.items() if s.get("lab_to_live_drop") == "clear")
    unknown = next(pid for pid, s in states.items() if s.get("lab_to_live_drop") == "unknown")
    results = {}
    for pid in (fired, clear, unknown):
        d = record_decision(
            demo_store,
            pid,
            meeting.meeting_id,
            "fix and review",
            "Ben",
            date(2026, 4, 1),
            signal_key="lab_to_live_drop",
            by=ANN,
        )
        results[pid] = condition_met(d, by_pilot[pid])
        assert condition_risk(demo_store, d, NOW, by_pilot[pid]) is by_pilot[pid]
    assert results == {fired: "not met", clear: "met", unknown: "unknown"}
    words_only = record_decision(demo_store, fired, meeting.meeting_id, "continue", "Ben", date(2026, 4, 1), by=ANN)
    assert condition_met(words_only, by_pilot[fired]) is None


def test_a_condition_with_its_own_threshold_is_checked_at_it(demo_store):
    meeting = _meeting(demo_store)
    by_pilot = {r.pilot_id: r for r in risk.assess(demo_store, NOW)}
    fired = next(
        pid
        for pid, r in by_pilot.items()
        for p in r.patterns.values()
        for s in p.signals
        if s.key == "lab_to_live_drop" and s.state == "fired"
    )
    loose = record_decision(
        demo_store,
        fired,
        meeting.meeting_id,
        "fix and review",
        "Ben",
        date(2026, 4, 1),
        signal_key="lab_to_live_drop",
        signal_value=0.99,
        by=ANN,
    )
    assert condition_met(loose, by_pilot[fired]) == "not met"  # at the catalogue's threshold it fires
    assert condition_met(loose, condition_risk(demo_store, loose, NOW, by_pilot[fired])) == "met"  # at 99% it is clear


def test_the_schema_refuses_an_unknown_decision_word(demo_store, backend):
    if backend == "postgres":
        import psycopg

        refused = psycopg.errors.IntegrityError
    else:
        refused = duckdb.ConstraintException
    with demo_store.read() as con, pytest.raises(refused):
        con.execute(
            "INSERT INTO decisions (meeting_id, pilot_id, decision, owner, due_on, recorded_by, recorded_at) "
            "VALUES (1, 'SC-01', 'celebrate', 'Ben', '2026-04-01', 'x', now())"
        )


def test_the_meeting_commands_record_list_and_refuse_in_plain_words(demo_store, capsys):
    import json

    from pilot_health import cli

    db = ["--db", getattr(demo_store, "url", None) or str(demo_store.path)]  # the file, or the server's address
    assert cli.main(["meetings", *db]) == 0
    assert "No meetings recorded yet" in capsys.readouterr().out
    assert (
        cli.main(
            [
                "meeting",
                "add",
                "--date",
                "2026-03-02",
                "--title",
                "March committee",
                "--pinned-at",
                "2026-03-01T18:00",
                "--by",
                ANN,
                *db,
            ]
        )
        == 0
    )
    said = capsys.readouterr().out
    number = str(meetings(demo_store)[0].meeting_id)  # after the demo's two meetings, removed for this test
    assert (
        f"Recorded meeting {number}: March committee on 2026-03-02, reviewing the numbers as of 2026-03-01 18:00"
        in said
    )
    assert (
        cli.main(
            [
                "decide",
                "SC-01",
                "--meeting",
                number,
                "--decision",
                "fix-and-review",
                "--owner",
                "Ben Ortiz",
                "--due",
                "2026-04-15",
                "--conditions",
                "Live accuracy back above 85%",
                "--signal",
                "lab_to_live_drop",
                "--json",
                *db,
            ]
        )
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert made["ok"] and (made["pilot_id"], made["decision"], made["due_on"], made["signal_key"]) == (
        "SC-01",
        "fix and review",
        "2026-04-15",
        "lab_to_live_drop",
    )
    assert cli.main(["meetings", "--json", *db]) == 0
    listed = json.loads(capsys.readouterr().out)["meetings"]
    assert [(m["meeting_id"], m["title"], m["pinned_at"], m["decisions"]) for m in listed] == [
        (int(number), "March committee", "2026-03-01T18:00:00", 1)
    ]
    # A due date before the meeting: one sentence naming the field, exit 1, nothing stored.
    assert (
        cli.main(
            ["decide", "SC-01", "--meeting", number, "--decision", "stop", "--owner", "Ben", "--due", "2026-02-01", *db]
        )
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "pilot_health decide: Due date: 2026-02-01 is before the meeting (2026-03-02); choose a day on or after it."
    )
    assert (
        cli.main(
            [
                "decide",
                "SC-01",
                "--meeting",
                number,
                "--decision",
                "celebrate",
                "--owner",
                "Ben",
                "--due",
                "2026-04-01",
                *db,
            ]
        )
        == 1
    )
    assert (
        "Decision: “celebrate” is not one of continue, fix and review, scale, pause, stop." in capsys.readouterr().err
    )
    assert len(decisions(demo_store)) == 1


# -- the pilot's risk view -------------------------------------------------------------------------------


def _risk_view(**query):
    from test_pages import open_page

    return open_page("pages/3_Risk.py", **query)


def test_the_risk_view_lists_a_pilots_decisions_with_status_and_the_meetings_pinned_view(demo_store, app_env):
    from test_pages import assert_clean, texts

    app_env(demo_store)
    meeting = record_meeting(demo_store, date(2026, 3, 2), "March committee", datetime(2026, 3, 1, 18, 0), by=ANN)
    today = datetime.now().date()
    record_decision(
        demo_store,
        "SC-01",
        meeting.meeting_id,
        "fix and review",
        "Ben Ortiz",
        today + timedelta(days=3),
        conditions="Live accuracy back above 85% <b>now</b>",
        signal_key="lab_to_live_drop",
        by=ANN,
    )
    record_decision(demo_store, "SC-02", meeting.meeting_id, "scale", "Cleo", today + timedelta(days=30), by=ANN)
    at = _risk_view(pilot="SC-01")
    assert_clean(at)
    assert "Committee decisions" in texts(at.subheader)
    table = next(d.value for d in at.dataframe if "decision" in d.value.columns and "owner" in d.value.columns)
    assert len(table) == 1  # SC-02's decision is not on SC-01's view
    row = table.iloc[0]
    assert (row["decision"], row["owner"], row["status"]) == (
        "Fix and review",
        "Ben Ortiz",
        "Due within 7 days (3 days left)",
    )
    assert row["conditions"] == "Live accuracy back above 85% <b>now</b>"  # shown as plain text in a table cell
    assert row["condition"] == "Not met"  # SC-01's lab-to-live drop fires in the demo
    assert row["evidence"].endswith("/Risk?pilot=SC-01&as_of=2026-03-01T18%3A00%3A00")
    assert any("condition tied to the warning sign" in t and "not met" in t for t in texts(at.caption))


@pytest.mark.slow
def test_an_editor_records_a_meeting_and_a_decision_on_the_risk_view(demo_store, app_env):
    from test_pages import assert_clean, texts

    app_env(demo_store)
    at = _risk_view(pilot="SC-03")
    assert_clean(at)
    assert any(t == "No decision recorded for this pilot yet." for t in texts(at.caption))
    at.date_input(key="decision_form.meeting_day").set_value(date(2026, 3, 2))
    at.text_input(key="decision_form.meeting_title").input("March committee")
    at.button(key="decision_form.save_meeting").click().run()
    assert_clean(at)
    assert [m.title for m in meetings(demo_store)] == ["March committee"]
    # A due date before the meeting is refused, naming the field; nothing is stored.
    at.selectbox(key="decision_form.decision").set_value("pause")
    at.text_input(key="decision_form.owner").input("Dana Fox")
    at.date_input(key="decision_form.due").set_value(date(2026, 3, 1))
    at.button(key="decision_form.save").click().run()
    assert any(t.startswith("Not saved: Due date: 2026-03-01 is before the meeting") for t in texts(at.error))
    assert decisions(demo_store) == []
    at.date_input(key="decision_form.due").set_value(date(2026, 4, 30))
    at.button(key="decision_form.save").click().run()
    assert_clean(at)
    [made] = decisions(demo_store)
    assert (made.pilot_id, made.decision, made.owner, made.due_on) == ("SC-03", "pause", "Dana Fox", date(2026, 4, 30))
    table = next(d.value for d in at.dataframe if "owner" in d.value.columns)
    assert list(table["decision"]) == ["Pause"]


@pytest.mark.slow
def test_a_pinned_view_shows_the_decisions_recorded_by_then_and_no_form(demo_store, app_env):
    from test_pages import assert_clean, texts

    from pilot_health.store.database import utc_now

    app_env(demo_store)
    recorded = utc_now().replace(microsecond=0)  # after the demo was loaded: its pilots exist at both moments
    meeting = record_meeting(demo_store, recorded.date(), "March committee", by=ANN)
    record_decision(
        demo_store, "SC-01", meeting.meeting_id, "continue", "Ben", recorded.date() + timedelta(days=30), by=ANN
    )
    with demo_store.write() as con:
        con.execute("UPDATE decisions SET recorded_at = ?", [recorded])
    before = _risk_view(pilot="SC-01", as_of=(recorded - timedelta(seconds=1)).isoformat())
    assert_clean(before)
    assert any(t == "No decision recorded for this pilot by the pinned moment." for t in texts(before.caption)), texts(
        before.caption
    )
    after = _risk_view(pilot="SC-01", as_of=recorded.isoformat())
    table = next(d.value for d in after.dataframe if "owner" in d.value.columns)
    assert list(table["status"]) == ["Open (30 days left)"]  # counted on the pinned day
    assert not [b for b in after.button if b.key and b.key.startswith("decision_form.")]


def test_a_viewer_sees_decisions_but_no_form(demo_store, app_env, monkeypatch, tmp_path):
    from conftest import ACCESS
    from test_signin_pages import signed_in, visit

    app_env(demo_store)
    (tmp_path / "access.toml").write_text(ACCESS, encoding="utf-8")
    monkeypatch.setenv("PILOT_HEALTH_ACCESS", str(tmp_path / "access.toml"))
    meeting = record_meeting(demo_store, date(2026, 3, 2), "March committee", by=ANN)
    record_decision(demo_store, "SC-01", meeting.meeting_id, "continue", "Ben", date(2026, 4, 1), by=ANN)
    at = visit("pages/3_Risk.py", signed_in("vic@example.com"), pilot="SC-01")
    assert not at.exception
    assert any("owner" in d.value.columns for d in at.dataframe)
    assert not [b for b in at.button if b.key and b.key.startswith("decision_form.")]
    assert not [e for e in at.expander if e.label == "Record a decision"]
