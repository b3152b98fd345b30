"""The whole dashboard on PostgreSQL: every page run for real through Streamlit's AppTest on a
PostgreSQL store holding the demo portfolio (PILOT_HEALTH_DB=postgresql://…), the same headline
numbers as on the embedded DuckDB store with the same demo, the demo offered on a first run, and a
write through another replica (another process, another connection pool) shown on this process's
next page view."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ROOT, run_python
from streamlit.testing.v1 import AppTest

from pilot_health.models import Pilot
from pilot_health.register.pilots import get_pilot, list_pilots, update_pilot
from pilot_health.store.database import open_store
from pilot_health.ui.page import PAGES

HOME = str(ROOT / "app.py")
# The views whose headline tiles and tables are compared between the two stores: (page, URL parameters).
COMPARED = (
    ("app.py", ()),
    ("pages/3_Risk.py", ()),
    ("pages/3_Risk.py", (("pilot", "FN-02"), ("rows", "true"))),
    ("pages/4_Alignment.py", ()),
    ("pages/4_Alignment.py", (("pilot", "SC-01"),)),
    ("pages/5_Adoption.py", ()),
    ("pages/5_Adoption.py", (("pilot", "CS-01"),)),
    ("pages/9_Since_last_meeting.py", ()),
)


def open_page(page: str = "app.py", **query) -> AppTest:
    """A fresh visit to `page` with these URL parameters."""
    at = AppTest.from_file(HOME, default_timeout=120)
    if page != "app.py":
        at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def assert_clean(at: AppTest) -> None:
    """No exception, and no problem sentence (what `page.friendly_errors` and `show_problem` draw
    when the store cannot be used) — other red boxes are findings, such as a pilot's verdict."""
    assert not at.exception, [e.message for e in at.exception]
    assert not [e for e in at.error if e.icon == ":material/error:"], [e.value for e in at.error]


def tiles(at: AppTest) -> dict[str, tuple[str, str]]:
    """Every headline tile on the page: label -> (value, the small line under it)."""
    return {m.label: (m.value, m.proto.delta) for m in at.metric}


def metric(at: AppTest, label: str) -> str:
    return tiles(at)[label][0]


def sidebar_counts(at: AppTest) -> str:
    return next(str(c.value) for c in at.sidebar.caption if " pilot" in str(c.value) and "metric row" in str(c.value))


@pytest.fixture
def pg_demo(postgres_demo_url):
    return open_store(postgres_demo_url, lock_wait_seconds=5)


@pytest.mark.parametrize("page", [path for path, *_ in PAGES])
def test_every_page_opens_on_a_postgresql_store(page, pg_demo, app_env):
    app_env(pg_demo)
    at = open_page(page)
    assert_clean(at)
    assert "24 pilots" in sidebar_counts(at)


def test_a_page_view_asks_the_server_for_the_store_version_once(pg_demo, app_env, monkeypatch):
    """The version is read from the server on every view (a write through another replica shows on
    the next one), and only once per view: the Since last meeting page and the home page's steering
    pack use the version the view read at its start instead of asking again (a round trip each)."""
    from pilot_health.store.postgres import PostgresStore

    asked = []
    server_meta = PostgresStore.meta

    def counted(store):
        asked.append(store)
        return server_meta(store)

    monkeypatch.setattr(PostgresStore, "meta", counted)
    app_env(pg_demo)
    for page in [path for path, *_ in PAGES]:
        assert_clean(open_page(page))  # the first visit computes and keeps what the page shows
        asked.clear()
        assert_clean(open_page(page))
        assert len(asked) == 1, page


def test_a_pilot_chosen_and_a_pinned_link_open_on_postgresql(pg_demo, app_env):
    app_env(pg_demo)
    for page in ("pages/3_Risk.py", "pages/4_Alignment.py", "pages/5_Adoption.py"):
        assert_clean(open_page(page, pilot="FN-02"))
    pinned = open_page("app.py", as_of="2026-01-15")
    assert_clean(pinned)
    assert any("As of 15 January 2026" in str(i.value) for i in pinned.info)


def test_the_headline_numbers_are_the_same_on_both_stores(demo_store, pg_demo, app_env):
    """The same demo on DuckDB and on PostgreSQL: every tile (portfolio health counts, alignment
    and adoption counts, spend, staleness …) and every table the main pages show are equal."""
    seen = {}
    for name, store in (("duckdb", demo_store), ("postgres", pg_demo)):
        app_env(store)
        seen[name] = {}
        for page, query in COMPARED:
            at = open_page(page, **dict(query))
            assert_clean(at)
            seen[name][page, query] = (tiles(at), [frame.value for frame in at.dataframe])
    for page in COMPARED:
        duck_tiles, duck_tables = seen["duckdb"][page]
        pg_tiles, pg_tables = seen["postgres"][page]
        assert duck_tiles or duck_tables, f"{page} shows neither tiles nor tables"
        assert pg_tiles == duck_tiles, page
        assert len(pg_tables) == len(duck_tables), page
        for duck, pg in zip(duck_tables, pg_tables, strict=True):
            pd.testing.assert_frame_equal(pg, duck, obj=page)
    home = seen["postgres"]["app.py", ()][0]
    assert home["Pilots shown"][0] == "24 pilots"


def test_the_demo_is_offered_on_the_first_run_against_an_empty_postgresql_store(postgres_url, app_env):
    store = open_store(postgres_url, lock_wait_seconds=5)
    app_env(store, demo_on_first_run=True)
    at = open_page()
    assert_clean(at)
    assert metric(at, "Pilots shown") == "24 pilots"
    assert store.meta()["demo_loaded"] == "yes"


WRITE_FROM_ANOTHER_PROCESS = """
import sys
from pilot_health.register.pilots import get_pilot, create_pilot
from pilot_health.store.database import open_store

store = open_store(sys.argv[1])
record = get_pilot(store, "FN-02").model_dump()
record.update(pilot_id="FN-99", name="Written by the other replica")
create_pilot(store, type(get_pilot(store, "FN-02")).model_validate(record), by="scheduler")
print(store.version())
"""


def test_a_write_through_another_process_shows_on_this_processs_next_page_view(pg_demo, app_env):
    """Two replicas on one server: this process draws the pages (its own connection pool and its own
    cached results), another process writes. The next view here reads the new store version and
    shows the new pilot: nothing cached for the old version is served."""
    app_env(pg_demo)
    register = open_page("pages/1_Pilot_register.py")
    home = open_page()
    before = pg_demo.version()
    assert "24 pilots" in sidebar_counts(register) and metric(home, "Pilots shown") == "24 pilots"
    assert "FN-99" not in set(register.dataframe[0].value["pilot_id"])

    done = run_python(WRITE_FROM_ANOTHER_PROCESS, pg_demo.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() != before

    register.run()  # the next view of the same sessions
    home.run()
    assert_clean(register)
    assert_clean(home)
    assert "FN-99" in set(register.dataframe[0].value["pilot_id"])
    assert "25 pilots" in sidebar_counts(register)
    assert metric(home, "Pilots shown") == "25 pilots"
    assert "FN-99" in set(home.dataframe[0].value["pilot_id"])


def test_a_write_through_another_connection_pool_changes_the_cached_results(pg_demo, app_env):
    """Another replica's pool (a different address for the same database: its own pool) edits a
    pilot; this process's next view of the home page shows the edit, although its numbers are kept
    per store version in this process (the results keeper)."""
    app_env(pg_demo)
    home = open_page(bu="Finance")
    spend_before = metric(home, "Spend to date")
    other_replica = open_store(pg_demo.url + "?application_name=other-replica", lock_wait_seconds=5)
    pilot: Pilot = get_pilot(other_replica, "FN-02")
    update_pilot(other_replica, pilot.model_copy(update={"spend_to_date": pilot.spend_to_date + 5_000_000}))
    assert other_replica.version() == pg_demo.version()

    home.run()
    assert_clean(home)
    spend_after = metric(home, "Spend to date")
    assert spend_before != spend_after and spend_after.startswith("$12.")


def test_the_warmer_recomputes_only_the_pilot_another_replica_changed(pg_demo):
    """Results computed once per change on PostgreSQL too: the warmer sees a write made through
    another pool on its next look (the version is read from the server) and recomputes that one
    pilot's risk, alignment and adoption, nothing else."""
    from pilot_health.reports.results import KINDS, ResultsKeeper, Warmer

    keeper = ResultsKeeper()
    warmer = Warmer(pg_demo, interval=60, keeper=keeper)
    assert warmer.check_once()
    first = {kind: keeper.computed[kind] for kind in KINDS}
    assert first["risk"] == 24 and first["alignment"] > 0 and first["adoption"] > 0
    assert not warmer.check_once()  # nothing changed: nothing read but the version

    other_replica = open_store(pg_demo.url + "?application_name=other-replica", lock_wait_seconds=5)
    pilot = get_pilot(other_replica, "SC-01")
    update_pilot(other_replica, pilot.model_copy(update={"owner": "Someone else"}))
    assert warmer.check_once()
    assert {kind: keeper.computed[kind] - first[kind] for kind in KINDS} == dict.fromkeys(KINDS, 1)


@pytest.mark.parametrize("page", [path for path, *_ in PAGES if path != "pages/8_Guide.py"])
def test_a_person_limited_to_one_unit_sees_only_its_pilots_on_postgresql(page, pg_demo, signin_env):
    """The narrowed reads (temporary views in the read's transaction) and the shared results
    filtered per scope, on PostgreSQL: Finance's editor is sent no other unit's pilot on any page."""
    from test_signin_pages import PILOT_CODE, everything_sent, signed_in, visit

    signin_env(pg_demo)
    pilots = list_pilots(pg_demo)
    finance = set(pilots.loc[pilots["business_unit"] == "Finance", "pilot_id"])
    others = set(pilots["pilot_id"]) - finance
    at = visit(None if page == "app.py" else page, signed_in("fay@example.com"))
    assert_clean(at)
    sent = set(PILOT_CODE.findall(everything_sent(at)))
    assert sent & others == set(), sorted(sent & others)
    if page not in ("pages/2_Upload_data.py", "pages/6_Audit_trail.py", "pages/7_Thresholds.py", "pages/10_Alerts.py"):
        assert sent & finance, "the unit's own pilots are shown"


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_the_home_frame_reads_every_data_row_again_only_after_an_upload_changes(engine, request):
    """After a write that brings or takes no data (a record edited) the home page's frame is made
    again from the uploads' facts already known; after a withdrawal they are read again. Either
    way the frame is exactly what `load_portfolio` computes from scratch."""
    from datetime import date

    from pilot_health.analytics.portfolio import load_portfolio
    from pilot_health.ingest.storing import withdraw
    from pilot_health.reports.results import ResultsKeeper

    store = request.getfixturevalue("demo_store" if engine == "duckdb" else "pg_demo")
    keeper, today = ResultsKeeper(), date.today()

    def frame():
        return keeper.portfolio(store, None, today, 45)

    first = frame()
    assert keeper.computed["upload_facts"] == 1
    pilot = get_pilot(store, "FN-02")
    update_pilot(store, pilot.model_copy(update={"spend_to_date": pilot.spend_to_date + 1_000}))
    edited = frame()
    assert (keeper.computed["portfolio"], keeper.computed["upload_facts"]) == (2, 1)
    pd.testing.assert_frame_equal(edited, load_portfolio(store, today, 45))
    assert not edited.equals(first)

    uploads = edited.set_index("pilot_id")["data_uploads"]
    newest = next(u for u in list_uploads(store) if u["pilots"] == "FN-02" and u["withdrawn_at"] is None)
    withdraw(store, newest["upload_id"], by="admin")
    withdrawn = frame()
    assert (keeper.computed["portfolio"], keeper.computed["upload_facts"]) == (3, 2)
    pd.testing.assert_frame_equal(withdrawn, load_portfolio(store, today, 45))
    assert withdrawn.set_index("pilot_id")["data_uploads"]["FN-02"] == uploads["FN-02"] - 1


def list_uploads(store) -> list[dict]:
    from pilot_health.ingest import upload_history

    history = upload_history(store, True).sort_values("uploaded_at", ascending=False)
    return [
        {**row, "withdrawn_at": None if pd.isna(row["withdrawn_at"]) else row["withdrawn_at"]}
        for row in history.to_dict("records")
    ]
