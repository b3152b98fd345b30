"""The one place for SQL about pilots, uploads and data rows.

Every function takes an open connection from `Store.read()` or `Store.write()`, so callers decide
what runs in one transaction. Values always travel as parameters; table and column names only ever
come from the allow-lists below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pilot_health.lazy import pandas as pd
from pilot_health.models import AUDIT_ACTIONS, PILOT_FIELDS, Pilot
from pilot_health.store import dialect
from pilot_health.store.dialect import Connection, Result

PILOT_COLUMNS: tuple[str, ...] = PILOT_FIELDS + ("updated_at",)
UPLOAD_KINDS = ("pilot_register", "metrics", "usage", "survey")
METRIC_COLUMNS = ("pilot_id", "metric", "kind", "environment", "observed_at", "value", "upload_id")
SURVEY_COLUMNS = (
    "pilot_id",
    "respondent_id",
    "responded_at",
    "wave",
    "team",
    "role",
    "awareness",
    "desire",
    "knowledge",
    "ability",
    "reinforcement",
    "comment",
    "upload_id",
)
DATA_TABLES = {"metric_observations": METRIC_COLUMNS, "survey_responses": SURVEY_COLUMNS}
COUNTED_TABLES = ("pilots", "uploads", "metric_observations", "survey_responses")


def _column_list(columns: Iterable[str]) -> str:
    return ", ".join(columns)


def register(con: Connection, name: str, frame: pd.DataFrame) -> None:
    """Make a DataFrame queryable as `name`. A new statement closes any result left half-read
    (DuckDB refuses to register while one is open), so one is run first."""
    con.execute("SELECT 1").fetchall()
    con.register(name, frame)


def _run(con: Connection, sql: str, params: Sequence[Any] | None = None) -> None:
    """Run a statement whose result is not needed, and finish it: DuckDB wants every result
    consumed before the connection registers a frame or runs other work."""
    con.execute(sql, list(params) if params is not None else []).fetchall()


def one_row(result: Result) -> tuple[Any, ...]:
    """The row of a statement that always gives one (aggregates, `INSERT ... RETURNING`)."""
    row = result.fetchone()
    if row is None:
        raise LookupError("the statement gave no row")
    return row


def one_value(result: Result) -> Any:
    """The one value of a statement that always gives one row (an aggregate, `INSERT ... RETURNING`)."""
    return one_row(result)[0]


# -- the store's own bookkeeping ------------------------------------------------------------


def read_meta(con: Connection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM store_meta").fetchall())


def put_meta(con: Connection, key: str, value: str) -> None:
    _run(
        con,
        "INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def applied_migrations(con: Connection) -> list[str]:
    """The names of the migrations this store has had, in order (the one place that reads them)."""
    return [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]


# -- a limited person's view of the store ---------------------------------------------------------


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def narrow_to(con: Connection, business_units: Sequence[str], person: str) -> None:
    """From now on this connection sees only these business units' pilots: temporary views of the
    same names shadow the tables (DuckDB resolves a name to the temporary schema first, even when it
    is written with the schema `main`; PostgreSQL searches its temporary schema first for a name
    written without one, so no query names a table's schema), and every query in this module — and
    every total — is narrowed without knowing it. The views reach the real tables by their full name
    (database, schema, table). A pilot belongs to the unit its record has now (a removed pilot: its
    last record); its history, data rows and uploads follow it. Uploads that brought no row for
    these pilots are hidden unless the person made them (register uploads bring no rows); which
    uploads brought rows for which pilots is read from `upload_pilots`, a small table written with
    the rows, not from the data rows (PostgreSQL would read the unit's rows once per upload). An
    upload stays shown after a later one replaced the rows it brought: it did bring them, and the
    person's list of uploads does not shrink behind their back. The audit trail shows their own
    lines only.
    Reads only: a write connection is never narrowed, and the domain checks each write itself. On
    PostgreSQL a read is one transaction, rolled back at its end, and the views and tables made
    here vanish with it: the pooled connection keeps nothing."""
    real = f"{_quoted(one_value(con.execute('SELECT current_database()')))}.{dialect.base_schema(con)}."
    _run(con, "CREATE TEMP TABLE scope_units AS SELECT unnest(?::VARCHAR[]) AS business_unit", [list(business_units)])
    _run(con, "CREATE TEMP TABLE scope_person AS SELECT ?::VARCHAR AS name", [person])
    _run(
        con,
        f"""
        CREATE TEMP TABLE scope_pilots AS
        SELECT pilot_id FROM {real}pilots WHERE business_unit IN (SELECT business_unit FROM scope_units)
        UNION
        SELECT pilot_id FROM (
            SELECT pilot_id, business_unit,
                   row_number() OVER (PARTITION BY pilot_id ORDER BY recorded_at DESC, history_id DESC) AS newest
            FROM {real}pilot_history WHERE pilot_id NOT IN (SELECT pilot_id FROM {real}pilots)
        ) AS removed_pilots
        WHERE newest = 1 AND business_unit IN (SELECT business_unit FROM scope_units)
        """,
    )
    in_scope = "pilot_id IN (SELECT pilot_id FROM scope_pilots)"
    for table in ("pilots", "pilot_history", *DATA_TABLES, "metric_weeks", "upload_pilots", "decisions"):
        _run(con, f"CREATE TEMP VIEW {table} AS SELECT * FROM {real}{table} WHERE {in_scope}")
    _run(
        con,
        f"""
        CREATE TEMP VIEW uploads AS SELECT * FROM {real}uploads
        WHERE uploaded_by IN (SELECT name FROM scope_person)
           OR upload_id IN (SELECT upload_id FROM upload_pilots)
        """,
    )
    _run(
        con,
        f"CREATE TEMP VIEW audit_log AS SELECT * FROM {real}audit_log WHERE who IN (SELECT name FROM scope_person)",
    )
    # How many pilots each upload brought rows for, in every unit (upload ids and counts only; what
    # `last_upload_per_pilot` needs to know that an upload's rows are all its one pilot's).
    _run(
        con,
        f"CREATE TEMP VIEW scope_pilots_per_upload AS "
        f"SELECT upload_id, count(*) AS pilots FROM {real}upload_pilots GROUP BY upload_id",
    )


# -- pilots ---------------------------------------------------------------------------------


def fetch_pilots(con: Connection, records_at: datetime | None = None) -> pd.DataFrame:
    """The register: as it is now, or as it stood at `records_at` (from the pilots' history)."""
    if records_at is None:
        return con.execute(f"SELECT {_column_list(PILOT_COLUMNS)} FROM pilots ORDER BY pilot_id").df()
    return con.execute(
        f"""
        SELECT {_column_list(PILOT_COLUMNS)} FROM ({_newest_versions(PILOT_COLUMNS)}) AS versions
        WHERE newest = 1 AND NOT removed
        ORDER BY pilot_id
        """,
        [records_at],
    ).df()


def _newest_versions(columns: Sequence[str]) -> str:
    """Every pilot's versions recorded by a moment (the one `?`), each with `newest` = 1 for its latest
    (a window in a subquery: what DuckDB's QUALIFY says, in SQL both engines understand)."""
    return f"""
        SELECT {_column_list(columns)}, removed,
               row_number() OVER (PARTITION BY pilot_id ORDER BY recorded_at DESC, history_id DESC) AS newest
        FROM pilot_history WHERE recorded_at <= ?
    """


def _record_history(con: Connection, ids: Sequence[str], when: datetime, removed: bool = False) -> None:
    """Append the current records of these pilots to their history (before a removal: marked removed)."""
    if ids:
        columns = _column_list(PILOT_COLUMNS)
        _run(
            con,
            f"""
            INSERT INTO pilot_history (recorded_at, removed, {columns})
            SELECT ?, ?, {columns} FROM pilots WHERE pilot_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY pilot_id
            """,
            [when, removed, list(ids)],
        )


def fetch_pilot(con: Connection, pilot_id: str) -> dict[str, Any] | None:
    cursor = con.execute(f"SELECT {_column_list(PILOT_COLUMNS)} FROM pilots WHERE pilot_id = ?", [pilot_id])
    row = cursor.fetchone()
    return dict(zip(PILOT_COLUMNS, row)) if row else None


def pilot_ids(con: Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT pilot_id FROM pilots ORDER BY pilot_id").fetchall()]


def pilot_business_units(con: Connection) -> dict[str, str]:
    """Every pilot's business unit, by code (in code order)."""
    return dict(con.execute("SELECT pilot_id, business_unit FROM pilots ORDER BY pilot_id").fetchall())


def insert_pilots(con: Connection, pilots: Sequence[Pilot], updated_at: datetime) -> None:
    if not pilots:  # a register upload that only edits existing pilots has none to insert
        return
    placeholders = ", ".join("?" for _ in PILOT_COLUMNS)
    rows = [[*p.model_dump(mode="python").values(), updated_at] for p in pilots]
    con.executemany(f"INSERT INTO pilots ({_column_list(PILOT_COLUMNS)}) VALUES ({placeholders})", rows)
    _record_history(con, [p.pilot_id for p in pilots], updated_at)


def update_pilot(con: Connection, pilot: Pilot, updated_at: datetime) -> int:
    values = pilot.model_dump(mode="python")
    columns = [c for c in PILOT_FIELDS if c != "pilot_id"]
    assignments = ", ".join(f"{c} = ?" for c in columns) + ", updated_at = ?"
    params = [values[c] for c in columns] + [updated_at, pilot.pilot_id]
    _run(con, f"UPDATE pilots SET {assignments} WHERE pilot_id = ?", params)
    _record_history(con, [pilot.pilot_id], updated_at)
    return one_value(con.execute("SELECT count(*) FROM pilots WHERE pilot_id = ?", [pilot.pilot_id]))


def delete_pilots(con: Connection, ids: Sequence[str], when: datetime | None = None) -> None:
    if ids:
        _record_history(con, ids, when or datetime.now(UTC).replace(tzinfo=None), removed=True)
        _run(con, "DELETE FROM pilots WHERE pilot_id IN (SELECT unnest(?::VARCHAR[]))", [list(ids)])


def forget_pilot_history(con: Connection, ids: Sequence[str]) -> None:
    """Remove every version of these pilots (clearing the demo removes it from the past too)."""
    if ids:
        _run(con, "DELETE FROM pilot_history WHERE pilot_id IN (SELECT unnest(?::VARCHAR[]))", [list(ids)])


# -- uploads and the rows they brought ------------------------------------------------------


def insert_upload(
    con: Connection,
    *,
    kind: str,
    file_name: str,
    sha256: str,
    rows_stored: int,
    rows_rejected: int,
    uploaded_at: datetime,
    uploaded_by: str,
    details: str | None = None,
) -> int:
    if kind not in UPLOAD_KINDS:
        raise ValueError(f"unknown upload kind {kind!r}")
    return one_value(
        con.execute(
            """
        INSERT INTO uploads (kind, file_name, sha256, rows_stored, rows_rejected, uploaded_at, uploaded_by, details)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING upload_id
        """,
            [kind, file_name, sha256, rows_stored, rows_rejected, uploaded_at, uploaded_by, details],
        )
    )


def set_upload_details(con: Connection, upload_id: int, details: str) -> None:
    _run(con, "UPDATE uploads SET details = ? WHERE upload_id = ?", [details, upload_id])


def upload_with_hash(con: Connection, sha256: str) -> tuple[int, str, datetime] | None:
    """The upload in force that had exactly these bytes: (upload_id, file_name, uploaded_at)."""
    return con.execute(
        """
        SELECT upload_id, file_name, uploaded_at FROM uploads
        WHERE sha256 = ? AND withdrawn_at IS NULL ORDER BY upload_id DESC LIMIT 1
        """,
        [sha256],
    ).fetchone()


def insert_rows_from(con: Connection, table: str, source: str, upload_id: int) -> None:
    """Append the rows of one of our temporary tables (`source`, same column names) to a data table."""
    columns = [c for c in DATA_TABLES[table] if c != "upload_id"]
    _run(
        con,
        f"INSERT INTO {table} ({_column_list(columns)}, upload_id) SELECT {_column_list(columns)}, ? FROM {source}",
        [upload_id],
    )
    _note_upload_pilots(con, f"SELECT DISTINCT ?::BIGINT AS upload_id, pilot_id FROM {source}", [upload_id])


def note_stored_upload_pilots(con: Connection, table: str, upload_id: int) -> None:
    """`_note_upload_pilots` for rows an upload already stored in `table` (the ingest's fast path
    writes them as it reads them)."""
    if table not in DATA_TABLES:
        raise ValueError(f"not a data table: {table!r}")
    _note_upload_pilots(con, f"SELECT DISTINCT upload_id, pilot_id FROM {table} WHERE upload_id = ?", [upload_id])


def _note_upload_pilots(con: Connection, pairs: str, params: Sequence[Any] | None = None) -> None:
    """Record which pilots an upload brought rows for (`pairs`: a query giving upload_id, pilot_id),
    in the caller's transaction: how the results keeper knows which pilots a change touched."""
    _run(
        con,
        f"INSERT INTO upload_pilots (upload_id, pilot_id) SELECT DISTINCT upload_id, pilot_id FROM ({pairs}) AS pairs ON CONFLICT DO NOTHING",
        params,
    )


OBSERVATION_KEY = ("pilot_id", "metric", "environment", "observed_at")
RESPONSE_KEY = ("pilot_id", "respondent_id", "wave")
DATA_KEYS = {"metric_observations": OBSERVATION_KEY, "survey_responses": RESPONSE_KEY}


def count_already_stored(con: Connection, table: str, source: str, but_not: int | None = None) -> int:
    """Rows of `source` whose key (pilot, metric, environment, time — or pilot, respondent, wave)
    is already stored by an upload in force; `but_not`: an upload whose rows are `source` (stored
    before its own row is written), left out."""
    key = _column_list(DATA_KEYS[table])
    stored = f"""
        WITH stored AS (
            SELECT {key} FROM {table} t JOIN uploads u USING (upload_id)
            WHERE u.withdrawn_at IS NULL AND t.upload_id IS DISTINCT FROM ? AND t.pilot_id IN (SELECT DISTINCT pilot_id FROM {source})
        )
    """
    # A metric file is big and the stored rows of its pilots few: first its times alone (one column, cheap
    # to compare) are looked for among theirs; only when some time is stored is the whole key compared.
    if table == "metric_observations" and not one_value(
        con.execute(
            f"{stored} SELECT count(*) FROM {source} s WHERE s.observed_at IN (SELECT observed_at FROM stored)",
            [but_not],
        )
    ):
        return 0
    return one_value(
        con.execute(f"{stored} SELECT count(*) FROM {source} s WHERE ({key}) IN (SELECT {key} FROM stored)", [but_not])
    )


def next_upload_id(con: Connection) -> int:
    """The id the next upload will get (the sequence is not moved: its values are not given back by a
    rollback). Whoever stores rows under it checks that `insert_upload` then gives the same id."""
    return one_value(
        con.execute(
            "SELECT coalesce(last_value + increment_by, start_value) "
            f"FROM {dialect.sequences(con)} WHERE sequence_name = ?",
            ["upload_id_seq"],
        )
    )


def drop_already_stored(con: Connection, table: str, source: str) -> None:
    """Keep the stored values: remove from `source` the rows whose key is already stored."""
    key = _column_list(DATA_KEYS[table])
    _run(
        con,
        f"""
        DELETE FROM {source} WHERE ({key}) IN (
            SELECT {key} FROM {table} t JOIN uploads u USING (upload_id)
            WHERE u.withdrawn_at IS NULL AND t.pilot_id IN (SELECT DISTINCT pilot_id FROM {source})
        )
        """,
    )


def delete_replaced(con: Connection, table: str, source: str) -> int:
    """Replace stored values: delete stored rows whose key `source` brings again."""
    key = _column_list(DATA_KEYS[table])
    replaced = f"""
        FROM {table} WHERE ({key}) IN (SELECT {key} FROM {source})
          AND upload_id IN (SELECT upload_id FROM uploads WHERE withdrawn_at IS NULL)
    """
    counts = con.execute(f"SELECT upload_id, count(*) {replaced} GROUP BY upload_id").fetchall()
    _run(con, f"DELETE {replaced}")
    # Keep each earlier upload's rows_stored equal to the rows it still has.
    for upload_id, count in counts:
        _run(con, "UPDATE uploads SET rows_stored = rows_stored - ? WHERE upload_id = ?", [count, upload_id])
    return sum(count for _, count in counts)


def next_waves(con: Connection) -> dict[str, int]:
    """For each pilot, the wave number a new survey upload gets when the file does not say."""
    rows = con.execute(
        """
        SELECT s.pilot_id, max(s.wave) + 1 FROM survey_responses s JOIN uploads u USING (upload_id)
        WHERE u.withdrawn_at IS NULL GROUP BY s.pilot_id
        """
    ).fetchall()
    return dict(rows)


def kpi_names(con: Connection) -> dict[str, str]:
    return dict(con.execute("SELECT pilot_id, kpi_name FROM pilots WHERE kpi_name IS NOT NULL").fetchall())


def list_uploads(con: Connection, include_demo: bool = True) -> pd.DataFrame:
    """Every upload, newest first, with the pilots its rows belong to."""
    return con.execute(
        """
        WITH pilots_per_upload AS (
            SELECT upload_id, string_agg(DISTINCT pilot_id, ', ' ORDER BY pilot_id) AS pilots
            FROM (
                SELECT upload_id, pilot_id FROM metric_observations UNION SELECT upload_id, pilot_id FROM survey_responses
            ) AS rows
            GROUP BY upload_id
        )
        SELECT u.upload_id, u.kind, u.file_name, u.uploaded_at, u.uploaded_by, u.rows_stored, u.rows_rejected,
               p.pilots, u.withdrawn_at, u.sha256, u.details
        FROM uploads u LEFT JOIN pilots_per_upload p USING (upload_id)
        WHERE ? OR u.uploaded_by <> 'demo'
        ORDER BY u.uploaded_at DESC, u.upload_id DESC
        """,
        [include_demo],
    ).df()


def fetch_upload(con: Connection, upload_id: int) -> dict[str, Any] | None:
    cursor = con.execute("SELECT * FROM uploads WHERE upload_id = ?", [upload_id])
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row)) if row else None


def withdraw_upload(con: Connection, upload_id: int, when: datetime) -> None:
    _run(con, "UPDATE uploads SET withdrawn_at = ? WHERE upload_id = ? AND withdrawn_at IS NULL", [when, upload_id])


def insert_rows(con: Connection, table: str, frame: pd.DataFrame) -> int:
    """Append a frame holding exactly the table's columns (by name) to a data table."""
    columns = DATA_TABLES[table]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"rows for {table} lack the columns {missing}")
    register(con, "incoming_rows", frame[list(columns)])
    try:
        _run(con, f"INSERT INTO {table} ({_column_list(columns)}) SELECT {_column_list(columns)} FROM incoming_rows")
        _note_upload_pilots(con, "SELECT upload_id, pilot_id FROM incoming_rows")
    finally:
        con.unregister("incoming_rows")
    return len(frame)


# What `insert_upload_batches` takes of each upload (besides its key, pilot_id and batch).
BATCH_UPLOAD_COLUMNS = ("kind", "file_name", "sha256", "rows_stored", "rows_rejected", "uploaded_at")


def insert_upload_batches(
    con: Connection,
    table: str,
    rows: pd.DataFrame,
    uploads: pd.DataFrame,
    uploaded_by: str,
) -> None:
    """Store many uploads and their rows at once, set-based.

    `uploads` has one row per upload, keyed by (pilot_id, batch), with BATCH_UPLOAD_COLUMNS; `rows`
    carries the same (pilot_id, batch) key. Ids come from the store's sequence and are joined onto
    the rows."""
    register(con, "incoming_uploads", uploads)
    _run(con, "DROP TABLE IF EXISTS incoming_batch_ids")
    _run(
        con,
        f"""
        CREATE TEMP TABLE incoming_batch_ids AS
        SELECT pilot_id, batch, nextval('upload_id_seq') AS upload_id, {_column_list(BATCH_UPLOAD_COLUMNS)}
        FROM incoming_uploads
        """,
    )
    _run(
        con,
        f"""
        INSERT INTO uploads (upload_id, {_column_list(BATCH_UPLOAD_COLUMNS)}, uploaded_by)
        SELECT upload_id, {_column_list(BATCH_UPLOAD_COLUMNS)}, ? FROM incoming_batch_ids
        """,
        [uploaded_by],
    )
    register(con, "incoming_batch_rows", rows)
    with_ids = con.execute(
        "SELECT r.*, b.upload_id FROM incoming_batch_rows r JOIN incoming_batch_ids b USING (pilot_id, batch)"
    ).df()
    con.unregister("incoming_batch_rows")
    con.unregister("incoming_uploads")
    _run(con, "DROP TABLE incoming_batch_ids")
    insert_rows(con, table, with_ids)


def upload_ids_by(con: Connection, uploaded_by: str) -> list[int]:
    rows = con.execute(
        "SELECT upload_id FROM uploads WHERE uploaded_by = ? ORDER BY upload_id", [uploaded_by]
    ).fetchall()
    return [r[0] for r in rows]


def delete_uploads(con: Connection, upload_ids: Sequence[int]) -> None:
    """Remove uploads and every row they brought (used for demo data, not for user withdrawals)."""
    if not upload_ids:
        return
    ids = list(upload_ids)
    for table in DATA_TABLES:
        _run(con, f"DELETE FROM {table} WHERE upload_id IN (SELECT unnest(?::BIGINT[]))", [ids])
    _run(con, "DELETE FROM upload_pilots WHERE upload_id IN (SELECT unnest(?::BIGINT[]))", [ids])
    _run(con, "DELETE FROM uploads WHERE upload_id IN (SELECT unnest(?::BIGINT[]))", [ids])


def pilots_with_rows_outside(con: Connection, upload_ids: Sequence[int]) -> set[str]:
    """Pilots that have data rows from uploads other than `upload_ids`."""
    ids = list(upload_ids)
    rows = con.execute(
        """
        SELECT DISTINCT pilot_id FROM metric_observations WHERE upload_id NOT IN (SELECT unnest(?::BIGINT[]))
        UNION
        SELECT DISTINCT pilot_id FROM survey_responses WHERE upload_id NOT IN (SELECT unnest(?::BIGINT[]))
        """,
        [ids, ids],
    ).fetchall()
    return {r[0] for r in rows}


# -- portfolio ------------------------------------------------------------------------------

# Every table of the store (a backup's manifest counts them all).
STORE_TABLES = (
    "store_meta",
    "schema_migrations",
    "pilots",
    "pilot_history",
    "uploads",
    "metric_observations",
    "survey_responses",
    "metric_definitions",
    "audit_log",
    "threshold_overrides",
    "threshold_history",
    "upload_pilots",
    "meetings",
    "decisions",
    "alert_subscriptions",
    "alert_runs",
    "alert_events",
    "alert_deliveries",
)


def store_facts(con: Connection) -> dict[str, Any]:
    """What a backup must reproduce: rows per table, every upload's id and hash (and withdrawal),
    the migrations applied and the store version. A store made by an older version (a backup)
    lacks the tables added since: they are not counted."""
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_catalog = current_database() AND table_schema = ?",
            [dialect.base_schema(con)],
        ).fetchall()
    }
    return {
        "counts": {t: one_value(con.execute(f"SELECT count(*) FROM {t}")) for t in STORE_TABLES if t in present},
        "uploads": [
            [u, h, w.isoformat(sep=" ") if w else None]
            for u, h, w in con.execute(
                "SELECT upload_id, sha256, withdrawn_at FROM uploads ORDER BY upload_id"
            ).fetchall()
        ],
        "migrations": applied_migrations(con),
        "version": read_meta(con).get("version"),
    }


def table_counts(con: Connection) -> dict[str, int]:
    return {t: one_value(con.execute(dialect.row_count(con, t))) for t in COUNTED_TABLES}


def last_upload_per_pilot(con: Connection, as_of: datetime | None = None) -> pd.DataFrame:
    """Per pilot: newest data upload still in force (now, or at `as_of`), and how many such uploads
    and rows there are. Register uploads are not data; withdrawn uploads no longer count; an upload
    whose rows for a pilot a later one all replaced no longer counts for that pilot.

    An upload that brought rows for one pilot only (`upload_pilots`) has `rows_stored` rows for it
    (kept true after a replacement), so only uploads shared by several pilots have their rows
    counted: PostgreSQL would take half a second to count five million rows. A narrowed read
    (`narrow_to`) sees only its units' pilots of an upload, so it learns how many pilots each
    upload has in every unit from `scope_pilots_per_upload`."""
    pilots_per_upload = "SELECT upload_id, count(*) AS pilots FROM upload_pilots GROUP BY upload_id"
    if _narrowed(con):
        pilots_per_upload = "SELECT upload_id, pilots FROM scope_pilots_per_upload"
    return con.execute(
        f"""
        WITH pilots_per_upload AS ({pilots_per_upload}),
        per_upload AS (
            SELECT up.pilot_id, up.upload_id, NULL::BIGINT AS data_rows  -- the upload's rows_stored
            FROM upload_pilots up JOIN pilots_per_upload n USING (upload_id) WHERE n.pilots = 1
            UNION ALL
            SELECT pilot_id, upload_id, count(*) FROM metric_observations
            WHERE upload_id IN (SELECT upload_id FROM pilots_per_upload n WHERE n.pilots > 1) GROUP BY pilot_id, upload_id
            UNION ALL
            SELECT pilot_id, upload_id, count(*) FROM survey_responses
            WHERE upload_id IN (SELECT upload_id FROM pilots_per_upload n WHERE n.pilots > 1) GROUP BY pilot_id, upload_id
        )
        SELECT p.pilot_id,
               max(u.uploaded_at) AS last_upload_at,
               count(DISTINCT u.upload_id) AS data_uploads,
               sum(coalesce(p.data_rows, u.rows_stored))::BIGINT AS data_rows
        FROM per_upload p JOIN uploads u USING (upload_id)
        WHERE coalesce(p.data_rows, u.rows_stored) > 0
          AND CASE WHEN ?::TIMESTAMP IS NULL THEN u.withdrawn_at IS NULL
                   ELSE u.uploaded_at <= ? AND (u.withdrawn_at IS NULL OR u.withdrawn_at > ?) END
        GROUP BY p.pilot_id ORDER BY p.pilot_id
        """,
        [as_of, as_of, as_of],
    ).df()


def _narrowed(con: Connection) -> bool:
    """Is this connection narrowed to some business units (`narrow_to` made its views)? Either
    engine lists a session's own temporary tables and views only."""
    found = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'scope_pilots_per_upload'"
    return one_value(con.execute(found)) > 0


# -- evidence for the risk engine (as of a moment) ----------------------------------------------

_IN_FORCE = "u.uploaded_at <= ? AND (u.withdrawn_at IS NULL OR u.withdrawn_at > ?)"


def weekly_series(con: Connection, as_of: datetime, pilot_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Weekly averages of every metric, per pilot, kind and lab/live, counting only what had been
    uploaded by `as_of` (and not withdrawn by then) and observed by then. The weeks before the one
    `as_of` falls in come from each upload's weekly sums (`metric_weeks`: a table kept up to date on
    PostgreSQL, which would take seconds to group every row); `as_of`'s own week is counted from its
    rows, up to `as_of`."""
    return con.execute(
        f"""
        WITH sums AS (
            SELECT w.pilot_id, w.metric, w.kind, w.environment, w.week, w.value_sum, w.n
            FROM metric_weeks w JOIN uploads u USING (upload_id)
            WHERE {_IN_FORCE} AND w.n > 0 AND w.week < date_trunc('week', ?::TIMESTAMP)
              AND (?::VARCHAR[] IS NULL OR w.pilot_id IN (SELECT unnest(?::VARCHAR[])))
            UNION ALL
            SELECT m.pilot_id, m.metric, m.kind, m.environment, date_trunc('week', m.observed_at), m.value, 1
            FROM metric_observations m JOIN uploads u USING (upload_id)
            WHERE m.value IS NOT NULL AND {_IN_FORCE}
              AND m.observed_at >= date_trunc('week', ?::TIMESTAMP) AND m.observed_at <= ?
              AND (?::VARCHAR[] IS NULL OR m.pilot_id IN (SELECT unnest(?::VARCHAR[])))
        )
        SELECT pilot_id, metric, kind, environment, week,
               sum(value_sum) / sum(n)::DOUBLE AS value, sum(n)::BIGINT AS n
        FROM sums
        GROUP BY pilot_id, metric, kind, environment, week
        ORDER BY pilot_id, metric, kind, environment, week  -- evidence.py slices series by this order
        """,
        [*_in_force_at(as_of), as_of, *_pilots(pilot_ids), *_in_force_at(as_of), as_of, as_of, *_pilots(pilot_ids)],
    ).df()


def _in_force_at(as_of: datetime) -> list[datetime]:
    """The values of `_IN_FORCE`."""
    return [as_of, as_of]


def _pilots(pilot_ids: Sequence[str] | None) -> list[list[str] | None]:
    """The values of `(?::VARCHAR[] IS NULL OR … IN (SELECT unnest(?::VARCHAR[])))`: every pilot, or these."""
    chosen = None if pilot_ids is None else list(pilot_ids)
    return [chosen, chosen]


def survey_responses_as_of(con: Connection, as_of: datetime, pilot_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Every pilot's survey responses of every wave, as uploaded by `as_of` (and not withdrawn by then)
    and answered by then: a response dated after `as_of` counts only from its date (one without a
    date counts from its upload)."""
    return con.execute(
        f"""
        SELECT s.pilot_id, s.wave, s.respondent_id, s.team, s.role, s.responded_at,
               s.awareness, s.desire, s.knowledge, s.ability, s.reinforcement, s.comment
        FROM survey_responses s JOIN uploads u USING (upload_id)
        WHERE {_IN_FORCE} AND (s.responded_at IS NULL OR s.responded_at <= ?)
          AND (?::VARCHAR[] IS NULL OR s.pilot_id IN (SELECT unnest(?::VARCHAR[])))
        ORDER BY s.pilot_id, s.wave, s.respondent_id
        """,
        [*_in_force_at(as_of), as_of, *_pilots(pilot_ids)],
    ).df()


def future_survey_responses(
    con: Connection, as_of: datetime, pilot_ids: Sequence[str] | None = None
) -> dict[str, tuple[int, datetime]]:
    """Per pilot: survey responses uploaded by `as_of` (and in force then) but dated after it — left
    out of what `survey_responses_as_of` gives — as (how many, the earliest date)."""
    rows = con.execute(
        f"""
        SELECT s.pilot_id, count(*), min(s.responded_at)
        FROM survey_responses s JOIN uploads u USING (upload_id)
        WHERE {_IN_FORCE} AND s.responded_at > ?
          AND (?::VARCHAR[] IS NULL OR s.pilot_id IN (SELECT unnest(?::VARCHAR[])))
        GROUP BY s.pilot_id ORDER BY s.pilot_id
        """,
        [*_in_force_at(as_of), as_of, *_pilots(pilot_ids)],
    ).fetchall()
    return {pilot_id: (count, first) for pilot_id, count, first in rows}


# -- the audit trail (its actions and their labels: models.AUDIT_ACTIONS) --------------------------------


def record_audit(
    con: Connection,
    at: datetime,
    who: str,
    action: str,
    subject: str | None = None,
    detail: str | None = None,
) -> None:
    """One line of the audit trail, in the caller's transaction (so it is there exactly when the change is)."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    _run(
        con,
        "INSERT INTO audit_log (happened_at, who, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        [at, who or "unknown", action, subject, detail],
    )


def audit_entries(con: Connection, until: datetime | None = None) -> pd.DataFrame:
    """The audit trail, newest first (up to `until` when given)."""
    return con.execute(
        "SELECT audit_id, happened_at, who, action, subject, detail FROM audit_log WHERE (?::TIMESTAMP IS NULL OR happened_at <= ?) "
        "ORDER BY happened_at DESC, audit_id DESC",
        [until, until],
    ).df()


# -- metric definitions (answers about metrics the built-in dictionary does not know) ---------------

METRIC_DEFINITION_COLUMNS = (
    "metric_key",
    "label",
    "kind",
    "direction",
    "unit",
    "decided_by",
    "decided_at",
    "upload_id",
)


def metric_definitions(con: Connection) -> list[dict[str, Any]]:
    cursor = con.execute(
        f"SELECT {_column_list(METRIC_DEFINITION_COLUMNS)} FROM metric_definitions ORDER BY metric_key"
    )
    return [dict(zip(METRIC_DEFINITION_COLUMNS, row)) for row in cursor.fetchall()]


def upsert_metric_definitions(con: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Store answers; a later answer about the same metric replaces the earlier one."""
    for row in rows:
        _run(
            con,
            f"""
            INSERT INTO metric_definitions ({_column_list(METRIC_DEFINITION_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (metric_key) DO UPDATE SET label = excluded.label, kind = excluded.kind,
                direction = excluded.direction, unit = excluded.unit, decided_by = excluded.decided_by,
                decided_at = excluded.decided_at, upload_id = excluded.upload_id
            """,
            [row.get(c) for c in METRIC_DEFINITION_COLUMNS],
        )


def metric_names_in_use(con: Connection) -> pd.DataFrame:
    """Each stored metric name with its kind, how many pilots use it and how many rows it has.
    Counted from the weekly counts (`metric_weeks`), per pilot first, then per metric: PostgreSQL
    would read every row again after each write (1 s at five million rows)."""
    return con.execute(
        """
        SELECT metric, kind, count(*) AS pilots, CAST(sum(n) AS BIGINT) AS observations
        FROM (
            SELECT w.metric, w.kind, w.pilot_id, sum(w.row_count) AS n
            FROM metric_weeks w JOIN uploads u USING (upload_id)
            WHERE u.withdrawn_at IS NULL
            GROUP BY w.metric, w.kind, w.pilot_id
        ) AS per_pilot
        GROUP BY metric, kind ORDER BY metric, kind
        """
    ).df()


# -- thresholds set in the dashboard (on top of the signal catalogue's file) ----------------------------


def threshold_overrides(con: Connection) -> dict[str, dict[str, Any]]:
    """The thresholds set in the dashboard now: setting → value, who set it and when."""
    rows = con.execute(
        "SELECT setting, value, changed_by, changed_at FROM threshold_overrides ORDER BY setting"
    ).fetchall()
    return {setting: {"value": value, "changed_by": by, "changed_at": at} for setting, value, by, at in rows}


def threshold_overrides_at(con: Connection, at: datetime) -> dict[str, dict[str, Any]]:
    """The thresholds set in the dashboard that were in force at `at` (a pinned link's moment), as
    `threshold_overrides` gives them now: each setting's latest change up to then, unless that
    change set it back to the file's value."""
    rows = con.execute(
        """
        SELECT setting, value, set_by, set_at FROM (
            SELECT setting, value, set_by, set_at,
                   row_number() OVER (PARTITION BY setting ORDER BY set_at DESC, history_id DESC) AS newest
            FROM threshold_history WHERE set_at <= ?
        ) AS changes
        WHERE newest = 1
        ORDER BY setting
        """,
        [at],
    ).fetchall()
    return {
        setting: {"value": value, "changed_by": by, "changed_at": when}
        for setting, value, by, when in rows
        if value is not None
    }


def _threshold_history(con: Connection, setting: str, value: float | None, by: str, at: datetime) -> None:
    _run(
        con,
        "INSERT INTO threshold_history (setting, value, set_at, set_by) VALUES (?, ?, ?, ?)",
        [setting, value, at, by],
    )


def put_threshold_override(con: Connection, setting: str, value: float, by: str, at: datetime) -> None:
    """Set a threshold (and keep the change in its history, in the caller's transaction)."""
    _run(
        con,
        """
        INSERT INTO threshold_overrides (setting, value, changed_by, changed_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (setting) DO UPDATE SET value = excluded.value, changed_by = excluded.changed_by, changed_at = excluded.changed_at
        """,
        [setting, value, by, at],
    )
    _threshold_history(con, setting, value, by, at)


def delete_threshold_override(con: Connection, setting: str, by: str, at: datetime) -> None:
    """Set a threshold back to the file's value (its history says so with a NULL value)."""
    _run(con, "DELETE FROM threshold_overrides WHERE setting = ?", [setting])
    _threshold_history(con, setting, None, by, at)


# -- what each pilot's numbers read, as stamps (for the results keeper) -----------------------------


def times_after(con: Connection, moment: datetime) -> list[datetime]:
    """Every distinct time after `moment` at which a stored row starts to count: metric
    observations and survey responses dated in the future of the last write. Until such a time
    passes, "now" reads the same as the end of the day (results.now_moment)."""
    rows = con.execute(
        """
        SELECT DISTINCT t FROM (
            SELECT observed_at AS t FROM metric_observations WHERE observed_at > ?
            UNION ALL SELECT responded_at FROM survey_responses WHERE responded_at > ?
        ) AS times ORDER BY t
        """,
        [moment, moment],
    ).fetchall()
    return [r[0] for r in rows]


def pilot_stamps(con: Connection) -> pd.DataFrame:
    """Per pilot (in the register, its history or an upload's rows): a stamp that changes whenever
    anything its numbers read changes — its record's newest version, and the uploads that brought
    it rows with their withdrawal — and the business unit it belongs to for a limited person (its
    record now; a removed pilot: its last record, as `narrow_to` says). Read from small tables only."""
    return con.execute(
        f"""
        WITH history AS (
            SELECT pilot_id, max(history_id) AS history,
                   {dialect.arg_max(con, "business_unit", "recorded_at", "history_id")} AS last_unit
            FROM pilot_history GROUP BY pilot_id
        ),
        data AS (
            SELECT up.pilot_id,
                   md5(string_agg(up.upload_id::VARCHAR || ':' || coalesce(u.withdrawn_at::VARCHAR, ''), ',' ORDER BY up.upload_id)) AS uploads
            FROM upload_pilots up JOIN uploads u USING (upload_id)
            GROUP BY up.pilot_id
        ),
        ids AS (SELECT pilot_id FROM pilots UNION SELECT pilot_id FROM history UNION SELECT pilot_id FROM data)
        SELECT ids.pilot_id,
               coalesce(h.history::VARCHAR, '-') || '/' || coalesce(d.uploads, '-') AS stamp,
               coalesce(p.business_unit, h.last_unit) AS business_unit,
               p.pilot_id IS NOT NULL AS in_register
        FROM ids LEFT JOIN history h USING (pilot_id) LEFT JOIN data d USING (pilot_id) LEFT JOIN pilots p USING (pilot_id)
        ORDER BY ids.pilot_id
        """
    ).df()


def metric_definitions_fingerprint(con: Connection) -> str:
    """Changes whenever a stored answer about a metric does (they count for every pilot)."""
    return one_value(
        con.execute(
            "SELECT coalesce(md5(string_agg(concat_ws('|', metric_key, label, kind, direction, unit), ',' ORDER BY metric_key)), '-') "
            "FROM metric_definitions"
        )
    )


def pilot_ids_at(con: Connection, at: datetime) -> list[str]:
    """The pilots in the register at a moment (a pinned link), in code order."""
    rows = con.execute(
        f"SELECT pilot_id FROM ({_newest_versions(['pilot_id'])}) AS versions"
        " WHERE newest = 1 AND NOT removed ORDER BY pilot_id",
        [at],
    ).fetchall()
    return [r[0] for r in rows]


# -- steering meetings and their decisions ---------------------------------------------------------

MEETING_COLUMNS = ("meeting_id", "held_on", "title", "pinned_at", "created_by", "created_at")
DECISION_COLUMNS = (
    "decision_id",
    "meeting_id",
    "pilot_id",
    "decision",
    "conditions",
    "owner",
    "due_on",
    "signal_key",
    "signal_value",
    "recorded_by",
    "recorded_at",
)


def insert_meeting(con: Connection, held_on, title: str, pinned_at: datetime, by: str, at: datetime) -> int:
    """Store a meeting; returns its id."""
    return one_value(
        con.execute(
            "INSERT INTO meetings (held_on, title, pinned_at, created_by, created_at) VALUES (?, ?, ?, ?, ?) RETURNING meeting_id",
            [held_on, title, pinned_at, by, at],
        )
    )


def fetch_meetings(con: Connection, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Meetings, newest first; with `as_of`, only those recorded by then (a pinned view)."""
    rows = con.execute(
        f"SELECT {_column_list(MEETING_COLUMNS)} FROM meetings WHERE (?::TIMESTAMP IS NULL OR created_at <= ?) "
        "ORDER BY held_on DESC, meeting_id DESC",
        [as_of, as_of],
    ).fetchall()
    return [dict(zip(MEETING_COLUMNS, row)) for row in rows]


def insert_decision(con: Connection, values: dict[str, Any]) -> int:
    """Store a decision (every column but its id); returns its id."""
    columns = DECISION_COLUMNS[1:]
    return one_value(
        con.execute(
            f"INSERT INTO decisions ({_column_list(columns)}) VALUES ({', '.join('?' for _ in columns)}) RETURNING decision_id",
            [values.get(c) for c in columns],
        )
    )


def fetch_decisions(
    con: Connection, as_of: datetime | None = None, pilot_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Decisions with their meeting's date, title and pinned moment, newest meeting first; with
    `as_of`, only those recorded by then (a pinned view); with `pilot_ids`, only those pilots'."""
    columns = ", ".join(f"d.{c}" for c in DECISION_COLUMNS)
    rows = con.execute(
        f"""
        SELECT {columns}, m.held_on, m.title, m.pinned_at
        FROM decisions d JOIN meetings m USING (meeting_id)
        WHERE (?::TIMESTAMP IS NULL OR d.recorded_at <= ?)
          AND (?::VARCHAR[] IS NULL OR d.pilot_id IN (SELECT unnest(?::VARCHAR[])))
        ORDER BY m.held_on DESC, d.recorded_at DESC, d.decision_id DESC
        """,
        [as_of, as_of, None if pilot_ids is None else list(pilot_ids), None if pilot_ids is None else list(pilot_ids)],
    ).fetchall()
    names = DECISION_COLUMNS + ("held_on", "meeting_title", "pinned_at")
    return [dict(zip(names, row)) for row in rows]


def pilots_decided_by_others(con: Connection, by: str) -> set[str]:
    """Pilots with a decision recorded by someone other than `by`."""
    return {
        r[0] for r in con.execute("SELECT DISTINCT pilot_id FROM decisions WHERE recorded_by <> ?", [by]).fetchall()
    }


def delete_demo_meetings(con: Connection, meeting_ids: Sequence[int], by: str) -> int:
    """Remove the decisions `by` recorded in these meetings, then the meetings no other decision
    refers to; returns how many meetings were removed."""
    ids = list(meeting_ids)
    _run(con, "DELETE FROM decisions WHERE meeting_id IN (SELECT unnest(?::BIGINT[])) AND recorded_by = ?", [ids, by])
    removed = con.execute(
        "DELETE FROM meetings WHERE meeting_id IN (SELECT unnest(?::BIGINT[])) AND created_by = ? "
        "AND meeting_id NOT IN (SELECT meeting_id FROM decisions) RETURNING meeting_id",
        [ids, by],
    ).fetchall()
    return len(removed)


def uploads_between(con: Connection, since: datetime, until: datetime) -> pd.DataFrame:
    """The data uploads made or withdrawn after `since` and by `until`, one row per upload and
    pilot it brought rows for (`upload_pilots`, so a limited person sees their pilots only)."""
    return con.execute(
        """
        SELECT up.pilot_id, u.upload_id, u.kind, u.file_name, u.uploaded_at, u.uploaded_by, u.rows_stored,
               CASE WHEN u.withdrawn_at <= ? THEN u.withdrawn_at END AS withdrawn_at,
               u.uploaded_at > ? AND u.uploaded_at <= ? AS made_between,
               coalesce(u.withdrawn_at > ? AND u.withdrawn_at <= ?, false) AS withdrawn_between
        FROM upload_pilots up JOIN uploads u USING (upload_id)
        WHERE (u.uploaded_at > ? AND u.uploaded_at <= ?) OR (u.withdrawn_at > ? AND u.withdrawn_at <= ?)
        ORDER BY up.pilot_id, u.uploaded_at, u.upload_id
        """,
        [until, since, until, since, until, since, until, since, until],
    ).df()


def first_record_at(con: Connection) -> datetime | None:
    """When the register first held a pilot (its history's first version): no view before it has any."""
    return one_value(con.execute("SELECT min(recorded_at) FROM pilot_history"))


# -- alerts: subscriptions, runs, events and deliveries --------------------------------------------

SUBSCRIPTION_COLUMNS = (
    "subscription_id",
    "address",
    "channel",
    "pilot_id",
    "business_unit",
    "events",
    "limited_to",
    "created_by",
    "created_at",
)
DELIVERY_COLUMNS = (
    "delivery_id",
    "run_id",
    "channel",
    "address",
    "recipient",
    "event_keys",
    "subject",
    "body",
    "payload",
    "status",
    "attempts",
    "runs_tried",
    "last_error",
    "created_at",
    "last_attempt_at",
    "sent_at",
)


def insert_subscription(con: Connection, values: dict[str, Any]) -> int:
    """Store a subscription (every column of SUBSCRIPTION_COLUMNS but its id); returns its id."""
    columns = SUBSCRIPTION_COLUMNS[1:]
    return one_value(
        con.execute(
            f"INSERT INTO alert_subscriptions ({_column_list(columns)}) VALUES ({', '.join('?' for _ in columns)}) RETURNING subscription_id",
            [values.get(c) for c in columns],
        )
    )


def fetch_subscriptions(con: Connection, address: str | None = None) -> list[dict[str, Any]]:
    """Subscriptions in force (not removed), oldest first; with `address`, only that address's."""
    rows = con.execute(
        f"SELECT {_column_list(SUBSCRIPTION_COLUMNS)} FROM alert_subscriptions "
        "WHERE removed_at IS NULL AND (?::VARCHAR IS NULL OR address = ?) ORDER BY subscription_id",
        [address, address],
    ).fetchall()
    return [dict(zip(SUBSCRIPTION_COLUMNS, row)) for row in rows]


def remove_subscription(con: Connection, subscription_id: int, by: str, at: datetime) -> None:
    _run(
        con,
        "UPDATE alert_subscriptions SET removed_by = ?, removed_at = ? WHERE subscription_id = ?",
        [by, at, subscription_id],
    )


def last_alert_run(con: Connection) -> dict[str, Any] | None:
    row = con.execute("SELECT run_id, moment FROM alert_runs ORDER BY moment DESC, run_id DESC LIMIT 1").fetchone()
    return {"run_id": row[0], "moment": row[1]} if row else None


def known_event_keys(con: Connection, keys: Sequence[str]) -> set[str]:
    """Which of these event keys an earlier run stored already."""
    if not keys:
        return set()
    rows = con.execute(
        "SELECT event_key FROM alert_events WHERE event_key IN (SELECT unnest(?::VARCHAR[]))", [list(keys)]
    ).fetchall()
    return {r[0] for r in rows}


def insert_alert_run(con: Connection, moment: datetime, compared_with: datetime | None, by: str) -> int:
    return one_value(
        con.execute(
            "INSERT INTO alert_runs (moment, compared_with, run_by, events_found, digests_sent, digests_not_sent) "
            "VALUES (?, ?, ?, 0, 0, 0) RETURNING run_id",
            [moment, compared_with, by],
        )
    )


def finish_alert_run(con: Connection, run_id: int, events: int, sent: int, not_sent: int) -> None:
    _run(
        con,
        "UPDATE alert_runs SET events_found = ?, digests_sent = ?, digests_not_sent = ? WHERE run_id = ?",
        [events, sent, not_sent, run_id],
    )


def insert_alert_events(con: Connection, run_id: int, events: Sequence[dict[str, Any]]) -> None:
    columns = ("event_key", "run_id", "kind", "pilot_id", "business_unit", "fired_at", "what", "evidence", "link")
    if events:
        con.executemany(
            f"INSERT INTO alert_events ({_column_list(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            [[run_id if c == "run_id" else e.get(c) for c in columns] for e in events],
        )


def insert_delivery(con: Connection, values: dict[str, Any]) -> int:
    columns = DELIVERY_COLUMNS[1:]
    return one_value(
        con.execute(
            f"INSERT INTO alert_deliveries ({_column_list(columns)}) VALUES ({', '.join('?' for _ in columns)}) RETURNING delivery_id",
            [values.get(c) for c in columns],
        )
    )


def update_delivery(
    con: Connection,
    delivery_id: int,
    status: str,
    attempts: int,
    runs_tried: int,
    last_error: str | None,
    last_attempt_at: datetime | None,
    sent_at: datetime | None,
) -> None:
    _run(
        con,
        "UPDATE alert_deliveries SET status = ?, attempts = ?, runs_tried = ?, last_error = ?, last_attempt_at = ?, sent_at = ? "
        "WHERE delivery_id = ?",
        [status, attempts, runs_tried, last_error, last_attempt_at, sent_at, delivery_id],
    )


def readdress_delivery(con: Connection, delivery_id: int, channel: str, address: str, payload: str | None) -> None:
    """An escalation that had no address gets the one found since (the register or the settings changed)."""
    _run(
        con,
        "UPDATE alert_deliveries SET channel = ?, address = ?, payload = ? WHERE delivery_id = ?",
        [channel, address, payload, delivery_id],
    )


def fetch_deliveries(
    con: Connection, status: str | Sequence[str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Deliveries, newest first; with `status` (one or several), only those."""
    wanted = [status] if isinstance(status, str) else (list(status) if status is not None else None)
    rows = con.execute(
        f"SELECT {_column_list(DELIVERY_COLUMNS)} FROM alert_deliveries"
        " WHERE (?::VARCHAR[] IS NULL OR status = ANY(?::VARCHAR[])) "
        "ORDER BY created_at DESC, delivery_id DESC" + (" LIMIT ?" if limit else ""),
        [wanted, wanted, *([limit] if limit else [])],
    ).fetchall()
    return [dict(zip(DELIVERY_COLUMNS, row)) for row in rows]


def fetch_alert_events(con: Connection, keys: Sequence[str]) -> list[dict[str, Any]]:
    columns = ("event_key", "run_id", "kind", "pilot_id", "business_unit", "fired_at", "what", "evidence", "link")
    rows = con.execute(
        f"SELECT {_column_list(columns)} FROM alert_events WHERE event_key IN (SELECT unnest(?::VARCHAR[])) "
        "ORDER BY fired_at, event_key",
        [list(keys)],
    ).fetchall()
    return [dict(zip(columns, row)) for row in rows]


def pilot_sponsors(con: Connection) -> dict[str, str | None]:
    """Every pilot's executive sponsor as the register writes it (a name or an e-mail address)."""
    return dict(con.execute("SELECT pilot_id, executive_sponsor FROM pilots ORDER BY pilot_id").fetchall())
