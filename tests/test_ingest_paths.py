"""The one-pass path for plain long files must store exactly what the careful path stores."""
from __future__ import annotations

import shutil

import duckdb
import pytest

from conftest import ROOT
from pilot_health.ingest import IngestOptions, engine, ingest
from pilot_health.store import Store

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
    **{name: (FIXTURES / name).read_bytes() for name in ("metrics_long_utf8.csv", "metrics_duplicates.csv", "metrics_number_formats.csv", "metrics_ragged.csv", "metrics_dates_iso_tz.csv")},
}


def run(store: Store, name: str, data: bytes, fast: bool, monkeypatch) -> tuple:
    monkeypatch.setattr(engine, "FAST_PATH", fast)
    taken: list[bool] = []
    original = engine._Run.try_fast_path

    def spy(self, known):
        taken.append(original(self, known))
        return taken[-1]

    monkeypatch.setattr(engine._Run, "try_fast_path", spy)
    result = ingest(store, data, name, IngestOptions(), commit=True)
    rows = []
    if result.upload_id:
        with store.read() as con:
            rows = con.execute(
                "SELECT pilot_id, metric, kind, environment, observed_at, value FROM metric_observations WHERE upload_id = ? ORDER BY ALL",
                [result.upload_id],
            ).fetchall()
    summary = (result.status, result.rows_to_store, result.rows_rejected, result.rows_left_out,
               [(p.row, p.column, p.message) for p in result.problems], sorted(result.warnings), result.refusal)
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
    if name in ("plain.csv", "metrics_long_utf8.csv", "metrics_duplicates.csv"):
        assert fast_taken, "a plain long file takes the one-pass path"
    if name in ("zone.csv", "untidy.csv", "bad.csv", "ragged.csv", "inf.csv", "metrics_ragged.csv", "metrics_number_formats.csv", "metrics_dates_iso_tz.csv"):
        assert not fast_taken, "anything the careful path must explain goes the careful way"


def test_a_database_error_on_the_fast_path_starts_again_carefully(demo_store, monkeypatch):
    def broken(self):
        raise duckdb.ConversionException("simulated")

    calls = []
    original = engine._Run.shape_metrics

    def shape(self):
        calls.append(self.fast)
        if self.fast:
            self.con.execute("SELECT CAST('x' AS INTEGER)")  # spoils the transaction
        return original(self)

    monkeypatch.setattr(engine._Run, "shape_metrics", shape)
    result = ingest(demo_store, PLAIN, "plain.csv", IngestOptions(), commit=True)
    assert result.status == "stored" and result.rows_to_store == 6
    assert calls == [True, False]
