"""Uploads to a PostgreSQL store: the ingest engine runs on an in-memory DuckDB copy of the part of the
store it reads, and what it changed is written to PostgreSQL in the caller's transaction.

The engine parses and checks a file with DuckDB's SQL on whole columns (a million rows in about a
second). On a PostgreSQL store it runs, unchanged, on `engine_connection`'s in-memory DuckDB
database, which has the store's schema and

- the small tables whole: pilots, uploads, upload_pilots, metric_definitions, and the sequences
  of upload, pilot-history and audit ids at the server's values;
- of the big tables (metric_observations, survey_responses) only the rows of uploads in force that
  the file can touch, brought in when the engine is about to read them (`bring_stored_rows`): for
  observations, those of the file's (pilot, metric, lab/live) dated within the file's dates for them;
  for survey responses, those of the file's pilots. A nightly export of new dates brings none.

When the engine is done and the upload is to be stored, `Mirror.apply` writes the difference, in
the PostgreSQL transaction of `PostgresStore.write()`: the new rows with COPY, the rows the upload
replaced deleted, the uploads, pilots, upload pilots and metric definitions it added or changed,
its audit lines and pilot history, and the sequences moved on. The write transaction holds the
store's advisory lock from before the copy is made until the commit, so no other writer (another
replica, the command line) changes the store in between: duplicate and replace detection sees
every upload committed before it, and a failure anywhere stores nothing.

Rows travel as CSV (PostgreSQL's COPY one way, DuckDB's reader and writer the other) through a
file in the upload's own work folder, the fastest way between the two engines.

On the embedded DuckDB store `engine_connection` gives the store's own connection and every
function here does nothing: that path is unchanged.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pilot_health.store.dialect import POSTGRES, dialect_of
from pilot_health.store.migrations import migrate
from pilot_health.store.queries import DATA_KEYS, DATA_TABLES, one_row, one_value

# Tables copied whole, each with its primary key: what the engine changes in them is written back by key.
WHOLE_TABLES: dict[str, tuple[str, ...]] = {
    "pilots": ("pilot_id",),
    "uploads": ("upload_id",),
    "upload_pilots": ("upload_id", "pilot_id"),
    "metric_definitions": ("metric_key",),
}
# Tables the engine only appends to: copied empty, every row found in them at the end is new.
APPENDED_TABLES = ("pilot_history", "audit_log")
SEQUENCES = ("upload_id_seq", "pilot_history_seq", "audit_id_seq")
# The engine never writes these; a row in one at the end would be lost, so it is refused instead.
UNTOUCHED_TABLES = (
    "threshold_overrides",
    "threshold_history",
    "meetings",
    "decisions",
    "alert_subscriptions",
    "alert_runs",
    "alert_events",
    "alert_deliveries",
)
CHUNK = 1 << 20

_MIRRORS: dict[int, Mirror] = {}  # id of an in-memory engine connection -> its mirror (while it is open)


@contextmanager
def engine_connection(
    con: Any, workdir: Path, *, commit: bool, readable: Sequence[Path] = ()
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The connection the ingest engine runs on. For the embedded store: `con` itself. For a
    PostgreSQL store (`con` from its `read()` or `write()`): an in-memory DuckDB copy of what the
    engine reads (see the module docstring), which may read files only in `workdir` (where it also
    spills and passes rows) and `readable`; with `commit`, what the engine changed is written to
    PostgreSQL when the block ends without an error (the caller's transaction commits it)."""
    if dialect_of(con) != POSTGRES:
        yield con
        return
    mirror = Mirror(con, workdir, readable)
    _MIRRORS[id(mirror.duck)] = mirror
    try:
        yield mirror.duck
        if commit:
            mirror.apply()
    finally:
        _MIRRORS.pop(id(mirror.duck), None)
        mirror.close()


def is_server_copy(con: Any) -> bool:
    """Whether `con` is a PostgreSQL store's in-memory copy (see engine_connection)."""
    return id(con) in _MIRRORS


def bring_stored_rows(con: Any, table: str, source: str) -> None:
    """Before the engine reads the stored rows of `table` (a data table) that the rows of `source`
    (one of its own tables, or a parenthesised query, with the table's key columns) can touch: on
    a PostgreSQL store's copy, bring them in. Nothing to do on the embedded store."""
    mirror = _MIRRORS.get(id(con))
    if mirror is not None:
        mirror.bring(table, source)


def bring_upload_rows(con: Any, upload_id: int) -> None:
    """Before the engine reads which rows an earlier upload (in force) stored: on a PostgreSQL store's
    copy, bring that upload's rows in. Nothing to do on the embedded store."""
    mirror = _MIRRORS.get(id(con))
    if mirror is not None:
        mirror.bring_upload(upload_id)


_SCHEMA: list[str] = []  # the statements that make the store's schema, read once per process from a migrated copy
_SCHEMA_LOCK = threading.Lock()


def _create_schema(duck: duckdb.DuckDBPyConnection) -> None:
    """The store's schema, as the migrations make it: migrated once per process, then made again from
    the statements DuckDB gives for it (its sequences, then its tables: a tenth of the time)."""
    with _SCHEMA_LOCK:
        if not _SCHEMA:
            model = duckdb.connect(":memory:")
            try:
                migrate(model)
                _SCHEMA.extend(
                    r[0] for r in model.execute("SELECT sql FROM duckdb_sequences() ORDER BY sequence_name").fetchall()
                )
                _SCHEMA.extend(
                    r[0] for r in model.execute("SELECT sql FROM duckdb_tables() ORDER BY table_name").fetchall()
                )
            finally:
                model.close()
    for statement in _SCHEMA:
        duck.execute(statement)


def _columns(duck: duckdb.DuckDBPyConnection, table: str, schema: str = "main") -> list[tuple[str, str]]:
    return duck.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, table],
    ).fetchall()


def _quoted_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class Mirror:
    """One upload's in-memory DuckDB copy of a PostgreSQL store (see the module docstring)."""

    def __init__(self, pg: Any, workdir: Path, readable: Sequence[Path] = ()) -> None:
        self.pg = pg
        self.workdir = Path(workdir)
        self._files = itertools.count()
        self.duck = duckdb.connect(":memory:")
        try:
            self._open(readable)
        except BaseException:
            self.duck.close()
            raise

    def _open(self, readable: Sequence[Path]) -> None:
        duck = self.duck
        duck.execute("SET enable_progress_bar = false")
        duck.execute("SET temp_directory = ?", [str(self.workdir)])
        _create_schema(duck)
        allowed = {str(Path(p).resolve()) + "/" for p in (self.workdir, *readable)}
        duck.execute("SET allowed_directories = ?", [sorted(allowed)])
        duck.execute("SET enable_external_access = false")
        duck.begin()  # as in the store's write transaction (row ids start high in one: loading.load)
        duck.execute("CREATE SCHEMA transfer")  # what was brought in, to compare with at the end
        for table in (*WHOLE_TABLES, *DATA_TABLES):
            duck.execute(f"CREATE TABLE transfer.{table} AS SELECT * FROM main.{table} LIMIT 0")
        for table in WHOLE_TABLES:
            self._pull(table, f"SELECT {{columns}} FROM {table}")
        self.first_ids: dict[str, int] = {}
        for sequence in SEQUENCES:
            row = one_row(self.pg.execute(f"SELECT last_value, is_called FROM {sequence}"))
            first = int(row[0]) + (1 if row[1] else 0)
            self.first_ids[sequence] = first
            if first > 1:
                duck.execute(f"SELECT max(nextval('{sequence}')) FROM range(?)", [first - 1]).fetchall()
        self.observation_groups: dict[tuple[str, str, str], tuple[datetime, datetime]] = {}
        self.survey_pilots: set[str] = set()
        self.whole_uploads: set[int] = set()

    def close(self) -> None:
        self.duck.close()

    # -- PostgreSQL -> DuckDB ------------------------------------------------------------------

    def _pull(self, table: str, query: str) -> int:
        """The rows of `query` (on PostgreSQL; `{columns}` stands for the table's columns) into the
        copy's `table` and into its snapshot in schema `transfer`. Returns how many."""
        columns = _columns(self.duck, table)
        names = ", ".join(name for name, _ in columns)
        path = self.workdir / f"transfer-{next(self._files)}.csv"
        try:
            statement = f"COPY ({query.format(columns=names)}) TO STDOUT (FORMAT csv)"
            with path.open("wb") as out, self.pg.connection.cursor() as cursor, cursor.copy(statement) as copy:
                for data in copy:
                    out.write(data)
            if path.stat().st_size == 0:
                return 0
            types = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns) + "}"
            self.duck.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE transfer_incoming AS SELECT * FROM read_csv(
                    {_quoted_path(path)}, header = false, delim = ',', quote = '"', escape = '"',
                    auto_detect = false, columns = {types}, allow_quoted_nulls = false)
                """
            )
        finally:
            path.unlink(missing_ok=True)
        self.duck.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM transfer_incoming")
        self.duck.execute(f"INSERT INTO transfer.{table} ({names}) SELECT {names} FROM transfer_incoming")
        count = int(one_value(self.duck.execute("SELECT count(*) FROM transfer_incoming")))
        self.duck.execute("DROP TABLE transfer_incoming")
        return count

    def bring(self, table: str, source: str) -> None:
        if table not in DATA_TABLES:
            raise ValueError(f"not a data table: {table!r}")
        if table == "survey_responses":
            self._bring_survey_pilots(source)
        else:
            self._bring_observations(source)

    def _in_force(self) -> str:
        """Rows of uploads in force (the engine never reads others), none of an upload brought whole."""
        whole = "".join(f" AND t.upload_id <> {int(u)}" for u in sorted(self.whole_uploads))
        return f"t.upload_id IN (SELECT upload_id FROM uploads WHERE withdrawn_at IS NULL){whole}"

    def _bring_survey_pilots(self, source: str) -> None:
        pilots = {
            r[0]
            for r in self.duck.execute(f"SELECT DISTINCT pilot_id FROM {source} WHERE pilot_id IS NOT NULL").fetchall()
        }
        wanted = sorted(pilots - self.survey_pilots)
        if not wanted:
            return
        self._send_pilots(wanted)
        self._pull(
            "survey_responses",
            "SELECT {columns} FROM survey_responses t "
            f"WHERE t.pilot_id IN (SELECT pilot_id FROM pg_temp.transfer_pilots) AND {self._in_force()}",
        )
        self._drop_temporary("transfer_pilots")
        self.survey_pilots.update(wanted)

    def _bring_observations(self, source: str) -> None:
        """The stored observations of the file's (pilot, metric, lab/live) within the file's dates for
        them; a group brought before is widened by what it lacks."""
        groups = self.duck.execute(
            f"""
            SELECT pilot_id, metric, environment, min(observed_at), max(observed_at) FROM {source}
            WHERE pilot_id IS NOT NULL AND metric IS NOT NULL AND environment IS NOT NULL AND observed_at IS NOT NULL
            GROUP BY pilot_id, metric, environment
            """
        ).fetchall()
        wanted = []
        for pilot, metric, environment, low, high in groups:
            known = self.observation_groups.get((pilot, metric, environment))
            if known is not None and known[0] <= low and high <= known[1]:
                continue
            new_low, new_high = (low, high) if known is None else (min(low, known[0]), max(high, known[1]))
            wanted.append((pilot, metric, environment, new_low, new_high, *(known or (None, None))))
            self.observation_groups[(pilot, metric, environment)] = (new_low, new_high)
        if not wanted:
            return
        self._send_groups(wanted)
        columns = ", ".join(f"t.{c}" for c in DATA_TABLES["metric_observations"])
        self._pull(
            "metric_observations",
            f"""
            SELECT {columns} FROM metric_observations t JOIN pg_temp.transfer_groups g
              ON t.pilot_id = g.pilot_id AND t.metric = g.metric AND t.environment = g.environment
             AND t.observed_at BETWEEN g.low AND g.high
             AND (g.old_low IS NULL OR t.observed_at NOT BETWEEN g.old_low AND g.old_high)
            WHERE {self._in_force()}
            """,
        )
        self._drop_temporary("transfer_groups")

    def bring_upload(self, upload_id: int) -> None:
        """Every row of one upload in force (what an earlier upload stored), once: those of groups
        or pilots brought in already are there, and later groups leave this upload's rows out."""
        upload_id = int(upload_id)
        if upload_id in self.whole_uploads:
            return
        self._send_pilots(sorted(self.survey_pilots))
        self._send_groups([(*group, *span, None, None) for group, span in self.observation_groups.items()])
        self._pull(
            "metric_observations",
            f"""
            SELECT {{columns}} FROM metric_observations t WHERE t.upload_id = {upload_id} AND NOT EXISTS (
                SELECT 1 FROM pg_temp.transfer_groups g
                WHERE t.pilot_id = g.pilot_id AND t.metric = g.metric AND t.environment = g.environment
                  AND t.observed_at BETWEEN g.low AND g.high)
            """,
        )
        self._pull(
            "survey_responses",
            f"SELECT {{columns}} FROM survey_responses t WHERE t.upload_id = {upload_id} "
            "AND t.pilot_id NOT IN (SELECT pilot_id FROM pg_temp.transfer_pilots)",
        )
        self._drop_temporary("transfer_groups", "transfer_pilots")
        self.whole_uploads.add(upload_id)

    def _send_pilots(self, pilots: list[str]) -> None:
        """Pilot codes into PostgreSQL's temporary `transfer_pilots` (COPY takes no parameters)."""
        self.pg.execute("CREATE TEMP TABLE transfer_pilots (pilot_id VARCHAR) ON COMMIT DROP").fetchall()
        self.pg.copy_rows("pg_temp.transfer_pilots", ["pilot_id"], [(p,) for p in pilots])
        self.pg.execute("ANALYZE pg_temp.transfer_pilots").fetchall()  # so the planner uses the index

    def _send_groups(self, groups: list[tuple[Any, ...]]) -> None:
        """(pilot, metric, lab/live, low, high, old low, old high) into PostgreSQL's temporary `transfer_groups`."""
        self.pg.execute(
            """
            CREATE TEMP TABLE transfer_groups (pilot_id VARCHAR, metric VARCHAR, environment VARCHAR,
                low TIMESTAMP, high TIMESTAMP, old_low TIMESTAMP, old_high TIMESTAMP) ON COMMIT DROP
            """
        ).fetchall()
        self.pg.copy_rows(
            "pg_temp.transfer_groups",
            ["pilot_id", "metric", "environment", "low", "high", "old_low", "old_high"],
            groups,
        )
        self.pg.execute("ANALYZE pg_temp.transfer_groups").fetchall()  # so the planner uses the index

    def _drop_temporary(self, *tables: str) -> None:
        for table in tables:
            self.pg.execute(f"DROP TABLE IF EXISTS pg_temp.{table}").fetchall()

    # -- DuckDB -> PostgreSQL ------------------------------------------------------------------

    def _push(self, query: str, names: str, target: str) -> int:
        """The rows of `query` (on the copy) into PostgreSQL's `target`, columns `names`, with COPY.
        Returns how many."""
        path = self.workdir / f"transfer-{next(self._files)}.csv"
        try:
            count = int(
                one_value(
                    self.duck.execute(
                        f"COPY (SELECT {names} FROM ({query})) TO {_quoted_path(path)} "
                        "(FORMAT csv, HEADER false, QUOTE '\"', ESCAPE '\"')"
                    )
                )
            )
            if count:
                statement = f"COPY {target} ({names}) FROM STDIN (FORMAT csv)"
                with path.open("rb") as rows, self.pg.connection.cursor() as cursor, cursor.copy(statement) as copy:
                    while data := rows.read(CHUNK):
                        copy.write(data)
        finally:
            path.unlink(missing_ok=True)
        return count

    def _names(self, table: str) -> list[str]:
        return [name for name, _ in _columns(self.duck, table)]

    def apply(self) -> None:
        """Write what the engine changed to PostgreSQL, in the caller's transaction."""
        for table in UNTOUCHED_TABLES:
            if one_value(self.duck.execute(f"SELECT count(*) FROM main.{table}")):
                raise RuntimeError(f"the ingest wrote {table}, which the transfer to PostgreSQL does not carry")
        new_upload = self.first_ids["upload_id_seq"]
        for table, key in DATA_KEYS.items():
            self._apply_data(table, key, new_upload)
        for table, key in WHOLE_TABLES.items():
            self._apply_whole(table, key)
        for table in APPENDED_TABLES:
            names = ", ".join(self._names(table))
            self._push(f"SELECT {names} FROM main.{table}", names, table)
        for sequence in SEQUENCES:
            last = one_value(
                self.duck.execute(
                    "SELECT last_value FROM duckdb_sequences() WHERE database_name = current_database() "
                    "AND sequence_name = ?",
                    [sequence],
                )
            )
            if last is not None and last >= self.first_ids[sequence]:
                self.pg.execute(f"SELECT setval('{sequence}', ?)", [int(last)]).fetchall()

    def _apply_data(self, table: str, key: tuple[str, ...], new_upload: int) -> None:
        """The upload's own rows (ids from `new_upload` on) with COPY; stored rows it deleted (or
        changed) deleted by key and upload, changed ones written again."""
        names = ", ".join(self._names(table))
        old = f"SELECT {names} FROM main.{table} WHERE upload_id < {int(new_upload)}"
        gone = f"SELECT {names} FROM transfer.{table} EXCEPT ALL {old}"
        matched = ", ".join((*key, "upload_id"))
        self.pg.execute(
            f"CREATE TEMP TABLE transfer_gone ON COMMIT DROP AS SELECT {matched} FROM {table} LIMIT 0"
        ).fetchall()
        expected = self._push(gone, matched, "pg_temp.transfer_gone")
        if expected:
            condition = " AND ".join(f"t.{c} = g.{c}" for c in (*key, "upload_id"))
            deleted = self.pg.execute(f"DELETE FROM {table} t USING pg_temp.transfer_gone g WHERE {condition}").rowcount
            if deleted != expected:  # the store changed under the lock: impossible, and nothing is stored
                raise RuntimeError(f"{table}: {deleted} rows deleted on the server, {expected} expected")
        self._drop_temporary("transfer_gone")
        self._push(f"{old} EXCEPT ALL SELECT {names} FROM transfer.{table}", names, table)
        self._push(f"SELECT {names} FROM main.{table} WHERE upload_id >= {int(new_upload)}", names, table)

    def _apply_whole(self, table: str, key: tuple[str, ...]) -> None:
        """Rows the engine removed deleted by key; rows it added or changed written by key."""
        names = self._names(table)
        listed, keys = ", ".join(names), ", ".join(key)
        self.pg.execute(
            f"CREATE TEMP TABLE transfer_removed ON COMMIT DROP AS SELECT {keys} FROM {table} LIMIT 0"
        ).fetchall()
        removed = f"SELECT {keys} FROM transfer.{table} EXCEPT SELECT {keys} FROM main.{table}"
        if self._push(removed, keys, "pg_temp.transfer_removed"):
            condition = " AND ".join(f"t.{c} = r.{c}" for c in key)
            self.pg.execute(f"DELETE FROM {table} t USING pg_temp.transfer_removed r WHERE {condition}").fetchall()
        self.pg.execute(
            f"CREATE TEMP TABLE transfer_changed ON COMMIT DROP AS SELECT {listed} FROM {table} LIMIT 0"
        ).fetchall()
        changed = f"SELECT {listed} FROM main.{table} EXCEPT SELECT {listed} FROM transfer.{table}"
        if self._push(changed, listed, "pg_temp.transfer_changed"):
            others = [c for c in names if c not in key]
            action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others) if others else "DO NOTHING"
            self.pg.execute(
                f"INSERT INTO {table} ({listed}) SELECT {listed} FROM pg_temp.transfer_changed "
                f"ON CONFLICT ({keys}) {action}"
            ).fetchall()
        self._drop_temporary("transfer_removed", "transfer_changed")
