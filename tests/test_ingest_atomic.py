"""All or nothing: an upload killed at any moment leaves the whole upload or none of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest
from conftest import ROOT, run_cli, target

ROWS = 300_000


def big_export(folder, number: int):
    """A 300,000-row metric export; each `number` covers different minutes, so no two overlap."""
    path = folder / f"big_export_{number}.csv"
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (SELECT ['SC-01', 'SC-02', 'RO-01', 'FN-01'][1 + i % 4] AS pilot_id, 'metric_' || (i % 5) AS metric,
                     CASE WHEN i % 2 = 0 THEN 'live' ELSE 'lab' END AS environment,
                     strftime(TIMESTAMP '2022-01-01' + to_seconds((i + {number * ROWS}) * 60), '%Y-%m-%d %H:%M:%S') AS observed_at,
                     round((i % 997) / 997.0, 4) AS value
              FROM range({ROWS}) t(i)) TO '{path}' (HEADER)
        """
    )
    con.close()
    return path


def consistent(store) -> tuple[int, int]:
    """Check the store's invariant, reopened (a fresh read of the file or the server); return
    (uploads in the store, observation rows)."""
    with store.read() as con:
        mismatched = con.execute(
            """
            SELECT u.upload_id, u.rows_stored, count(m.upload_id) AS actual
            FROM uploads u LEFT JOIN metric_observations m USING (upload_id)
            WHERE u.kind = 'metrics' AND u.uploaded_by <> 'demo'
            GROUP BY u.upload_id, u.rows_stored HAVING u.rows_stored <> count(m.upload_id)
            """
        ).fetchall()
        orphans = con.execute(
            """SELECT count(*) FROM metric_observations m
               WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.upload_id = m.upload_id)"""
        ).fetchone()[0]
        uploads = con.execute("SELECT count(*) FROM uploads WHERE uploaded_by <> 'demo'").fetchone()[0]
        rows = con.execute("SELECT count(*) FROM metric_observations").fetchone()[0]
    assert mismatched == [], f"an upload whose rows are not all there: {mismatched}"
    assert orphans == 0, "rows without their upload"
    return uploads, rows


@pytest.mark.slow
def test_killing_an_ingest_at_any_moment_stores_all_or_nothing(demo_store, tmp_path):
    """Kill a real `ingest` process with SIGKILL at several moments, including while it writes,
    then reopen the store: every upload in it is complete, and rows never exist without their upload."""
    db = target(demo_store)
    uploads_before, rows_before = consistent(demo_store)
    killed_while_storing = 0
    # Twice at once (the write is short: a later kill may find it done on a fast or a busy machine).
    delays = [0.0, 0.0, 0.05, 0.15, 0.3]
    for attempt, delay in enumerate(delays):
        export = big_export(tmp_path, attempt)
        process = subprocess.Popen(
            [sys.executable, "-m", "pilot_health", "ingest", str(export), "--db", db, "--progress"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for line in process.stderr:
            if "Storing" in line:
                time.sleep(delay)
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                    killed_while_storing += 1
                break
        process.wait(timeout=120)
        uploads, rows = consistent(demo_store)
        complete = uploads - uploads_before
        assert rows == rows_before + complete * ROWS, (attempt, uploads, rows)
    assert killed_while_storing >= 2, "the kills must land while the upload is being written"
    # After all that, a normal ingest still works and stores the whole file exactly once more.
    result = run_cli("ingest", str(big_export(tmp_path, len(delays))), "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows_stored"] == ROWS
    uploads, rows = consistent(demo_store)
    assert rows == rows_before + (uploads - uploads_before) * ROWS
