"""`migrate-store`: an embedded store (a real DuckDB file) moved into a real PostgreSQL database,
all or nothing: every row and every store fact arrives, the id sequences carry on where the file's
stood, a database that already holds a store is refused, and a move that fails half-way (on the
server, or interrupted) leaves the database as it was."""

from __future__ import annotations

import json
import os
import shutil

import psycopg
import pytest
from conftest import record_upload, run_cli

from pilot_health.errors import PilotHealthError
from pilot_health.store import queries
from pilot_health.store.database import Store, open_store
from pilot_health.store.move import move_store


@pytest.fixture
def demo_file(_demo_file, tmp_path):
    """A copy of the demo store file, the embedded store to move."""
    path = tmp_path / "pilot_health.duckdb"
    shutil.copy(_demo_file, path)
    return path


def facts(store) -> dict:
    with store.read() as con:
        return queries.store_facts(con)


def tables_in(url: str) -> dict[str, int]:
    """Every table of the database's public schema with its rows (read straight from the server)."""
    with psycopg.connect(url) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
            ).fetchall()
        ]
        return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def test_the_move_copies_every_row_and_fact_and_the_ids_carry_on(demo_file, blank_url, run_command):
    embedded = Store(demo_file)
    before = facts(embedded)
    done = run_command("migrate-store", "--from", str(demo_file), "--to", blank_url, "--json")
    assert done.returncode == 0, done.stderr
    moved = json.loads(done.stdout)
    assert moved["counts"] == before["counts"] and moved["to"] == blank_url
    assert moved["counts"]["metric_observations"] > 4000 and moved["uploads"] == len(before["uploads"]) > 1000

    server = open_store(blank_url, lock_wait_seconds=5)
    assert facts(server) == before  # every upload's hash and withdrawal, the migrations, the version
    with embedded.read() as con:  # the weekly sums: a view in the file, filled by the rows' triggers there
        weeks = queries.one_value(con.execute("SELECT count(*) FROM metric_weeks"))
    assert tables_in(blank_url) == {**before["counts"], "metric_weeks": weeks}
    with embedded.read() as con:
        pilots_here = con.execute("SELECT * FROM pilots ORDER BY pilot_id").fetchall()
    with server.read() as con:
        pilots_there = con.execute("SELECT * FROM pilots ORDER BY pilot_id").fetchall()
    assert pilots_there == pilots_here  # every value, dates and blanks included

    # The next upload gets the number it would have had in the file.
    with embedded.write() as con:
        next_here = record_upload(con, "next.csv", "d" * 64)
    with server.write() as con:
        next_there = record_upload(con, "next.csv", "d" * 64)
    assert next_there == next_here == max(u[0] for u in before["uploads"]) + 1


def test_a_database_that_holds_a_store_is_refused_and_left_alone(demo_file, postgres_url, run_command):
    """A database the dashboard has only opened (migrated, no rows) takes the move; running it
    again is refused with what to do, and changes nothing."""
    first = run_command("migrate-store", "--from", str(demo_file), "--to", postgres_url)
    assert first.returncode == 0, first.stderr
    assert "Moved the store" in first.stdout and "24 pilots" in first.stdout
    held = tables_in(postgres_url)
    version = open_store(postgres_url).version()

    again = run_command("migrate-store", "--from", str(demo_file), "--to", postgres_url)
    assert again.returncode == 1
    assert "24 rows in pilots" in again.stderr
    assert "already holds a Pilot Health store" in again.stderr and "nothing was copied" in again.stderr
    assert "create a new database" in again.stderr
    assert tables_in(postgres_url) == held and open_store(postgres_url).version() == version


def test_a_move_that_fails_half_way_on_the_server_leaves_nothing(demo_file, postgres_url):
    """The server refuses a row of the survey table (copied after the pilots, uploads and metric
    rows): the one transaction is rolled back and the database holds no row of the store."""
    before = tables_in(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            """CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$"""
        )
        admin.execute(
            "CREATE TRIGGER full_disk BEFORE INSERT ON survey_responses FOR EACH ROW EXECUTE FUNCTION full_disk()"
        )
    with pytest.raises(PilotHealthError) as caught:
        move_store(demo_file, postgres_url)
    message = str(caught.value)
    assert "No space left on device" in message and "nothing was kept there" in message
    assert tables_in(postgres_url) == before
    assert sum(n for table, n in before.items() if table not in ("store_meta", "schema_migrations")) == 0


def test_a_move_interrupted_half_way_leaves_an_empty_database_empty(demo_file, blank_url):
    """Ctrl-C while the metric rows are copied, into a database without any table yet: afterwards
    it still has none (the schema was made in the same transaction)."""
    seen = []

    def interrupt(text: str) -> None:
        seen.append(text)
        if text.startswith("Copying metric_observations"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        move_store(demo_file, blank_url, progress=interrupt)
    assert any(text.startswith("Copying pilots") for text in seen)  # some tables were copied before
    assert tables_in(blank_url) == {}


def test_what_is_not_a_store_or_not_an_address_is_a_sentence(tmp_path, blank_url, run_command):
    notes = tmp_path / "notes.duckdb"
    notes.write_bytes(b"not a database")
    done = run_command("migrate-store", "--from", str(notes), "--to", blank_url)
    assert done.returncode == 1 and "is not a Pilot Health store" in done.stderr
    done = run_command("migrate-store", "--from", str(tmp_path / "missing.duckdb"), "--to", blank_url)
    assert done.returncode == 1 and "There is no store file" in done.stderr
    done = run_command("migrate-store", "--from", str(notes), "--to", str(tmp_path / "other.duckdb"))
    assert done.returncode == 1 and "postgresql://USER@HOST:PORT/DATABASE" in done.stderr
    assert "Traceback" not in done.stderr
    assert tables_in(blank_url) == {}


def test_the_command_in_its_own_process_reports_progress(demo_file, blank_url):
    """In a process of its own, as a person runs it: the address with a password (the test server
    trusts local connections, so any is accepted) is never printed."""
    env = {**os.environ, "PILOT_HEALTH_DB": str(demo_file)}
    scheme, rest = blank_url.split("://", 1)
    user, host = rest.split("@", 1)
    with_password = f"{scheme}://{user}:s3cret-pw@{host}"
    done = run_cli("migrate-store", "--from", str(demo_file), "--to", with_password, "--progress", env=env)
    assert done.returncode == 0, done.stderr
    assert "s3cret-pw" not in done.stdout + done.stderr and f"into {blank_url}:" in done.stdout
    assert "Copying metric_observations" in done.stderr and "Checking the rows and facts" in done.stderr
    assert "Moved the store" in done.stdout
    # The moved store answers the command line like the file did.
    status = run_cli("status", "--db", blank_url, "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["counts"]["pilots"] == 24
