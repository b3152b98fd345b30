#!/usr/bin/env python
"""Ingest benchmark: a 1-million-row long metric CSV through the ingest engine, against DuckDB alone.

    .venv/bin/python bench/bench_ingest.py                   # write bench/out/ingest_1m.csv, then time
    .venv/bin/python bench/bench_ingest.py --reuse           # time again with the existing CSV
    .venv/bin/python bench/bench_ingest.py --reuse --json    # ... and print every figure as one JSON object (last line)
    .venv/bin/python bench/bench_ingest.py --reuse --profile # one profiled ingest: time per engine step and per SQL statement

Target (the issue): the ingest engine end to end within 2x of DuckDB alone loading the same file
into a table, measured in the same run, and peak memory under 1 GB.

1. Writes bench/out/ingest_1m.csv with DuckDB's COPY: 1,000,000 rows `pilot_id, metric,
   environment, observed_at, value` (~46 MB) for six demo pilots, six metrics, lab and live, ISO
   timestamps over two years (never at midnight, so no row repeats a demo observation), values from
   a deterministic formula (a trend plus multiplicative-hash noise): the same bytes on every run.
2. Builds a store with the demo portfolio (`load_demo`, today fixed at DEMO_NOW) in a temporary
   folder; every measurement starts from its own copy of that file (copying is not timed).
3. Times, alternating, `--rounds` times each, every run in its own Python process (so its peak RSS,
   `ru_maxrss`, is its own):
     (a) the ingest engine as the command line runs it: read the file's bytes, `ingest(Store(copy),
         data, name, IngestOptions(), commit=True, source=path)`, commit and close included;
     (b) DuckDB alone: connect to the copy, CREATE TABLE t AS SELECT * FROM read_csv(path), close;
     (c) DuckDB alone into the real table: INSERT INTO metric_observations SELECT ... FROM
         read_csv(path), close (the same typed columns the engine stores, without its checks).
   The timers start after the imports; the process start and imports are reported apart.

Peak memory: on Linux a process's ru_maxrss survives fork + exec, so a child started by a big
parent reports the parent's size. This parent therefore imports nothing heavy (it writes the CSV
and builds the demo store in helper processes too) and stays under 20 MB; each child also reports
VmHWM from /proc/self/status (the peak of its own address space only) as a cross-check.

Nothing here changes the project's code or any store but the temporary copies.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
ROWS = 1_000_000
TARGET_RATIO = 2.0
TARGET_RSS_MB = 1024.0
PILOTS = ["SC-01", "SC-02", "RO-01", "FN-01", "CS-01", "MK-01"]  # codes of the demo portfolio
METRICS = ["accuracy", "f1", "roc_auc", "rmse", "revenue_per_visit", "active_users"]
ENVIRONMENTS = ["lab", "live"]
SERIES = len(PILOTS) * len(METRICS) * len(ENVIRONMENTS)
START = "2024-11-25 00:00:00"
SPAN_SECONDS = 2 * 365 * 86400
HEADER = "pilot_id,metric,environment,observed_at,value"
MEASUREMENTS = {
    "ingest": "(a) ingest engine, end to end (read bytes, ingest(..., commit=True), close)",
    "duckdb_ctas": "(b) DuckDB alone: CREATE TABLE t AS SELECT * FROM read_csv(path)",
    "duckdb_insert": "(c) DuckDB alone: INSERT INTO metric_observations SELECT … FROM read_csv(path)",
}
KIB = 1024  # ru_maxrss is in KiB on Linux


def default_csv(rows: int) -> Path:
    return OUT / ("ingest_1m.csv" if rows == 1_000_000 else f"ingest_{rows}.csv")


# -- the file ---------------------------------------------------------------------------------------


def csv_sql(path: Path, rows: int) -> str:
    """One COPY statement that writes the whole file; deterministic (no random(), no hash())."""
    steps = math.ceil(rows / SERIES)
    step_seconds = max(60, SPAN_SECONDS // steps // 60 * 60)  # a whole number of minutes per step
    pilots = "[" + ", ".join(f"'{p}'" for p in PILOTS) + "]"
    metrics = "[" + ", ".join(f"'{m}'" for m in METRICS) + "]"
    # u: a uniform number in [0, 1) from a multiplicative hash of the row number (Knuth's constant).
    return f"""
    COPY (
      WITH r AS (
        SELECT i, i % {SERIES} AS series, i // {SERIES} AS step,
               ((i * 2654435761) % 4294967296)::DOUBLE / 4294967296.0 AS u
        FROM range({rows}) t(i)
      ), s AS (
        SELECT *, {pilots}[series % {len(PILOTS)} + 1] AS pilot_id,
               {metrics}[series // {len(PILOTS)} % {len(METRICS)} + 1] AS metric,
               CASE WHEN series < {SERIES // 2} THEN 'lab' ELSE 'live' END AS environment,
               step / {steps}.0 AS t, series % {len(PILOTS)} * 0.01 AS p
        FROM r
      )
      SELECT pilot_id, metric, environment,
             strftime(TIMESTAMP '{START}' + to_seconds(step * {step_seconds} + 17 + series % 40), '%Y-%m-%d %H:%M:%S') AS observed_at,
             CASE metric
               WHEN 'accuracy' THEN CAST(round(0.76 + p + 0.08 * t + 0.03 * (u - 0.5), 4) AS VARCHAR)
               WHEN 'f1' THEN CAST(round(0.69 + p + 0.10 * t + 0.04 * (u - 0.5), 4) AS VARCHAR)
               WHEN 'roc_auc' THEN CAST(round(0.81 + p + 0.06 * t + 0.02 * (u - 0.5), 4) AS VARCHAR)
               WHEN 'rmse' THEN CAST(round(14.0 + 10 * p - 4.0 * t + 2.0 * (u - 0.5), 3) AS VARCHAR)
               WHEN 'revenue_per_visit' THEN CAST(round(38.5 + 100 * p + 6.0 * t + 5.0 * (u - 0.5), 2) AS VARCHAR)
               ELSE CAST(CAST(round(120 + 1000 * p + 800 * t + 60 * u) AS BIGINT) AS VARCHAR)
             END AS value
      FROM s
      ORDER BY i
    ) TO '{str(path).replace("'", "''")}' (FORMAT csv, HEADER, DELIMITER ',')
    """


def csv_ok(path: Path, rows: int) -> bool:
    """A file this script wrote for `rows` rows: the header and rows + 1 lines."""
    if not path.exists():
        return False
    with open(path, "rb") as f:
        if f.readline().decode("utf-8", errors="replace").strip() != HEADER:
            return False
        lines = 1
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines == rows + 1


def write_csv(path: Path, rows: int) -> float:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    mark = time.perf_counter()
    tmp = path.with_name(path.name + ".part")
    con = duckdb.connect()
    try:
        con.execute(csv_sql(tmp, rows))
    finally:
        con.close()
    tmp.replace(path)
    return time.perf_counter() - mark


# -- the store ----------------------------------------------------------------------------------------


def build_demo_store(folder: Path) -> tuple[Path, dict[str, Any]]:
    from pilot_health.demo.portfolio import DEMO_NOW, load_demo
    from pilot_health.store.database import Store

    path = folder / "demo.duckdb"
    mark = time.perf_counter()
    loaded = load_demo(Store(path), today=DEMO_NOW.date())
    seconds = time.perf_counter() - mark
    return path, {
        "seconds": round(seconds, 2),
        "pilots": loaded.pilots,
        "metric_observations": loaded.metric_observations,
        "survey_responses": loaded.survey_responses,
        "uploads": loaded.uploads,
        "file_mb": round(path.stat().st_size / 2**20, 1),
    }


def copy_store(pristine: Path, target: Path) -> None:
    for suffix in ("", ".wal"):
        source = pristine.with_name(pristine.name + suffix)
        dest = target.with_name(target.name + suffix)
        if dest.exists():
            dest.unlink()
        if source.exists():
            shutil.copyfile(source, dest)


def remove_store(path: Path) -> None:
    for suffix in ("", ".wal"):
        file = path.with_name(path.name + suffix)
        if file.exists():
            file.unlink()


# -- the child processes: one measurement each --------------------------------------------------------


def _rss_mb() -> float:
    """Peak RSS of this process so far, in MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB / 2**20


def _vmhwm_mb() -> float | None:
    """Peak RSS of this process image only (Linux /proc), in MB; None elsewhere."""
    try:
        found = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return round(int(found.group(1)) / 1024, 1) if found else None


def child(mode: str, store_path: Path, csv_path: Path, rows: int) -> dict[str, Any]:
    """Runs in its own process; returns the figures as a dict (printed as JSON by main)."""
    started = time.perf_counter()
    import duckdb

    if mode == "write_csv":
        return {"mode": mode, "seconds": round(write_csv(csv_path, rows), 2)}
    if mode == "demo_store":
        import pandas as pd

        path, demo = build_demo_store(store_path.parent)
        return {
            "mode": mode,
            "path": str(path),
            "demo": demo,
            "versions": {"duckdb": duckdb.__version__, "pandas": pd.__version__},
        }
    if mode in ("ingest", "profile"):
        from pilot_health.ingest import IngestOptions, engine, ingest
        from pilot_health.store.database import Store
    imports_s = time.perf_counter() - started
    rss_after_imports = _rss_mb()
    out: dict[str, Any] = {
        "mode": mode,
        "imports_s": round(imports_s, 3),
        "rss_after_imports_mb": round(rss_after_imports, 1),
    }
    if mode in ("ingest", "profile"):
        out["engine"] = engine.__file__  # which engine ran (PYTHONPATH can point at a prototype)

    if mode in ("ingest", "profile"):
        store: Any = Store(store_path) if mode == "ingest" else ProfiledStore(store_path)
        steps: list[tuple[float, float, str]] = []

        def progress(share: float, text: str) -> None:
            steps.append((time.perf_counter(), share, text))
            if mode == "profile":
                store.stage = text

        mark = time.perf_counter()
        data = csv_path.read_bytes()
        read_done = time.perf_counter()
        result = ingest(
            store,
            data,
            csv_path.name,
            IngestOptions(),
            commit=True,
            source=csv_path,
            tables=False,
            progress=progress if mode == "profile" else None,
        )
        seconds = time.perf_counter() - mark
        del data
        out.update(
            seconds=round(seconds, 3),
            peak_rss_mb=round(_rss_mb(), 1),
            vmhwm_mb=_vmhwm_mb(),
            status=result.status,
            rows_stored=result.rows_stored,
            rows_rejected=result.rows_rejected,
            rows_left_out=result.rows_left_out,
            warnings=result.warnings,
            refusal=result.refusal,
            upload_id=result.upload_id,
            kind=result.kind,
        )
        if mode == "profile":
            marks = [
                (mark, None, "start: read the file's bytes"),
                (read_done, None, "ingest() called: sha256, upload-size check"),
            ]
            marks += [(t, share, text) for t, share, text in steps]
            marks.append((mark + seconds, None, "ingest() returned"))
            out["stages"] = [
                {"share": share, "step": text, "seconds": round(marks[i + 1][0] - t, 3)}
                for i, (t, share, text) in enumerate(marks[:-1])
            ]
            out["sql"] = store.log
        if result.status == "stored":
            con = duckdb.connect(str(store_path), read_only=True)
            try:
                out["rows_in_table"] = con.execute(
                    "SELECT count(*) FROM metric_observations WHERE upload_id = ?", [result.upload_id]
                ).fetchone()[0]
                out["kinds"] = dict(
                    con.execute(
                        "SELECT kind, count(*) FROM metric_observations WHERE upload_id = ? GROUP BY 1 ORDER BY 1",
                        [result.upload_id],
                    ).fetchall()
                )
            finally:
                con.close()
        return out

    path_sql = str(csv_path).replace("'", "''")
    if mode == "duckdb_ctas":
        sql, table = f"CREATE TABLE t AS SELECT * FROM read_csv('{path_sql}')", "t"
    elif mode == "duckdb_insert":
        sql = (
            f"INSERT INTO metric_observations SELECT pilot_id, metric, 'technical', environment, observed_at, value, 1 "
            f"FROM read_csv('{path_sql}')"
        )
        table = "metric_observations"
    else:
        raise SystemExit(f"unknown mode {mode}")
    with duckdb.connect(str(store_path), read_only=True) as con:
        before = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if table != "t" else 0
    mark = time.perf_counter()
    con = duckdb.connect(str(store_path))
    con.execute(sql)
    con.close()
    seconds = time.perf_counter() - mark
    out.update(seconds=round(seconds, 3), peak_rss_mb=round(_rss_mb(), 1), vmhwm_mb=_vmhwm_mb())
    with duckdb.connect(str(store_path), read_only=True) as con:
        out["rows_in_table"] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] - before
        if table == "t":
            out["types"] = [f"{r[0]} {r[1]}" for r in con.execute("DESCRIBE t").fetchall()]
    return out


class TimedConnection:
    """Wraps a DuckDB connection: every execute (and commit, close …) is timed and logged."""

    TIMED = ("execute", "executemany", "begin", "commit", "rollback", "close", "register", "unregister")

    def __init__(self, con: Any, owner: ProfiledStore) -> None:
        self._con = con
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._con, name)
        if name not in self.TIMED:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            what = re.sub(r"\s+", " ", str(args[0])).strip() if (args and name in ("execute", "executemany")) else name
            if name in ("register", "unregister"):
                what = f"{name} {args[0] if args else ''}"
            entry = {"stage": self._owner.stage, "seconds": 0.0, "sql": what}
            self._owner.log.append(entry)
            mark = time.perf_counter()
            try:
                returned = attribute(*args, **kwargs)
            finally:
                entry["seconds"] = round(time.perf_counter() - mark, 4)
            # A result may be computed while it is fetched: fetches count towards the same statement.
            return (
                TimedResult(returned, entry)
                if name in ("execute", "executemany") and returned is not None
                else returned
            )

        return timed


class TimedResult:
    """What `execute` returned; fetching from it adds to the statement's time."""

    FETCHES = ("fetchone", "fetchall", "fetchmany", "df", "fetchdf", "fetchnumpy", "arrow", "fetch_arrow_table", "pl")

    def __init__(self, result: Any, entry: dict[str, Any]) -> None:
        self._result = result
        self._entry = entry

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._result, name)
        if name not in self.FETCHES:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            mark = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self._entry["seconds"] = round(self._entry["seconds"] + time.perf_counter() - mark, 4)

        return timed


def _profiled_store_class() -> type:
    from pilot_health.store.database import Store

    class _ProfiledStore(Store):
        """A Store whose connections are TimedConnections (the engine is unchanged)."""

        def __init__(self, path: Path) -> None:
            super().__init__(path)
            self.log: list[dict[str, Any]] = []
            self.stage = "before the first progress step"

        def _open(self) -> Any:  # type: ignore[override]
            mark = time.perf_counter()
            con = super()._open()
            self.log.append(
                {
                    "stage": self.stage,
                    "seconds": round(time.perf_counter() - mark, 4),
                    "sql": "connect (open the store file)",
                }
            )
            return TimedConnection(con, self)

        def unscoped(self) -> Any:  # the engine asks for the unscoped store: keep timing it
            return self

    return _ProfiledStore


def ProfiledStore(path: Path) -> Any:  # noqa: N802 - a factory that reads like the class it returns
    return _profiled_store_class()(path)


def cpu_seconds() -> tuple[float | None, float]:
    """(CPU-seconds all processes of the machine have used, per /proc/stat; CPU-seconds this
    process and its finished children have used). Their difference over an interval is what
    other programs took from the CPUs meanwhile."""
    own = sum(
        getattr(resource.getrusage(who), field)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for field in ("ru_utime", "ru_stime")
    )
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None, own
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait (guest time is already in user)
    return busy / os.sysconf("SC_CLK_TCK"), own


def others_cpu(before: tuple[float | None, float], after: tuple[float | None, float], seconds: float) -> float | None:
    """Average number of CPUs other programs kept busy over `seconds` (None without /proc/stat)."""
    if before[0] is None or after[0] is None or seconds <= 0:
        return None
    return max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / seconds)


def run_child(mode: str, store_path: Path, csv_path: Path, rows: int) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--child-store",
        str(store_path),
        "--csv",
        str(csv_path),
        "--rows",
        str(rows),
    ]
    cpu_before = cpu_seconds()
    mark = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=str(ROOT))
    wall = time.perf_counter() - mark
    others = others_cpu(cpu_before, cpu_seconds(), wall)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {mode} run failed (exit {done.returncode})")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    figures = json.loads(lines[-1])
    figures["process_wall_s"] = round(wall, 3)
    figures["others_cpus"] = round(others, 2) if others is not None else None
    return figures


def check(mode: str, figures: dict[str, Any], rows: int) -> None:
    if mode in ("ingest", "profile"):
        if (
            figures.get("status") != "stored"
            or figures.get("rows_stored") != rows
            or figures.get("rows_in_table") != rows
        ):
            raise SystemExit(
                f"the ingest did not store {rows:,} rows: status {figures.get('status')}, rows_stored {figures.get('rows_stored')}, "
                f"in table {figures.get('rows_in_table')}, refusal {figures.get('refusal')}, warnings {figures.get('warnings')}"
            )
    elif figures.get("rows_in_table") != rows:
        raise SystemExit(f"{mode} loaded {figures.get('rows_in_table')} rows, expected {rows:,}")


# -- report -----------------------------------------------------------------------------------------


def machine(
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    versions: dict[str, str],
    others: float | None,
) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "other_programs_cpus": round(others, 2) if others is not None else None,
        "busy": bool(busy_note(load_before, others)),
        "python": platform.python_version(),
        **versions,
        "platform": platform.platform(),
        "parent_peak_rss_mb": round(_rss_mb(), 1),
    }


BUSY_OTHERS = 0.25  # other programs using more than a quarter of a CPU on average: the timings are disturbed


def busy_note(load_before: tuple[float, float, float], others: float | None) -> str:
    """A warning when other programs competed for the CPUs. The load average after a run counts
    this benchmark's own DuckDB threads, so the judgement uses the load before and the CPU time
    other programs took during the run (from /proc/stat)."""
    cpus = os.cpu_count() or 1
    if (others > BUSY_OTHERS) if others is not None else (load_before[0] > cpus):
        return (
            " — the machine was busy (other programs competed for the CPUs); both sides are slowed, unevenly, "
            "so the ratio is unreliable: rerun with --reuse when it is quiet"
        )
    return ""


def print_table(summary: dict[str, dict[str, Any]]) -> None:
    header = ("measurement", "median s", "min s", "peak RSS MB", "VmHWM MB", "RSS after imports MB", "imports s")
    rows = [
        (
            MEASUREMENTS[mode],
            f"{s['median_s']:.2f}",
            f"{s['min_s']:.2f}",
            f"{s['peak_rss_mb']:.0f}",
            f"{s['vmhwm_mb']:.0f}" if s["vmhwm_mb"] is not None else "n/a",
            f"{s['rss_after_imports_mb']:.0f}",
            f"{s['imports_s']:.2f}",
        )
        for mode, s in summary.items()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def print_profile(figures: dict[str, Any], reference: dict[str, Any] | None, top: int) -> None:
    total = figures["seconds"]
    print(f"\nEngine: {figures['engine']}")
    print(
        f"Profiled ingest: {total:.2f} s end to end (the profiling wrapper adds a few ms), peak RSS {figures['peak_rss_mb']:.0f} MB, "
        f"status {figures['status']}, {figures['rows_stored']:,} rows stored."
    )
    if reference:
        print(
            f"DuckDB alone (b) in the same run: {reference['seconds']:.2f} s, peak RSS {reference['peak_rss_mb']:.0f} MB "
            f"→ ratio {total / reference['seconds']:.2f}x."
        )
    print("\nTime between the engine's progress steps (each row: from this step to the next):")
    sql_by_stage: dict[str, float] = {}
    for entry in figures["sql"]:
        sql_by_stage[entry["stage"]] = sql_by_stage.get(entry["stage"], 0.0) + entry["seconds"]
    print(f"  {'share':>5}  {'step':<60} {'seconds':>8} {'of total':>8} {'in SQL':>8}")
    for stage in figures["stages"]:
        share = f"{stage['share']:.0%}" if stage["share"] is not None else ""
        in_sql = sql_by_stage.get(stage["step"])
        print(
            f"  {share:>5}  {stage['step'][:60]:<60} {stage['seconds']:8.2f} {stage['seconds'] / total:8.0%} "
            f"{(f'{in_sql:.2f}' if in_sql is not None else ''):>8}"
        )
    print(f"\nSlowest {top} database calls (stage = the progress step they ran in):")
    ranked = sorted(figures["sql"], key=lambda e: -e["seconds"])[:top]
    for entry in ranked:
        print(f"  {entry['seconds']:7.3f} s  [{entry['stage'][:28]}]  {entry['sql'][:150]}")
    counted = sum(e["seconds"] for e in figures["sql"])
    print(
        f"  … {len(figures['sql'])} database calls in all, {counted:.2f} s; the remaining {total - counted:.2f} s is Python "
        "(reading the bytes, sha256, UTF-8 check, recognising columns, building results)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the ingest engine on a 1M-row metric CSV against DuckDB alone.")
    parser.add_argument("--csv", type=Path, default=None, help="the CSV (default bench/out/ingest_1m.csv; git-ignored)")
    parser.add_argument(
        "--rows", type=int, default=ROWS, help=f"data rows in the CSV (default {ROWS:,}; e.g. 50000 for a smoke run)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the CSV if it is one this script wrote with --rows rows"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each measurement, alternating (default 3)")
    parser.add_argument(
        "--json", action="store_true", help="also print every figure as one JSON object (last line of stdout)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the rounds: one ingest with a progress callback and timed SQL, plus one DuckDB-alone run",
    )
    parser.add_argument("--top", type=int, default=15, help="database calls listed by --profile (default 15)")
    parser.add_argument(
        "--child",
        choices=["ingest", "profile", "duckdb_ctas", "duckdb_insert", "write_csv", "demo_store"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--child-store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.rows < SERIES:
        parser.error(f"--rounds must be at least 1 and --rows at least {SERIES}")
    csv_path = (args.csv or default_csv(args.rows)).expanduser().resolve()

    if args.child:
        print(json.dumps(child(args.child, args.child_store, csv_path, args.rows)))
        return 0

    wall = time.perf_counter()
    load_before = os.getloadavg()
    cpu_start = cpu_seconds()
    print(
        f"Machine: {os.cpu_count()} CPUs · load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} (1, 5, 15 min) "
        f"· Python {platform.python_version()}",
        flush=True,
    )

    generated: dict[str, Any] = {"reused": False}
    if args.reuse and csv_ok(csv_path, args.rows):
        generated["reused"] = True
        print(f"Reusing {csv_path}.")
    else:
        if args.reuse:
            print(f"No {args.rows:,}-row CSV of this script at {csv_path}; writing it.")
        generated["seconds"] = run_child("write_csv", csv_path, csv_path, args.rows)["seconds"]
        print(f"Wrote {csv_path} in {generated['seconds']:.1f} s.")
    size_mb = csv_path.stat().st_size / 1e6
    with open(csv_path, encoding="utf-8") as f:
        head = [next(f).rstrip("\n") for _ in range(3)]
    print(
        f"  {args.rows:,} data rows, {size_mb:.1f} MB ({size_mb * 1e6 / 2**20:.1f} MiB); {len(PILOTS)} pilots × {len(METRICS)} metrics × lab/live; first lines: "
        + " / ".join(head)
    )

    with tempfile.TemporaryDirectory(prefix="pilot-health-bench-ingest-") as folder_name:
        folder = Path(folder_name)
        print("Building a demo store (load_demo, today = DEMO_NOW) …", flush=True)
        built = run_child("demo_store", folder / "demo.duckdb", csv_path, args.rows)
        pristine, demo, versions = Path(built["path"]), built["demo"], built["versions"]
        print(
            f"  {demo['pilots']} pilots, {demo['metric_observations']:,} observations, {demo['survey_responses']:,} responses, "
            f"{demo['uploads']} uploads in {demo['seconds']:.1f} s; {demo['file_mb']} MB. Each run gets its own copy."
        )

        if args.profile:
            work = folder / "profile.duckdb"
            copy_store(pristine, work)
            print("\nProfiling one ingest …", flush=True)
            figures = run_child("profile", work, csv_path, args.rows)
            check("profile", figures, args.rows)
            remove_store(work)
            copy_store(pristine, work)
            reference = run_child("duckdb_ctas", work, csv_path, args.rows)
            check("duckdb_ctas", reference, args.rows)
            remove_store(work)
            print_profile(figures, reference, args.top)
            load_after = os.getloadavg()
            run_seconds = time.perf_counter() - wall
            others = others_cpu(cpu_start, cpu_seconds(), run_seconds)
            print(
                f"\nWhole run: {run_seconds:.1f} s · load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after on "
                f"{os.cpu_count()} CPUs · other programs used {others if others is not None else float('nan'):.2f} CPUs on average"
                + busy_note(load_before, others)
            )
            if args.json:
                print(
                    json.dumps(
                        {
                            "csv": str(csv_path),
                            "rows": args.rows,
                            "csv_mb": round(size_mb, 1),
                            "demo_store": demo,
                            "machine": machine(load_before, load_after, versions, others),
                            "profile": figures,
                            "duckdb_ctas": reference,
                        }
                    )
                )
            return 0

        modes = list(MEASUREMENTS)
        samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        print(
            f"\nTiming {args.rounds} rounds, alternating (each run in its own process, on its own copy of the store) …",
            flush=True,
        )
        for round_number in range(args.rounds):
            order = modes[round_number % len(modes) :] + modes[: round_number % len(modes)]  # rotate who goes first
            for mode in order:
                work = folder / f"round{round_number}_{mode}.duckdb"
                copy_store(pristine, work)
                figures = run_child(mode, work, csv_path, args.rows)
                check(mode, figures, args.rows)
                remove_store(work)
                samples[mode].append(figures)
                others = figures["others_cpus"]
                print(
                    f"  round {round_number + 1}: {mode:<14} {figures['seconds']:6.2f} s · peak RSS {figures['peak_rss_mb']:5.0f} MB"
                    + (f" · other programs used {others:.2f} CPUs meanwhile" if others is not None else ""),
                    flush=True,
                )

    summary = {}
    for mode in modes:
        runs = samples[mode]
        seconds = [r["seconds"] for r in runs]
        summary[mode] = {
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "samples_s": seconds,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "peak_rss_samples_mb": [r["peak_rss_mb"] for r in runs],
            "vmhwm_mb": max(r["vmhwm_mb"] for r in runs) if all(r.get("vmhwm_mb") is not None for r in runs) else None,
            "rss_after_imports_mb": statistics.median(r["rss_after_imports_mb"] for r in runs),
            "imports_s": statistics.median(r["imports_s"] for r in runs),
            "process_wall_s": statistics.median(r["process_wall_s"] for r in runs),
        }
    ingest_runs = samples["ingest"]
    print(
        f"\nResults ({args.rows:,} rows, {size_mb:.1f} MB; median and min of {args.rounds} runs; time without the process start and "
        "imports; peak RSS = max ru_maxrss over the runs, VmHWM = the same from /proc as a cross-check):\n"
    )
    print_table(summary)
    ratio = summary["ingest"]["median_s"] / summary["duckdb_ctas"]["median_s"]
    ratio_min = summary["ingest"]["min_s"] / summary["duckdb_ctas"]["min_s"]
    ratio_insert = summary["ingest"]["median_s"] / summary["duckdb_insert"]["median_s"]
    peak = summary["ingest"]["peak_rss_mb"]
    ratio_met, memory_met = ratio <= TARGET_RATIO, peak < TARGET_RSS_MB
    print(
        f"\nIngest engine: {summary['ingest']['median_s']:.2f} s (median) · DuckDB alone: {summary['duckdb_ctas']['median_s']:.2f} s (median)"
    )
    print(
        f"Ratio ingest / DuckDB alone (medians): {ratio:.2f}x (mins: {ratio_min:.2f}x) — target ≤ {TARGET_RATIO:g}x: "
        f"{'met' if ratio_met else 'NOT met'}"
    )
    print(f"Ratio ingest / DuckDB INSERT into metric_observations (medians, reference): {ratio_insert:.2f}x")
    print(
        f"Peak memory of the ingest (max RSS over {args.rounds} runs): {peak:.0f} MB — target < {TARGET_RSS_MB:.0f} MB: "
        f"{'met' if memory_met else 'NOT met'} (DuckDB alone: {summary['duckdb_ctas']['peak_rss_mb']:.0f} MB)"
    )
    first = ingest_runs[0]
    print(f"Engine: {first['engine']}")
    print(
        f"Every ingest stored {first['rows_stored']:,} rows (status {first['status']}, kinds {first.get('kinds')}); "
        f"warnings: {first['warnings'] or 'none'}"
    )
    total_seconds = time.perf_counter() - wall
    load_after = os.getloadavg()
    others = others_cpu(cpu_start, cpu_seconds(), total_seconds)
    print(
        f"Whole run: {total_seconds:.1f} s · load average {load_before[0]:.2f} before, {load_after[0]:.2f} {load_after[1]:.2f} "
        f"{load_after[2]:.2f} after (1, 5, 15 min; after includes this run's own DuckDB threads) on {os.cpu_count()} CPUs · "
        f"other programs used {others if others is not None else float('nan'):.2f} CPUs on average"
        + busy_note(load_before, others)
    )

    if args.json:
        print(
            json.dumps(
                {
                    "csv": str(csv_path),
                    "rows": args.rows,
                    "csv_mb": round(size_mb, 1),
                    "csv_generated": generated,
                    "demo_store": demo,
                    "machine": machine(load_before, load_after, versions, others),
                    "rounds": args.rounds,
                    "targets": {"ratio": TARGET_RATIO, "peak_rss_mb": TARGET_RSS_MB},
                    "measurements": {mode: {"description": MEASUREMENTS[mode], **s} for mode, s in summary.items()},
                    "ratio_median": round(ratio, 3),
                    "ratio_min": round(ratio_min, 3),
                    "ratio_vs_insert_median": round(ratio_insert, 3),
                    "ratio_met": ratio_met,
                    "peak_rss_mb": peak,
                    "memory_met": memory_met,
                    "ingest_result": {
                        k: first.get(k)
                        for k in ("status", "rows_stored", "rows_rejected", "rows_left_out", "warnings", "kinds")
                    },
                    "runs": samples,
                    "run_seconds": round(total_seconds, 1),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
