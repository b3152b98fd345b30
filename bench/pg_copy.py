"""Copy a DuckDB store into an empty PostgreSQL store, table by table, for the benchmarks.

    PYTHONPATH=$PWD/src .venv/bin/python bench/pg_copy.py bench/out/bench.duckdb postgresql://…/bench

The page benchmark (`bench_pages.py --pg URL`) times the same 500-pilot store on both engines, so
it needs the bench file's rows in PostgreSQL exactly as they are (same pilots, uploads, versions,
store_meta). This is a bench tool, not the product's `migrate-store` command: the target database
is brought to the current schema by the project's own migrations (`PostgresStore.ensure_ready`),
every table is emptied, then each DuckDB table is written to a CSV file by DuckDB and sent with
PostgreSQL's `COPY … FROM STDIN (FORMAT csv)` (5 million metric rows in well under a minute), and
every sequence is moved past the largest id copied. The source is opened read-only through a copy
of the file, so the bench file itself is never changed (not even migrated).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from pilot_health.store.database import Store
from pilot_health.store.postgres import PostgresStore, close_pools, shown_url

CHUNK = 1 << 20


def _postgres_columns(cursor: Any) -> dict[str, list[str]]:
    rows = cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def _sequences(cursor: Any) -> list[tuple[str, str, str]]:
    """(sequence, table, column) for every column whose default takes the next value of a sequence."""
    rows = cursor.execute(
        "SELECT table_name, column_name, column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'"
    ).fetchall()
    found = []
    for table, column, default in rows:
        sequence = default.split("'")[1]
        found.append((sequence, table, column))
    return found


def copy_store(source: Path, url: str, *, quiet: bool = False) -> dict[str, int]:
    """Every row of the DuckDB store `source` into the PostgreSQL store at `url` (emptied first).
    Returns the rows copied per table."""
    import psycopg

    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    work = Path(tempfile.mkdtemp(prefix="pg-copy-"))
    try:
        copy = work / "source.duckdb"
        shutil.copy(source, copy)
        wal = source.with_name(source.name + ".wal")
        if wal.exists():
            shutil.copy(wal, copy.with_name(copy.name + ".wal"))
        Store(copy).ensure_ready()  # the copy at the current schema, like the target
        PostgresStore(url).ensure_ready()
        close_pools()
        counts: dict[str, int] = {}
        duck = duckdb.connect(str(copy), read_only=True)
        try:
            duck_tables = {
                t: [
                    c
                    for (c,) in duck.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
                        "AND table_name = ? ORDER BY ordinal_position",
                        [t],
                    ).fetchall()
                ]
                for (t,) in duck.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                ).fetchall()
            }
            with psycopg.connect(url) as pg:
                tables = _postgres_columns(pg)
                names = [t for t in tables if t != "schema_migrations" and t in duck_tables]
                pg.execute(f"TRUNCATE {', '.join(names)}")
                for table in names:
                    columns = [c for c in tables[table] if c in duck_tables[table]]
                    started = time.perf_counter()
                    csv = work / f"{table}.csv"
                    listed = ", ".join(f'"{c}"' for c in columns)
                    duck.execute(f"COPY (SELECT {listed} FROM {table}) TO '{csv}' (FORMAT csv, HEADER false)")
                    sql = f"COPY {table} ({listed}) FROM STDIN (FORMAT csv)"
                    with pg.cursor() as cursor, cursor.copy(sql) as out, csv.open("rb") as file:
                        while chunk := file.read(CHUNK):
                            out.write(chunk)
                    csv.unlink()
                    counts[table] = pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    say(f"  {table:<24} {counts[table]:>10,} rows  {time.perf_counter() - started:6.1f} s")
                for sequence, table, column in _sequences(pg):
                    pg.execute(
                        f"SELECT setval('{sequence}', coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
                    )
                pg.commit()
                pg.autocommit = True
                started = time.perf_counter()
                pg.execute("VACUUM ANALYZE")
                say(f"  VACUUM ANALYZE {time.perf_counter() - started:6.1f} s")
        finally:
            duck.close()
        return counts
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Copy a DuckDB store into an empty PostgreSQL store (bench tool).")
    parser.add_argument("source", type=Path, help="the DuckDB store file (never changed)")
    parser.add_argument("url", help="postgresql://… of the target database (its tables are emptied)")
    args = parser.parse_args(argv)
    print(f"Copying {args.source} into {shown_url(args.url)} …")
    started = time.perf_counter()
    copy_store(args.source.expanduser().resolve(), args.url)
    print(f"Done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
