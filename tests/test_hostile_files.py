"""Hostile uploads (issue 15): bombs, NUL bytes, 10,000 columns, 5-million-character lines and
values, broken quotes, mixed encodings, XXE and billion laughs, formulas, path-like names, extreme
numbers and dates.

Every file is generated here (tests/hostile_corpus.py; nothing big is committed) and run through
the real engine — `ingest()` checking, then storing — in a separate Python process with an
address-space limit of 1.5 GB and a time limit, as the dashboard would meet it. Each must end in
time with a refusal sentence naming the file (or with rows stored and the bad ones rejected one by
one), never with an unexpected error, and a refused file must leave every table of the store as it
was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import hostile_corpus as corpus
import pytest
from conftest import ROOT

# Each file is run in a process of its own: left out of the fast loop (-m "not slow").
pytestmark = pytest.mark.slow

MEMORY_LIMIT = 1536 * 1024 * 1024
TIME_LIMIT = 60
# The peak a refused bomb may reach: a bare process with DuckDB and pandas is about 170 MB; before
# the limits, these files passed 3 GB (bench/README.md).
MEMORY_BOUND_MB = 400
TABLES = ("uploads", "pilots", "metric_observations", "survey_responses", "audit_log")

RUNNER = r"""
import json, resource, sys
from pathlib import Path
limit = int(sys.argv[4])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from pilot_health.ingest import IngestOptions, ingest
from pilot_health.store.database import Store

store = Store(Path(sys.argv[1]), lock_wait_seconds=5)
data, name = Path(sys.argv[2]).read_bytes(), sys.argv[3]

def counts():
    with store.read() as con:
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in %r if t in tables}

out = {"before": counts()}
for mode in ("check", "store"):
    result = ingest(store, data, name, IngestOptions(pilot_id="SC-01", environment="lab"), commit=mode == "store")
    out[mode] = {"status": result.status, "refusal": result.refusal, "rows_to_store": result.rows_to_store,
                 "rows_rejected": result.rows_rejected, "problems": [p.message for p in result.problems][:5]}
out["after"] = counts()
# This process's own high-water mark (VmHWM): ru_maxrss would also count the pytest process it was
# forked from, whose size depends on how many tests ran before.
out["peak_mb"] = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps(out))
""" % (TABLES,)


def run(store_path: Path, file: Path, name: str, env: dict | None = None, memory_limit: int = MEMORY_LIMIT) -> dict:
    """One file, check then store, in a fresh process under the memory and time limits."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(store_path), str(file), name, str(memory_limit)],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        cwd=ROOT,
        env=environment,
    )
    assert done.returncode == 0, f"{name}: the engine failed (exit {done.returncode}): {done.stderr[-2000:]}"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["seconds"] = time.monotonic() - started
    for mode in ("check", "store"):
        text = " ".join([out[mode]["refusal"] or "", *out[mode]["problems"]])
        assert "Unexpected problem" not in text and "Traceback" not in text, text
    return out


def expect_refused(out: dict, name: str, *words: str) -> str:
    """Refused when checked and when stored, with a sentence naming the file and saying `words`;
    the store exactly as before."""
    for mode in ("check", "store"):
        assert out[mode]["status"] == "refused", f"{name} {mode}: {out[mode]}"
        refusal = out[mode]["refusal"]
        assert refusal.startswith(name) or f"{name} " in refusal, refusal
        for word in words:
            assert word in refusal, f"{word!r} not in: {refusal}"
    assert out["after"] == out["before"], "a refused file changed the store"
    return out["check"]["refusal"]


@pytest.fixture
def store_path(demo_store) -> Path:
    return demo_store.path


# -- workbooks ---------------------------------------------------------------------------------


def test_a_tiny_workbook_declaring_a_million_rows_by_16384_columns_is_read_as_the_rows_it_has(store_path, tmp_path):
    """Issue 15: 1.6 KB passed 3.9 GB. Its one far cell (XFD1048576) is past the column limit."""
    file = corpus.dimension_bomb(tmp_path / "bomb.xlsx")
    assert file.stat().st_size < 2500
    out = run(store_path, file, "sales.xlsx")
    refusal = expect_refused(out, "sales.xlsx")
    assert refusal == (
        "sales.xlsx has more than 2,000 columns, the limit for one upload (sheet “Metrics” has a value in column XFD, "
        "row 1,048,576). Remove the columns you do not need, or split it into smaller files."
    )
    assert out["peak_mb"] < MEMORY_BOUND_MB


def test_the_declared_size_alone_never_pads_rows(store_path, tmp_path):
    """The same declared size without the far cell: the two real rows are stored, nothing else."""
    file = corpus.write_xlsx(
        tmp_path / "declared.xlsx", corpus.sheet_xml(corpus.metric_rows(2), dimension="A1:XFD1048576")
    )
    out = run(store_path, file, "declared.xlsx")
    assert out["store"]["status"] == "stored", out
    assert out["store"]["rows_to_store"] == 2 and out["store"]["rows_rejected"] == 0
    assert out["after"]["metric_observations"] == out["before"]["metric_observations"] + 2
    assert out["peak_mb"] < MEMORY_BOUND_MB


def test_a_zip_bomb_is_refused_from_its_declared_size(store_path, tmp_path):
    """A sheet that unpacks to 210 MB (over the 200 MB default) from about 1 MB on disk."""
    file = corpus.zip_bomb(tmp_path / "bomb.xlsx", 210)
    assert file.stat().st_size < 3 * 1024 * 1024
    out = run(store_path, file, "sales.xlsx")
    refusal = expect_refused(out, "sales.xlsx", "too large to read", "unpacks to more than 200 MB")
    assert refusal == (
        "sales.xlsx is too large to read: it unpacks to more than 200 MB (the limit for one upload). "
        "Split it into smaller files or export it as CSV."
    )
    assert out["seconds"] < 20


def test_unpacked_bytes_are_counted_while_reading(store_path, tmp_path):
    """Within what the zip declares but over a lower limit: refused while the sheet streams."""
    file = corpus.many_rows_xlsx(tmp_path / "rows.xlsx", 30_000)
    out = run(store_path, file, "rows.xlsx", {"PILOT_HEALTH_MAX_UNPACKED_MB": "1"})
    expect_refused(out, "rows.xlsx", "unpacks to more than 1 MB")


def test_a_zip_with_a_huge_directory_is_refused_before_it_is_listed(store_path, tmp_path):
    file = corpus.many_parts(tmp_path / "parts.xlsx", 12_000)
    out = run(store_path, file, "parts.xlsx")
    expect_refused(out, "parts.xlsx", "more than 10,000 parts")


def test_a_zip_lying_about_its_sizes_is_refused_as_damaged(store_path, tmp_path):
    """The directory says 2,000 bytes, the sheet unpacks to 4 MB: reading stops at the declared size
    and the checksum gives the lie away."""
    file = corpus.lying_sizes(tmp_path / "lying.xlsx", 20_000, claimed=2000)
    out = run(store_path, file, "lying.xlsx")
    expect_refused(out, "lying.xlsx", "could not be read", "damaged")


@pytest.mark.parametrize(
    "limit, value, words",
    [
        ("PILOT_HEALTH_MAX_ROWS", "1000", "more than 1,000 rows"),
        ("PILOT_HEALTH_MAX_CELLS", "20000", "more than 20,000 cells"),
    ],
)
def test_rows_and_cells_of_a_workbook_are_counted_while_reading(store_path, tmp_path, limit, value, words):
    file = corpus.many_rows_xlsx(tmp_path / "rows.xlsx", 5_000)
    out = run(store_path, file, "rows.xlsx", {limit: value})
    expect_refused(out, "rows.xlsx", words, "the limit for one upload")


def test_a_workbook_within_the_limits_is_stored_whole(store_path, tmp_path):
    file = corpus.many_rows_xlsx(tmp_path / "rows.xlsx", 5_000)
    out = run(store_path, file, "rows.xlsx")
    assert out["store"]["status"] == "stored", out
    assert out["store"]["rows_to_store"] == 5_000 and out["store"]["rows_rejected"] == 0
    assert out["after"]["uploads"] == out["before"]["uploads"] + 1
    assert out["after"]["metric_observations"] == out["before"]["metric_observations"] + 5_000


@pytest.mark.parametrize("where", ["sheet", "strings"])
def test_billion_laughs_is_refused(store_path, tmp_path, where):
    file = corpus.billion_laughs(tmp_path / "laughs.xlsx", where)
    out = run(store_path, file, "laughs.xlsx")
    expect_refused(out, "laughs.xlsx", "XML declarations that spreadsheets never contain")
    assert out["peak_mb"] < MEMORY_BOUND_MB and out["seconds"] < 20


def test_an_external_entity_never_reads_the_named_file(store_path, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    file = corpus.xxe(tmp_path / "xxe.xlsx", str(secret))
    out = run(store_path, file, "xxe.xlsx")
    refusal = expect_refused(out, "xxe.xlsx", "XML declarations")
    assert "TOP-SECRET" not in json.dumps(out) and str(secret) not in refusal


def test_a_formula_whose_result_was_never_saved_is_refused_naming_its_cell(store_path, tmp_path):
    file = corpus.formulas(tmp_path / "formulas.xlsx", cached=False)
    out = run(store_path, file, "formulas.xlsx")
    refusal = expect_refused(out, "formulas.xlsx")
    assert refusal == (
        "formulas.xlsx: cell E2 of sheet “Metrics” is a formula whose result was never saved, so its value is unknown. "
        "Open the file in Excel, save it, and upload again. Nothing was stored."
    )


def test_formulas_with_saved_results_and_external_links_store_the_saved_values(store_path, tmp_path):
    for file, first in (
        (corpus.formulas(tmp_path / "saved.xlsx", cached=True), 0.5),
        (corpus.external_links(tmp_path / "linked.xlsx"), 0.7),
    ):
        out = run(store_path, file, file.name)
        assert out["store"]["status"] == "stored", out
        assert out["store"]["rows_to_store"] == 5 and out["store"]["rows_rejected"] == 0
        assert out["after"]["metric_observations"] == out["before"]["metric_observations"] + 5
    from pilot_health.store.database import Store

    with Store(store_path).read() as con:
        values = con.execute(
            "SELECT value FROM metric_observations o JOIN uploads u USING (upload_id) "
            "WHERE u.file_name = 'linked.xlsx' ORDER BY observed_at"
        ).fetchall()
    assert [round(v, 2) for (v,) in values] == [0.7, 0.71, 0.72, 0.73, 0.74]


def test_cells_far_to_the_right_are_refused_at_the_first_one(store_path, tmp_path):
    file = corpus.far_cell_bomb(tmp_path / "far.xlsx", 2000)
    out = run(store_path, file, "far.xlsx")
    expect_refused(out, "far.xlsx", "more than 2,000 columns", "column XFD, row 2)")
    assert out["peak_mb"] < MEMORY_BOUND_MB


# -- text files --------------------------------------------------------------------------------

TEXT_REFUSALS = {
    "ten_thousand_columns.csv": ("more than 2,000 columns, the limit for one upload (its header has 10,000).",),
    "long_line.csv": ("a line longer than 1,000,000 characters (line 7;",),
    "long_field.csv": ("a quoted value that runs on for more than 1,000,000 characters", "starting on line 7"),
    "nul_bytes.csv": ("binary data on line 2,002 (a NUL character)",),
    "nul_everywhere.csv": ("binary data",),
}


@pytest.mark.parametrize("name", sorted(TEXT_REFUSALS))
def test_hostile_text_is_refused_with_a_sentence(store_path, tmp_path, name):
    file = tmp_path / "upload.bin"
    file.write_bytes(corpus.text_files()[name])
    out = run(store_path, file, name)
    expect_refused(out, name, *TEXT_REFUSALS[name])
    assert out["peak_mb"] < 600


def test_a_wide_table_with_more_values_than_rows_to_store_is_refused_before_they_are_made(store_path, tmp_path):
    """2,000 columns of metrics by 3,000 rows is within the column and cell limits, but it is
    5,991,000 values, each one row to store: three times the rows limit. Checking them all took
    DuckDB past 1.7 GB (2.8 GB for 5,000 rows, bench/README.md); the values are counted first.
    Under a 4 GB address-space cap: DuckDB reserves far more address space than it uses for a table
    this wide (a 1.5 GB cap fails it while the memory really used stays near 350 MB)."""
    file = tmp_path / "wide.csv"
    file.write_bytes(corpus.wide_csv(2000, 3000))
    out = run(store_path, file, "wide.csv", memory_limit=4 * 1024**3)
    refusal = expect_refused(out, "wide.csv")
    assert refusal == (
        "wide.csv holds 5,991,000 values in its 1,997 columns of metrics, and each becomes one row to store: more than "
        "the 2,000,000 rows one upload may store. Split it into smaller files (fewer rows or fewer columns each) and "
        "upload them one after the other."
    )
    assert out["peak_mb"] < 1024


def test_a_wide_table_within_the_rows_limit_is_stored_whole(store_path, tmp_path):
    """The same count of values as the limit allows: stored, one row per value."""
    file = tmp_path / "wide.csv"
    file.write_bytes(corpus.wide_csv(103, 50))  # 100 metrics x 50 days = 5,000 values
    out = run(store_path, file, "wide.csv", {"PILOT_HEALTH_MAX_ROWS": "5000"})
    assert out["store"]["status"] == "stored", out
    assert (
        out["store"]["rows_to_store"] == 5_000
        and out["after"]["metric_observations"] == out["before"]["metric_observations"] + 5_000
    )
    file.write_bytes(corpus.wide_csv(103, 51))  # one day more: 5,100 values
    out = run(store_path, file, "wider.csv", {"PILOT_HEALTH_MAX_ROWS": "5099"})
    expect_refused(out, "wider.csv", "holds 5,100 values in its 100 columns of metrics", "more than the 5,099 rows")


def chart_export(runs: int, steps: int) -> bytes:
    """A W&B chart export: Step, then each run's metric with its __MIN and __MAX companions."""
    names = [f"run-{r} - accuracy" for r in range(runs)]
    header = ",".join(['"Step"'] + [f'"{n}{suffix}"' for n in names for suffix in ("", "__MIN", "__MAX")])
    lines = [
        ",".join([f'"{step}"'] + [f'"0.{50 + (r + step) % 40}"' for r in range(runs) for _ in range(3)])
        for step in range(steps)
    ]
    return ("\n".join([header, *lines]) + "\n").encode()


def test_a_chart_export_with_more_logged_values_than_the_rows_limit_is_refused(demo_store, monkeypatch):
    """A W&B chart export keeps each run's last value, but every logged step is read first: 10 runs
    of 21 steps are 210 values, over a rows limit of 200 (in-process: the limit is read per upload)."""
    from datetime import date

    from pilot_health.ingest import IngestOptions, ingest
    from pilot_health.store.database import facts_of_file

    options = IngestOptions(pilot_id="SC-01", observed_on=date(2024, 3, 1), environment="lab")
    monkeypatch.setenv("PILOT_HEALTH_MAX_ROWS", "200")
    before = facts_of_file(demo_store.path)
    result = ingest(demo_store, chart_export(10, 21), "chart.csv", options, commit=True)
    assert result.mapping.export == "Weights & Biases chart export"
    assert result.status == "refused" and result.refusal == (
        "chart.csv holds 210 values in its 10 columns of runs' metrics: more than the 200 rows one upload may read. "
        "Export fewer runs or fewer steps (or split it into smaller files) and upload them one after the other."
    )
    assert facts_of_file(demo_store.path) == before
    result = ingest(demo_store, chart_export(10, 20), "chart.csv", options, commit=True)  # 200 values: within
    assert result.status == "stored" and result.rows_to_store == 10, result.refusal


def test_running_out_of_memory_anyway_is_a_sentence_and_stores_nothing(demo_store, monkeypatch):
    """Should a file the limits let through still exhaust memory, DuckDB's error is a refusal
    naming the file (rolled back), not an unexpected error."""
    import duckdb

    from pilot_health.ingest import engine, metrics
    from pilot_health.store.database import facts_of_file

    def exhausted(run, *args, **kwargs):
        raise duckdb.OutOfMemoryException(
            "Out of Memory Error: Failed to allocate block of 268435456 bytes (bad allocation)"
        )

    monkeypatch.setattr(metrics, "parse_metrics", exhausted)
    before = facts_of_file(demo_store.path)
    data = corpus.text_files()["many_rows.csv"]
    result = engine.ingest(demo_store, data, "big.csv", engine.IngestOptions(), commit=True, _careful=True)
    assert result.status == "refused" and result.refusal == (
        "big.csv needs more memory to check than this server can give one upload. Split it into smaller files and upload them "
        "one after the other. Nothing was stored."
    )
    assert facts_of_file(demo_store.path) == before


def test_rows_of_a_csv_are_limited(store_path, tmp_path):
    file = tmp_path / "many.csv"
    file.write_bytes(corpus.text_files()["many_rows.csv"])  # 10,000 data rows
    out = run(store_path, file, "many.csv", {"PILOT_HEALTH_MAX_ROWS": "9999"})
    expect_refused(out, "many.csv", "more than 9,999 rows, the limit for one upload (it has 10,001 lines).")


@pytest.mark.parametrize(
    "name",
    [
        "unbalanced_quotes.csv",
        "deep_quotes.csv",
        "mixed_encodings.csv",
        "extreme_numbers.csv",
        "extreme_dates.csv",
        "../../etc/passwd.csv",
    ],
)
def test_odd_text_ends_in_a_sentence_or_rows_rejected_one_by_one(store_path, tmp_path, name):
    """Stored (with the bad rows rejected, each with a reason) or refused with a sentence naming
    the file; whatever happens, the store holds either the whole upload or nothing of it."""
    file = tmp_path / "upload.bin"
    file.write_bytes(corpus.text_files()[name])
    out = run(store_path, file, name)
    store = out["store"]
    if store["status"] == "refused":
        expect_refused(out, name)
    else:
        assert store["status"] == "stored", out
        assert out["after"]["metric_observations"] == out["before"]["metric_observations"] + store["rows_to_store"]
        assert out["after"]["uploads"] == out["before"]["uploads"] + 1
        assert all(problem.strip() for problem in store["problems"])
    assert not (ROOT.parent / "etc").exists() and not (tmp_path.parent / "etc").exists()
