"""Peak memory and time of the upload engine on the worst files of issue 15 (prints figures).

Each file is checked (`ingest(..., commit=False)`, what the upload page does before **Store**) in a
fresh Python process, with an address-space cap (`--cap-gb`, default 4) and a time limit
(`--timeout`, default 120 s) so a file that runs away cannot take the machine down; the process's
peak resident memory is read from the kernel (ru_maxrss).

    .venv/bin/python bench/bench_hostile.py                 # this checkout
    PYTHONPATH=/tmp/wt-before/src .venv/bin/python bench/bench_hostile.py   # another version's engine

Files are generated in a temporary folder (about 60 MB; removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import hostile_corpus as corpus  # noqa: E402

RUNNER = r"""
import json, resource, sys, time
from pathlib import Path
cap = int(sys.argv[4])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from pilot_health.ingest import ingest
from pilot_health.store.database import Store
store = Store(Path(sys.argv[3]))
from datetime import datetime
from pilot_health import queries
from pilot_health.models import Pilot
with store.write() as con:  # the pilot the files name, so they get past the register check
    queries.insert_pilots(con, [Pilot(pilot_id="SC-01", name="Bench", business_unit="Bench", stage="pilot")], datetime(2026, 1, 1))
data = Path(sys.argv[1]).read_bytes()
started = time.monotonic()
try:
    result = ingest(store, data, sys.argv[2])
    outcome = result.status + ": " + (result.refusal or f"{result.rows_to_store} rows ready, {result.rows_rejected} rejected")
except MemoryError:
    outcome = "MemoryError"
print(json.dumps({"seconds": time.monotonic() - started, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "outcome": outcome[:160]}))
"""


def files(folder: Path, quick: bool) -> list[tuple[str, Callable[[], Path]]]:
    """(label, a function that writes the file and returns its path): files are made when run."""
    out = [
        ("dimension bomb (A1:XFD1048576)", lambda: corpus.dimension_bomb(folder / "dimension_bomb.xlsx")),
        (
            "zip bomb (sheet unpacks to 1.26 GB)" if not quick else "zip bomb (250 MB)",
            lambda: corpus.zip_bomb(folder / "zip_bomb.xlsx", 250 if quick else 1290),
        ),
        (
            "3M-row workbook" if not quick else "300k-row workbook",
            lambda: corpus.many_rows_xlsx(folder / "rows.xlsx", 300_000 if quick else 3_000_000),
        ),
        (
            "largest workbook within the limits" + (" (700k rows)" if not quick else " (100k rows)"),
            lambda: corpus.many_rows_xlsx(folder / "largest.xlsx", 100_000 if quick else 700_000),
        ),
        ("zip lying about its sizes", lambda: corpus.lying_sizes(folder / "lying.xlsx", 200_000)),
        ("cells out in column XFD", lambda: corpus.far_cell_bomb(folder / "far_cells.xlsx", 2000)),
    ]

    def text(name: str) -> Path:
        path = folder / name
        path.write_bytes(corpus.text_files()[name])
        return path

    for name in ("ten_thousand_columns.csv", "long_line.csv", "long_field.csv"):
        out.append((name, lambda name=name: text(name)))

    def wide(columns: int, rows: int) -> Path:
        path = folder / f"wide_{columns}x{rows}.csv"
        path.write_bytes(corpus.wide_csv(columns, rows))
        return path

    out.append(
        (
            "CSV 2,000 metric columns x 5,000 rows" if not quick else "CSV 2,000 metric columns x 2,000 rows",
            lambda: wide(2000, 2000 if quick else 5000),
        )
    )
    out.append(("largest wide CSV within the limits (2,000 x 1,000)", lambda: wide(2000, 1000)))
    return out


def _high_water_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(command: list[str], env: dict, timeout: float) -> dict:
    """Run one file; the peak memory is the kernel's high-water mark, also for a run killed at the limit."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = None
    while process.poll() is None and time.monotonic() - started < timeout:
        peak = _high_water_mb(process.pid) or peak
        time.sleep(0.2)
    if process.poll() is None:
        peak = _high_water_mb(process.pid) or peak
        process.kill()
        process.communicate()
        return {"seconds": timeout, "peak_mb": peak, "outcome": f"still running after {timeout:g} s (killed)"}
    out, err = process.communicate()
    if process.returncode == 0 and out.strip():
        return json.loads(out.strip().splitlines()[-1])
    tail = (err.strip().splitlines() or ["?"])[-1]
    return {
        "seconds": time.monotonic() - started,
        "peak_mb": peak,
        "outcome": f"crashed (exit {process.returncode}): {tail[:120]}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap-gb", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="smaller bombs (seconds instead of minutes)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", help="run only the files whose label contains this text")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    print(f"engine from {env['PYTHONPATH']}; cap {args.cap_gb:g} GB address space, {args.timeout:g} s", file=sys.stderr)
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, make in files(folder, args.quick):
            if args.only and args.only not in label:
                continue
            path = make()
            store = folder / f"store-{path.stem}.duckdb"
            started = time.monotonic()
            figure = measure(
                [sys.executable, "-c", RUNNER, str(path), path.name, str(store), str(int(args.cap_gb * 2**30))],
                env,
                args.timeout,
            )
            figure["size_kb"] = round(path.stat().st_size / 1024, 1)
            figures[label] = figure
            path.unlink()
            peak = f"{figure['peak_mb']:7.0f} MB" if figure["peak_mb"] is not None else "      ? MB"
            print(
                f"{label:38} {figure['size_kb']:>10,.1f} KB {figure['seconds']:7.1f} s {peak}  {figure['outcome']}",
                flush=True,
            )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
