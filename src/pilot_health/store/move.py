"""Moving an embedded store (a DuckDB file) into an empty PostgreSQL database:
`python -m pilot_health migrate-store --from FILE.duckdb --to postgresql://…`.

Everything happens in one PostgreSQL transaction, so a move that fails half-way (a lost
connection, a full disk, Ctrl-C) leaves the database exactly as it was:

1. the file is opened as the dashboard would open it (brought up to this version's schema first)
   and read in one transaction, so what is copied is one consistent moment of it;
2. the database's schema is made by the same migrations as any PostgreSQL store; a database that
   already holds pilots, uploads or any other row of a store is refused, with what to do;
3. every table is copied with COPY, a chunk of rows at a time (memory stays flat for millions of
   rows), with the store's own bookkeeping (its version, the migrations it has had);
4. the id sequences are set to where the file's were, so the next upload gets the next number;
5. the rows per table and the store facts (`queries.store_facts`: every upload's hash, the
   migrations, the version) are compared with the file's before anything is committed.

The file is left as it is (apart from step 1's schema update); the dashboard keeps using it
until `PILOT_HEALTH_DB` names the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilot_health.config import is_postgres_url
from pilot_health.errors import PilotHealthError
from pilot_health.formatting import plural
from pilot_health.store import queries
from pilot_health.store.database import Store
from pilot_health.store.migrations import migrate
from pilot_health.store.postgres import (
    MIGRATE_LOCK_KEY,
    WRITE_LOCK_KEY,
    PgConnection,
    _psycopg,
    shown_url,
)

CHUNK_ROWS = 50_000
# The store's own bookkeeping: the migrations just made them in the database; the file's replace them.
BOOKKEEPING = ("store_meta", "schema_migrations")


@dataclass(frozen=True)
class MoveResult:
    source: Path
    target: str  # the address without its password
    counts: dict[str, int]
    facts: dict
    seconds: float


class _OneTransaction(PgConnection):
    """A connection whose begin/commit/rollback are savepoints inside one outer transaction:
    the migrations (each "in its own transaction") then run inside the move's one transaction."""

    def begin(self) -> None:
        self.connection.execute("SAVEPOINT pilot_health_step")

    def commit(self) -> None:
        self.connection.execute("RELEASE SAVEPOINT pilot_health_step")

    def rollback(self) -> None:
        self.connection.execute("ROLLBACK TO SAVEPOINT pilot_health_step")


def move_store(
    source: Path,
    url: str,
    *,
    lock_wait_seconds: float = 30.0,
    progress: Callable[[str], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> MoveResult:
    """Copy the store file `source` into the empty PostgreSQL database at `url`, all or nothing
    (see the module docstring). Raises PilotHealthError with one sentence when it cannot."""
    started = time.perf_counter()
    source = Path(source).expanduser().absolute()
    shown = shown_url(url)
    if not is_postgres_url(url):
        raise PilotHealthError(
            f"{shown} is not a PostgreSQL address; write it as postgresql://USER@HOST:PORT/DATABASE."
        )
    if not source.is_file():
        raise PilotHealthError(f"There is no store file {source}; check the path given to --from.")
    psycopg = _psycopg()
    say = progress or (lambda text: None)
    embedded = Store(source, lock_wait_seconds=lock_wait_seconds)
    with embedded.read() as src:
        src.begin()  # one moment of the file, whatever else happens to it meanwhile
        try:
            facts = queries.store_facts(src)
            tables = [t for t in queries.STORE_TABLES if t in facts["counts"]]
            try:
                connection = psycopg.connect(url, connect_timeout=max(int(lock_wait_seconds), 1))
            except psycopg.Error as error:
                raise PilotHealthError(
                    f"The PostgreSQL database {shown} could not be reached ({_first_line(error)}); nothing was copied."
                ) from None
            try:
                with connection:  # commits at the end of the block, rolls back on any error
                    counts = _move(src, connection, tables, facts, shown, chunk_rows, say)
                    # The planner's statistics at once, not when autovacuum gets to it: until then
                    # PostgreSQL guesses the moved tables' sizes, and the first views choose slow plans.
                    say("Gathering the database's statistics on the moved tables")
                    connection.execute("ANALYZE")
            except psycopg.Error as error:
                raise PilotHealthError(
                    f"Moving the store into {shown} failed ({_first_line(error)}); nothing was kept there: "
                    "the database is as it was."
                ) from None
            finally:
                connection.close()
        finally:
            src.rollback()
    return MoveResult(source, shown, counts, facts, time.perf_counter() - started)


def _move(
    src: Any, connection: Any, tables: list[str], facts: dict, shown: str, chunk_rows: int, say: Callable[[str], None]
) -> dict[str, int]:
    con = _OneTransaction(connection)
    con.execute("SET LOCAL TIME ZONE 'UTC'")
    # Replicas starting now wait to migrate, and writers to write, until the move has committed.
    con.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATE_LOCK_KEY]).fetchall()
    con.execute("SELECT pg_advisory_xact_lock(?)", [WRITE_LOCK_KEY]).fetchall()
    held = _rows_held(con)
    if held:
        raise PilotHealthError(
            f"The PostgreSQL database {shown} already holds a Pilot Health store ({', '.join(held)}); nothing was "
            "copied. migrate-store moves a store into an empty database only: create a new database (for example "
            "with createdb) and give its address to --to."
        )
    say("Making the store's tables in the database")
    migrate(con)
    for table in BOOKKEEPING:
        con.execute(f"DELETE FROM {table}")
    counts: dict[str, int] = {}
    for table in tables:
        columns = _columns(src, con, table, shown)
        total = facts["counts"][table]
        counts[table] = _copy_table(src, connection, table, columns, total, chunk_rows, say)
    _set_sequences(src, con)
    say("Checking the rows and facts against the file")
    moved = {t: _count(con, t) for t in tables}
    if moved != facts["counts"]:
        wrong = [t for t in tables if moved[t] != facts["counts"][t]]
        raise PilotHealthError(
            f"The rows copied into {shown} do not match the file ({', '.join(wrong)} differ); nothing was kept there."
        )
    copied = queries.store_facts(con)
    if copied != facts:
        wrong = [key for key in facts if copied.get(key) != facts[key]]
        raise PilotHealthError(
            f"The store copied into {shown} does not match the file ({', '.join(wrong)} differ); "
            "nothing was kept there."
        )
    return moved


def _rows_held(con: PgConnection) -> list[str]:
    """What the database holds already, in words ("24 pilots", "3 uploads"): the store's tables
    with rows, leaving out its bookkeeping (a database a dashboard has only opened is empty)."""
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    }
    held = []
    for table in queries.STORE_TABLES:
        if table in present and table not in BOOKKEEPING:
            count = _count(con, table)
            if count:
                held.append(f"{plural(count, 'row')} in {table}")
    return held


def _count(con: PgConnection, table: str) -> int:
    """The rows of one of the store's tables (`table` from the store's own list)."""
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _columns(src: Any, con: PgConnection, table: str, shown: str) -> list[str]:
    """The table's columns in the database's order; the file must have the same ones (both were
    made by the same migrations)."""
    target = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    here = {
        r[0]
        for r in src.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?",
            [table],
        ).fetchall()
    }
    if set(target) != here:
        raise PilotHealthError(
            f"The table {table} has other columns in {shown} than in the file; nothing was copied. "
            "Use an empty database and the same Pilot Health version for both."
        )
    return target


def _copy_table(
    src: Any,
    connection: Any,
    table: str,
    columns: list[str],
    total: int,
    chunk_rows: int,
    say: Callable[[str], None],
) -> int:
    """COPY the file's rows of `table` into the database, `chunk_rows` at a time. `table` and
    `columns` come from the store's own table list and the database's catalogue."""
    listed = ", ".join(f'"{c}"' for c in columns)
    result = src.execute(f"SELECT {listed} FROM {table}")
    done = 0
    say(f"Copying {table}: {total:,} rows")
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({listed}) FROM STDIN") as copy:
        for chunk in _chunks(result, chunk_rows):
            for row in chunk:
                copy.write_row(row)
            done += len(chunk)
            if total > chunk_rows:
                say(f"Copying {table}: {done:,} of {total:,} rows")
    return done


def _chunks(result: Any, size: int) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := result.fetchmany(size):
        yield chunk


def _set_sequences(src: Any, con: PgConnection) -> None:
    """Each id sequence where the file's stands: the next upload, meeting or decision gets the
    number it would have had in the file."""
    here = dict(src.execute("SELECT sequence_name, last_value FROM duckdb_sequences()").fetchall())
    there = {
        r[0]
        for r in con.execute(
            "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema()"
        ).fetchall()
    }
    for name in sorted(there & set(here)):
        last = here[name]
        con.execute("SELECT setval(?, ?, ?)", [name, 1 if last is None else last, last is not None]).fetchall()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
