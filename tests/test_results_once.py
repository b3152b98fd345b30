"""Numbers computed once per change, shared by every visitor (pilot_health.reports.results): the kept
results are exactly what the on-demand computation gives for the same moment — on the demo and on
a store changed at random, write after write — a one-pilot upload recomputes that pilot only, a
write shows on the next call, and many sessions missing at once cause one computation."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_TODAY

from pilot_health.access import Person
from pilot_health.analytics.portfolio import load_portfolio
from pilot_health.analytics.risk import assess
from pilot_health.ingest import IngestOptions, ingest, withdraw
from pilot_health.models import Pilot
from pilot_health.register.pilots import create_pilot, get_pilot, update_pilot
from pilot_health.reports import results
from pilot_health.reports.adoption_report import portfolio_adoption, portfolio_table
from pilot_health.reports.alignment_report import portfolio_alignment
from pilot_health.rules.thresholds import catalogue_for, save_thresholds
from pilot_health.store.database import utc_now

ADMIN = Person("ann@example.com", "admin", signed_in=True)
FINANCE_VIEWER = Person("fay@example.com", "viewer", ("Finance",), signed_in=True)
STALE_DAYS = 45


def same(a, b, where="result") -> None:
    """Deep equality of results (dataclasses, frames, series, arrays, floats with NaN), naming the first difference."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=where)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, obj=where)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for key in a:
            same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), f"{where}: NaN vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def on_demand(store, today: date):
    """What the portfolio functions give now, computed from scratch at the keeper's moment."""
    moment = results.now_moment(today)
    catalogue = catalogue_for(store)
    return {
        "risk": assess(store, moment, catalogue=catalogue),
        "alignment": portfolio_alignment(store, moment, catalogue=catalogue),
        "adoption": portfolio_adoption(store, moment, catalogue=catalogue),
    }


def check_equal(keeper, store, today: date) -> None:
    expected = on_demand(store, today)
    for kind in results.KINDS:
        same(keeper.pilot_results(kind, store, None, today), expected[kind], kind)
    table, as_of = keeper.adoption_table(store, None, today)
    same(table, portfolio_table(expected["adoption"]), "adoption table")
    assert as_of == (expected["adoption"][0].as_of if expected["adoption"] else None)
    same(keeper.portfolio(store, None, today, STALE_DAYS), load_portfolio(store, today, STALE_DAYS), "portfolio")


def metrics_csv(rows) -> bytes:
    """A metrics export as BI tools write it: one row per pilot, date, metric and value."""
    lines = ["pilot_id,date,metric,environment,value"]
    lines += [f"{p},{d:%Y-%m-%d},{m},{env},{v:.4f}" for p, d, m, env, v in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def upload(store, rows, name: str):
    result = ingest(store, metrics_csv(rows), name, IngestOptions(replace_existing=True), commit=True, person=ADMIN)
    assert result.status == "stored", (result.refusal, [p.message for p in result.problems][:3])
    return result.upload_id


@pytest.mark.slow
def test_the_demo_kept_results_are_exactly_the_on_demand_ones_and_shared(demo_store):
    keeper = results.ResultsKeeper()
    check_equal(keeper, demo_store, DEMO_TODAY)
    version = demo_store.version()
    first = keeper.risk(demo_store, version, DEMO_TODAY)
    assert keeper.risk(demo_store, version, DEMO_TODAY) is first  # shared, not a copy per view
    assert keeper.computed["risk"] == 24  # every demo pilot once, however often it was asked for


@pytest.mark.slow
def test_a_pinned_moment_is_computed_once_and_equals_assess_then(demo_store):
    keeper = results.ResultsKeeper()
    pinned = utc_now().replace(microsecond=0)
    update_pilot(demo_store, get_pilot(demo_store, "FN-01").model_copy(update={"target_users": 7}), by=ADMIN)
    version = demo_store.version()
    kept = keeper.risk(demo_store, version, pinned.date(), pinned)
    same(
        kept, assess(demo_store, pinned, catalogue=catalogue_for(demo_store, pinned), records_at=pinned), "pinned risk"
    )
    same(
        keeper.alignment(demo_store, version, pinned.date(), pinned),
        portfolio_alignment(demo_store, pinned, catalogue=catalogue_for(demo_store, pinned), records_at=pinned),
        "pinned alignment",
    )
    assert keeper.risk(demo_store, version, pinned.date(), pinned) is kept
    assert keeper.computed["risk"] == 24


def test_one_pilots_upload_recomputes_that_pilot_only_and_shows_at_once(demo_store):
    keeper = results.ResultsKeeper()
    before = {r.pilot_id: r for r in keeper.risk(demo_store, demo_store.version(), DEMO_TODAY)}
    assert keeper.computed["risk"] == 24
    # The nightly load: its business KPI for one pilot, the default rate back at its baseline for a month.
    start = DEMO_TODAY - timedelta(days=28)
    upload(
        demo_store,
        [("FN-01", start + timedelta(days=7 * i), "default_rate", "live", 4.5 + 0.2 * i) for i in range(5)],
        "nightly.csv",
    )
    after = keeper.risk(demo_store, demo_store.version(), DEMO_TODAY)
    assert keeper.computed["risk"] == 25  # FN-01 again, nobody else
    same(after, assess(demo_store, results.now_moment(DEMO_TODAY)), "risk after the upload")
    changed = {r.pilot_id for r in after if r is not before[r.pilot_id]}
    assert changed == {"FN-01"}
    fn01 = after[[r.pilot_id for r in after].index("FN-01")]
    assert fn01 != before["FN-01"]  # the new rows count at once


@pytest.mark.slow
def test_a_withdrawal_a_record_edit_and_a_threshold_change_show_on_the_next_call(demo_store):
    keeper = results.ResultsKeeper()
    keeper.risk(demo_store, demo_store.version(), DEMO_TODAY)
    upload_id = upload(demo_store, [("CS-01", DEMO_TODAY - timedelta(days=3), "accuracy", "live", 0.2)], "one.csv")
    check_equal(keeper, demo_store, DEMO_TODAY)
    computed = keeper.computed["risk"]
    withdraw(demo_store, upload_id, ADMIN)
    same(
        keeper.risk(demo_store, demo_store.version(), DEMO_TODAY),
        on_demand(demo_store, DEMO_TODAY)["risk"],
        "after withdrawal",
    )
    assert keeper.computed["risk"] == computed + 1
    update_pilot(
        demo_store, get_pilot(demo_store, "SC-01").model_copy(update={"stage": "pilot", "target_users": 3}), by=ADMIN
    )
    same(
        keeper.risk(demo_store, demo_store.version(), DEMO_TODAY),
        on_demand(demo_store, DEMO_TODAY)["risk"],
        "after an edit",
    )
    assert keeper.computed["risk"] == computed + 2
    save_thresholds(demo_store, {"scoring.high": 55}, ADMIN)  # counts for every pilot
    check_equal(keeper, demo_store, DEMO_TODAY)
    assert keeper.computed["risk"] == computed + 2 + 24


@pytest.mark.slow
def test_a_randomised_store_stays_equal_write_after_write(demo_store):
    rng = random.Random(17)
    keeper = results.ResultsKeeper()
    units = ["Finance", "Operations", "Marketing"]
    for i in range(12):
        create_pilot(
            demo_store,
            Pilot.model_validate(
                {
                    "pilot_id": f"RX-{i:02d}",
                    "name": f"Random pilot {i}",
                    "business_unit": rng.choice(units),
                    "stage": rng.choice(["pilot", "scaling", "production"]),
                    "approved_on": DEMO_TODAY - timedelta(days=rng.randint(60, 700)),
                    "target_users": rng.randint(10, 200),
                    "kpi_name": "Cost per case",
                    "kpi_baseline": 10.0,
                    "kpi_target": 8.0,
                    "kpi_direction": "down",
                    "kpi_deadline": DEMO_TODAY + timedelta(days=rng.randint(30, 300)),
                },
                context={"today": DEMO_TODAY},
            ),
            by=ADMIN,
        )
    limited = demo_store.for_person(FINANCE_VIEWER)
    pilots = [f"RX-{i:02d}" for i in range(12)] + ["FN-01", "CS-02", "SC-01"]
    mine: list[int] = []
    check_equal(keeper, demo_store, DEMO_TODAY)
    for step in range(10):
        action = rng.choice(["upload", "upload", "withdraw", "edit", "threshold"])
        if action == "withdraw" and mine:
            withdraw(demo_store, mine.pop(rng.randrange(len(mine))), ADMIN)
        elif action == "edit":
            pilot = get_pilot(demo_store, rng.choice(pilots))
            update_pilot(
                demo_store,
                pilot.model_copy(
                    update={"target_users": rng.randint(5, 300), "drift_alerts": rng.choice([True, False, None])}
                ),
                by=ADMIN,
            )
        elif action == "threshold":
            save_thresholds(demo_store, {"scoring.medium": rng.choice([30, 35, 40])}, ADMIN)
        else:
            chosen = rng.sample(pilots, rng.randint(1, 3))
            metric, env, level = rng.choice(
                [("accuracy", "live", 0.8), ("accuracy", "lab", 0.9), ("cost_per_case", "live", 9.0)]
            )
            rows = [
                (p, DEMO_TODAY - timedelta(days=7 * w), metric, env, level * (1 + rng.uniform(-0.2, 0.2)))
                for p in chosen
                for w in range(rng.randint(1, 8))
            ]
            mine.append(upload(demo_store, rows, f"step{step}.csv"))
        check_equal(keeper, demo_store, DEMO_TODAY)
        # A limited person sees the same numbers for their pilots, and no other pilot.
        kept = keeper.risk(limited, None, DEMO_TODAY)
        finance = sorted(
            p
            for p, u in keeper.state(demo_store).units.items()
            if u == "Finance" and p in keeper.state(demo_store).register
        )
        assert [r.pilot_id for r in kept] == finance
        same(kept, assess(limited, results.now_moment(DEMO_TODAY)), f"limited risk after step {step} ({action})")
        same(
            keeper.adoption(limited, None, DEMO_TODAY),
            portfolio_adoption(limited, results.now_moment(DEMO_TODAY)),
            "limited adoption",
        )
        same(
            keeper.portfolio(limited, None, DEMO_TODAY, STALE_DAYS),
            load_portfolio(limited, DEMO_TODAY, STALE_DAYS),
            "limited portfolio",
        )


def test_a_limited_scope_sees_only_its_pilots_from_the_shared_results(demo_store):
    keeper = results.ResultsKeeper()
    everyone = keeper.risk(demo_store, None, DEMO_TODAY)
    limited = demo_store.for_person(FINANCE_VIEWER)
    for kind in results.KINDS:
        rows = keeper.pilot_results(kind, limited, None, DEMO_TODAY)
        assert rows and {r.business_unit for r in rows} == {"Finance"}, kind
    frame = keeper.portfolio(limited, None, DEMO_TODAY, STALE_DAYS)
    assert set(frame["business_unit"]) == {"Finance"}
    shared = {r.pilot_id: r for r in everyone}
    assert all(r is shared[r.pilot_id] for r in keeper.risk(limited, None, DEMO_TODAY))  # the same objects, filtered
    assert keeper.computed["risk"] == 24


def test_many_sessions_missing_at_once_cause_one_computation():
    flight = results.SingleFlight()
    calls = []
    started = threading.Event()

    def compute(missing):
        calls.append(list(missing))
        started.set()
        time.sleep(0.2)
        return {key: object() for key in missing}

    got = [None] * 20
    threads = [
        threading.Thread(target=lambda i=i: got.__setitem__(i, flight.get_many(["a", "b"], compute))) for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(g["a"] is got[0]["a"] and g["b"] is got[0]["b"] for g in got)


def test_a_failure_reaches_every_waiter_and_is_tried_again_next_time():
    flight = results.SingleFlight()
    calls = []

    def failing(missing):
        calls.append(1)
        time.sleep(0.2)
        raise RuntimeError("the store is busy")

    errors = []

    def ask():
        try:
            flight.get("k", lambda: failing(["k"]))
        except RuntimeError as error:
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(errors) == 8
    assert flight.get("k", lambda: "fine") == "fine"  # not kept: computed afresh


def test_the_page_data_functions_serve_the_keepers_shared_results(demo_store):
    from pilot_health.ui import data

    version = demo_store.version()
    first = data.risk_results(demo_store.key, version, data.rules_fingerprint(), DEMO_TODAY)
    assert data.risk_results(demo_store.key, version, data.rules_fingerprint(), DEMO_TODAY) is first
    same(first, assess(demo_store, results.now_moment(DEMO_TODAY)), "page risk")
    frame = data.portfolio_frame(demo_store.key, version, DEMO_TODAY, STALE_DAYS)
    assert data.portfolio_frame(demo_store.key, version, DEMO_TODAY, STALE_DAYS) is frame


def test_memory_is_bounded():
    flight = results.SingleFlight(max_entries=50)
    for i in range(500):
        flight.get(i, lambda: i)
    assert len(flight) == 50


@pytest.mark.parametrize("today", [date(2020, 1, 1), None])
def test_now_is_the_end_of_the_day_never_before_the_present(today):
    moment = results.now_moment(today)
    assert moment >= utc_now() and moment.time().hour == 23 and moment.time().minute == 59


# -- the warmer: numbers computed ahead of visitors ----------------------------------------------------


@pytest.mark.slow
def test_the_warmer_computes_after_a_write_and_on_a_new_day_and_only_then(tmp_path):
    """A warmer looks at the store's version and the day: a look with nothing new computes nothing; a
    one-pilot upload computes that pilot's numbers only (before anyone asks); a new day computes every
    pilot again; a store file that is gone is never created again by looking at it."""
    from datetime import date as day_type
    from datetime import timedelta

    from pilot_health.demo.portfolio import load_demo
    from pilot_health.ingest import IngestOptions, ingest
    from pilot_health.reports.results import ResultsKeeper, Warmer
    from pilot_health.store.database import Store

    store = Store(tmp_path / "warm.duckdb", lock_wait_seconds=5)
    load_demo(store)
    keeper = ResultsKeeper()
    today = [day_type(2026, 12, 5)]
    warmer = Warmer(store, interval=60, keeper=keeper, today=lambda: today[0])
    assert warmer.check_once() is True
    pilots = len(keeper.risk(store.unscoped(), today=today[0]))
    assert keeper.computed["risk"] == pilots == keeper.computed["alignment"] == keeper.computed["adoption"]
    assert warmer.check_once() is False and keeper.computed["risk"] == pilots  # nothing new: nothing computed

    text = "pilot_id,metric,environment,observed_at,value\nSC-01,accuracy,live,2026-12-04 10:17,0.83\n"
    result = ingest(store, text.encode(), "one.csv", IngestOptions(), commit=True)
    assert result.status == "stored", result.refusal
    assert warmer.check_once() is True
    assert keeper.computed["risk"] == pilots + 1 and keeper.computed["alignment"] == pilots + 1  # SC-01 alone
    keeper.risk(store.unscoped(), today=today[0])  # a visitor now: nothing left to compute
    assert keeper.computed["risk"] == pilots + 1

    today[0] += timedelta(days=1)
    assert warmer.check_once() is True and keeper.computed["risk"] == 2 * pilots + 1

    gone = Warmer(Store(tmp_path / "gone.duckdb"), interval=60, keeper=keeper)
    assert gone.check_once() is False and not (tmp_path / "gone.duckdb").exists()


def test_start_warmer_starts_one_thread_per_store_and_none_when_turned_off(tmp_path):
    from pilot_health.reports.results import start_warmer
    from pilot_health.store.database import Store

    store = Store(tmp_path / "none.duckdb")
    assert start_warmer(store, 0) is None
    first = start_warmer(store, 3600)
    try:
        assert first is not None and first.thread.is_alive() and first.thread.daemon
        assert start_warmer(store, 3600) is first
    finally:
        first.stop.set()
        first.thread.join(5)
    assert not first.thread.is_alive()


def test_now_is_the_end_of_the_day_unless_a_stored_row_comes_due_before_it():
    """ "Now" stays the same until something stored can change the numbers: a row dated later today
    (stored in the future of its upload) moves it to just before that row's time, so a link pinned
    now shows exactly the numbers of the "now" view; rows dated in the past or after today do not."""
    from datetime import datetime as moment_type
    from datetime import time as clock
    from datetime import timedelta

    from pilot_health.store.database import utc_now

    now = utc_now()
    end = moment_type.combine(now.date(), clock.max)
    assert results.now_moment() == end
    assert results.now_moment(future=[now - timedelta(minutes=5), end + timedelta(days=2)]) == end
    soon = min(now + timedelta(minutes=30), end)
    if soon < end:  # not in the last half hour of the UTC day
        assert results.now_moment(future=[soon, soon + timedelta(minutes=1)]) == soon - timedelta(microseconds=1)
