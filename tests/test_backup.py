"""Backups: a consistent copy with a manifest, taken while another program is using the store, and a
restore round trip checked by row counts and upload hashes; on both stores (a DuckDB file copied,
a PostgreSQL database dumped with pg_dump and restored with pg_restore)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, record_upload, target

from pilot_health.store import queries
from pilot_health.store.backup import backup, facts_of_backup, restore
from pilot_health.store.database import Store, utc_now


def facts(store: Store) -> dict:
    with store.read() as con:
        return queries.store_facts(con)


def test_backup_and_restore_round_trip(demo_store, tmp_path):
    before = facts(demo_store)
    made = backup(demo_store, tmp_path / "backups")
    assert made.file.exists() and made.manifest.exists()
    manifest = json.loads(made.manifest.read_text(encoding="utf-8"))
    assert manifest["counts"] == before["counts"] and manifest["uploads"] == before["uploads"]
    assert manifest["counts"]["metric_observations"] > 4000 and len(manifest["uploads"]) > 1000

    # Afterwards the store changes: an upload is withdrawn and a new one stored.
    with demo_store.write() as con:
        queries.withdraw_upload(con, before["uploads"][0][0], utc_now())
        record_upload(con, "later.csv", "f" * 64)
    changed = facts(demo_store)
    assert changed["uploads"] != before["uploads"]

    result = restore(demo_store, made.file)
    after = facts(demo_store)
    # The restore itself notes where it came from, and the audit trail records it.
    data_tables = [t for t in queries.STORE_TABLES if t not in ("store_meta", "audit_log")]
    assert {t: after["counts"][t] for t in data_tables} == {t: before["counts"][t] for t in data_tables}
    assert after["uploads"] == before["uploads"]
    assert after["version"] != before["version"]  # restoring is a write: every cached page is recomputed
    assert result.previous_copy and facts_of_backup(result.previous_copy)["uploads"] == changed["uploads"]
    assert demo_store.meta()["restored_from"].startswith(str(made.file))
    with demo_store.read() as con:
        trail = queries.audit_entries(con)
    assert trail.iloc[0]["action"] == "restore" and trail.iloc[0]["subject"] == str(made.file)
    assert after["counts"]["audit_log"] == before["counts"]["audit_log"] + 1


def test_a_damaged_backup_is_refused_and_the_store_left_alone(demo_store, tmp_path):
    made = backup(demo_store, tmp_path)
    manifest = json.loads(made.manifest.read_text(encoding="utf-8"))
    manifest["counts"]["uploads"] += 1
    made.manifest.write_text(json.dumps(manifest), encoding="utf-8")
    before = facts(demo_store)
    try:
        restore(demo_store, made.file)
    except Exception as error:  # noqa: BLE001 - the message is what a person reads
        assert "does not match its manifest (counts differ)" in str(error)
    else:
        raise AssertionError("a backup that does not match its manifest was restored")
    assert facts(demo_store) == before
    not_a_store = tmp_path / "notes.duckdb"
    not_a_store.write_bytes(b"not a database")
    try:
        restore(demo_store, not_a_store)
    except Exception as error:  # noqa: BLE001
        assert "is not a Pilot Health backup that can be read" in str(error)
    assert facts(demo_store) == before


@pytest.mark.slow
def test_a_backup_is_taken_while_another_process_uses_the_store(demo_store, tmp_path):
    """A second process keeps opening the store (as the dashboard does on every view); the backup
    waits its turn and is consistent."""
    code = (
        "import sys, time\n"
        "from pilot_health.store.database import open_store\n"
        "store = open_store(sys.argv[1])\n"
        "end = time.monotonic() + 6\n"
        "while time.monotonic() < end:\n"
        "    with store.read() as con:\n"
        "        con.execute('SELECT count(*) FROM metric_observations').fetchone()\n"
        "        time.sleep(0.05)\n"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", code, target(demo_store)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    try:
        time.sleep(1.5)
        made = backup(demo_store, tmp_path)
    finally:
        reader.wait(timeout=30)
    assert reader.returncode == 0
    assert facts_of_backup(made.file)["counts"] == facts(demo_store)["counts"]


def test_the_backup_and_restore_commands(demo_store, backend, tmp_path, run_command):
    db = target(demo_store)
    done = run_command("backup", "--db", db, "--out", str(tmp_path / "b"), "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    assert made["counts"]["pilots"] == 24 and made["file"].endswith(".dump" if backend == "postgres" else ".duckdb")
    done = run_command("restore", made["file"], "--db", db)
    assert done.returncode == 1 and "add --yes to go ahead" in done.stderr
    done = run_command("restore", made["file"], "--db", db, "--yes")
    assert done.returncode == 0, done.stderr
    assert "Restored" in done.stdout and "kept in" in done.stdout
    assert facts(demo_store)["uploads"] == made["uploads"]


def test_meetings_and_decisions_survive_a_backup_and_restore(demo_store, tmp_path):
    from datetime import date, datetime

    from pilot_health.reports.meetings import decisions, meetings, record_decision, record_meeting

    meeting = record_meeting(
        demo_store, date(2026, 3, 2), "March committee", datetime(2026, 3, 1, 18, 0), by="ann@example.com"
    )
    record_decision(
        demo_store,
        "SC-02",
        meeting.meeting_id,
        "fix and review",
        "Ben Ortiz",
        date(2026, 4, 15),
        conditions="Live decay back under 10%",
        signal_key="live_decay",
        signal_value=0.1,
        by="ann@example.com",
    )
    kept = decisions(demo_store)
    made = backup(demo_store, tmp_path / "b")
    assert facts_of_backup(made.file)["counts"]["decisions"] == facts(demo_store)["counts"]["decisions"] >= 1
    # Afterwards another decision is recorded; the restore brings back the store as it was backed up.
    record_decision(
        demo_store, "SC-02", meeting.meeting_id, "stop", "Ben Ortiz", date(2026, 3, 31), by="ann@example.com"
    )
    assert len(decisions(demo_store)) == len(kept) + 1
    restore(demo_store, made.file)
    assert decisions(demo_store) == kept
    assert [m.title for m in meetings(demo_store)].count("March committee") == 1


# -- a store on PostgreSQL: pg_dump and pg_restore --------------------------------------------------


def _with_password(url: str, password: str) -> str:
    """The same address with a password in it (the test server trusts local connections, so any
    password is accepted): what a deployment's PILOT_HEALTH_DB holds."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def test_a_postgres_backup_is_a_checked_dump_whose_manifest_never_shows_the_password(
    postgres_demo_url, tmp_path, monkeypatch
):
    from pilot_health.store import backup as backup_module
    from pilot_health.store.database import open_store

    started = []
    real_run = backup_module.subprocess.run

    def watched(arguments, **kwargs):
        started.append((arguments, kwargs.get("env") or {}))
        return real_run(arguments, **kwargs)

    monkeypatch.setattr(backup_module.subprocess, "run", watched)
    store = open_store(_with_password(postgres_demo_url, "s3cret-pw"), lock_wait_seconds=5)
    before = facts(store)
    made = backup(store, tmp_path / "b")
    # pg_dump gets the password privately (its environment), never on a command line others can list.
    assert [Path(arguments[0]).name for arguments, _ in started] == ["pg_dump"]
    assert not any("s3cret-pw" in part for arguments, _ in started for part in arguments)
    assert started[0][1]["PGPASSWORD"] == "s3cret-pw"
    assert made.file.suffix == ".dump" and made.file.read_bytes()[:5] == b"PGDMP"
    # Read back row by row from the dump itself: every table's rows, every upload's hash.
    assert facts_of_backup(made.file) == made.facts == before
    assert before["counts"]["metric_observations"] > 4000 and len(before["uploads"]) > 1000
    manifest = made.manifest.read_text(encoding="utf-8")
    assert "s3cret-pw" not in manifest
    assert json.loads(manifest)["source"] == postgres_demo_url  # the address without its password
    assert not list((tmp_path / "b").glob("*.part"))


def test_a_damaged_dump_is_refused_and_the_postgres_store_left_alone(postgres_demo_url, tmp_path):
    from pilot_health.errors import PilotHealthError
    from pilot_health.store.database import open_store

    store = open_store(postgres_demo_url, lock_wait_seconds=5)
    made = backup(store, tmp_path / "b")
    data = made.file.read_bytes()
    made.file.write_bytes(data[: len(data) // 2])  # a copy cut short (a full disk, a broken transfer)
    before = facts(store)
    with pytest.raises(PilotHealthError) as caught:
        restore(store, made.file)
    assert "is not a Pilot Health backup that can be read" in str(caught.value)
    assert facts(store) == before


def test_a_backup_of_the_other_kind_is_refused_with_a_sentence(postgres_demo_url, _demo_file, tmp_path):
    import shutil

    from pilot_health.errors import PilotHealthError
    from pilot_health.store.database import open_store

    on_server = open_store(postgres_demo_url, lock_wait_seconds=5)
    embedded = Store(tmp_path / "embedded.duckdb", lock_wait_seconds=5)
    shutil.copy(_demo_file, embedded.path)
    dump = backup(on_server, tmp_path / "server").file
    copy = backup(embedded, tmp_path / "file").file
    server_before, file_before = facts(on_server), facts(embedded)

    with pytest.raises(PilotHealthError) as caught:
        restore(embedded, dump)
    assert "is a backup of a store on PostgreSQL" in str(caught.value)
    assert "nothing was changed" in str(caught.value) and "postgresql:// address" in str(caught.value)
    with pytest.raises(PilotHealthError) as caught:
        restore(on_server, copy)
    assert "is a backup of an embedded store" in str(caught.value) and "migrate-store" in str(caught.value)
    assert facts(on_server) == server_before and facts(embedded) == file_before


def test_a_postgres_restore_that_fails_half_way_leaves_the_store_as_it_was(postgres_demo_url, tmp_path):
    """The server refuses part of the restore (a disk that fills up while survey_responses is
    recreated, raised by an event trigger): pg_restore's one transaction is rolled back, the store
    holds what it held, and the sentence says so."""
    import psycopg

    from pilot_health.errors import PilotHealthError
    from pilot_health.store.database import open_store

    store = open_store(postgres_demo_url, lock_wait_seconds=5)
    made = backup(store, tmp_path / "b")
    with store.write() as con:
        record_upload(con, "mine.csv", "c" * 64)
    before = facts(store)
    with psycopg.connect(postgres_demo_url, autocommit=True) as admin:
        admin.execute(
            """CREATE FUNCTION full_disk() RETURNS event_trigger LANGUAGE plpgsql AS $$
               BEGIN
                 IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                            WHERE object_identity = 'public.survey_responses') THEN
                   RAISE EXCEPTION 'could not extend file: No space left on device';
                 END IF;
               END $$"""
        )
        admin.execute("CREATE EVENT TRIGGER full_disk ON ddl_command_end EXECUTE FUNCTION full_disk()")
    with pytest.raises(PilotHealthError) as caught:
        restore(store, made.file)
    message = str(caught.value)
    assert "No space left on device" in message and "the store is as it was" in message
    assert facts(store) == before
    assert "c" * 64 in {u[1] for u in before["uploads"]}


def test_a_postgres_backup_restores_into_a_new_empty_database(postgres_demo_url, blank_url, tmp_path):
    """Disaster recovery: the server is rebuilt and the store restored from last night's dump into
    a database without any table; there is no store to keep a copy of."""
    from pilot_health.store.database import open_store

    made = backup(open_store(postgres_demo_url, lock_wait_seconds=5), tmp_path / "b")
    new = open_store(blank_url, lock_wait_seconds=5)
    assert not new.exists()
    result = restore(new, made.file)
    assert result.previous_copy is None
    after = facts(new)
    assert after["uploads"] == made.facts["uploads"]
    held = {t: n for t, n in made.facts["counts"].items() if t not in ("store_meta", "audit_log")}
    assert {t: after["counts"][t] for t in held} == held
    assert after["counts"]["audit_log"] == made.facts["counts"]["audit_log"] + 1  # the restore, recorded


def test_a_postgres_backup_made_before_a_migration_restores_and_is_brought_up(postgres_demo_url, blank_url, tmp_path):
    """A dump made by the version before the alerts (migration 011) restored by this one: the
    replaced store's alert tables and sequences go, the migration makes them afresh, and every row
    the backup held is there."""
    import psycopg

    from pilot_health.store.database import open_store

    store = open_store(postgres_demo_url, lock_wait_seconds=5)
    # the older version's store: the demo without migration 011
    older = open_store(blank_url, lock_wait_seconds=5)
    restore(older, backup(store, tmp_path / "now").file)
    with psycopg.connect(blank_url, autocommit=True) as admin:
        admin.execute("DROP TABLE alert_deliveries, alert_events, alert_runs, alert_subscriptions")
        admin.execute("DROP SEQUENCE alert_subscription_id_seq, alert_run_id_seq, alert_delivery_id_seq")
        admin.execute("DELETE FROM schema_migrations WHERE name = '011_alerts'")
    old = backup(older, tmp_path / "old")
    assert "011_alerts" not in old.facts["migrations"] and "alert_runs" not in old.facts["counts"]
    from pilot_health.reports.alerts import subscribe

    subscribe(store, "ann@example.com", ["health_red"], by="test")  # the store it replaces has alert data
    assert facts(store)["counts"]["alert_subscriptions"] == 1

    result = restore(store, old.file)
    after = facts(store)
    from pilot_health.store.migrations import MIGRATIONS, migration_name

    assert after["migrations"] == [migration_name(m) for m in MIGRATIONS]
    assert after["counts"]["alert_subscriptions"] == 0
    assert after["uploads"] == old.facts["uploads"]
    held = {t: n for t, n in old.facts["counts"].items() if t not in ("store_meta", "schema_migrations", "audit_log")}
    assert {t: after["counts"][t] for t in held} == held
    assert result.previous_copy is not None
