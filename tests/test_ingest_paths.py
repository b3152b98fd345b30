"""The one-pass path for plain long files must store exactly what the careful path stores."""

from __future__ import annotations

import dataclasses
import shutil

import duckdb
import pytest
from conftest import ROOT

from pilot_health.ingest import IngestOptions, engine, ingest, shaping
from pilot_health.ingest.run import Route
from pilot_health.store.database import Store

FIXTURES = ROOT / "tests" / "fixtures" / "uploads"
PLAIN = b"""pilot_id,metric,environment,observed_at,value
SC-01,accuracy,lab,2024-01-01,0.91
SC-01,accuracy,live,2024-01-01 10:00:00,0.67
SC-01,revenue_per_visit,live,2024-01-08T09:30:00,3.25
FN-01,roc_auc,live,2024-01-08,-1.5e-1
FN-01,roc_auc,live,2024-01-15,
FN-01,roc_auc,live,2024-01-22,NA
"""
CASES = {
    "plain.csv": PLAIN,
    "zone.csv": PLAIN + b"SC-01,accuracy,live,2024-01-29T10:00:00+02:00,0.7\n",  # zones: careful path
    "untidy.csv": PLAIN + b" sc-01 ,accuracy,Prod,2024-02-05,0.7\n",  # spaces, lower case, a synonym
    "bad.csv": PLAIN + b"SC-01,accuracy,lab,2024-02-12,oops\n",  # a rejected value
    "ragged.csv": PLAIN + b"SC-01,accuracy,lab\n",  # a row DuckDB cannot split
    "inf.csv": PLAIN + b"SC-01,accuracy,lab,2024-02-19,inf\n",
    # The one-pass path stores rows as it reads them; a problem in the last row must leave nothing of them behind.
    "no_env_last.csv": PLAIN + b"SC-01,accuracy,,2024-02-26,0.7\n",
    "old_date_last.csv": PLAIN + b"SC-01,accuracy,lab,1975-03-04,0.7\n",
    "conflict_last.csv": PLAIN + b"SC-01,accuracy,lab,2024-01-01,0.92\n",  # same key as the first row, another value
    "repeat_last.csv": PLAIN + b"SC-01,accuracy,lab,2024-01-01,0.91\n",  # an exact repeat of the first row
    "unknown_pilot_last.csv": PLAIN + b"ZZ-99,accuracy,lab,2024-02-26,0.7\n",
    # Stored as read, the kinds are foreseen from the first rows: a business metric, a count of users and a
    # pilot's KPI (SC-02's “Inventory value”) that first appear after them are set right afterwards.
    "kinds_after_the_sample.csv": PLAIN
    + b"".join(b"FN-01,f1,lab,2024-03-%02d %02d:00:00,0.%d\n" % (1 + i // 24, i % 24, 10 + i % 80) for i in range(240))
    + b"FN-01,cost_eur,live,2024-04-01,1200.5\nFN-01,active_users,live,2024-04-01,310\nSC-02,inventory_value,live,2024-04-01,0.75\n",
    # "No value" spellings: in the value column an empty value; in any other column a missing code, name, lab/live or date.
    "null_spellings_values.csv": PLAIN
    + b'SC-01,accuracy,lab,2024-03-04,"NA"\nSC-01,accuracy,lab,2024-03-05,#DIV/0!\nSC-01,accuracy,lab,2024-03-06,Null\nSC-01,accuracy,lab,2024-03-07,nan\n',
    "null_pilot_last.csv": PLAIN + b"NA,accuracy,lab,2024-02-26,0.7\n",
    "null_metric_last.csv": PLAIN + b"SC-01,null,lab,2024-02-26,0.7\n",
    "null_environment_last.csv": PLAIN + b"SC-01,accuracy,N/A,2024-02-26,0.7\n",
    "null_date_last.csv": PLAIN + b"SC-01,accuracy,lab,-,0.7\n",
    "future_last.csv": PLAIN + b"SC-01,accuracy,lab,2099-01-01,0.7\n",  # dated after now: a warning
    **{
        name: (FIXTURES / name).read_bytes()
        for name in (
            "metrics_long_utf8.csv",
            "metrics_duplicates.csv",
            "metrics_number_formats.csv",
            "metrics_ragged.csv",
            "metrics_dates_iso_tz.csv",
        )
    },
}


def run(store: Store, name: str, data: bytes, fast: bool, monkeypatch) -> tuple:
    monkeypatch.setattr(engine, "FAST_PATH", fast)
    taken: list[bool] = []
    original = engine.try_fast_path

    def spy(run, known):
        read = original(run, known)
        taken.append(read is not None)
        return read

    monkeypatch.setattr(engine, "try_fast_path", spy)
    result = ingest(store, data, name, IngestOptions(), commit=True)
    rows = []
    with store.read() as con:
        if result.upload_id:
            rows = con.execute(
                "SELECT pilot_id, metric, kind, environment, observed_at, value FROM metric_observations WHERE upload_id = ? ORDER BY ALL",
                [result.upload_id],
            ).fetchall()
        # Nothing else changed: no rows under another upload id, the upload's own row with its counts, the next id.
        store_state = con.execute(
            """SELECT (SELECT count(*) FROM metric_observations), (SELECT count(*) FROM uploads),
                      (SELECT list((upload_id, kind, file_name, rows_stored, rows_rejected) ORDER BY upload_id DESC)[1:3] FROM uploads),
                      (SELECT max(upload_id) FROM metric_observations)"""
        ).fetchone()
    summary = (
        result.status,
        result.rows_to_store,
        result.rows_rejected,
        result.rows_left_out,
        [(p.row, p.column, p.message) for p in result.problems],
        sorted(result.warnings),
        result.refusal,
        result.upload_id,
        store_state,
    )
    return summary, rows, bool(taken and taken[-1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_both_paths_store_the_same(demo_store, tmp_path, name, monkeypatch):
    other = Store(tmp_path / "careful.duckdb")
    shutil.copy(demo_store.path, other.path)
    fast_summary, fast_rows, fast_taken = run(demo_store, name, CASES[name], True, monkeypatch)
    careful_summary, careful_rows, careful_taken = run(other, name, CASES[name], False, monkeypatch)
    assert not careful_taken
    assert fast_summary == careful_summary
    assert fast_rows == careful_rows
    if name in (
        "plain.csv",
        "metrics_long_utf8.csv",
        "metrics_duplicates.csv",
        "kinds_after_the_sample.csv",
        "future_last.csv",
        "null_spellings_values.csv",
    ):
        assert fast_taken, "a plain long file takes the one-pass path"
    if name in (
        "zone.csv",
        "untidy.csv",
        "bad.csv",
        "ragged.csv",
        "inf.csv",
        "metrics_ragged.csv",
        "metrics_number_formats.csv",
        "metrics_dates_iso_tz.csv",
    ):
        assert not fast_taken, "anything the careful path must explain goes the careful way"


def test_a_database_error_on_the_fast_path_starts_again_carefully(demo_store, monkeypatch):
    def broken(self):
        raise duckdb.ConversionException("simulated")

    calls = []
    original = shaping.shape_metrics

    def shape(run, fast=False):
        calls.append(fast)
        if fast:
            run.con.execute("SELECT CAST('x' AS INTEGER)")  # spoils the transaction
        return original(run, fast)

    monkeypatch.setattr(shaping, "shape_metrics", shape)
    result = ingest(demo_store, PLAIN, "plain.csv", IngestOptions(), commit=True)
    assert result.status == "stored" and result.rows_to_store == 6
    assert calls == [True, False]


def test_a_plain_file_is_stored_as_it_is_read_and_a_check_stores_nothing(demo_store, monkeypatch):
    """With commit the one-pass path writes the rows into the table as it parses them (no second copy);
    a check (the upload page's preview, the command line's --check) stores nothing and takes no upload id."""
    copied = []
    monkeypatch.setattr(engine.queries, "insert_rows_from", lambda *args: copied.append(args))
    with demo_store.read() as con:
        before = con.execute(
            "SELECT (SELECT count(*) FROM metric_observations), (SELECT max(upload_id) FROM uploads)"
        ).fetchone()
    checked = ingest(demo_store, PLAIN, "plain.csv", IngestOptions(), commit=False)
    assert checked.status == "ready" and checked.rows_to_store == 6 and checked.upload_id is None
    with demo_store.read() as con:
        assert (
            con.execute(
                "SELECT (SELECT count(*) FROM metric_observations), (SELECT max(upload_id) FROM uploads)"
            ).fetchone()
            == before
        )
    stored = ingest(demo_store, PLAIN, "plain.csv", IngestOptions(), commit=True)
    assert stored.status == "stored" and stored.upload_id == before[1] + 1 and copied == []
    with demo_store.read() as con:
        assert con.execute("SELECT count(*) FROM metric_observations").fetchone()[0] == before[0] + 6
        assert con.execute(
            "SELECT rows_stored, rows_rejected FROM uploads WHERE upload_id = ?", [stored.upload_id]
        ).fetchone() == (6, 0)
        assert con.execute(
            "SELECT kind FROM metric_observations WHERE upload_id = ? AND metric = 'revenue_per_visit'",
            [stored.upload_id],
        ).fetchall() == [("business",)]


@pytest.mark.parametrize("replace", [False, True])
def test_values_already_stored_are_kept_or_replaced_the_same_on_both_paths(demo_store, tmp_path, monkeypatch, replace):
    """A second export repeating two stored observations (one with a new value) and bringing one new row."""
    second = b"""pilot_id,metric,environment,observed_at,value
SC-01,accuracy,lab,2024-01-01,0.91
SC-01,accuracy,live,2024-01-01 10:00:00,0.69
SC-01,accuracy,live,2024-03-01,0.7
"""
    outcomes = []
    other = Store(tmp_path / "careful.duckdb")
    shutil.copy(demo_store.path, other.path)
    for fast, store in ((True, demo_store), (False, other)):
        monkeypatch.setattr(engine, "FAST_PATH", fast)
        first = ingest(store, PLAIN, "plain.csv", IngestOptions(), commit=True)
        result = ingest(store, second, "second.csv", IngestOptions(replace_existing=replace), commit=True)
        with store.read() as con:
            rows = con.execute(
                "SELECT upload_id, observed_at, environment, value FROM metric_observations WHERE upload_id >= ? ORDER BY ALL",
                [first.upload_id],
            ).fetchall()
            counts = con.execute(
                "SELECT upload_id, rows_stored FROM uploads WHERE upload_id >= ? ORDER BY 1", [first.upload_id]
            ).fetchall()
        outcomes.append(
            (
                result.status,
                result.rows_to_store,
                result.rows_left_out,
                result.rows_replaced,
                sorted(result.warnings),
                rows,
                counts,
            )
        )
    assert outcomes[0] == outcomes[1]
    status, to_store, left_out, replaced, _, rows, counts = outcomes[0]
    assert status == "stored"
    if replace:
        assert (to_store, left_out, replaced) == (3, 0, 2)
        assert [c[1] for c in counts] == [4, 3]
    else:
        assert (to_store, left_out, replaced) == (1, 2, 0)
        assert [c[1] for c in counts] == [6, 1]


def test_an_upload_id_taken_meanwhile_starts_again_and_stores_under_the_right_id(demo_store, monkeypatch):
    """The rows are written under the id the next upload will get; if another upload took it before this
    one's own row is written, everything is rolled back and stored again under the id it does get."""
    monkeypatch.setattr(engine.queries, "next_upload_id", lambda con: 999_999)
    result = ingest(demo_store, PLAIN, "plain.csv", IngestOptions(), commit=True)
    assert result.status == "stored" and result.rows_to_store == 6
    with demo_store.read() as con:
        assert con.execute("SELECT count(*) FROM metric_observations WHERE upload_id = 999999").fetchone()[0] == 0
        assert (
            con.execute("SELECT count(*) FROM metric_observations WHERE upload_id = ?", [result.upload_id]).fetchone()[
                0
            ]
            == 6
        )
        assert con.execute("SELECT rows_stored FROM uploads WHERE upload_id = ?", [result.upload_id]).fetchone()[0] == 6


@pytest.mark.slow
def test_both_paths_note_which_pilots_an_upload_touched(tmp_path):
    """The results keeper recomputes the pilots an upload touched (upload_pilots): the fast path,
    which stores rows as it reads them, notes them exactly as the careful path does."""
    from pilot_health.demo.portfolio import load_demo
    from pilot_health.ingest import IngestOptions, ingest
    from pilot_health.store.database import Store

    text = (
        b"pilot_id,metric,environment,observed_at,value\n"
        b"SC-01,accuracy,live,2026-12-01 10:17:00,0.81\nFN-01,accuracy,live,2026-12-01 10:17:00,0.79\n"
    )
    touched = {}
    for direct in (True, False):
        store = Store(tmp_path / f"paths-{direct}.duckdb", lock_wait_seconds=5)
        load_demo(store)
        result = ingest(store, text, "two.csv", IngestOptions(), commit=True, _direct=direct)
        assert result.status == "stored", result.refusal
        with store.read() as con:
            touched[direct] = sorted(
                r[0]
                for r in con.execute(
                    "SELECT pilot_id FROM upload_pilots WHERE upload_id = ?", [result.upload_id]
                ).fetchall()
            )
    assert touched[True] == touched[False] == ["FN-01", "SC-01"]


def test_a_file_without_a_pilot_column_takes_the_one_pass_path_for_the_pilot_given(demo_store, tmp_path, monkeypatch):
    """The pilot chosen on upload (no pilot column) is a parameter of the one-pass statement: stored
    there as the careful path stores it, without falling back to it."""
    text = (
        b"metric,environment,observed_at,value\naccuracy,lab,2024-01-01,0.91\nrevenue_per_visit,live,2024-01-08,3.25\n"
    )
    other = Store(tmp_path / "careful.duckdb")
    shutil.copy(demo_store.path, other.path)
    outcomes = []
    original = engine.try_fast_path

    def spy(run, known, taken):
        read = original(run, known)
        taken.append(read is not None)
        return read

    for fast, store in ((True, demo_store), (False, other)):
        monkeypatch.setattr(engine, "FAST_PATH", fast)
        taken: list[bool] = []
        monkeypatch.setattr(engine, "try_fast_path", lambda run, known, taken=taken: spy(run, known, taken))
        result = ingest(store, text, "no_pilot.csv", IngestOptions(pilot_id="fn-01"), commit=True)
        with store.read() as con:
            rows = con.execute(
                "SELECT pilot_id, metric, kind, environment, observed_at, value FROM metric_observations "
                "WHERE upload_id = ? ORDER BY ALL",
                [result.upload_id],
            ).fetchall()
        outcomes.append((result.status, result.rows_to_store, sorted(result.warnings), rows))
        assert taken == [fast]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "stored" and [r[:3] for r in outcomes[0][3]] == [
        ("FN-01", "accuracy", "technical"),
        ("FN-01", "revenue_per_visit", "business"),
    ]


def test_a_pass_is_planned_once_and_no_step_can_change_the_plan(demo_store, monkeypatch):
    """The route of a pass (may it take the one-pass path, does it store the rows as it parses them,
    under which upload id) is decided once before the pass starts; every step reads the same frozen
    run and route, so none can switch the path for the steps after it."""
    seen = []
    original = engine.try_fast_path

    def spy(run, known):
        seen.append(run)
        with pytest.raises(dataclasses.FrozenInstanceError):
            run.route = Route(fast=False)
        with pytest.raises(dataclasses.FrozenInstanceError):
            run.route.store_as = None
        return original(run, known)

    monkeypatch.setattr(engine, "try_fast_path", spy)
    checked = ingest(demo_store, PLAIN, "plain.csv", IngestOptions(), commit=False)
    stored = ingest(demo_store, PLAIN, "plain.csv", IngestOptions(), commit=True)
    assert checked.status == "ready" and stored.status == "stored"
    assert [(r.route.fast, r.route.store_as) for r in seen] == [(True, None), (True, stored.upload_id)]
    monkeypatch.setattr(engine, "FAST_PATH", False)
    seen.clear()
    assert ingest(demo_store, PLAIN, "plain.csv", IngestOptions(), commit=False).status == "duplicate"
    assert seen == []  # the same bytes are stored already: no pass starts
    again = ingest(demo_store, PLAIN, "plain.csv", IngestOptions(store_again=True), commit=False)
    assert again.status == "duplicate" and [r.route.fast for r in seen] == [False]
