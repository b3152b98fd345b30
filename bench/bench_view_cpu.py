#!/usr/bin/env python
"""Server CPU per warm page view, on the 500-pilot bench store.

    PYTHONPATH=$PWD/src .venv/bin/python bench/bench_view_cpu.py                 # every main page
    PYTHONPATH=$PWD/src .venv/bin/python bench/bench_view_cpu.py --profile risk  # ... and where the risk page's time goes
    PYTHONPATH=$PWD/src .venv/bin/python bench/bench_view_cpu.py --db postgresql://…  # that store on PostgreSQL

Each main page is opened with Streamlit's AppTest (the real scripts, the real caches) against a
copy of the bench store (`bench/bench_pages.py` builds it): one run fills the caches, one more
warms everything else, then `--runs` reruns are timed with `time.process_time()` (CPU of the whole
process, every thread: what the server would spend on the view). Each script is compiled once, as
the server does (AppTest alone would compile it on every run). It prints the median and the
wall-clock median per page. Nothing here changes the store (the copy is made in a temporary folder).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "bench" / "out" / "bench.duckdb"

# (name, page script or None for the home page, URL parameters)
VIEWS = [
    ("portfolio", None, {}),
    ("risk", "pages/3_Risk.py", {}),
    ("risk, pilot chosen", "pages/3_Risk.py", {"pilot": "P-0001"}),
    ("alignment", "pages/4_Alignment.py", {}),
    ("alignment, pilot chosen", "pages/4_Alignment.py", {"pilot": "P-0001"}),
    ("adoption", "pages/5_Adoption.py", {}),
    ("adoption, pilot chosen", "pages/5_Adoption.py", {"pilot": "P-0001"}),
    ("register", "pages/1_Pilot_register.py", {}),
]


class Profiler:
    """Where the time goes: cProfile around the script's own run, on the thread Streamlit runs it on
    (a profiler in this thread would see nothing of it)."""

    def __init__(self) -> None:
        import cProfile

        from streamlit.runtime.scriptrunner import script_runner

        self.profile = cProfile.Profile()
        self._module = script_runner
        self._real = script_runner.exec_func_with_error_handling

    def start(self) -> None:
        self._module.exec_func_with_error_handling = lambda *a, **k: self.profile.runcall(self._real, *a, **k)

    def stop(self) -> None:
        self._module.exec_func_with_error_handling = self._real

    def report(self, top: int = 50) -> None:
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(self.profile, stream=out).sort_stats("cumulative")
        stats.print_stats(top)
        stats.print_callers("_pickle.loads")
        print(out.getvalue())


def share_compiled_scripts() -> None:
    """The server compiles each page's script once and keeps it; AppTest compiles it again on every
    run (a fresh script cache per run, 15–70 ms that no real view pays). Keep it, as the server does."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    compiled: dict = {}
    real = ScriptCache.get_bytecode

    def get_bytecode(self, script_path):
        if script_path not in compiled:
            compiled[script_path] = real(self, script_path)
        return compiled[script_path]

    ScriptCache.get_bytecode = get_bytecode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--db",
        default=str(DEFAULT_DB),
        help="the bench store file (copied), or the postgresql:// address of a database holding it (read as it is)",
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", nargs="*", default=None, help="page names to time (default: all)")
    parser.add_argument("--profile", default=None, help="a page name to profile (cProfile over the timed reruns)")
    args = parser.parse_args()
    on_postgres = args.db.startswith("postgresql://")
    source = Path(args.db)
    if not on_postgres and not source.exists():
        print(f"No bench store at {args.db}: build it with bench/bench_pages.py first.", file=sys.stderr)
        return 2

    os.chdir(ROOT)
    work = Path(tempfile.mkdtemp(prefix="pilot_health_view_cpu_"))
    db: str | Path = args.db
    if not on_postgres:
        db = work / "bench.duckdb"
        shutil.copy(source, db)
        if source.with_name(source.name + ".wal").exists():
            shutil.copy(source.with_name(source.name + ".wal"), work / "bench.duckdb.wal")
    os.environ["PILOT_HEALTH_DB"] = str(db)
    os.environ["PILOT_HEALTH_DEMO_ON_FIRST_RUN"] = "no"

    from streamlit import config
    from streamlit.testing.v1 import AppTest

    config.set_option("secrets.files", [str(work / "no_secrets.toml")])  # open access, as in the tests
    share_compiled_scripts()

    from pilot_health.store.database import open_store

    with open_store(str(db)).read() as con:
        first = con.execute("SELECT pilot_id FROM pilots ORDER BY pilot_id LIMIT 1").fetchone()[0]

    print(f"store: {args.db}{'' if on_postgres else ' (copied)'} · load average {os.getloadavg()[0]:.2f}")
    print(f"{'page':<26} {'CPU ms/view':>12} {'wall ms':>9} {'elements':>9}")
    try:
        for name, page, query in VIEWS:
            if args.only and name not in args.only:
                continue
            query = {k: (first if v == "P-0001" else v) for k, v in query.items()}
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            if page:
                at.switch_page(page)
            at.query_params.update(query)
            at.run()
            if at.exception:
                print(f"{name}: {[e.message for e in at.exception]}")
                continue
            at.run()
            profiler = Profiler() if args.profile == name else None
            cpu, wall = [], []
            for _ in range(args.runs):
                if profiler:
                    profiler.start()
                c0, w0 = time.process_time(), time.perf_counter()
                at.run()
                cpu.append((time.process_time() - c0) * 1000)
                wall.append((time.perf_counter() - w0) * 1000)
                if profiler:
                    profiler.stop()
            elements = sum(1 for _ in at._tree)
            print(f"{name:<26} {statistics.median(cpu):>12.0f} {statistics.median(wall):>9.0f} {elements:>9}")
            if profiler:
                profiler.report()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
