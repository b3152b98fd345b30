"""Uploads to a PostgreSQL store (store/transfer.py): checked by DuckDB in memory, stored in one
PostgreSQL transaction; writers at the same time see each other's rows; a failure stores nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT

from pilot_health.ingest import IngestOptions, ingest
from pilot_health.store import transfer
from pilot_health.store.database import open_store
from pilot_health.store.postgres import close_pools

REGISTER = (Path(__file__).parent / "fixtures" / "uploads" / "pilots_register.csv").read_bytes()  # NEW-01, NEW-02
HEADER = "pilot_id,metric,environment,observed_at,value\n"


def export(first: int, rows: int, value_offset: float = 0.0) -> bytes:
    """Rows `first` … `first + rows - 1` of one series per pilot: row i is minute i of 2030, the same
    value in every file that has it (plus `value_offset`)."""
    start = datetime(2030, 1, 1)
    lines = [
        f"NEW-0{1 + i % 2},accuracy,live,{start + timedelta(minutes=i):%Y-%m-%d %H:%M:%S},"
        f"{(i % 97) / 100 + value_offset:g}"
        for i in range(first, first + rows)
    ]
    return (HEADER + "\n".join(lines) + "\n").encode()


def server_rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as con:
        return con.execute(sql).fetchall()


def with_register(store):
    result = ingest(store, REGISTER, "pilots.csv", IngestOptions(), commit=True)
    assert result.status == "stored", result.refusal
    return store


def test_two_writers_storing_overlapping_files_at_once_store_every_row_once(postgres_url):
    """Three uploads at the same moment through one server: file A (rows 0–5,999), file B (rows
    3,000–8,999, half of them A's) and A's very bytes again. The store ends with each of the 9,000
    rows once; the second of A's copies is told it is a duplicate; the 3,000 rows A and B share are
    stored by whichever came first and counted as already stored by the other."""
    store = with_register(open_store(postgres_url, lock_wait_seconds=60))
    files = [("a.csv", export(0, 6000)), ("b.csv", export(3000, 6000)), ("a-again.csv", export(0, 6000))]
    start = threading.Barrier(len(files))
    results = {}

    def upload(name: str, data: bytes) -> None:
        start.wait()
        results[name] = ingest(store, data, name, IngestOptions(environment="live"), commit=True)

    threads = [threading.Thread(target=upload, args=f) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = sorted(r.status for r in results.values())
    assert statuses == ["duplicate", "stored", "stored"], {n: (r.status, r.refusal) for n, r in results.items()}
    stored = [r for r in results.values() if r.status == "stored"]
    assert sorted(r.rows_to_store for r in stored) == [3000, 6000]
    assert sum(r.already_stored for r in stored) == 3000
    assert [r.already_stored for r in stored if r.rows_to_store == 3000] == [3000]
    duplicate = next(r for r in results.values() if r.status == "duplicate")
    assert duplicate.duplicate_of in {r.upload_id for r in stored}
    assert server_rows(
        postgres_url,
        "SELECT count(*), count(DISTINCT (pilot_id, metric, environment, observed_at)) FROM metric_observations",
    ) == [(9000, 9000)]
    # every upload's count is its rows, and its pilots are noted
    assert (
        server_rows(
            postgres_url,
            """
        SELECT u.upload_id FROM uploads u LEFT JOIN metric_observations m USING (upload_id)
        WHERE u.kind = 'metrics' GROUP BY u.upload_id, u.rows_stored HAVING u.rows_stored <> count(m.upload_id)
        """,
        )
        == []
    )
    assert sorted(server_rows(postgres_url, "SELECT upload_id, pilot_id FROM upload_pilots")) == sorted(
        (r.upload_id, p) for r in stored for p in ("NEW-01", "NEW-02")
    )
    # the next upload gets the next id on the server, and its audit line
    last = ingest(store, export(9000, 10), "c.csv", IngestOptions(environment="live"), commit=True)
    assert last.upload_id == max(r.upload_id for r in stored) + 1
    assert server_rows(postgres_url, "SELECT count(*) FROM audit_log WHERE action = 'upload'") == [(4,)]


def test_replacing_stored_values_changes_them_on_the_server(store, backend):
    """An upload that replaces stored values: the old rows go, the earlier upload's count drops, and
    the same on both stores."""
    with_register(store)
    first = ingest(store, export(0, 100), "a.csv", IngestOptions(environment="live"), commit=True)
    second = ingest(
        store, export(50, 100, 1.0), "b.csv", IngestOptions(environment="live", replace_existing=True), commit=True
    )
    assert (first.status, second.status) == ("stored", "stored")
    assert (second.rows_to_store, second.rows_replaced) == (100, 50)
    with store.read() as con:
        counts = con.execute(
            "SELECT upload_id, count(*), min(value), max(value) FROM metric_observations "
            "GROUP BY upload_id ORDER BY upload_id"
        ).fetchall()
        rows_stored = con.execute(
            "SELECT upload_id, rows_stored FROM uploads WHERE kind = 'metrics' ORDER BY upload_id"
        ).fetchall()
    assert [c[:2] for c in counts] == [(first.upload_id, 50), (second.upload_id, 100)]
    assert counts[1][2] >= 1.0  # the replacing values
    assert rows_stored == [(first.upload_id, 50), (second.upload_id, 100)]
    # kept, not replaced: nothing new, said as a duplicate
    again = ingest(store, export(0, 150), "c.csv", IngestOptions(environment="live"), commit=True)
    assert (again.status, again.already_stored) == ("duplicate", 150)


def test_a_preview_on_the_server_stores_nothing_and_says_what_would_be_stored(store):
    with_register(store)
    ingest(store, export(0, 100), "a.csv", IngestOptions(environment="live"), commit=True)
    version = store.version()
    preview = ingest(store, export(50, 100), "b.csv", IngestOptions(environment="live"))
    assert (preview.status, preview.rows_to_store, preview.already_stored) == ("ready", 50, 50)
    assert store.version() == version
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM metric_observations").fetchone()[0] == 100


def test_an_upload_that_fails_while_it_is_written_stores_nothing(postgres_url, monkeypatch):
    """The rows are on the server (COPY done) when writing the upload's record fails: the whole
    transaction is rolled back, nothing of the upload remains, and the next upload stores normally."""
    store = with_register(open_store(postgres_url, lock_wait_seconds=10))
    version = store.version()
    written = []
    real = transfer.Mirror._apply_whole

    def fail_after_the_rows(self, table, key):
        written.append(server_rows_in_transaction(self.pg))
        raise OSError("the disk is full")

    monkeypatch.setattr(transfer.Mirror, "_apply_whole", fail_after_the_rows)
    with pytest.raises(OSError, match="the disk is full"):
        ingest(store, export(0, 5000), "a.csv", IngestOptions(environment="live"), commit=True)
    assert written == [5000]  # the rows had reached the server inside the transaction
    assert server_rows(postgres_url, "SELECT count(*) FROM metric_observations") == [(0,)]
    assert server_rows(postgres_url, "SELECT count(*) FROM uploads WHERE kind = 'metrics'") == [(0,)]
    assert server_rows(postgres_url, "SELECT count(*) FROM upload_pilots") == [(0,)]
    assert server_rows(postgres_url, "SELECT count(*) FROM audit_log WHERE action = 'upload'") == [
        (1,)
    ]  # the register's
    assert store.version() == version
    monkeypatch.setattr(transfer.Mirror, "_apply_whole", real)
    result = ingest(store, export(0, 5000), "a.csv", IngestOptions(environment="live"), commit=True)
    assert (result.status, result.rows_to_store) == ("stored", 5000)
    assert server_rows(postgres_url, "SELECT count(*) FROM metric_observations") == [(5000,)]


def server_rows_in_transaction(pg) -> int:
    return pg.execute("SELECT count(*) FROM metric_observations").fetchone()[0]


CHILD = """
import sys
from pathlib import Path
from pilot_health.ingest import IngestOptions, ingest
from pilot_health.store.database import open_store

def progress(share, text):
    print(text, file=sys.stderr, flush=True)

path = Path(sys.argv[2])
ingest(open_store(sys.argv[1]), path.read_bytes(), path.name, IngestOptions(environment="live"), commit=True,
       progress=progress, source=path)
print("done", file=sys.stderr, flush=True)
"""


@pytest.mark.slow
def test_an_ingest_killed_while_it_writes_to_the_server_stores_nothing(postgres_url, tmp_path):
    """A real process killed (SIGKILL) while it stores 200,000 rows (inside its write transaction):
    the server drops the transaction, and the store holds none of them; storing the file again works."""
    store = with_register(open_store(postgres_url, lock_wait_seconds=10))
    close_pools()
    path = tmp_path / "big.csv"
    path.write_bytes(export(0, 200_000))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, postgres_url, str(path)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    killed = False
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("Storing"):
            os.kill(process.pid, signal.SIGKILL)
            killed = True
            break
    process.wait(timeout=120)
    assert killed, "the kill must land while the upload is being written"
    assert server_rows(postgres_url, "SELECT count(*) FROM metric_observations") == [(0,)]
    assert server_rows(postgres_url, "SELECT count(*) FROM uploads WHERE kind = 'metrics'") == [(0,)]
    result = ingest(store, path.read_bytes(), "big.csv", IngestOptions(environment="live"), commit=True, source=path)
    assert (result.status, result.rows_to_store) == ("stored", 200_000)


def test_a_register_change_a_survey_and_a_metric_answer_reach_the_server(store):
    """The other things an upload writes: a pilot's record changed (and its history), a survey's
    responses under the pilot's next wave, a metric answer; the same on both stores."""
    from pilot_health.rules.metric_dictionary import MetricAnswer

    with_register(store)
    changed = REGISTER.replace(b"Bakery demand sensing", b"Bakery demand sensing II")
    update = ingest(store, changed, "pilots-2.csv", IngestOptions(replace_existing=True), commit=True)
    assert update.status == "stored", update.refusal
    survey = (Path(__file__).parent / "fixtures" / "uploads" / "google_forms_adkar.csv").read_bytes()
    waves = []
    for name in ("wave-1.csv", "wave-2.csv"):
        result = ingest(store, survey, name, IngestOptions(pilot_id="NEW-01", store_again=True), commit=True)
        assert result.status == "stored", result.refusal
        waves.append(result.rows_to_store)
    answer = MetricAnswer("business", "up", label="Pick path efficiency")
    metric = ingest(
        store,
        b"pilot_id,metric,environment,observed_at,value\nNEW-02,pick_path_efficiency,live,2030-01-01,0.5\n",
        "answer.csv",
        IngestOptions(metric_answers={"pick_path_efficiency": answer}),
        commit=True,
    )
    assert metric.status == "stored", metric.refusal
    with store.read() as con:
        assert con.execute("SELECT name FROM pilots WHERE pilot_id = 'NEW-01'").fetchall() == [
            ("Bakery demand sensing II",)
        ]
        assert con.execute(
            "SELECT name FROM pilot_history WHERE pilot_id = 'NEW-01' ORDER BY history_id"
        ).fetchall() == [("Bakery demand sensing",), ("Bakery demand sensing II",)]
        assert con.execute("SELECT wave, count(*) FROM survey_responses GROUP BY wave ORDER BY wave").fetchall() == [
            (1, waves[0]),
            (2, waves[1]),
        ]
        assert con.execute("SELECT kind, direction, label FROM metric_definitions").fetchall() == [
            ("business", "up", "Pick path efficiency")
        ]
        assert con.execute("SELECT kind FROM metric_observations").fetchall() == [("business",)]
        assert con.execute("SELECT count(*) FROM audit_log WHERE action = 'upload'").fetchone()[0] == 5


def test_the_same_bytes_again_are_named_only_to_whoever_may_see_the_earlier_upload(store):
    """A limited editor storing a file someone stored before: told which upload it was only when every
    pilot of that upload is in their units (which pilots those are is read from the stored rows)."""
    from pilot_health.access import Person

    with_register(store)
    data = export(0, 200)  # rows for NEW-01 (Supply Chain) and NEW-02 (Retail Operations)
    first = ingest(store, data, "a.csv", IngestOptions(environment="live"), commit=True)
    assert first.status == "stored"
    with store.write() as con:  # as uploads stored before their record kept its pilots: only the rows tell
        con.execute("UPDATE uploads SET details = NULL WHERE upload_id = ?", [first.upload_id])
    supply = Person("sam@example.com", "editor", ("Supply Chain",), signed_in=True)
    both = Person("bo@example.com", "editor", ("Supply Chain", "Retail Operations"), signed_in=True)
    hidden = ingest(store, data, "a.csv", IngestOptions(environment="live"), commit=True, person=supply)
    named = ingest(store, data, "a.csv", IngestOptions(environment="live"), commit=True, person=both)
    assert (hidden.status, hidden.duplicate_of) == ("duplicate", None)
    assert hidden.warnings == ["This exact file was stored before; storing it again would change nothing."]
    assert (named.status, named.duplicate_of) == ("duplicate", first.upload_id)
    assert f"already stored as upload {first.upload_id}" in named.warnings[0]
