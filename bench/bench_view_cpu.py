#!/usr/bin/env python
"""Server CPU per warm page view, on the 500-pilot bench store.

    PYTHONPATH=$PWD/src .venv/bin/python bench/bench_view_cpu.py                 # every main page
    PYTHONPATH=$PWD/src .venv/bin/python bench/bench_view_cpu.py --profile risk  # ... and where the risk page's time goes

Each main page is opened with Streamlit's AppTest (the real scripts, the real caches) against a
copy of the bench store (`bench/bench_pages.py` builds it): one run fills the caches, one more
warms everything else, then `--runs` reruns are timed with `time.process_time()` (CPU of the whole
process, every thread: what the server would spend on the view). It prints the median and the
wall-clock median per page. Nothing here changes the store (the copy is made in a temporary folder).
"""
from __future__ import annotations

import argparse
import collections
import os
import threading
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


class Sampler:
    """Where the time goes: every millisecond, the functions on the stack of every other thread (the
    script runs on AppTest's own thread, which cProfile would not see); a function counts once per
    sample however deep it recurs, so a count is its inclusive share of the samples."""

    def __init__(self) -> None:
        self.counts: collections.Counter = collections.Counter()
        self.samples = 0
        self._running = False

    def _run(self) -> None:
        me = threading.get_ident()
        while self._running:
            for ident, frame in sys._current_frames().items():
                if ident == me or ident == self._main:
                    continue
                seen = set()
                while frame is not None:
                    code = frame.f_code
                    seen.add((code.co_filename.rsplit("site-packages/", 1)[-1].rsplit("/src/", 1)[-1], code.co_firstlineno, code.co_name))
                    frame = frame.f_back
                if any(name == "_run_script" or "exec" in name for _, _, name in seen):
                    self.samples += 1
                    self.counts.update(seen)
            time.sleep(0.001)

    def start(self) -> None:
        self._main = threading.get_ident()
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        self._thread.join()

    def report(self, top: int = 400) -> None:
        print(f"  {self.samples} samples; inclusive share of each function:")
        for (file, line, name), count in self.counts.most_common(top):
            print(f"  {100 * count / max(self.samples, 1):5.1f}%  {name}  ({file}:{line})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", nargs="*", default=None, help="page names to time (default: all)")
    parser.add_argument("--profile", default=None, help="a page name to profile (a stack sampler over the timed reruns)")
    args = parser.parse_args()
    if not args.db.exists():
        print(f"No bench store at {args.db}: build it with bench/bench_pages.py first.", file=sys.stderr)
        return 2

    os.chdir(ROOT)
    work = Path(tempfile.mkdtemp(prefix="pilot_health_view_cpu_"))
    db = work / "bench.duckdb"
    shutil.copy(args.db, db)
    if args.db.with_name(args.db.name + ".wal").exists():
        shutil.copy(args.db.with_name(args.db.name + ".wal"), work / "bench.duckdb.wal")
    os.environ["PILOT_HEALTH_DB"] = str(db)
    os.environ["PILOT_HEALTH_DEMO_ON_FIRST_RUN"] = "no"

    from streamlit import config
    from streamlit.testing.v1 import AppTest

    config.set_option("secrets.files", [str(work / "no_secrets.toml")])  # open access, as in the tests

    from pilot_health.store import Store

    with Store(db).read() as con:
        first = con.execute("SELECT pilot_id FROM pilots ORDER BY pilot_id LIMIT 1").fetchone()[0]

    print(f"store: {args.db} (copied) · load average {os.getloadavg()[0]:.2f}")
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
            profiler = Sampler() if args.profile == name else None
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
