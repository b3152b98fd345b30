"""The few places where DuckDB's SQL and PostgreSQL's differ, in one module.

The queries are written once, in the SQL both engines understand (`?` for a value, window
functions in a subquery instead of DuckDB's `QUALIFY`, named columns instead of `GROUP BY ALL`).
What cannot be written once is here: `to_postgres` rewrites a statement for psycopg (its value
marker is `%s`, a literal `%` is written `%%`, and PostgreSQL spells DuckDB's `DOUBLE` and
`TINYINT` differently); the functions below give the expressions that differ by name.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Protocol


class Result(Protocol):
    """What a statement gives back, on either engine (DuckDB's connection; PgResult)."""

    @property
    def description(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...

    def df(self) -> Any: ...


class Connection(Protocol):
    """What the queries are given: a DuckDB connection, or a PgConnection (store/postgres.py)."""

    def execute(self, query: str, parameters: Any = ..., /) -> Result: ...

    def executemany(self, query: str, parameters: Any, /) -> Any: ...

    def register(self, view_name: str, python_object: Any, /) -> Any: ...

    def unregister(self, view_name: str, /) -> Any: ...

    def begin(self) -> Any: ...

    def commit(self) -> Any: ...

    def rollback(self) -> Any: ...


POSTGRES = "postgres"
DUCKDB = "duckdb"
# The schema that holds a PostgreSQL store's tables: every pooled connection searches it (and its
# temporary schema) only, whatever search_path the role or database is given.
POSTGRES_SCHEMA = "public"

# A quoted string or identifier (left alone apart from doubling `%`), or anything else.
_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")
_TYPES = (
    (re.compile(r"\bDOUBLE\b(?!\s+PRECISION)", re.IGNORECASE), "DOUBLE PRECISION"),
    (re.compile(r"\bTINYINT\b", re.IGNORECASE), "SMALLINT"),
    # DuckDB's temporary schema is `temp.main`; PostgreSQL's is `pg_temp`.
    (re.compile(r"\btemp\.main\.", re.IGNORECASE), "pg_temp."),
    # `x IN (SELECT unnest(list))`, one of the values given: PostgreSQL plans it as a filter over
    # every row (under an OR it is never turned into a join), while `x = ANY(array)` uses an index —
    # one pilot's rows out of millions. Same answer: no match in an empty or missing list.
    (
        re.compile(r"(?<!NOT )\bIN\s*\(\s*SELECT\s+unnest\((%s::\w+\[\])\)\s*\)", re.IGNORECASE),
        r"= ANY(coalesce(\1, '{}'))",
    ),
)


@lru_cache(maxsize=2048)
def to_postgres(sql: str) -> str:
    """The statement as psycopg takes it: `?` becomes `%s`, `%` becomes `%%` (psycopg reads `%`
    everywhere, in quoted strings too), and DuckDB's type names become PostgreSQL's."""
    parts = []
    for part in _QUOTED.split(sql):
        if part.startswith(("'", '"')):
            parts.append(part.replace("%", "%%"))
            continue
        part = part.replace("%", "%%").replace("?", "%s")
        for pattern, replacement in _TYPES:
            part = pattern.sub(replacement, part)
        parts.append(part)
    return "".join(parts)


def dialect_of(con: Any) -> str:
    """Which engine a connection talks to (the store's connections carry it; DuckDB's do not)."""
    return getattr(con, "dialect", DUCKDB)


def base_schema(con: Any) -> str:
    """The schema that holds the store's tables (what a temporary view of the same name shadows)."""
    return POSTGRES_SCHEMA if dialect_of(con) == POSTGRES else "main"


def sequences(con: Any) -> str:
    """The store's sequences as a table of `sequence_name`, `start_value`, `increment_by` and
    `last_value` (NULL before the first value is taken): DuckDB lists them in `duckdb_sequences()`,
    PostgreSQL in the `pg_sequences` view, under other column names."""
    if dialect_of(con) == POSTGRES:
        return (
            "(SELECT sequencename AS sequence_name, start_value, increment_by, last_value"
            f" FROM pg_sequences WHERE schemaname = '{POSTGRES_SCHEMA}') AS sequences"
        )
    return (
        "(SELECT sequence_name, start_value, increment_by, last_value"
        " FROM duckdb_sequences() WHERE database_name = current_database() AND schema_name = 'main') AS sequences"
    )


def arg_max(con: Any, value: str, *order: str) -> str:
    """`value` of the row with the greatest `order` in a group (DuckDB's arg_max; PostgreSQL has
    no such aggregate, so the first element of the values sorted by `order`, greatest first)."""
    if dialect_of(con) == POSTGRES:
        by = ", ".join(f"{o} DESC" for o in order)
        return f"(array_agg({value} ORDER BY {by}))[1]"
    key = order[0] if len(order) == 1 else f"({', '.join(order)})"
    return f"arg_max({value}, {key})"


def median(con: Any, value: str) -> str:
    """The median of `value` in a group."""
    if dialect_of(con) == POSTGRES:
        return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {value})"
    return f"median({value})"


def row_count(con: Any, table: str) -> str:
    """A statement giving how many rows `table` (one of the store's own) has. PostgreSQL reads
    every row to count them (0.2 s at five million metric rows, after every write); the weekly
    counts it keeps (`metric_weeks`) add up to the same number in a tenth of that. DuckDB knows
    its row count at once."""
    if dialect_of(con) == POSTGRES and table == "metric_observations":
        return "SELECT coalesce(sum(row_count), 0)::BIGINT FROM metric_weeks"
    return f"SELECT count(*) FROM {table}"
