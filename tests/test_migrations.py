"""The schema: migrations, their bookkeeping, and the documented public contract."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import duckdb
import pytest
from conftest import ROOT

from pilot_health.errors import StoreVersionError
from pilot_health.models import PILOT_FIELDS
from pilot_health.store import dialect, migrations, queries
from pilot_health.store.database import Store, open_store

DOC = ROOT / "docs" / "schema.md"


def documented_schema() -> dict[str, list[tuple[str, str, bool]]]:
    """Tables → [(column, type, nullable)] as written in docs/schema.md."""
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `(\w+)`", line)
        if heading:
            current = heading.group(1)
            tables[current] = []
            continue
        row = re.match(r"^\| `(\w+)` \| (\w+(?:\[\])?) \| (yes|no) \|", line)
        if row and current:
            tables[current].append((row.group(1), row.group(2), row.group(3) == "yes"))
    return tables


def postgres_types() -> dict[str, str]:
    """PostgreSQL's name → the type's name in docs/schema.md, from the page's own table of them."""
    names = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        row = re.match(r"^\| (\w+(?:\[\])?) \| ([a-z][a-z ]*(?:\[\])?) \|$", line)
        if row:
            names[row.group(2)] = row.group(1)
    return names


def migrated_schema(store) -> dict[str, list[tuple[str, str, bool]]]:
    """Tables → [(column, type, nullable)] as the database has them; on PostgreSQL with each type
    named as docs/schema.md names it (a type the page does not list keeps PostgreSQL's name)."""
    with store.read() as con:
        if dialect.dialect_of(con) == dialect.POSTGRES:
            rows = con.execute(
                """
                SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY c.relname, a.attnum
                """
            ).fetchall()
            named = postgres_types()
            rows = [(table, column, named.get(kind, kind), nullable) for table, column, kind, nullable in rows]
        else:
            # A view's columns (metric_weeks) cannot be declared NOT NULL in DuckDB: they count as
            # the page says when never blank, which test_metric_weeks_has_no_blanks checks.
            rows = con.execute(
                """
                SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES' AND t.table_type = 'BASE TABLE'
                FROM information_schema.columns c
                JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                WHERE c.table_schema = 'main'
                ORDER BY c.table_name, c.ordinal_position
                """
            ).fetchall()
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, kind, nullable in rows:
        tables.setdefault(table, []).append((column, kind, nullable))
    return tables


def test_blank_database_migrates_to_exactly_the_documented_schema(store):
    documented = documented_schema()
    assert len(documented) >= 6, "docs/schema.md should document every table"
    assert migrated_schema(store) == documented


def test_the_page_names_every_postgresql_type_once():
    used = {kind for columns in documented_schema().values() for _, kind, _ in columns}
    named = postgres_types()
    assert sorted(named.values()) == sorted(used)  # each type on the page, once, and no other


def test_a_blank_postgresql_database_migrates_to_exactly_the_documented_schema(postgres_server):
    """A database nobody has touched (not the tests' migrated template): the first use migrates it.
    Someone's own schema with a table of the same name as one of ours changes nothing."""
    import psycopg

    from pilot_health.store.postgres import close_pools

    name = f"blank_{uuid.uuid4().hex[:12]}"
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as own:
        own.execute("CREATE SCHEMA reporting")
        own.execute("CREATE TABLE reporting.pilots (pilot_id VARCHAR, note VARCHAR)")
    try:
        store = open_store(url, lock_wait_seconds=5)
        assert not store.exists()
        store.ensure_ready()
        assert store.exists()
        assert migrated_schema(store) == documented_schema()
        with store.read() as con:
            assert queries.applied_migrations(con) == [migrations.migration_name(m) for m in migrations.MIGRATIONS]
            # The sequences the ids come from, on the server as in the file.
            assert queries.next_upload_id(con) == 1
    finally:
        close_pools()
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_are_recorded_once_and_rerunning_changes_nothing(store):
    store.ensure_ready()
    with store.read() as con:
        names = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
        assert names == [migrations.migration_name(m) for m in migrations.MIGRATIONS]
        assert names[0] == "001_initial_schema"
        assert migrations.migrate(con) == []
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(names)


def test_the_applied_migrations_are_read_in_one_place(store):
    """queries.applied_migrations is the one reader of schema_migrations: the status command, the
    store's snapshot and the migration runner all go through it, and no other module has its own."""
    store.ensure_ready()
    with store.read() as con:
        assert queries.applied_migrations(con) == [migrations.migration_name(m) for m in migrations.MIGRATIONS]
    assert not hasattr(migrations, "applied_migrations")
    src = ROOT / "src" / "pilot_health"
    readers = sorted(
        path.name
        for path in src.rglob("*.py")
        if re.search(r"SELECT\s+name\s+FROM\s+schema_migrations", path.read_text(encoding="utf-8"))
    )
    assert readers == ["queries.py"]


def test_migration_names_are_numbered_in_order():
    names = [migrations.migration_name(m) for m in migrations.MIGRATIONS]
    numbers = [int(n.split("_", 1)[0]) for n in names]
    assert numbers == list(range(1, len(names) + 1))


def test_a_failing_migration_leaves_no_trace(tmp_path, monkeypatch):
    path = tmp_path / "partial.duckdb"
    Store(path).ensure_ready()

    def m002_breaks_halfway(con):
        con.execute("CREATE TABLE half_done (x INTEGER)")
        con.execute("SELECT * FROM table_that_does_not_exist")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m002_breaks_halfway])
    con = duckdb.connect(str(path))
    try:
        with pytest.raises(duckdb.CatalogException):
            migrations.migrate(con)
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "half_done" not in tables
        recorded = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
        assert "002_breaks_halfway" not in recorded
    finally:
        con.close()


def test_a_store_from_a_newer_version_is_refused_with_a_clear_sentence(store, backend):
    store.ensure_ready()
    with store.write() as con:
        con.execute("INSERT INTO schema_migrations VALUES ('999_from_the_future', now())")
    # A new process would see it the same way: it has not checked this store yet.
    if backend == "postgres":
        from pilot_health.store import postgres

        postgres._READY.clear()
        fresh = open_store(store.url)
    else:
        from pilot_health.store import database as store_module

        fresh = Store(store.path)
        store_module._READY.pop(fresh.path, None)
    with pytest.raises(StoreVersionError, match="newer Pilot Health"):
        fresh.ensure_ready()


def test_pilots_table_holds_every_field_of_the_pilot_record(store):
    columns = [c for c, _, _ in migrated_schema(store)["pilots"]]
    # Every field once, and nothing else (a column added by a later migration sits at the end).
    assert sorted(columns) == sorted([*PILOT_FIELDS, "updated_at"])


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO survey_responses (pilot_id, respondent_id, wave, awareness, upload_id) VALUES ('A', 'R1', 1, 0, 1)",
        "INSERT INTO survey_responses (pilot_id, respondent_id, wave, desire, upload_id) VALUES ('A', 'R1', 1, 6, 1)",
        "INSERT INTO survey_responses (pilot_id, respondent_id, wave, upload_id) VALUES ('A', 'R1', 0, 1)",
        "INSERT INTO metric_observations VALUES ('A', 'acc', 'magic', 'lab', now(), 1, 1)",
        "INSERT INTO metric_observations VALUES ('A', 'acc', 'technical', 'staging', now(), 1, 1)",
        "INSERT INTO uploads (kind, file_name, sha256, rows_stored, rows_rejected, uploaded_at, uploaded_by) VALUES ('pictures', 'a', 'b', 1, 0, now(), 'me')",
        "INSERT INTO pilots (pilot_id, name, business_unit, stage, updated_at) VALUES ('A', 'n', 'u', 'dreaming', now())",
        "INSERT INTO pilots (pilot_id, name, business_unit, stage, data_effort_pct, updated_at) VALUES ('A', 'n', 'u', 'pilot', 140, now())",
    ],
)
def test_the_schema_itself_refuses_impossible_values(store, backend, statement):
    if backend == "postgres":
        import psycopg

        refused = psycopg.errors.IntegrityError
    else:
        refused = duckdb.ConstraintException
    with store.read() as con, pytest.raises(refused):
        con.execute(statement)


def test_blank_scores_are_stored_as_null(store):
    with store.read() as con:
        con.execute(
            "INSERT INTO survey_responses (pilot_id, respondent_id, wave, awareness, upload_id) VALUES ('A', 'R1', 1, NULL, 1)"
        )
        assert con.execute("SELECT awareness FROM survey_responses").fetchone() == (None,)


def _store_before(migration_name: str, path, monkeypatch) -> duckdb.DuckDBPyConnection:
    """A database made by the version whose last migration was `migration_name` (this version's list, cut there)."""
    names = [migrations.migration_name(m) for m in migrations.MIGRATIONS]
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[: names.index(migration_name) + 1])
        con = duckdb.connect(str(path))
        migrations.migrate(con)
    return con


def test_thresholds_set_before_their_history_was_kept_start_it(tmp_path, monkeypatch):
    from pilot_health.rules.thresholds import catalogue_for

    path = tmp_path / "older.duckdb"
    con = _store_before("007_threshold_overrides", path, monkeypatch)
    try:
        assert "threshold_history" not in {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        con.executemany(
            "INSERT INTO threshold_overrides VALUES (?, ?, ?, ?)",
            [
                ["signals.live_decay", 0.3, "ann@example.com", datetime(2026, 3, 2, 9, 30)],
                ["analysis.min_respondents", 7, "bob@example.com", datetime(2026, 1, 15, 8, 0)],
            ],
        )
        assert migrations.migrate(con)[:1] == ["008_threshold_history"]  # and any later migration
        rows = con.execute(
            "SELECT history_id, setting, value, set_at, set_by FROM threshold_history ORDER BY history_id"
        ).fetchall()
    finally:
        con.close()
    # Oldest first, each dated when it was set and by whom.
    assert rows == [
        (1, "analysis.min_respondents", 7.0, datetime(2026, 1, 15, 8, 0), "bob@example.com"),
        (2, "signals.live_decay", 0.3, datetime(2026, 3, 2, 9, 30), "ann@example.com"),
    ]
    store = Store(path)
    file_catalogue = catalogue_for(store, datetime(2026, 1, 1))
    assert file_catalogue.overrides == {} and file_catalogue.analysis.min_respondents != 7
    assert catalogue_for(store, datetime(2026, 2, 1)).overrides == {"analysis.min_respondents": 7}
    assert catalogue_for(store, datetime(2026, 3, 2, 9, 30)).threshold("live_decay") == 0.3
    assert (
        catalogue_for(store).overrides
        == catalogue_for(store, datetime(2026, 3, 3)).overrides
        == {"analysis.min_respondents": 7, "signals.live_decay": 0.3}
    )


def test_a_backup_made_before_a_table_existed_restores_and_is_brought_up_to_date(tmp_path, monkeypatch):
    from pilot_health.store.backup import restore
    from pilot_health.store.database import facts_of_file
    from pilot_health.store.queries import store_facts

    older = tmp_path / "backup_from_an_older_version.duckdb"
    con = _store_before("007_threshold_overrides", older, monkeypatch)
    try:
        con.execute(
            "INSERT INTO threshold_overrides VALUES ('signals.live_decay', 0.3, 'ann@example.com', '2026-03-02 09:30:00')"
        )
    finally:
        con.close()
    held = facts_of_file(older)
    assert "threshold_history" not in held["counts"] and held["counts"]["threshold_overrides"] == 1
    store = Store(tmp_path / "store.duckdb")
    store.ensure_ready()
    restore(store, older)
    with store.read() as con:
        after = store_facts(con)
        assert con.execute("SELECT setting, value FROM threshold_history").fetchall() == [("signals.live_decay", 0.3)]
    assert after["counts"]["threshold_history"] == 1
    assert after["migrations"] == [migrations.migration_name(m) for m in migrations.MIGRATIONS]


def test_uploads_stored_before_upload_pilots_get_their_pilots_from_their_rows(tmp_path, monkeypatch):
    con = _store_before("008_threshold_history", tmp_path / "older.duckdb", monkeypatch)
    try:
        con.execute(
            "INSERT INTO uploads (kind, file_name, sha256, rows_stored, rows_rejected, uploaded_at, uploaded_by) VALUES "
            "('metrics', 'a.csv', 'a', 3, 0, now(), 'ann'), ('survey', 'b.csv', 'b', 1, 0, now(), 'ann'), "
            "('pilot_register', 'c.csv', 'c', 2, 0, now(), 'ann')"
        )
        con.execute(
            "INSERT INTO metric_observations VALUES ('A-1', 'accuracy', 'technical', 'lab', '2026-01-05', 0.9, 1), "
            "('A-1', 'accuracy', 'technical', 'lab', '2026-01-12', 0.91, 1), ('B-2', 'accuracy', 'technical', 'live', '2026-01-05', 0.8, 1)"
        )
        con.execute(
            "INSERT INTO survey_responses (pilot_id, respondent_id, wave, upload_id) VALUES ('C-3', 'R1', 1, 2)"
        )
        assert migrations.migrate(con)[:1] == ["009_upload_pilots"]  # and any later migration
        assert con.execute("SELECT upload_id, pilot_id FROM upload_pilots ORDER BY ALL").fetchall() == [
            (1, "A-1"),
            (1, "B-2"),
            (2, "C-3"),
        ]
    finally:
        con.close()
