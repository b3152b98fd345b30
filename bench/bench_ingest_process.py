#!/usr/bin/env python
"""Ingest speed as a user sees it: whole processes, interpreter start and imports included.

    .venv/bin/python bench/bench_ingest_process.py                # 5 alternating rounds (writes the CSV if missing)
    .venv/bin/python bench/bench_ingest_process.py --rounds 9     # more rounds on a busy machine
    .venv/bin/python bench/bench_ingest_process.py --json         # ... and every figure as one JSON object (last line)
    .venv/bin/python bench/bench_ingest_process.py --compare-src /tmp/proto   # also time the ingest of a copy of src/

Three commands, each its own process, on the 1M-row long metric file of bench_ingest.py
(bench/out/ingest_1m.csv) and each on its own copy of a demo store (the pilots of the file exist):

  ingest   `python -m pilot_health ingest FILE --db STORE` — what a nightly job runs;
  (a)      DuckDB alone: `python -c` importing duckdb, connect to the store, CREATE TABLE with typed
           columns (VARCHAR ×3, TIMESTAMP, DOUBLE) AS SELECT … FROM read_csv(FILE, columns = …), close;
  (b)      what a user would otherwise write: pandas.read_csv(FILE, parse_dates=["observed_at"]), then
           con.register + CREATE TABLE … AS SELECT * FROM the frame, close.

The ingest's code is byte-compiled first (`python -m compileall src/`, and the --compare-src copy),
outside the timing: an installed package is (pip compiles it), and so is a checkout after its first
run, unless PYTHONDONTWRITEBYTECODE is set — as on the shared machine this was written on, where every
run would otherwise compile the project's modules from source again (about 0.06 s), while (a) and (b)
import DuckDB and pandas compiled. `--no-compile` skips that, to see the difference.

Wall time is from starting the process to its exit (perf_counter around Popen … wait4); the CPU
time (user + system, all threads, from wait4) is printed beside it: on a machine shared with other
programs it is steadier than the wall time, though not immune to them. Peak
memory is the process's VmHWM, read from /proc/PID/status every few milliseconds while it runs
(the last reading before exit), and ru_maxrss from wait4 as a cross-check: this parent imports
nothing heavy, so the child's ru_maxrss is its own. Targets (issue 16, item 11): ingest within
2.5× of (a), faster than (b), peak memory under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ingest as bi  # noqa: E402 - the CSV, the demo store, copies, load figures (imports nothing heavy)

ROOT = bi.ROOT
TARGET_VS_DUCKDB = 2.5
TARGET_RSS_MB = 1024.0
NAMES = {
    "ingest": "python -m pilot_health ingest FILE --db STORE",
    "duckdb": "(a) DuckDB alone: CREATE TABLE typed AS SELECT … FROM read_csv",
    "pandas": "(b) pandas.read_csv(parse_dates) → DuckDB register + CREATE TABLE AS",
}

DUCKDB_SCRIPT = """
import sys, duckdb
csv, db = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
con.execute(
    "CREATE TABLE t AS SELECT pilot_id, metric, environment, observed_at, value FROM read_csv(?, header = true, "
    "columns = {'pilot_id': 'VARCHAR', 'metric': 'VARCHAR', 'environment': 'VARCHAR', 'observed_at': 'TIMESTAMP', 'value': 'DOUBLE'})",
    [csv])
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
con.close()
"""

PANDAS_SCRIPT = """
import sys, duckdb, pandas as pd
csv, db = sys.argv[1], sys.argv[2]
frame = pd.read_csv(csv, parse_dates=["observed_at"])
con = duckdb.connect(db)
con.register("frame", frame)
con.execute("CREATE TABLE t AS SELECT * FROM frame")
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
con.close()
"""


def command(mode: str, csv_path: Path, store: Path) -> list[str]:
    if mode in ("ingest", "ingest_alt"):
        return [sys.executable, "-m", "pilot_health", "ingest", str(csv_path), "--db", str(store)]
    return [sys.executable, "-c", DUCKDB_SCRIPT if mode == "duckdb" else PANDAS_SCRIPT, str(csv_path), str(store)]


def _vmhwm_kb(pid: int) -> int | None:
    try:
        found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return int(found.group(1)) if found else None


def run(mode: str, csv_path: Path, store: Path, alt_src: Path | None = None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(alt_src if mode == "ingest_alt" else ROOT / "src"))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cpu_before = bi.cpu_seconds()
        mark = time.perf_counter()
        process = subprocess.Popen(command(mode, csv_path, store), stdout=out, stderr=err, cwd=str(ROOT), env=env)
        hwm = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            hwm = max(hwm, _vmhwm_kb(process.pid) or 0)
            time.sleep(0.002)
        wall = time.perf_counter() - mark
        others = bi.others_cpu(cpu_before, bi.cpu_seconds(), wall)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"{mode} failed (exit {process.returncode}):\n{stdout}\n{stderr}")
    if mode in ("ingest", "ingest_alt"):
        found = re.search(r"Stored \S+: ([\d,]+) rows", stdout)
        rows = int(found.group(1).replace(",", "")) if found else None
    else:
        rows = int(stdout.strip().splitlines()[-1])
    return {
        "seconds": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "vmhwm_mb": round(hwm / 1024, 1),
        "ru_maxrss_mb": round(usage.ru_maxrss / 1024, 1),
        "rows": rows,
        "others_cpus": round(others, 2) if others is not None else None,
        "stdout": stdout.strip()[:400],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time `python -m pilot_health ingest` against DuckDB alone and pandas, as processes."
    )
    parser.add_argument("--rounds", type=int, default=5, help="runs of each command, alternating (default 5)")
    parser.add_argument("--rows", type=int, default=bi.ROWS, help=f"data rows in the CSV (default {bi.ROWS:,})")
    parser.add_argument(
        "--csv", type=Path, default=None, help="the CSV (default bench/out/ingest_1m.csv, written if missing)"
    )
    parser.add_argument("--json", action="store_true", help="also print every figure as one JSON object (last line)")
    parser.add_argument(
        "--compare-src",
        type=Path,
        default=None,
        help="also time `python -m pilot_health ingest` with this folder (a changed copy of src/) on PYTHONPATH",
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="do not byte-compile the ingest's code first (each run then compiles it if PYTHONDONTWRITEBYTECODE is set)",
    )
    args = parser.parse_args(argv)
    csv_path = (args.csv or bi.default_csv(args.rows)).expanduser().resolve()
    os.environ["PYTHONPATH"] = str(ROOT / "src")  # the helper processes (CSV, demo store) run this checkout's code too
    wall = time.perf_counter()
    load_before = os.getloadavg()
    cpu_start = bi.cpu_seconds()
    print(
        f"Machine: {os.cpu_count()} CPUs · load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}",
        flush=True,
    )
    if not bi.csv_ok(csv_path, args.rows):
        seconds = bi.run_child("write_csv", csv_path, csv_path, args.rows)["seconds"]
        print(f"Wrote {csv_path} in {seconds:.1f} s.")
    print(f"File: {csv_path} ({csv_path.stat().st_size / 1e6:.1f} MB, {args.rows:,} rows)")
    if not args.no_compile:  # as installed: the modules' bytecode is there (see the docstring)
        for folder in [ROOT / "src", *([args.compare_src] if args.compare_src else [])]:
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(folder)], check=True, stdout=subprocess.DEVNULL
            )
        print(
            "Byte-compiled the ingest's code first, as an install does"
            + (" (this machine sets PYTHONDONTWRITEBYTECODE)." if os.environ.get("PYTHONDONTWRITEBYTECODE") else ".")
        )
    names = dict(NAMES)
    if args.compare_src:
        names["ingest_alt"] = f"the same ingest with PYTHONPATH={args.compare_src}"
    samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in names}
    with tempfile.TemporaryDirectory(prefix="pilot-health-bench-process-") as folder_name:
        folder = Path(folder_name)
        built = bi.run_child("demo_store", folder / "demo.duckdb", csv_path, args.rows)
        pristine, versions = Path(built["path"]), built["versions"]
        print(
            f"Demo store built ({built['demo']['pilots']} pilots); each run gets its own copy. Versions: {versions}",
            flush=True,
        )
        modes = list(names)
        for number in range(args.rounds):
            for mode in modes[number % len(modes) :] + modes[: number % len(modes)]:  # rotate who goes first
                store = folder / f"run_{number}_{mode}.duckdb"
                bi.copy_store(pristine, store)
                figures = run(mode, csv_path, store, args.compare_src)
                bi.remove_store(store)
                if figures["rows"] != args.rows:
                    raise SystemExit(
                        f"{names[mode]} stored {figures['rows']} rows, expected {args.rows:,}: {figures['stdout']}"
                    )
                samples[mode].append(figures)
                print(
                    f"  round {number + 1}: {mode:<10} {figures['seconds']:6.2f} s (CPU {figures['cpu_s']:5.2f} s) · VmHWM {figures['vmhwm_mb']:5.0f} MB"
                    f" (ru_maxrss {figures['ru_maxrss_mb']:.0f}) · other programs {figures['others_cpus']} CPUs",
                    flush=True,
                )
    summary = {
        mode: {
            "median_s": round(statistics.median(r["seconds"] for r in runs), 3),
            "min_s": min(r["seconds"] for r in runs),
            "cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
            "vmhwm_mb": max(r["vmhwm_mb"] for r in runs),
            "ru_maxrss_mb": max(r["ru_maxrss_mb"] for r in runs),
            "samples_s": [r["seconds"] for r in runs],
        }
        for mode, runs in samples.items()
    }
    print(
        f"\nWhole processes, {args.rounds} alternating rounds (median and min wall time; peak memory = the largest VmHWM):\n"
    )
    print(f"  {'command':<72} {'median s':>8} {'min s':>7} {'CPU s':>6} {'VmHWM MB':>9} {'ru_maxrss MB':>12}")
    for mode, s in summary.items():
        print(
            f"  {names[mode]:<72} {s['median_s']:8.2f} {s['min_s']:7.2f} {s['cpu_median_s']:6.2f} {s['vmhwm_mb']:9.0f} {s['ru_maxrss_mb']:12.0f}"
        )
    ingest, duck, pandas_ = summary["ingest"], summary["duckdb"], summary["pandas"]
    vs_duck, vs_duck_min = ingest["median_s"] / duck["median_s"], ingest["min_s"] / duck["min_s"]
    vs_pandas, vs_pandas_min = ingest["median_s"] / pandas_["median_s"], ingest["min_s"] / pandas_["min_s"]
    met = {
        "vs_duckdb": vs_duck <= TARGET_VS_DUCKDB,
        "vs_pandas": vs_pandas < 1,
        "memory": ingest["vmhwm_mb"] < TARGET_RSS_MB,
    }
    print(
        f"\ningest / (a) DuckDB alone: {vs_duck:.2f}x (mins {vs_duck_min:.2f}x) — target ≤ {TARGET_VS_DUCKDB}x: "
        f"{'met' if met['vs_duckdb'] else 'NOT met'}"
    )
    print(
        f"ingest / (b) pandas route: {vs_pandas:.2f}x (mins {vs_pandas_min:.2f}x) — target < 1x: {'met' if met['vs_pandas'] else 'NOT met'}"
    )
    print(
        f"ingest peak memory: {ingest['vmhwm_mb']:.0f} MB — target < {TARGET_RSS_MB:.0f} MB: {'met' if met['memory'] else 'NOT met'}"
    )
    if "ingest_alt" in summary:
        alt = summary["ingest_alt"]
        print(
            f"ingest with {args.compare_src}: {alt['median_s']:.2f} s median, {alt['min_s']:.2f} s min, VmHWM {alt['vmhwm_mb']:.0f} MB — "
            f"{alt['median_s'] / duck['median_s']:.2f}x (a), {alt['median_s'] / pandas_['median_s']:.2f}x (b) (medians)"
        )
    seconds = time.perf_counter() - wall
    others = bi.others_cpu(cpu_start, bi.cpu_seconds(), seconds)
    load_after = os.getloadavg()
    print(
        f"Whole run {seconds:.0f} s · load {load_before[0]:.2f} before, {load_after[0]:.2f} after · other programs used "
        f"{others if others is not None else float('nan'):.2f} CPUs on average" + bi.busy_note(load_before, others)
    )
    if args.json:
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "rounds": args.rounds,
                    "byte_compiled": not args.no_compile,
                    "summary": summary,
                    "ratios": {
                        "vs_duckdb_median": round(vs_duck, 3),
                        "vs_duckdb_min": round(vs_duck_min, 3),
                        "vs_pandas_median": round(vs_pandas, 3),
                        "vs_pandas_min": round(vs_pandas_min, 3),
                    },
                    "met": met,
                    "runs": samples,
                    "machine": bi.machine(load_before, load_after, versions, others),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
