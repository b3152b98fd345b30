"""Changes since a moment: the pinned view then against the view now, on a real store."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from pilot_health.analytics.risk import assess
from pilot_health.errors import PilotHealthError
from pilot_health.ingest import IngestOptions, ingest, withdraw
from pilot_health.register.pilots import get_pilot, update_pilot
from pilot_health.reports.changes import changes_since, earliest
from pilot_health.reports.results import KEEPER
from pilot_health.store.database import utc_now


def tick() -> None:
    time.sleep(0.01)


def test_since_now_nothing_changed(demo_store):
    found = changes_since(demo_store, utc_now())
    assert found.empty and found.changes == [] and found.compared == 24
    assert found.summary.startswith("Nothing changed since ")


def test_a_moment_before_the_register_or_not_before_now_is_refused(demo_store):
    first = earliest(demo_store)
    with pytest.raises(PilotHealthError, match="when the register first held a pilot"):
        changes_since(demo_store, first - timedelta(days=1))
    with pytest.raises(PilotHealthError, match="Pick a moment before"):
        changes_since(demo_store, KEEPER.moment(demo_store) + timedelta(days=1))


@pytest.mark.slow
def test_edits_uploads_and_withdrawals_after_a_pinned_moment_are_the_changes(demo_store):
    pinned = utc_now()
    tick()
    pilot = get_pilot(demo_store, "CS-01")
    update_pilot(
        demo_store,
        pilot.model_copy(
            update={"stage": "paused", "change_champion": "none", "spend_to_date": pilot.spend_to_date + 50_000}
        ),
    )
    withdraw(demo_store, 639)  # CS-01's newest usage file
    rows = "".join(f"CS-02,accuracy,technical,live,2026-11-{day:02d},0.41\n" for day in (17, 18, 19))
    result = ingest(
        demo_store,
        ("pilot_id,metric,kind,environment,observed_at,value\n" + rows).encode(),
        "late_accuracy.csv",
        IngestOptions(),
        commit=True,
    )
    assert result.status == "stored", (result.refusal, result.problems)

    found = changes_since(demo_store, pinned)
    by_pilot = {p.pilot_id: p for p in found.pilots}
    assert set(by_pilot) == {"CS-01", "CS-02"}
    assert [(c.kind, c.what) for c in by_pilot["CS-01"].changes] == [
        ("sign_new", "New warning sign on Organisational Resistance: Is no change champion named?"),
        ("withdrawn", "1 upload withdrawn: its rows no longer count."),
        ("stage", "Stage moved from pilot to paused."),
        ("spend", "Spent $50k more: $1.05M → $1.10M (79% of its $1.40M budget)."),
    ]
    sign = by_pilot["CS-01"].changes[0]
    now = {r.pilot_id: r for r in assess(demo_store)}
    fired = [
        s
        for s in now["CS-01"].patterns["organisational_resistance"].signals
        if s.question == "Is no change champion named?"
    ]
    assert sign.evidence == fired[0].evidence and sign.evidence  # the risk view's own evidence
    assert by_pilot["CS-01"].health_after == now["CS-01"].health
    assert by_pilot["CS-01"].changes[1].evidence == "Files: usage_CS-01_2026-11-16.csv"
    assert [(c.kind, c.what, c.evidence) for c in by_pilot["CS-02"].changes] == [
        ("uploads", "1 new upload (3 rows).", "Files: late_accuracy.csv")
    ]
    assert found.pilots[0].pilot_id == "CS-01"  # a new warning sign before new data
    assert (found.uploads, found.withdrawn) == (1, 1)
    assert (
        found.summary
        == "1 new warning sign on Organisational Resistance, 1 stage move, 1 new upload, 1 upload withdrawn."
    )
    # Compared with a moment after the edits, nothing changed; the pinned view then is unchanged by them.
    assert changes_since(demo_store, utc_now()).empty
    assert changes_since(demo_store, pinned, until=pinned + timedelta(microseconds=1)).empty


def test_health_moves_and_plurals_in_the_summary():
    from datetime import datetime

    from pilot_health.reports.changes import Change, PilotChanges, PortfolioChanges

    def pilot(code, before, after, *kinds):
        return PilotChanges(
            code,
            code,
            "BU",
            before,
            after,
            tuple(Change(code, code, "BU", k, k, pattern="Data Debt" if k == "sign_new" else None) for k in kinds),
        )

    found = PortfolioChanges(
        datetime(2026, 1, 1),
        datetime(2026, 2, 1),
        (
            pilot("A", "amber", "red", "health_worse", "sign_new"),
            pilot("B", "green", "amber", "health_worse", "sign_new"),
            pilot("C", "green", "red", "health_worse"),
            pilot("D", "red", "amber", "health_better"),
        ),
    )
    assert found.summary == "3 pilots got worse, 1 improved, 2 new warning signs on Data Debt."
    one = PortfolioChanges(datetime(2026, 1, 1), datetime(2026, 2, 1), (pilot("D", "red", "amber", "health_better"),))
    assert one.summary == "1 pilot improved."


# -- the command line ----------------------------------------------------------------------------


def test_command_line_lists_the_changes_since_a_day(demo_store, capsys):
    import json

    from pilot_health import cli

    pilot = get_pilot(demo_store, "CS-01")
    update_pilot(demo_store, pilot.model_copy(update={"stage": "paused"}))
    assert cli.main(["changes", "--db", str(demo_store.path), "--since", "2026-11-19"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "1 stage move."
    assert "CS-01 · " in out and "  Stage moved: Stage moved from pilot to paused." in out

    assert cli.main(["changes", "--db", str(demo_store.path), "--since", "2026-11-19", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["since"] == "2026-11-19T23:59:59" and data["summary"] == "1 stage move."
    assert [(p["pilot_id"], [c["kind"] for c in p["changes"]]) for p in data["pilots"]] == [("CS-01", ["stage"])]


@pytest.mark.parametrize(
    "since, words",
    [
        ("19/11/2026", "--since '19/11/2026' is not a date; write it as YYYY-MM-DD"),
        (
            "2026-05-01",
            "There is nothing to compare with before 21 May 2026 17:00 UTC, when the register first held a pilot.",
        ),
        ("2999-01-01", "Pick a moment before "),
    ],
)
def test_command_line_refuses_a_bad_day_in_one_sentence(demo_store, capsys, since, words):
    from pilot_health import cli

    assert cli.main(["changes", "--db", str(demo_store.path), "--since", since]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pilot_health changes: ") and words in err and len(err.strip().splitlines()) == 1


def test_a_chosen_day_means_its_end_or_the_registers_first_moment():
    from datetime import date, datetime

    from pilot_health.reports.changes import since_moment

    first, until = datetime(2026, 11, 19, 16, 0), datetime(2026, 12, 5, 23, 59, 59)
    assert since_moment(date(2026, 11, 30), first, until) == (datetime(2026, 11, 30, 23, 59, 59), "")
    assert since_moment(date(2026, 11, 1), first, until) == (
        first,
        "The register began on 19 Nov 2026 16:00 UTC: compared from then.",
    )
    assert since_moment(date(2026, 12, 5), first, until)[0] == datetime(2026, 12, 5)
    pinned = datetime(2026, 11, 19, 17, 0)  # a view pinned an hour after the register began, the day itself chosen
    assert since_moment(date(2026, 10, 20), first, pinned)[0] == first
    assert since_moment(date(2026, 11, 19), first, datetime(2026, 11, 19, 15, 0))[0] is None
    assert since_moment(date(2026, 11, 19), None, until) == (
        None,
        "There is nothing to compare with yet: the register has no pilot.",
    )


def test_the_export_command_adds_the_section_since_a_day(demo_store, tmp_path, capsys):
    import json

    from pilot_health import cli

    pilot = get_pilot(demo_store, "CS-01")
    update_pilot(demo_store, pilot.model_copy(update={"stage": "paused"}))
    out = tmp_path / "pack.html"
    assert (
        cli.main(
            [
                "export",
                "--db",
                str(demo_store.path),
                "--portfolio",
                "--format",
                "html",
                "--out",
                str(out),
                "--since",
                "2026-11-19",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["since"] == "2026-11-19T23:59:59"
    text = out.read_text(encoding="utf-8")
    assert "<h2>Since last meeting (19 Nov 2026)</h2><p><b>1 stage move.</b></p>" in text
    assert "CS-01 · Customer service chatbot: Stage moved from pilot to paused." in text
