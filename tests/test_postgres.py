"""The store on a PostgreSQL server: what the embedded file gives for free and a shared server must
be made to keep (one transaction per write, writers in turn, nothing left on a pooled connection,
changes seen by every process), on a real throwaway server (tests/postgres_support.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime

import pytest

from pilot_health.access import Scope
from pilot_health.errors import StoreError
from pilot_health.models import Pilot
from pilot_health.store import queries
from pilot_health.store.database import Store, open_store
from pilot_health.store.dialect import to_postgres
from pilot_health.store.postgres import PostgresStore, close_pools, shown_url

WHEN = datetime(2026, 1, 5, 9, 0)


def _pilot(pilot_id: str, unit: str) -> Pilot:
    return Pilot(pilot_id=pilot_id, name=f"Pilot {pilot_id}", business_unit=unit, stage="pilot")


def test_a_postgresql_address_opens_the_shared_store_and_a_path_the_file(tmp_path, postgres_url):
    assert isinstance(open_store(postgres_url), PostgresStore)
    assert isinstance(open_store(tmp_path / "x.duckdb"), Store)


def test_the_address_is_shown_without_its_password():
    assert shown_url("postgresql://pilot:s3cret@db.example:5432/health") == "postgresql://pilot@db.example:5432/health"
    assert "s3cret" not in repr(PostgresStore("postgresql://pilot:s3cret@db.example/health"))


def test_statements_are_rewritten_for_psycopg_outside_quoted_text():
    assert to_postgres("SELECT ? WHERE x LIKE 'a%?' AND y % 2 = 0") == "SELECT %s WHERE x LIKE 'a%%?' AND y %% 2 = 0"
    assert to_postgres("CREATE TABLE t (a DOUBLE, b TINYINT, c DOUBLE PRECISION)") == (
        "CREATE TABLE t (a DOUBLE PRECISION, b SMALLINT, c DOUBLE PRECISION)"
    )


def test_a_write_that_fails_stores_nothing_and_keeps_the_version(postgres_url):
    store = open_store(postgres_url)
    before = store.version()
    with pytest.raises(RuntimeError), store.write() as con:
        queries.insert_pilots(con, [_pilot("SC-01", "Sales")], WHEN)
        raise RuntimeError("half-way")
    with store.read() as con:
        assert queries.pilot_ids(con) == []
    assert store.version() == before


def test_writers_take_turns_so_a_read_then_write_sees_every_earlier_write(postgres_url):
    """Each writer reads how many pilots there are and adds the next one: without the advisory lock
    two of them would read the same count and one insert would fail on the primary key."""
    store = open_store(postgres_url)
    store.ensure_ready()
    errors: list[BaseException] = []

    def add_next() -> None:
        try:
            with store.write() as con:
                count = len(queries.pilot_ids(con))
                queries.insert_pilots(con, [_pilot(f"SC-{count + 1:02d}", "Sales")], WHEN)
        except BaseException as error:  # noqa: BLE001 - the test reports any
            errors.append(error)

    threads = [threading.Thread(target=add_next) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.read() as con:
        assert queries.pilot_ids(con) == [f"SC-{n:02d}" for n in range(1, 9)]


def test_a_limited_read_leaves_nothing_on_the_pooled_connection(postgres_url):
    store = open_store(postgres_url)
    with store.write() as con:
        queries.insert_pilots(con, [_pilot("SC-01", "Sales"), _pilot("FN-01", "Finance")], WHEN)
    limited = PostgresStore(postgres_url, scope=Scope(("Sales",), "Sam"))
    for _ in range(3):  # the pool hands the same connection back each time
        with limited.read() as con:
            assert queries.pilot_ids(con) == ["SC-01"]
        with store.read() as con:
            assert queries.pilot_ids(con) == ["FN-01", "SC-01"]


def test_a_write_by_another_process_is_seen_on_the_next_read(postgres_url):
    store = open_store(postgres_url)
    before = store.version()
    code = (
        "import sys; from datetime import datetime; from pilot_health.models import Pilot; "
        "from pilot_health.store import queries; from pilot_health.store.database import open_store\n"
        "with open_store(sys.argv[1]).write() as con:\n"
        "    queries.insert_pilots(con, [Pilot(pilot_id='SC-09', name='Other', business_unit='Sales', stage='pilot')], "
        "datetime(2026, 1, 5))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, postgres_url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert store.version() != before
    with store.read() as con:
        assert queries.pilot_ids(con) == ["SC-09"]


def test_an_unreachable_server_gets_a_sentence_without_the_password():
    close_pools()
    store = PostgresStore("postgresql://pilot:s3cret@127.0.0.1:9/none", lock_wait_seconds=1)
    with pytest.raises(StoreError) as raised:
        store.version()
    message = str(raised.value)
    assert "postgresql://pilot@127.0.0.1:9/none" in message and "s3cret" not in message
    close_pools()


def test_a_writer_kept_waiting_past_the_wait_is_told_so_and_changes_nothing(postgres_url):
    from pilot_health.errors import StoreLockedError

    holder = open_store(postgres_url, lock_wait_seconds=5)
    waiter = open_store(postgres_url, lock_wait_seconds=0.3)
    holder.ensure_ready()
    with holder.exclusive(), pytest.raises(StoreLockedError) as raised, waiter.write() as con:  # a restore, say
        queries.insert_pilots(con, [_pilot("SC-01", "Sales")], WHEN)
    assert "stayed in use" in str(raised.value) and "nothing was changed" in str(raised.value)
    with holder.read() as con:
        assert queries.pilot_ids(con) == []


def test_a_database_that_does_not_exist_is_told_at_once(postgres_url):
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_store"
    with pytest.raises(StoreError) as raised:
        open_store(missing, lock_wait_seconds=30).version()
    assert "no_such_store" in str(raised.value) and "does not exist" in str(raised.value)


def test_the_store_keeps_to_its_schema_when_the_database_searches_another(postgres_server):
    """A database (or role) whose search_path names another schema first, one that holds a table
    called pilots of its own: the store's tables are still made, written and read in its schema,
    a limited person still sees only their units, and the other schema's rows never show."""
    import uuid

    import psycopg

    name = f"elsewhere_{uuid.uuid4().hex[:10]}"
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f'ALTER DATABASE "{name}" SET search_path = elsewhere, public')
    try:
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("CREATE SCHEMA elsewhere")
            other.execute("CREATE TABLE elsewhere.pilots (pilot_id VARCHAR, business_unit VARCHAR)")
            other.execute("INSERT INTO elsewhere.pilots VALUES ('XX-01', 'Sales')")
            assert other.execute("SELECT current_schema()").fetchone() == ("elsewhere",)
        store = open_store(url, lock_wait_seconds=5)
        with store.write() as con:
            queries.insert_pilots(con, [_pilot("SC-01", "Sales"), _pilot("FN-01", "Finance")], WHEN)
        with store.read() as con:
            assert queries.pilot_ids(con) == ["FN-01", "SC-01"]
            made_in = con.execute(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'store_meta'"
            ).fetchall()
            assert made_in == [("public",)]
        with PostgresStore(url, scope=Scope(("Sales",), "Sam")).read() as con:
            assert queries.pilot_ids(con) == ["SC-01"]
    finally:
        close_pools()
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
