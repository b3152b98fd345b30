"""What keeps the command line's ingest fast must not change what is stored: repeated keys on the
one-pass path, and a command line that imports only what the command needs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from test_ingest_paths import run

from pilot_health.store.database import Store

HEADER = b"pilot_id,metric,environment,observed_at,value\n"
CASES = {
    # The second row repeats the first exactly: stored once, one row left out, on the one-pass path.
    "exact_repeat.csv": (
        HEADER + b"SC-01,accuracy,lab,2024-01-01 09:00:00,0.91\n"
        b"SC-01,accuracy,lab,2024-01-01 09:00:00,0.91\n"
        b"SC-01,accuracy,live,2024-01-01 09:00:00,0.67\n"
    ),
    # One key, a blank value and a value: not two different values, not an exact repeat either.
    "blank_and_value.csv": (
        HEADER + b"FN-01,roc_auc,live,2024-01-15 10:00:00,\n"
        b"FN-01,roc_auc,live,2024-01-15 10:00:00,0.8\n"
        b"FN-01,roc_auc,live,2024-01-22 10:00:00,0.82\n"
    ),
    # One key, two different values: both rows rejected, on the careful path.
    "two_values.csv": (
        HEADER + b"SC-01,accuracy,lab,2024-01-01 09:00:00,0.91\n"
        b"SC-01,accuracy,lab,2024-01-01 09:00:00,0.93\n"
        b"SC-01,accuracy,live,2024-01-01 09:00:00,0.67\n"
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_repeated_keys_store_the_same_on_both_paths(demo_store, tmp_path, name, monkeypatch):
    other = Store(tmp_path / "careful.duckdb")
    shutil.copy(demo_store.path, other.path)
    fast_summary, fast_rows, fast_taken = run(demo_store, name, CASES[name], True, monkeypatch)
    careful_summary, careful_rows, _ = run(other, name, CASES[name], False, monkeypatch)
    assert fast_summary == careful_summary
    assert fast_rows == careful_rows
    status, to_store, rejected, left_out = fast_summary[:4]
    if name == "exact_repeat.csv":
        assert fast_taken and (status, to_store, rejected, left_out) == ("stored", 2, 0, 1)
        assert [r[4].isoformat(sep=" ") for r in fast_rows] == ["2024-01-01 09:00:00", "2024-01-01 09:00:00"]
    if name == "blank_and_value.csv":
        assert fast_taken and status == "stored" and rejected == 0
    if name == "two_values.csv":
        assert not fast_taken and (status, to_store, rejected) == ("stored", 1, 2)
        assert {p[0] for p in fast_summary[4]} == {2, 3}


@pytest.mark.slow
def test_the_command_line_imports_only_what_a_command_needs(demo_store, tmp_path):
    """`ingest --check` of a plain long file whose metrics' kind is given reads and checks every
    row without pandas (0.3 s and about 100 MB of a process that runs for a second)."""
    data = tmp_path / "nightly.csv"
    data.write_bytes(
        HEADER + b"SC-01,accuracy,lab,2024-01-01 09:00:00,0.91\nSC-01,accuracy,live,2024-01-01 09:00:00,0.67\n"
    )
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['pilot_health', 'ingest', {str(data)!r}, '--db', {str(demo_store.path)!r}, '--check', '--json', '--metric-kind', 'technical']\n"
        "try:\n    runpy.run_module('pilot_health', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(json.dumps({m: m in sys.modules for m in ('pandas', 'altair', 'streamlit', 'numpy')}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    checked, imported = json.loads(lines[0]), json.loads(lines[-1])
    assert checked["status"] == "ready" and checked["rows_stored"] == 0
    assert imported == {"pandas": False, "altair": False, "streamlit": False, "numpy": False}


def test_no_progress_bar_reaches_the_command_lines_output(demo_store):
    """DuckDB prints a progress bar on stdout (piped or not) for a statement that runs over two seconds, as
    a big ingest on a slow machine does; the store's connections turn it off, for reading and writing."""
    with demo_store.read() as con:
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
    with demo_store.write() as con:
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
