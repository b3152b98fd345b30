"""Pinned moments: the store answers "as of" questions — pilot records from their history, uploads by
their time and withdrawal — so a pinned view shows what was there then, whatever changed later."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

import pytest
from test_risk import TODAY, Story

from pilot_health.access import Person
from pilot_health.analytics import risk
from pilot_health.analytics.portfolio import load_portfolio
from pilot_health.demo.portfolio import clear_demo
from pilot_health.models import Pilot
from pilot_health.register.pilots import create_pilot, get_pilot, list_pilots, update_pilot
from pilot_health.reports.adoption_report import portfolio_adoption
from pilot_health.reports.alignment_report import portfolio_alignment
from pilot_health.reports.steering_pack import portfolio_pack
from pilot_health.rules.catalogue import load_catalogue
from pilot_health.rules.thresholds import catalogue_for, save_thresholds, with_overrides
from pilot_health.store import queries
from pilot_health.store.database import utc_now


def record(**changes) -> Pilot:
    return Pilot.model_validate({**Story().record, **changes}, context={"today": TODAY})


def tick() -> None:
    time.sleep(0.01)  # versions written in the same instant are ordered by their id; keep the moments apart


def test_the_register_as_it_stood_at_each_moment(store):
    before = utc_now()
    tick()
    create_pilot(store, record(name="First name"))
    tick()
    created = utc_now()
    tick()
    update_pilot(store, record(name="Second name", stage="scaling"))
    tick()
    edited = utc_now()
    tick()
    with store.write() as con:
        queries.delete_pilots(con, ["P-1"])
    tick()
    removed = utc_now()

    assert list_pilots(store, before).empty
    assert list_pilots(store, created)[["name", "stage"]].values.tolist() == [["First name", "production"]]
    assert list_pilots(store, edited)[["name", "stage"]].values.tolist() == [["Second name", "scaling"]]
    assert list_pilots(store, removed).empty and list_pilots(store).empty
    with store.read() as con:
        versions = con.execute("SELECT name, removed FROM pilot_history ORDER BY history_id").fetchall()
    assert versions == [("First name", False), ("Second name", False), ("Second name", True)]


def test_a_pinned_moment_keeps_records_and_data_as_they_were(store):
    story = Story()
    story.store(store.path)  # the pilot and its data, uploaded in 2020
    tick()
    pinned = utc_now()
    tick()
    expected_risk = risk.assess(store, pinned, records_at=pinned)[0]
    expected_home = load_portfolio(store, pinned.date(), 45, pinned)

    # Afterwards: the record is edited, the data withdrawn, a new upload arrives.
    pilot = get_pilot(store, "P-1")
    update_pilot(store, pilot.model_copy(update={"name": "Renamed", "change_champion": "none", "stage": "paused"}))
    with store.write() as con:
        queries.withdraw_upload(con, 1, utc_now())
        queries.insert_upload(
            con,
            kind="metrics",
            file_name="later.csv",
            sha256="z",
            rows_stored=0,
            rows_rejected=0,
            uploaded_at=utc_now(),
            uploaded_by="test",
        )

    again = risk.assess(store, pinned, records_at=pinned)[0]
    assert again.name == expected_risk.name == "Test pilot" and again.health == expected_risk.health
    assert {k: p.score for k, p in again.patterns.items()} == {k: p.score for k, p in expected_risk.patterns.items()}
    assert load_portfolio(store, pinned.date(), 45, pinned).equals(expected_home)
    # The latest view has moved on.
    now = risk.assess(store)[0]
    assert now.name == "Renamed" and now.stage == "paused"
    assert now.patterns["organisational_resistance"].score != expected_risk.patterns["organisational_resistance"].score
    assert load_portfolio(store, utc_now().date(), 45).loc[0, "data_uploads"] == 0


def test_a_register_upload_is_a_version_too(store):
    from pilot_health.ingest import IngestOptions, ingest

    create_pilot(store, record())
    tick()
    created = utc_now()
    tick()
    data = b"pilot_id,name,business_unit,stage\nP-1,Uploaded name,Test,pilot\n"
    result = ingest(store, data, "register.csv", IngestOptions(replace_existing=True), commit=True)
    assert result.status == "stored", (result.refusal, result.problems)
    assert list_pilots(store, created).loc[0, "name"] == "Test pilot"
    assert list_pilots(store).loc[0, "name"] == "Uploaded name"


def test_clearing_the_demo_removes_it_from_the_past_too(demo_store):
    pinned = utc_now() + timedelta(seconds=1)
    assert len(list_pilots(demo_store, pinned)) == 24
    clear_demo(demo_store)
    assert list_pilots(demo_store, pinned).empty


# -- thresholds: a pinned moment keeps those in force then ---------------------------------------------

ADMIN = Person("ann@example.com", "admin", signed_in=True)
# Red only with five high patterns (or a high one on decisive evidence, or past 40 months in the
# pilot stage); the lab-to-live gap that counts is 50%; groups under eight respondents are not shown.
LATER_THRESHOLDS = {
    "health.red_high_patterns": 5,
    "health.months_in_pilot_amber": 40,
    "signals.lab_to_live_drop": 0.5,
    "analysis.min_respondents": 8,
}
VERDICTS = ("red", "amber", "green", "insufficient")


def health_counts(results) -> dict[str, int]:
    counted = Counter(r.health for r in results)
    return {verdict: counted.get(verdict, 0) for verdict in VERDICTS}


@pytest.mark.slow
def test_a_pinned_moment_keeps_the_thresholds_in_force_then(demo_store):
    file_catalogue = load_catalogue()
    assert file_catalogue.health.red_high_patterns < 5 and file_catalogue.analysis.min_respondents < 8
    tick()
    pinned = utc_now()
    tick()
    then = health_counts(risk.assess(demo_store, pinned, records_at=pinned))  # what the shared link showed
    assert then["red"] > 0

    save_thresholds(demo_store, LATER_THRESHOLDS, by=ADMIN)

    # Now: the file's rules with these four numbers (built here, not read from the store) — fewer reds.
    by_hand = with_overrides(file_catalogue, LATER_THRESHOLDS)
    now = health_counts(risk.assess(demo_store))
    assert now == health_counts(risk.assess(demo_store, catalogue=by_hand))
    assert now["red"] < then["red"]
    # The pinned moment: the counts it showed when it was shared, on the risk page and in the steering pack.
    assert health_counts(risk.assess(demo_store, pinned, records_at=pinned)) == then
    assert (
        health_counts(risk.assess(demo_store, pinned, catalogue=catalogue_for(demo_store, pinned), records_at=pinned))
        == then
    )
    assert health_counts(portfolio_pack(demo_store, "http://dashboard.example", pinned).results) == then
    assert health_counts(portfolio_pack(demo_store, "http://dashboard.example").results) == now
    # The alignment and adoption pages read their thresholds from the same moment.
    assert {row.gap_threshold for row in portfolio_alignment(demo_store, pinned, records_at=pinned)} == {
        file_catalogue.threshold("lab_to_live_drop")
    }
    assert {row.gap_threshold for row in portfolio_alignment(demo_store)} == {0.5}
    assert {p.min_size for p in portfolio_adoption(demo_store, pinned, records_at=pinned)} == {
        file_catalogue.analysis.min_respondents
    }
    assert {p.min_size for p in portfolio_adoption(demo_store)} == {8}


@pytest.mark.slow
def test_a_threshold_set_back_later_is_still_in_force_for_a_moment_pinned_in_between(demo_store):
    tick()
    before = utc_now()
    tick()
    file_counts = health_counts(risk.assess(demo_store, before, records_at=before))
    save_thresholds(demo_store, LATER_THRESHOLDS, by=ADMIN)
    tick()
    in_between = utc_now()
    tick()
    changed_counts = health_counts(risk.assess(demo_store, in_between, records_at=in_between))
    assert changed_counts != file_counts
    file_catalogue = load_catalogue()
    in_file = {
        "health.red_high_patterns": file_catalogue.health.red_high_patterns,
        "health.months_in_pilot_amber": file_catalogue.health.months_in_pilot_amber,
        "signals.lab_to_live_drop": file_catalogue.threshold("lab_to_live_drop"),
        "analysis.min_respondents": file_catalogue.analysis.min_respondents,
    }
    assert sorted(save_thresholds(demo_store, in_file, by=ADMIN)) == sorted(
        LATER_THRESHOLDS
    )  # every one back to the file's value
    with demo_store.read() as con:
        assert queries.threshold_overrides(con) == {}
    assert health_counts(risk.assess(demo_store, in_between, records_at=in_between)) == changed_counts
    assert health_counts(risk.assess(demo_store, before, records_at=before)) == file_counts
    assert health_counts(risk.assess(demo_store)) == file_counts


# -- the pages ---------------------------------------------------------------------------------------


def _withdraw_a_demo_upload_of(store, pilot_id: str) -> None:
    with store.write() as con:
        [upload] = con.execute(
            "SELECT max(upload_id) FROM metric_observations m JOIN uploads u USING (upload_id) WHERE m.pilot_id = ? AND u.kind = 'metrics'",
            [pilot_id],
        ).fetchone()
        queries.withdraw_upload(con, upload, utc_now())


@pytest.mark.slow
def test_a_pinned_page_shows_its_moment_and_offers_the_latest(demo_store, app_env):
    from test_pages import assert_clean, home, open_page, texts

    app_env(demo_store)
    tick()
    pinned = utc_now().replace(microsecond=0)
    time.sleep(1.1)  # the link is to the second
    _withdraw_a_demo_upload_of(demo_store, "SC-01")
    pilot = get_pilot(demo_store, "SC-01")
    update_pilot(
        demo_store,
        pilot.model_copy(
            update={
                "name": "Renamed later",
                "change_champion": "none",
                "sponsor_level": "none",
                "pipeline_automated": True,
                "data_quality_monitored": True,
            }
        ),
    )

    at = open_page("pages/3_Risk.py", pilot="SC-01", as_of=pinned.isoformat())
    assert_clean(at)
    banner = [t for t in texts(at.info) if t.startswith("As of ")]
    assert banner == [f"As of {pinned:%d %B %Y %H:%M} UTC, newer data exists — show latest."]
    then = risk.assess(demo_store, pinned, ["SC-01"], records_at=pinned)[0]
    assert at.header[0].value.startswith("SC-01 · Fresh produce demand forecasting")
    titles = [e.label for e in at.expander]
    for pattern in then.patterns.values():
        if pattern.status != "insufficient":
            assert f"{pattern.name} — {pattern.status}, score {pattern.score:.0f}" in titles
    latest = risk.assess(demo_store, None, ["SC-01"])[0]
    assert {k: p.score for k, p in latest.patterns.items()} != {
        k: p.score for k, p in then.patterns.items()
    }  # the change mattered

    at.button(key="show_latest").click().run()
    assert "as_of" not in at.query_params and at.header[0].value.startswith("SC-01 · Renamed later")

    at = home(as_of=pinned.isoformat())
    assert_clean(at)
    names = at.dataframe[0].value.set_index("pilot_id")["name"]
    assert names["SC-01"] == "Fresh produce demand forecasting"
    at = open_page("pages/1_Pilot_register.py", as_of=pinned.isoformat())
    assert_clean(at)
    assert any("cannot be edited here" in t for t in texts(at.info)) and not at.get("text_input")


def test_a_bad_or_future_moment_in_a_link_shows_the_latest_with_a_note(demo_store, app_env):
    from test_pages import assert_clean, home, texts

    app_env(demo_store)
    for value, says in (("yesterday", "is not a date and time"), ("2999-01-01T00:00:00", "is in the future")):
        at = home(as_of=value)
        assert_clean(at)
        assert any(says in t for t in texts(at.warning)), value
        assert not [t for t in texts(at.info) if t.startswith("As of ")]


@pytest.mark.slow
def test_the_demo_is_never_dated_in_the_future_so_a_link_pinned_now_sees_it(store):
    from datetime import datetime

    from pilot_health.demo.portfolio import DEMO_NOW, load_demo, weeks_to_today

    # Early on the demo's weekday, moving it to "this week" would date it later today: one week less.
    same_weekday = DEMO_NOW + timedelta(weeks=1)
    assert weeks_to_today(same_weekday.date(), datetime.combine(same_weekday.date(), datetime.min.time())) == 0
    assert weeks_to_today(same_weekday.date(), same_weekday + timedelta(hours=1)) == 1
    load_demo(store)  # as the first run does: at the real time
    now = utc_now()
    with store.read() as con:
        newest = con.execute(
            "SELECT max(uploaded_at), (SELECT max(recorded_at) FROM pilot_history) FROM uploads"
        ).fetchone()
    assert all(moment <= now for moment in newest)
    assert len(list_pilots(store, now)) == 24


@pytest.mark.slow
def test_a_pinned_risk_page_shows_the_counts_of_its_moment_after_a_threshold_change(demo_store, app_env):
    from test_pages import assert_clean, open_page, texts
    from test_risk_page import metrics

    def metric(at, label):  # a health count's label is its coloured icon, then its word
        return metrics(at)[label]

    app_env(demo_store)
    tick()
    pinned = utc_now().replace(microsecond=0)
    then = health_counts(risk.assess(demo_store, pinned, records_at=pinned))
    time.sleep(1.1)  # the link is to the second
    save_thresholds(demo_store, LATER_THRESHOLDS, by=ADMIN)
    now = health_counts(risk.assess(demo_store, catalogue=with_overrides(load_catalogue(), LATER_THRESHOLDS)))
    assert now != then

    at = open_page("pages/3_Risk.py", as_of=pinned.isoformat())
    assert_clean(at)
    assert [t for t in texts(at.info) if t.startswith("As of ")] == [
        f"As of {pinned:%d %B %Y %H:%M} UTC, newer data exists — show latest."
    ]
    assert {v: int(metric(at, risk.HEALTH_LABELS[v])) for v in VERDICTS} == then
    set_since = re.compile(r"the signal catalogue with \d+ thresholds? set on the Thresholds page")
    assert any("rules in the signal catalogue;" in t for t in texts(at.caption))  # the rules of its moment

    at = open_page("pages/3_Risk.py")
    assert_clean(at)
    assert {v: int(metric(at, risk.HEALTH_LABELS[v])) for v in VERDICTS} == now
    assert any(set_since.search(t) for t in texts(at.caption))  # thresholds set since
