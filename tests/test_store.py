"""The store: versions, all-or-nothing writes, configuration, and sharing the file between processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, run_cli

from pilot_health.config import load_config, resolve_db_path
from pilot_health.errors import ConfigError, StoreError, StoreLockedError
from pilot_health.store import queries
from pilot_health.store.database import Store, open_store

HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SELECT 1")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


# Why a test about the embedded file is skipped on PostgreSQL (the server keeps its own files).
FILE_ONLY = "about the DuckDB file being let go between units of work; a PostgreSQL server has no file to release"
FILE_LOCK = (
    "about DuckDB's file lock between processes; on PostgreSQL every process connects at once and writes take "
    "turns on the server's advisory lock"
)
FILE_SIGNATURE = (
    "about reading the version again only when the DuckDB file's signature changes; PostgreSQL reads it from "
    "the server on every view"
)


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    """Another process that opens the store and keeps it, like a BI tool left open."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "holding"
    return process


def test_every_write_changes_the_version(store):
    store.ensure_ready()
    first = store.version()
    with store.write() as con:
        con.execute("INSERT INTO store_meta VALUES ('x', '1')")
    second = store.version()
    assert second != first
    store.set_meta("x", "2")
    assert store.version() not in (first, second)
    assert store.meta()["x"] == "2"


def test_a_failed_write_stores_nothing_and_keeps_the_version(store):
    store.ensure_ready()
    before = store.version()
    with pytest.raises(RuntimeError), store.write() as con:
        con.execute("INSERT INTO store_meta VALUES ('half', 'done')")
        raise RuntimeError("something went wrong halfway")
    assert store.version() == before
    assert "half" not in store.meta()


@pytest.mark.slow
def test_the_file_is_released_between_units_of_work(store, backend):
    if backend == "postgres":
        pytest.skip(FILE_ONLY)
    store.ensure_ready()
    result = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('SELECT 1')", str(store.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_a_store_held_by_another_process_gives_one_clear_sentence(store, backend):
    if backend == "postgres":
        pytest.skip(FILE_LOCK)
    store.ensure_ready()
    holder = hold_lock(store.path, 30)
    try:
        waiting = Store(store.path, lock_wait_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(StoreLockedError) as caught:
            waiting.version()
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    message = str(caught.value)
    assert 0.4 <= waited < 5
    assert str(store.path) in message
    assert "in use by another program" in message and f"process {holder.pid}" in message
    assert "try again" in message
    assert "\n" not in message


@pytest.mark.slow
def test_waiting_for_the_lock_succeeds_when_the_other_process_finishes(store, backend):
    if backend == "postgres":
        pytest.skip(FILE_LOCK)
    store.ensure_ready()
    holder = hold_lock(store.path, 1.5)
    try:
        assert Store(store.path, lock_wait_seconds=20).version()
    finally:
        holder.wait(timeout=30)


@pytest.mark.slow
def test_command_line_says_so_in_one_line_when_the_store_stays_busy(store, run_command, backend):
    if backend == "postgres":
        pytest.skip(FILE_LOCK)
    store.ensure_ready()
    holder = hold_lock(store.path, 60)
    try:
        result = run_command("status", "--db", str(store.path), "--wait", "0.5")
        as_json = run_command("status", "--db", str(store.path), "--wait", "0.5", "--json")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is in use by another program" in lines[0] and str(store.path) in lines[0]
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is False and "in use" in payload["error"]


DASHBOARD_LIKE_READER = """
import sys, threading, time
from pilot_health.store.database import Store, open_store
store = Store(sys.argv[1], lock_wait_seconds=30)
loaded = threading.Event()          # set when the test says the load has finished (a line on stdin)
threading.Thread(target=lambda: (sys.stdin.readline(), loaded.set()), daemon=True).start()
seen, reads = [], 0

def read():
    global reads
    with store.read() as con:      # what every page does on every interaction
        version = con.execute("SELECT value FROM store_meta WHERE key = 'version'").fetchone()[0]
        pilots = con.execute("SELECT count(*) FROM pilots").fetchone()[0]
        time.sleep(0.02)            # a page takes a moment to compute
    reads += 1
    if not seen or seen[-1][0] != version:
        seen.append((version, pilots))
    return pilots

read()
print("ready", flush=True)
while not loaded.wait(0.03):        # people click every now and then, for as long as the load takes
    read()
after = read()                      # the next read after the load: no restart in between
print(reads, seen[0][1], after, len(seen))
"""


@pytest.mark.slow
def test_a_nightly_load_succeeds_while_the_dashboard_reads_and_the_dashboard_sees_it(store, backend):
    """Two real processes: one reads the store like open dashboard pages do, the other loads data
    through the command line. The load must succeed, and the reader must see the new data on its
    next read without a restart. The reader reads until it is told the load has finished (no fixed
    window that a slow machine could outlast)."""
    if backend == "postgres":
        pytest.skip(FILE_LOCK)
    store.ensure_ready()
    env = dict(os.environ)
    reader = subprocess.Popen(
        [sys.executable, "-c", DASHBOARD_LIKE_READER, str(store.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
        load = run_cli("demo", "--db", str(store.path), "--json", "--wait", "30", env=env)
        assert reader.poll() is None, f"the reader stopped during the load: {reader.stderr.read()}"
        out, err = reader.communicate("loaded\n", timeout=120)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert load.returncode == 0, load.stderr
    assert json.loads(load.stdout)["pilots"] == 24
    assert reader.returncode == 0, err
    reads, first_pilots, last_pilots, versions = (int(x) for x in out.split())
    assert reads >= 2  # it kept its connection settings and read again, in the same process
    assert first_pilots == 0 and last_pilots == 24
    assert versions >= 2


def test_a_file_that_is_not_a_store_is_refused_politely(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("this is a shopping list, not a database")
    with pytest.raises(StoreError, match="not a Pilot Health store"):
        Store(path).version()


def test_configuration_reads_the_environment(tmp_path):
    config = load_config({"PILOT_HEALTH_DB": str(tmp_path / "x.duckdb"), "PILOT_HEALTH_LOCK_WAIT": "2.5"})
    assert config.db_path == tmp_path / "x.duckdb"
    assert config.lock_wait_seconds == 2.5
    assert config.demo_on_first_run is True
    default = load_config({})
    assert default.db_path == ROOT / "data" / "pilot_health.duckdb"
    assert resolve_db_path("stores/a.duckdb") == ROOT / "stores" / "a.duckdb"


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"PILOT_HEALTH_LOCK_WAIT": "soon"}, "PILOT_HEALTH_LOCK_WAIT='soon' is not a number"),
        ({"PILOT_HEALTH_LOCK_WAIT": "-1"}, "must be at least 0"),
        ({"PILOT_HEALTH_DEMO_ON_FIRST_RUN": "perhaps"}, "must be yes or no"),
        ({"PILOT_HEALTH_STALE_UPLOAD_DAYS": "0"}, "must be at least 1"),
    ],
)
def test_bad_settings_are_explained(env, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_config(env)


# What `queries.last_upload_per_pilot` means, read from every data row (as it once was computed).
UPLOADS_IN_FORCE_FROM_EVERY_ROW = """
    WITH per_upload AS (
        SELECT pilot_id, upload_id, count(*) AS data_rows FROM metric_observations GROUP BY pilot_id, upload_id
        UNION ALL
        SELECT pilot_id, upload_id, count(*) AS data_rows FROM survey_responses GROUP BY pilot_id, upload_id
    )
    SELECT p.pilot_id, max(u.uploaded_at) AS last_upload_at, count(DISTINCT u.upload_id) AS data_uploads,
           sum(p.data_rows)::BIGINT AS data_rows
    FROM per_upload p JOIN uploads u USING (upload_id)
    WHERE CASE WHEN ?::TIMESTAMP IS NULL THEN u.withdrawn_at IS NULL
               ELSE u.uploaded_at <= ? AND (u.withdrawn_at IS NULL OR u.withdrawn_at > ?) END
    GROUP BY p.pilot_id ORDER BY p.pilot_id
"""


def test_each_pilots_uploads_in_force_agree_with_its_data_rows_after_replacements_and_withdrawals(demo_store):
    """The per-pilot upload facts (newest upload, how many, how many rows) take an upload's rows from
    its stored count when it brought rows for one pilot only: after uploads shared by several pilots
    (of two units), replaced values, a withdrawal, now and at an earlier moment, whole and narrowed
    to one unit, they are what counting every data row gives."""
    from pilot_health.access import Person
    from pilot_health.ingest import IngestOptions, ingest, withdraw
    from pilot_health.store.database import utc_now

    admin = Person("ann@example.com", "admin", signed_in=True)

    def upload(name: str, lines: list[str], replace: bool = False):
        data = ("pilot_id,date,metric,value\n" + "\n".join(lines) + "\n").encode()
        options = IngestOptions(environment="live", replace_existing=replace)
        result = ingest(demo_store, data, name, options, commit=True, person=admin)
        assert result.status == "stored", (result.refusal, result.problems)
        return result

    shared = upload(
        "shared.csv",
        ["FN-01,2026-06-01,accuracy,0.9", "FN-01,2026-06-02,accuracy,0.9", "RO-01,2026-06-01,accuracy,0.8"],
    )
    lonely = upload("lonely.csv", ["FN-02,2026-06-01,accuracy,0.7", "FN-02,2026-06-02,accuracy,0.7"])
    both_units = upload(
        "both.csv", ["FN-02,2026-06-03,accuracy,0.7", "RO-02,2026-06-03,accuracy,0.6", "RO-02,2026-06-04,accuracy,0.6"]
    )
    at = utc_now()
    # FN-01's rows of the shared upload and one of the lonely upload's rows replaced, then withdrawn
    fix = upload(
        "fix.csv",
        ["FN-01,2026-06-01,accuracy,0.95", "FN-01,2026-06-02,accuracy,0.95", "FN-02,2026-06-01,accuracy,0.75"],
        replace=True,
    )
    assert fix.rows_replaced == 3
    replace_all = upload("again.csv", ["FN-02,2026-06-02,accuracy,0.71"], replace=True)
    withdraw(demo_store, fix.upload_id, by=admin)
    finance = demo_store.for_person(Person("fay@example.com", "viewer", ("Finance",), signed_in=True))
    for store in (demo_store, finance):
        with store.read() as con:
            for moment in (None, at):
                facts = queries.last_upload_per_pilot(con, moment)
                expected = con.execute(UPLOADS_IN_FORCE_FROM_EVERY_ROW, [moment, moment, moment]).df()
                pd.testing.assert_frame_equal(facts, expected, check_dtype=False)
            counted = set(queries.last_upload_per_pilot(con)["pilot_id"])
        assert ("RO-02" in counted) == (store is demo_store) and "FN-02" in counted
    with demo_store.read() as con:
        ids = (shared.upload_id, lonely.upload_id, both_units.upload_id)
        stored = [queries.fetch_upload(con, u)["rows_stored"] for u in ids]
    assert stored == [1, 0, 3] and replace_all.rows_replaced == 1


def test_many_sessions_in_one_process_read_and_write_at_once(demo_store):
    """Streamlit serves each browser session from its own thread; each takes its own connection."""
    import threading

    from pilot_health.store import queries

    errors: list[str] = []

    def reader() -> None:
        try:
            for _ in range(25):
                with demo_store.read() as con:
                    queries.table_counts(con)
                    queries.last_upload_per_pilot(con)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(error))

    def writer() -> None:
        try:
            for i in range(15):
                demo_store.set_meta("test_counter", str(i))
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))

    threads = [threading.Thread(target=reader) for _ in range(6)] + [threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert demo_store.meta()["test_counter"] == "14"


# -- the store's bookkeeping read without opening DuckDB ----------------------------------------

WRITE_META = """
import sys
from pilot_health.store.database import Store, open_store
Store(sys.argv[1]).set_meta("written_by", sys.argv[2])
"""


def count_opens(monkeypatch) -> list[int]:
    opened = [0]
    real = Store._open

    def counting(self):
        opened[0] += 1
        return real(self)

    monkeypatch.setattr(Store, "_open", counting)
    return opened


@pytest.mark.slow
def test_meta_is_read_once_while_the_file_is_unchanged_and_again_after_another_process_writes(
    store, monkeypatch, backend
):
    if backend == "postgres":
        pytest.skip(FILE_SIGNATURE)
    import pilot_health.store.database as store_module

    monkeypatch.setattr(store_module, "SETTLED_NS", 0)  # trust a signature at once: the harshest case for staleness
    store.ensure_ready()
    opened = count_opens(monkeypatch)
    first = store.meta()
    assert opened[0] == 1
    assert store.meta() == first and Store(store.path).meta() == first  # any Store object of the file
    assert opened[0] == 1  # nothing changed on disk: DuckDB was not opened again

    for writer in ("nightly ingest", "second run"):  # a command-line write from another process, right after a read
        done = subprocess.run(
            [sys.executable, "-c", WRITE_META, str(store.path), writer], capture_output=True, text=True, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr
        after = store.meta()
        assert after["written_by"] == writer
        assert after["version"] != first["version"]
        first = after
    assert store.meta() == first


def test_a_write_by_this_process_is_seen_by_the_next_read(store, monkeypatch):
    import pilot_health.store.database as store_module

    monkeypatch.setattr(store_module, "SETTLED_NS", 0)
    before = store.meta()
    open_store(getattr(store, "url", None) or store.path).set_meta("written_by", "the thresholds page")
    assert store.meta()["written_by"] == "the thresholds page"
    assert store.meta()["version"] != before["version"]


def test_a_file_changed_a_moment_ago_is_read_again_until_it_has_settled(store, monkeypatch, backend):
    """Two writes within one tick of the file system's clock could leave the same time and size:
    a signature younger than a second is never trusted."""
    if backend == "postgres":
        pytest.skip(FILE_SIGNATURE)
    store.set_meta("written_by", "someone")
    opened = count_opens(monkeypatch)
    store.meta()
    store.meta()
    assert opened[0] == 2


# --- One set of queries, the same answers on both engines ------------------------------------------


def _same(duck, pg, what: str) -> None:
    """The two engines' answers are equal: frames column by column with their types, the rest as values."""
    import pandas as pd

    if isinstance(duck, pd.DataFrame):
        pd.testing.assert_frame_equal(duck, pg, obj=what)
    else:
        assert duck == pg, what


def _every_read(con, at, ids) -> dict:
    """What every reading function of store/queries.py gives on this connection (only the values the
    loader does not stamp with the moment it ran)."""
    from pilot_health.store import queries

    uploads = queries.list_uploads(con)
    meta = queries.read_meta(con)
    facts = queries.store_facts(con)
    return {
        "meta keys": sorted(meta),
        "demo pilots": meta.get("demo_pilots"),
        "ingest steps": meta.get("ingest steps"),
        "facts": {k: facts[k] for k in ("counts", "uploads", "migrations")},
        "applied_migrations": queries.applied_migrations(con),
        "fetch_pilots": queries.fetch_pilots(con),
        "fetch_pilots at": queries.fetch_pilots(con, at),
        "fetch_pilot": queries.fetch_pilot(con, ids[0]),
        "fetch_pilot missing": queries.fetch_pilot(con, "NO-SUCH"),
        "pilot_ids": queries.pilot_ids(con),
        "pilot_business_units": queries.pilot_business_units(con),
        "kpi_names": queries.kpi_names(con),
        "upload_with_hash": queries.upload_with_hash(con, uploads["sha256"].iloc[-1]),
        "next_upload_id": queries.next_upload_id(con),
        "next_waves": queries.next_waves(con),
        "list_uploads": uploads,
        "list_uploads without demo": queries.list_uploads(con, include_demo=False),
        "fetch_upload": queries.fetch_upload(con, int(uploads["upload_id"].min())),
        "upload_ids_by": queries.upload_ids_by(con, "demo"),
        "pilots_with_rows_outside": queries.pilots_with_rows_outside(con, queries.upload_ids_by(con, "demo")[:5]),
        "table_counts": queries.table_counts(con),
        "last_upload_per_pilot": queries.last_upload_per_pilot(con),
        "last_upload_per_pilot at": queries.last_upload_per_pilot(con, at),
        "weekly_series": queries.weekly_series(con, at),
        "weekly_series of two": queries.weekly_series(con, at, ids[:2]),
        "survey_responses_as_of": queries.survey_responses_as_of(con, at),
        "survey_responses_as_of two": queries.survey_responses_as_of(con, at, ids[:2]),
        "future_survey_responses": queries.future_survey_responses(con, at),
        "audit_entries": queries.audit_entries(con)[["who", "action", "subject"]],
        "metric_definitions": queries.metric_definitions(con),
        "metric_names_in_use": queries.metric_names_in_use(con),
        "threshold_overrides": queries.threshold_overrides(con),
        "threshold_overrides_at": queries.threshold_overrides_at(con, at),
        "times_after": queries.times_after(con, at),
        "pilot_stamps": queries.pilot_stamps(con),
        "metric_definitions_fingerprint": queries.metric_definitions_fingerprint(con),
        "pilot_ids_at": queries.pilot_ids_at(con, at),
        "fetch_meetings": queries.fetch_meetings(con),
        "fetch_meetings at": queries.fetch_meetings(con, at),
        "fetch_decisions": queries.fetch_decisions(con),
        "fetch_decisions of two": queries.fetch_decisions(con, pilot_ids=ids[:2]),
        "pilots_decided_by_others": queries.pilots_decided_by_others(con, "nobody"),
        "uploads_between": queries.uploads_between(con, at - timedelta(days=30), at),
        "first_record_at": queries.first_record_at(con),
        "fetch_subscriptions": queries.fetch_subscriptions(con),
        "fetch_subscriptions of one": queries.fetch_subscriptions(con, "ann@example.com"),
        "last_alert_run": queries.last_alert_run(con),
        "known_event_keys": queries.known_event_keys(con, ["k1", "k2", "nothing"]),
        "fetch_deliveries": queries.fetch_deliveries(con),
        "fetch_deliveries failed": queries.fetch_deliveries(con, ["failed", "pending"], limit=5),
        "fetch_deliveries sent": queries.fetch_deliveries(con, "sent"),
        "fetch_alert_events": queries.fetch_alert_events(con, ["k1", "k2"]),
        "pilot_sponsors": queries.pilot_sponsors(con),
    }


def _every_write(store, at, ids) -> None:
    """Every writing function of store/queries.py once, in the same order on either engine."""
    import pandas as pd

    from pilot_health.store import queries

    with store.write() as con:
        pilot = queries.fetch_pilot(con, ids[0])
        from pilot_health.models import Pilot

        record = Pilot.model_validate({k: v for k, v in pilot.items() if k != "updated_at"})
        queries.update_pilot(con, record.model_copy(update={"name": "Renamed"}), at)
        queries.insert_pilots(con, [record.model_copy(update={"pilot_id": "ZZ-99"})], at)
        queries.delete_pilots(con, ["ZZ-99"], at + timedelta(hours=1))
        upload = queries.insert_upload(
            con,
            kind="metrics",
            file_name="extra.csv",
            sha256="abc",
            rows_stored=2,
            rows_rejected=0,
            uploaded_at=at,
            uploaded_by="ann",
        )
        queries.set_upload_details(con, upload, '{"format": "csv"}')
        rows = pd.DataFrame(
            {
                "pilot_id": [ids[0], ids[1]],
                "metric": ["accuracy", "accuracy"],
                "kind": ["technical", "technical"],
                "environment": ["live", "live"],
                "observed_at": [at - timedelta(days=1), at - timedelta(days=2)],
                "value": [0.5, None],
                "upload_id": [upload, upload],
            }
        )
        queries.insert_rows(con, "metric_observations", rows)
        # The ingest's own steps, on a table of the rows a new file brings.
        queries.register(con, "incoming", rows.drop(columns=["upload_id"]).assign(value=[0.7, 0.8]))
        con.execute("CREATE TEMP TABLE ingest_ready AS SELECT * FROM incoming").fetchall()
        already = queries.count_already_stored(con, "metric_observations", "ingest_ready")
        replaced = queries.delete_replaced(con, "metric_observations", "ingest_ready")
        second = queries.insert_upload(
            con,
            kind="metrics",
            file_name="again.csv",
            sha256="def",
            rows_stored=2,
            rows_rejected=0,
            uploaded_at=at,
            uploaded_by="ann",
        )
        queries.insert_rows_from(con, "metric_observations", "ingest_ready", second)
        queries.note_stored_upload_pilots(con, "metric_observations", second)
        queries.drop_already_stored(con, "metric_observations", "ingest_ready")
        left = con.execute("SELECT count(*) FROM ingest_ready").fetchall()[0][0]
        queries.withdraw_upload(con, upload, at + timedelta(hours=2))
        con.unregister("incoming")
        con.execute("DROP TABLE ingest_ready").fetchall()
        queries.put_meta(con, "ingest steps", f"{already} already stored, {replaced} replaced, {left} left")
        queries.upsert_metric_definitions(
            con,
            [
                {
                    "metric_key": "ticket_deflection",
                    "label": "Ticket deflection",
                    "kind": "business",
                    "direction": "up",
                    "unit": "%",
                    "decided_by": "ann",
                    "decided_at": at,
                    "upload_id": upload,
                }
            ],
        )
        queries.put_threshold_override(con, "signals.live_decay", 0.3, "ann", at)
        queries.put_threshold_override(con, "analysis.min_respondents", 7, "ann", at)
        queries.delete_threshold_override(con, "analysis.min_respondents", "ann", at + timedelta(hours=1))
        queries.record_audit(con, at, "ann", "upload", "extra.csv", "2 rows")
        meeting = queries.insert_meeting(con, at.date(), "Extra review", at, "ann", at)
        queries.insert_decision(
            con,
            {
                "meeting_id": meeting,
                "pilot_id": ids[1],
                "decision": "pause",
                "owner": "Ben",
                "due_on": at.date(),
                "recorded_by": "ann",
                "recorded_at": at,
            },
        )
        queries.delete_demo_meetings(con, [m["meeting_id"] for m in queries.fetch_meetings(con)][-1:], "demo")
        subscription = queries.insert_subscription(
            con,
            {
                "address": "ann@example.com",
                "channel": "email",
                "business_unit": "Finance",
                "events": ["health_red", "stale_data"],
                "limited_to": None,
                "created_by": "ann",
                "created_at": at,
            },
        )
        queries.insert_subscription(
            con,
            {
                "address": "bob@example.com",
                "channel": "email",
                "events": ["decision_due"],
                "limited_to": ["Finance"],
                "created_by": "ann",
                "created_at": at,
            },
        )
        queries.remove_subscription(con, subscription, "ann", at)
        run = queries.insert_alert_run(con, at, None, "ann")
        queries.insert_alert_events(
            con,
            run,
            [
                {
                    "event_key": key,
                    "kind": "health_red",
                    "pilot_id": ids[0],
                    "business_unit": "Finance",
                    "fired_at": at,
                    "what": "turned red",
                    "evidence": "two signals",
                    "link": "http://x/?pilot=" + ids[0],
                }
                for key in ("k1", "k2")
            ],
        )
        for status in ("pending", "sent", "failed"):
            delivery = queries.insert_delivery(
                con,
                {
                    "run_id": run,
                    "channel": "email",
                    "address": "ann@example.com",
                    "recipient": "ann",
                    "event_keys": ["k1", "k2"],
                    "subject": "Pilot Health",
                    "body": "Two events",
                    "payload": None,
                    "status": "pending",
                    "attempts": 0,
                    "runs_tried": 0,
                    "created_at": at,
                },
            )
            queries.update_delivery(con, delivery, status, 1, 1, None if status == "sent" else "refused", at, None)
        queries.readdress_delivery(con, delivery, "webhook", "http://hooks.example.com/x", "{}")
        queries.finish_alert_run(con, run, 2, 1, 1)
        demo_uploads = queries.upload_ids_by(con, "demo")
        queries.delete_uploads(con, demo_uploads[-3:])
        queries.forget_pilot_history(con, ["ZZ-99"])


@pytest.mark.slow
def test_every_query_gives_the_same_answer_on_duckdb_and_on_postgresql(_demo_file, postgres_demo_url, tmp_path):
    """The demo portfolio on both engines, then every reading function of store/queries.py, every
    writing one, every reading one again and a limited person's narrowed reads: the answers are the
    same, frames with the same column types (what the analytics above the store are given)."""
    import shutil

    from pilot_health.access import Person
    from pilot_health.demo.portfolio import DEMO_NOW

    duck_path = tmp_path / "demo.duckdb"
    shutil.copy(_demo_file, duck_path)
    stores = {"duckdb": Store(duck_path, lock_wait_seconds=5), "postgres": open_store(postgres_demo_url)}
    at = DEMO_NOW - timedelta(days=20)

    def answers() -> dict:
        found = {}
        for name, store in stores.items():
            with store.read() as con:
                ids = queries.pilot_ids(con)
                found[name] = _every_read(con, at, ids)
            with store.for_person(Person("fay@example.com", "editor", ("Finance",), signed_in=True)).read() as con:
                found[name]["narrowed"] = _every_read(con, at, queries.pilot_ids(con))
        return found

    before = answers()
    assert before["duckdb"]["table_counts"]["metric_observations"] > 1000
    for what, duck in before["duckdb"].items():
        if what == "narrowed":
            for part, narrowed in duck.items():
                _same(narrowed, before["postgres"]["narrowed"][part], f"narrowed {part}")
        else:
            _same(duck, before["postgres"][what], what)
    for store in stores.values():
        with store.read() as con:
            _every_write(store, at, queries.pilot_ids(con))
    after = answers()
    assert after["duckdb"]["fetch_subscriptions"] and after["duckdb"]["fetch_deliveries"]
    assert after["duckdb"]["ingest steps"] == "2 already stored, 2 replaced, 0 left"
    assert after["duckdb"]["table_counts"] != before["duckdb"]["table_counts"]
    for what, duck in after["duckdb"].items():
        if what == "narrowed":
            for part, narrowed in duck.items():
                _same(narrowed, after["postgres"]["narrowed"][part], f"narrowed {part} after the writes")
        else:
            _same(duck, after["postgres"][what], f"{what} after the writes")


def test_metric_names_in_use_counts_each_pilot_once_and_every_row_in_force(demo_store):
    """The metric dictionary's list: per metric and kind, the pilots with a row of it and the rows,
    counting only uploads not withdrawn (counted per pilot first, so it must equal a distinct count)."""
    with demo_store.read() as con:
        rows = con.execute(
            "SELECT o.metric, o.kind, o.pilot_id FROM metric_observations o JOIN uploads u USING (upload_id) "
            "WHERE u.withdrawn_at IS NULL"
        ).df()
        found = queries.metric_names_in_use(con)
    expected = (
        rows.groupby(["metric", "kind"])
        .agg(pilots=("pilot_id", "nunique"), observations=("pilot_id", "size"))
        .reset_index()
        .sort_values(["metric", "kind"], ignore_index=True)
    )
    assert (expected["pilots"] > 1).any() and (expected["observations"] > expected["pilots"]).all()
    assert found["metric"].tolist() == expected["metric"].tolist()
    assert found["kind"].tolist() == expected["kind"].tolist()
    assert found["pilots"].tolist() == expected["pilots"].tolist()
    assert found["observations"].tolist() == expected["observations"].tolist()
    assert str(found["pilots"].dtype) == "int64" and str(found["observations"].dtype) == "int64"
