"""The schema: migrations, their bookkeeping, and the documented public contract."""
from __future__ import annotations

import re

import duckdb
import pytest

from conftest import ROOT
from pilot_health import migrations
from pilot_health.errors import StoreVersionError
from pilot_health.models import PILOT_FIELDS
from pilot_health.store import Store

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
        row = re.match(r"^\| `(\w+)` \| (\w+) \| (yes|no) \|", line)
        if row and current:
            tables[current].append((row.group(1), row.group(2), row.group(3) == "yes"))
    return tables


def migrated_schema(store: Store) -> dict[str, list[tuple[str, str, bool]]]:
    with store.read() as con:
        rows = con.execute(
            """
            SELECT table_name, column_name, data_type, is_nullable = 'YES'
            FROM information_schema.columns WHERE table_schema = 'main'
            ORDER BY table_name, ordinal_position
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


def test_migrations_are_recorded_once_and_rerunning_changes_nothing(store):
    store.ensure_ready()
    with store.read() as con:
        names = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
        assert names == [migrations.migration_name(m) for m in migrations.MIGRATIONS]
        assert names[0] == "001_initial_schema"
        assert migrations.migrate(con) == []
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(names)


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


def test_a_store_from_a_newer_version_is_refused_with_a_clear_sentence(store):
    store.ensure_ready()
    with store.read() as con:
        con.execute("INSERT INTO schema_migrations VALUES ('999_from_the_future', now())")
    fresh = Store(store.path)  # a new process would see it the same way
    from pilot_health import store as store_module

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
def test_the_schema_itself_refuses_impossible_values(store, statement):
    with store.read() as con, pytest.raises(duckdb.ConstraintException):
        con.execute(statement)


def test_blank_scores_are_stored_as_null(store):
    with store.read() as con:
        con.execute("INSERT INTO survey_responses (pilot_id, respondent_id, wave, awareness, upload_id) VALUES ('A', 'R1', 1, NULL, 1)")
        assert con.execute("SELECT awareness FROM survey_responses").fetchone() == (None,)
