"""The store on a shared PostgreSQL server: what several dashboard replicas and a scheduler on
another host use (`PILOT_HEALTH_DB=postgresql://…`; docs/deployment.md).

`PostgresStore` offers what `Store` offers (`read`, `write`, `meta`, `for_person` …, the same
`store.base.StoreBase`) so nothing above the store knows which one it has. Its connections come
from one pool per server address and process, and hold no state between units of work:

- a read is one transaction that is rolled back at the end, so the temporary views that narrow a
  limited person's reads (`queries.narrow_to`) vanish with it;
- a write is one transaction that first takes a transaction-level advisory lock, so writes from
  every replica and the command line run one after the other: duplicate and replace detection
  sees every upload committed before it, exactly as with one embedded file;
- the store version is read from the server on every page view (one indexed row), so a write
  through any replica or the command line is seen on every replica's next view.

`PgConnection` gives the parts of DuckDB's connection the queries use (`execute` with `?`
values, `fetchall`, `df`, `register`), translating through `dialect.to_postgres`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from pilot_health.errors import StoreError, StoreLockedError
from pilot_health.store import queries
from pilot_health.store.base import StoreBase
from pilot_health.store.dialect import POSTGRES, POSTGRES_SCHEMA, to_postgres
from pilot_health.store.migrations import migrate

if TYPE_CHECKING:
    import psycopg

    from pilot_health.access import Scope

# pg_advisory_xact_lock keys: every write, and bringing the schema up to date.
WRITE_LOCK_KEY = 0x5049_4C4F  # "PILO"
MIGRATE_LOCK_KEY = 0x5049_4D47  # "PIMG"
POOL_MAX_SIZE = 10

_POOLS: dict[str, Any] = {}
_POOLS_LOCK = threading.Lock()
_READY: set[str] = set()
_READY_LOCK = threading.Lock()

# PostgreSQL type oids -> what DuckDB's .df() gives for the same column (nullable: a pandas masked type).
_INTEGER_TYPES = {21: ("int16", "Int16"), 23: ("int32", "Int32"), 20: ("int64", "Int64")}
_SMALLINT = 21
_FLOAT_TYPES = {700, 701, 1700}
_TIME_TYPES = {1082, 1114, 1184}
_TEXT_TYPES = {25, 1043, 1042, 19}
_BOOLEAN = 16


def shown_url(url: str) -> str:
    """The address without its password: what messages and the command line's output show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, parts.query, parts.fragment))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is in requirements.txt
        raise StoreError(
            "This Pilot Health was installed without PostgreSQL support; install the packages in requirements.txt."
        ) from None
    return psycopg


class PgResult:
    """The answer to one statement, read like DuckDB's (fetchall, fetchone, df)."""

    def __init__(self, cursor: psycopg.Cursor) -> None:
        self.cursor = cursor

    @property
    def description(self) -> Any:
        return self.cursor.description

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.cursor.fetchall() if self.cursor.description else []

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.cursor.fetchone() if self.cursor.description else None

    def df(self) -> pd.DataFrame:
        """The rows as a DataFrame with the column types DuckDB's `.df()` gives, so the analytics
        above the store cannot tell the engines apart (whole numbers stay whole, a column with
        blanks becomes a pandas nullable type, dates and times become datetime64[us])."""
        description = self.cursor.description or []
        rows = self.fetchall()
        columns = {}
        for i, column in enumerate(description):
            values = [row[i] for row in rows]
            columns[column.name] = _series(values, column.type_code)
        return pd.DataFrame(columns, columns=[c.name for c in description])

    fetchdf = df


def _series(values: list[Any], type_code: int) -> Any:
    blanks = any(v is None for v in values)
    if type_code in _INTEGER_TYPES:
        plain, nullable = _INTEGER_TYPES[type_code]
        if type_code == _SMALLINT and all(v is None or -128 <= v <= 127 for v in values):
            plain, nullable = "int8", "Int8"  # the schema's TINYINT (survey scores) is a smallint here
        return pd.array(values, dtype=nullable) if blanks else np.array(values, dtype=plain)
    if type_code in _FLOAT_TYPES:
        return np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
    if type_code == _BOOLEAN:
        return pd.array(values, dtype="boolean") if blanks else np.array(values, dtype=bool)
    if type_code in _TIME_TYPES:
        return pd.to_datetime(pd.Series(values, dtype=object)).astype("datetime64[us]")
    if type_code in _TEXT_TYPES:
        if all(v is None for v in values):  # DuckDB's too, for no rows or only blanks
            return pd.Series(values, dtype=object)
        return pd.array(values, dtype="str")
    return pd.Series(values, dtype=object)


def _postgres_type(series: pd.Series) -> str:
    """The column type of a temporary table that holds `series` (see PgConnection.register)."""
    kind = series.dtype.kind
    if kind == "b" or str(series.dtype) == "boolean":
        return "BOOLEAN"
    if kind in "iu" or str(series.dtype).startswith(("Int", "UInt")):
        return "BIGINT"
    if kind == "f" or str(series.dtype).startswith("Float"):
        return "DOUBLE PRECISION"
    if kind == "M":
        return "TIMESTAMP"
    sample = next((v for v in series if v is not None and not (isinstance(v, float) and np.isnan(v))), None)
    if isinstance(sample, bool | np.bool_):
        return "BOOLEAN"
    if isinstance(sample, datetime | pd.Timestamp):
        return "TIMESTAMP"
    if isinstance(sample, date):
        return "DATE"
    if isinstance(sample, int | np.integer):
        return "BIGINT"
    if isinstance(sample, float | np.floating):
        return "DOUBLE PRECISION"
    if isinstance(sample, list | tuple | np.ndarray):
        return "VARCHAR[]"
    return "VARCHAR"


def _plain(value: Any) -> Any:
    """A cell as psycopg sends it: blanks (None, NaN, NaT, pd.NA) as NULL, numpy scalars as Python's."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _rows_of(frame: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    for row in frame.itertuples(index=False, name=None):
        yield tuple(_plain(v) for v in row)


class PgConnection:
    """One pooled PostgreSQL connection, used the way the queries use a DuckDB connection."""

    dialect = POSTGRES

    def __init__(self, connection: psycopg.Connection) -> None:
        self.connection = connection
        self.registered: set[str] = set()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgResult:
        cursor = self.connection.cursor()
        cursor.execute(to_postgres(sql), [_plain(p) for p in params] if params is not None else [])
        return PgResult(cursor)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> PgResult:
        cursor = self.connection.cursor()
        rows = [[_plain(v) for v in row] for row in rows]
        if rows:
            cursor.executemany(to_postgres(sql), rows)
        return PgResult(cursor)

    def copy_rows(
        self, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]] | Sequence[tuple[Any, ...]]
    ) -> int:
        """Send rows into `table` with COPY (many times faster than INSERT for a large upload).
        `table` and `columns` come from the store's own lists, never from a file."""
        count = 0
        with self.connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make a DataFrame queryable as `name` (DuckDB's `register`): a temporary table, filled
        with COPY and dropped at the end of the transaction, so a pooled connection keeps nothing."""
        self.unregister(name)
        columns = ", ".join(f'"{c}" {_postgres_type(frame[c])}' for c in frame.columns)
        self.connection.execute(f'CREATE TEMP TABLE "{name}" ({columns}) ON COMMIT DROP')
        self.copy_rows(f'"{name}"', [f'"{c}"' for c in frame.columns], _rows_of(frame))
        self.registered.add(name)

    def unregister(self, name: str) -> None:
        if name in self.registered:
            self.connection.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
            self.registered.discard(name)

    def cursor(self) -> PgConnection:
        return self

    def begin(self) -> None:
        """psycopg begins a transaction with the first statement; nothing to do."""

    def commit(self) -> None:
        self.connection.commit()
        self.registered.clear()

    def rollback(self) -> None:
        self.connection.rollback()
        self.registered.clear()

    def close(self) -> None:
        """Pooled: the pool takes it back when the unit of work ends."""


def _configure(connection: psycopg.Connection) -> None:
    """Every new pooled connection: numbers as floats (PostgreSQL gives avg() and sum() of whole
    numbers as exact decimals; DuckDB and the analytics use floats), times in UTC, the store's
    schema searched whatever search_path the role or the database was given (the tables are made
    there, and a limited person's views reach them there: `queries.narrow_to`), and no JIT
    compilation: the server compiles any statement it estimates as large (one pilot's weekly
    series qualifies at five million rows) and that took 1.8 s of a 3.1 s query, far more than it saves."""
    from psycopg.types.numeric import FloatLoader

    connection.adapters.register_loader("numeric", FloatLoader)
    connection.execute("SET TIME ZONE 'UTC'")
    connection.execute(f"SET search_path = {POSTGRES_SCHEMA}")
    connection.execute("SET jit = off")
    connection.commit()


def _pool(url: str, wait: float) -> Any:
    with _POOLS_LOCK:
        pool = _POOLS.get(url)
        if pool is None:
            psycopg = _psycopg()
            from psycopg_pool import ConnectionPool

            # One connection first, so a wrong address, a database that does not exist or a refused
            # password is told at once in one sentence, instead of the pool retrying it in the
            # background (and writing its warnings) until the wait runs out.
            try:
                psycopg.connect(url, connect_timeout=max(int(wait), 2)).close()
            except psycopg.Error as error:
                raise _friendly_error(url, error) from None

            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_MAX_SIZE,
                configure=_configure,
                timeout=max(wait, 1.0),
                open=False,
                name="pilot-health",
            )
            pool.open(wait=False)
            _POOLS[url] = pool
        return pool


def close_pools() -> None:
    """Close every pool of this process (tests that drop a database; the end of a command)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
        _READY.clear()
    for pool in pools:
        pool.close()


def forget_schema(url: str) -> None:
    """Check the schema of the store at `url` again on this process's next unit of work: a restore
    may have put a store made by an older version in place, which the migrations then bring up."""
    with _READY_LOCK:
        _READY.discard(url)


def _friendly_error(url: str, error: Exception) -> StoreError:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if "timeout" in type(error).__name__.lower() or "couldn't get a connection" in text:
        return StoreLockedError(
            f"The PostgreSQL store {shown_url(url)} did not answer in time ({text}); check that the server "
            "is running and reachable, and try again."
        )
    return StoreError(f"The PostgreSQL store {shown_url(url)} could not be used ({text}).")


class PostgresStore(StoreBase[PgConnection]):
    """The store on a PostgreSQL server; see the module docstring. Reading, writing and narrowing
    are `StoreBase`'s, the same as the embedded store's; pooled connections, writers' turns and
    commits are here."""

    dialect = POSTGRES

    def __init__(self, url: str, *, lock_wait_seconds: float = 30.0, scope: Scope | None = None) -> None:
        super().__init__(url, lock_wait_seconds=lock_wait_seconds, scope=scope)
        self.url = url

    @property
    def address(self) -> str:
        return self.url

    @property
    def location(self) -> str:
        return shown_url(self.url)

    def exists(self) -> bool:
        """Whether the store has been set up (its tables exist)."""
        with self._connection() as connection:
            row = connection.execute("SELECT to_regclass('store_meta') IS NOT NULL").fetchone()
            connection.rollback()
            return bool(row and row[0])

    def lock_down(self, directories: Sequence[Any]) -> None:
        """Nothing to do: the server reads no files on the dashboard's behalf."""

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection. A server that cannot be reached, or that goes away during the work,
        becomes a StoreError with one sentence (no password); a statement's own error (a broken
        constraint, say) reaches the caller as it is, as DuckDB's do."""
        pool = _pool(self.url, self.lock_wait_seconds)
        psycopg = _psycopg()
        try:
            with pool.connection(timeout=max(self.lock_wait_seconds, 1.0)) as connection:
                yield connection
        except psycopg.OperationalError as error:
            raise _friendly_error(self.url, error) from None
        except Exception as error:
            if type(error).__module__.startswith("psycopg_pool"):
                raise _friendly_error(self.url, error) from None
            raise

    def _ensure_ready(self, con: PgConnection) -> None:
        """Bring the schema up to date once per process; replicas starting together take turns."""
        if self.url in _READY:
            return
        with _READY_LOCK:
            if self.url in _READY:
                return
            con.execute("SELECT pg_advisory_lock(?)", [MIGRATE_LOCK_KEY]).fetchall()
            con.commit()
            try:
                migrate(con)
            finally:
                con.execute("SELECT pg_advisory_unlock(?)", [MIGRATE_LOCK_KEY]).fetchall()
                con.commit()
            _READY.add(self.url)

    @contextmanager
    def _connect(self, *, reading: bool) -> Iterator[PgConnection]:
        """A pooled connection; a read is one transaction, rolled back at the end (nothing is kept).
        A write's is ended by `write` (committed, or rolled back: a broken connection cannot roll
        back, the pool replaces it)."""
        with self._connection() as connection:
            con = PgConnection(connection)
            if not reading:
                yield con
                return
            try:
                yield con
            finally:
                connection.rollback()

    def _take_turn(self, con: PgConnection) -> None:
        """Writes from every replica and process take turns (an advisory lock held to the commit)."""
        self._wait_for_writers(con, "SELECT pg_advisory_xact_lock(?)")

    def _commit(self, con: PgConnection) -> None:
        con.commit()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Keep every writer out until the block ends (what a restore holds)."""
        with self._connection() as connection:
            self._wait_for_writers(PgConnection(connection), "SELECT pg_advisory_lock(?)", exclusive=True)
            connection.commit()
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", [WRITE_LOCK_KEY])
                connection.commit()

    def _wait_for_writers(self, con: PgConnection, statement: str, exclusive: bool = False) -> None:
        """Wait for the writers' lock at most `lock_wait_seconds` (as the embedded store waits for
        its file), then tell in one sentence what kept it, and change nothing."""
        psycopg = _psycopg()
        con.execute(f"SET LOCAL lock_timeout = '{max(int(self.lock_wait_seconds * 1000), 1)}ms'").fetchall()
        try:
            con.execute(statement, [WRITE_LOCK_KEY]).fetchall()
        except psycopg.errors.LockNotAvailable:
            con.rollback()
            what = "an upload, a change or a restore" if exclusive else "another change (an upload or a restore)"
            raise StoreLockedError(
                f"The store {self.location} stayed in use by {what} for {self.lock_wait_seconds:g} seconds; "
                "nothing was changed. Wait for it to finish and try again."
            ) from None
        con.execute("SET LOCAL lock_timeout = 0").fetchall()

    def checkpoint(self) -> None:
        """Nothing to do: the server writes its own files."""

    def meta(self) -> dict[str, str]:
        """The store's bookkeeping, read from the server every time (one small table): a write
        through another replica or the command line shows on this replica's next page view."""
        with self._connection() as connection:
            con = PgConnection(connection)
            try:
                self._ensure_ready(con)
                return queries.read_meta(con)
            finally:
                connection.rollback()
