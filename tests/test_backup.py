"""Backups: a consistent copy with a manifest, taken while another program is using the store, and a
restore round trip checked by row counts and upload hashes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from pilot_health.store import queries
from pilot_health.store.backup import backup, restore
from pilot_health.store.database import Store, facts_of_file, utc_now


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
        queries.insert_upload(
            con,
            kind="metrics",
            file_name="later.csv",
            sha256="f" * 64,
            rows_stored=0,
            rows_rejected=0,
            uploaded_at=utc_now(),
            uploaded_by="test",
        )
    changed = facts(demo_store)
    assert changed["uploads"] != before["uploads"]

    result = restore(demo_store, made.file)
    after = facts(demo_store)
    # The restore itself notes where it came from, and the audit trail records it.
    data_tables = [t for t in queries.STORE_TABLES if t not in ("store_meta", "audit_log")]
    assert {t: after["counts"][t] for t in data_tables} == {t: before["counts"][t] for t in data_tables}
    assert after["uploads"] == before["uploads"]
    assert after["version"] != before["version"]  # restoring is a write: every cached page is recomputed
    assert result.previous_copy and facts_of_file(result.previous_copy)["uploads"] == changed["uploads"]
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
        "from pilot_health.store.database import Store\n"
        "store = Store(sys.argv[1])\n"
        "end = time.monotonic() + 6\n"
        "while time.monotonic() < end:\n"
        "    with store.read() as con:\n"
        "        con.execute('SELECT count(*) FROM metric_observations').fetchone()\n"
        "        time.sleep(0.05)\n"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", code, str(demo_store.path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    try:
        time.sleep(1.5)
        made = backup(Store(demo_store.path, lock_wait_seconds=30), tmp_path)
    finally:
        reader.wait(timeout=30)
    assert reader.returncode == 0
    assert facts_of_file(made.file)["counts"] == facts(demo_store)["counts"]


def test_the_backup_and_restore_commands(demo_store, tmp_path, run_command):
    done = run_command("backup", "--db", str(demo_store.path), "--out", str(tmp_path / "b"), "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    assert made["counts"]["pilots"] == 24 and made["file"].endswith(".duckdb")
    done = run_command("restore", made["file"], "--db", str(demo_store.path))
    assert done.returncode == 1 and "add --yes to go ahead" in done.stderr
    done = run_command("restore", made["file"], "--db", str(demo_store.path), "--yes")
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
    assert facts_of_file(made.file)["counts"]["decisions"] == facts(demo_store)["counts"]["decisions"] >= 1
    # Afterwards another decision is recorded; the restore brings back the store as it was backed up.
    record_decision(
        demo_store, "SC-02", meeting.meeting_id, "stop", "Ben Ortiz", date(2026, 3, 31), by="ann@example.com"
    )
    assert len(decisions(demo_store)) == len(kept) + 1
    restore(demo_store, made.file)
    assert decisions(demo_store) == kept
    assert [m.title for m in meetings(demo_store)].count("March committee") == 1
