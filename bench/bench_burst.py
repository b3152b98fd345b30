#!/usr/bin/env python3
"""A steering meeting's burst, as the people in it see it: many sessions open a page at once.

Starts the real dashboard (`python -m pilot_health.ui.serve run app.py`, as run.py does, sign-in
off) on a temporary copy of the 500-pilot bench store and drives sessions over Streamlit's own
websocket protocol: each session connects to /_stcore/stream, sends the page's `rerun_script`
message (its URL name and query string, as a browser opening the link does) and waits for
`script_finished`. The time a session waits is from sending that message to `script_finished`.

    .venv/bin/python bench/bench_burst.py                 # the 500-pilot store (bench/out/bench.duckdb)
    .venv/bin/python bench/bench_burst.py --demo          # the 24-pilot demo store (built in a temp folder)
    .venv/bin/python bench/bench_burst.py --json          # ... and every figure as one JSON object (last line)
    .venv/bin/python bench/bench_burst.py --replicas 2 --postgres postgresql://USER@HOST:PORT/postgres

With --postgres, the store is copied into a new database on that PostgreSQL server (`python -m
pilot_health migrate-store`), served by --replicas dashboards on as many ports, all with
PILOT_HEALTH_DB=postgresql://…, and the sessions are spread over them round-robin, as a load
balancer with sticky sessions spreads people (a session stays on its replica). The writes go to the
same database; the server's CPU and memory figures are the sum over the replicas. The database is
dropped at the end unless --keep.

For each main page (Portfolio home, Risk, Alignment, Adoption) it measures:
  * first view (cold) and one session alone, warm (median of --single views, one after another);
  * --sessions (20) sessions at once, warm: p50 / p95 / max;
  * --sessions at once right after a write: a one-pilot metrics upload with
    `python -m pilot_health ingest` into the same store file while the server runs;
  * --many (50) sessions at once, warm;
  * the server's CPU per view and its memory (VmRSS) before and after --views (200) consecutive views.

A session whose page raised (an exception element, or a problem shown instead of the page) or that
never got `script_finished` is counted as an error and printed, never as a fast result.
See bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "bench" / "out" / "bench.duckdb"
SERVER_START_SECONDS = 90
VIEW_TIMEOUT_SECONDS = 300.0

# The main pages: (the name in the table, the page's URL name; "" is the home page app.py).
PAGES: dict[str, str] = {"Portfolio": "", "Risk": "Risk", "Alignment": "Alignment", "Adoption": "Adoption"}
PROBLEM_ICON = ":material/error:"  # the icon of a problem a page shows instead of itself (ui/page.py)


# --- one page view over the websocket ---------------------------------------------------------------


@dataclass
class View:
    page: str
    seconds: float = 0.0
    bytes: int = 0
    messages: int = 0
    finished: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.finished and not self.errors


def _back_msg(page_name: str, query: str, base_url: str) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg()
    state = message.rerun_script
    state.query_string = query
    state.page_script_hash = ""  # the server finds the page by its URL name, as for a link opened in a new tab
    state.page_name = page_name
    context = state.context_info
    context.timezone = "UTC"
    context.timezone_offset = 0
    context.locale = "en-GB"
    context.url = f"{base_url}/{page_name}" + (f"?{query}" if query else "")
    context.is_embedded = False
    return message.SerializeToString()


def _read_element(view: View, element: Any) -> None:
    kind = element.WhichOneof("type")
    if kind == "exception":
        if not element.exception.is_warning:
            view.errors.append(f"exception {element.exception.type}: {element.exception.message[:300]}")
    elif kind == "alert":
        from streamlit.proto.Alert_pb2 import Alert

        if element.alert.format == Alert.ERROR and element.alert.icon == PROBLEM_ICON:
            view.errors.append(f"problem shown: {element.alert.body[:300]}")


async def connect(ws_url: str):
    from websockets.asyncio.client import connect as ws_connect

    return await ws_connect(
        ws_url,
        subprotocols=["streamlit"],
        max_size=None,
        open_timeout=60,
        ping_interval=None,
        close_timeout=5,
    )


async def run_view(ws, page: str, payload: bytes, timeout: float) -> View:
    """Send one rerun on an open websocket and read until the run's script_finished."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    view = View(page=page)
    start = time.perf_counter()
    try:
        await ws.send(payload)
        async with asyncio.timeout(timeout):
            while True:
                data = await ws.recv()
                view.bytes += len(data)
                view.messages += 1
                message = ForwardMsg()
                message.ParseFromString(data)
                kind = message.WhichOneof("type")
                if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                    _read_element(view, message.delta.new_element)
                elif kind == "page_not_found":
                    view.errors.append(f"page not found: {message.page_not_found.page_name!r}")
                elif kind == "script_finished":
                    status = message.script_finished
                    if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        continue  # the page asked for a rerun (st.rerun): the view goes on
                    if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                        view.errors.append("the page's script did not compile")
                    view.finished = True
                    break
    except TimeoutError:
        view.errors.append(f"no script_finished within {timeout:.0f} s")
    except Exception as error:  # a closed connection is a failed view, not a crash of the benchmark
        view.errors.append(f"connection: {type(error).__name__}: {error}")
    view.seconds = time.perf_counter() - start
    return view


async def _close_all(sockets) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def burst(server: Server | Replicas, page: str, n: int, query: str = "") -> list[View]:
    """n sessions connect (to the replicas in turn), then all send their rerun at the same moment;
    each is timed on its own."""
    targets = [server.pick() if isinstance(server, Replicas) else server for _ in range(n)]
    sockets = await asyncio.gather(*(connect(target.ws_url) for target in targets))
    try:
        return list(
            await asyncio.gather(
                *(
                    run_view(ws, page, _back_msg(PAGES[page], query, target.url), target.view_timeout)
                    for ws, target in zip(sockets, targets, strict=True)
                )
            )
        )
    finally:
        await _close_all(sockets)


async def one_view(server: Server | Replicas, page: str, query: str = "") -> View:
    target = server.pick() if isinstance(server, Replicas) else server
    ws = await connect(target.ws_url)
    try:
        return await run_view(ws, page, _back_msg(PAGES[page], query, target.url), target.view_timeout)
    finally:
        await ws.close()


# --- the server and the store -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(db: Path | str) -> dict[str, str]:
    """The environment of the server and the ingest command: this checkout's code first, the store
    copy, no demo on a first run."""
    env = dict(os.environ, PILOT_HEALTH_DB=str(db), PILOT_HEALTH_DEMO_ON_FIRST_RUN="no")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
    return env


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    folder: Path
    db: Path | str
    view_timeout: float = VIEW_TIMEOUT_SECONDS
    started: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/_stcore/stream"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS for the server")

    def cpu_seconds(self) -> float:
        """utime + stime of the server process (every thread), in seconds."""
        text = Path(f"/proc/{self.pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stderr(self, limit: int = 4000) -> str:
        text = (self.folder / "server.stderr").read_text(errors="replace").strip()
        return text[-limit:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Replicas:
    """Several dashboards on one PostgreSQL database, used as one server by the measurements: each
    new session goes to the next replica in turn (a load balancer with sticky sessions); CPU and
    memory are the sums over the replicas."""

    servers: list[Server]
    turn: int = 0

    def pick(self) -> Server:
        server = self.servers[self.turn % len(self.servers)]
        self.turn += 1
        return server

    @property
    def folder(self) -> Path:
        return self.servers[0].folder.parent

    @property
    def db(self) -> Path | str:
        return self.servers[0].db

    @property
    def started(self) -> datetime:
        return min(server.started for server in self.servers)

    def rss_mb(self) -> float:
        return sum(server.rss_mb() for server in self.servers)

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self.servers)

    def alive(self) -> bool:
        return all(server.alive() for server in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def start_server(folder: Path, db: Path | str, port: int | None = None, script: Path = ROOT / "app.py") -> Server:
    """The dashboard as run.py starts it (pilot_health.ui.serve, from the checkout), headless on
    127.0.0.1, with no secrets file (so sign-in is off), until it answers /_stcore/health."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with open(folder / "server.stdout", "wb") as out, open(folder / "server.stderr", "wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pilot_health.ui.serve",
                "run",
                str(script),
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
                "--secrets.files",
                str(folder / "no-secrets.toml"),
            ],
            cwd=ROOT,
            env=child_env(db),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    server = Server(url=url, process=process, folder=folder, db=db)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not _health_ok(url):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise SystemExit(f"the dashboard did not start (exit {process.poll()}). Its stderr:\n{server.stderr()}")
        time.sleep(0.25)
    return server


def build_demo_store(folder: Path) -> Path:
    db = folder / "demo.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "pilot_health", "demo", "--db", str(db)],
        cwd=ROOT,
        env=child_env(db),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"loading the demo portfolio failed:\n{done.stderr or done.stdout}")
    return db


def write_target(db: Path) -> tuple[str, list[str]]:
    """An existing pilot with live technical metrics, and those metrics (read before the server starts)."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT pilot_id, list(DISTINCT metric ORDER BY metric) FROM metric_observations "
            "WHERE environment = 'live' AND kind = 'technical' GROUP BY pilot_id ORDER BY pilot_id LIMIT 1"
        ).fetchone()
    if row is None:
        raise SystemExit("the store has no pilot with live technical metrics to upload for")
    return row[0], list(row[1])[:2]


def write_one_pilot(server: Server | Replicas, pilot: str, metrics: list[str], number: int) -> float:
    """A real write while the server runs: a small metrics export for one pilot, with a new date,
    through `python -m pilot_health ingest` on the same store file. Returns its seconds."""
    moment = server.started.replace(second=0, microsecond=0) - timedelta(
        hours=1, minutes=number
    )  # a new time per write
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")  # as a spreadsheet exports it
    writer.writerow(["pilot_id", "metric", "environment", "observed_at", "value"])
    for index, metric in enumerate(metrics):
        writer.writerow([pilot, metric, "live", moment.strftime("%Y-%m-%d %H:%M"), f"0.{80 + number % 10}{index}"])
    path = server.folder / f"upload-{number}.csv"
    path.write_text(text.getvalue(), encoding="utf-8")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pilot_health", "ingest", str(path), "--db", str(server.db), "--json", "--by", "bench"],
        cwd=ROOT,
        env=child_env(server.db),
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    result = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    if done.returncode != 0 or result.get("status") != "stored":
        raise SystemExit(f"the write (ingest of {path.name}) failed: {done.stdout or done.stderr}")
    return seconds


def load_into_postgres(db: Path, server_url: str, folder: Path) -> str:
    """A new database on the PostgreSQL server at `server_url` (its maintenance database's
    address) holding a copy of the DuckDB store `db`; returns its address."""
    import uuid

    import psycopg

    name = f"bench_burst_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = server_url.rsplit("/", 1)[0] + "/" + name
    moved = subprocess.run(
        [sys.executable, "-m", "pilot_health", "migrate-store", "--from", str(db), "--to", url],
        cwd=ROOT,
        env=child_env(url),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if moved.returncode != 0:
        raise SystemExit(f"migrate-store did not move the store: {(moved.stderr or moved.stdout).strip()[-300:]}")
    log(f"  copied with migrate-store: {moved.stdout.strip().splitlines()[-1:] or ''}")
    return url


def drop_database(server_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- measuring -----------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def summarise(views: list[View]) -> dict[str, Any]:
    seconds = [v.seconds for v in views if v.ok]
    out: dict[str, Any] = {"sessions": len(views), "errors": sum(not v.ok for v in views)}
    if seconds:
        out.update(
            p50=percentile(seconds, 0.5),
            p95=percentile(seconds, 0.95),
            max=max(seconds),
            kb_per_view=statistics.mean(v.bytes for v in views if v.ok) / 1024,
        )
    return out


@dataclass
class Report:
    store: str
    pilots: int
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def record(self, page: str, what: str, views: list[View]) -> dict[str, Any]:
        figures = summarise(views)
        self.rows.setdefault(page, {})[what] = figures
        for v in views:
            if not v.ok:
                self.failures.append(f"{page} · {what}: " + ("; ".join(v.errors) or "did not finish"))
        return figures


def count_pilots(db: Path) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM pilots").fetchone()[0]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


async def measure(
    server: Server | Replicas, args: argparse.Namespace, report: Report, write_for: tuple[str, list[str]]
) -> None:
    pages = args.pages
    # 1. first view, then one session alone (warm), then --sessions and --many at once (warm).
    for page in pages:
        first = await one_view(server, page)
        report.record(page, "first", [first])
        singles = [await one_view(server, page) for _ in range(args.single)]
        report.record(page, "single", singles)
        warm = await burst(server, page, args.sessions)
        figures = report.record(page, "burst", warm)
        many = await burst(server, page, args.many)
        figures_many = report.record(page, "many", many)
        log(
            f"  {page}: first {first.seconds:.2f} s, alone {summarise(singles).get('p50', float('nan')):.2f} s, "
            f"{args.sessions} at once p95 {figures.get('p95', float('nan')):.2f} s, "
            f"{args.many} at once p95 {figures_many.get('p95', float('nan')):.2f} s"
        )
    # 2. right after a write: every cached result is stale; then --sessions at once.
    writes = []
    for number, page in enumerate(pages, start=1):
        writes.append(write_one_pilot(server, *write_for, number))
        after = await burst(server, page, args.sessions)
        figures = report.record(page, "after_write", after)
        log(f"  {page}: {args.sessions} at once after a write p95 {figures.get('p95', float('nan')):.2f} s")
    report.notes["write_seconds"] = writes
    # 3. server CPU per view and memory over --views consecutive views, in the steady state: every
    # page viewed once, then the server left to finish what it computes ahead of visitors (the
    # warmer, after the writes above), so neither its CPU nor the results it keeps count as views'.
    for page in pages:
        await one_view(server, page)
    await idle(server)
    first_rss = None
    for page in pages:
        await one_view(server, page)  # warm again (the writes above made every cache stale)
        rss_before, cpu_before = server.rss_mb(), server.cpu_seconds()
        start, own_cpu = time.perf_counter(), time.process_time()
        views = [await one_view(server, page) for _ in range(args.views)]
        wall, own_cpu = time.perf_counter() - start, time.process_time() - own_cpu
        cpu_after, rss_after = server.cpu_seconds(), server.rss_mb()
        figures = report.record(page, "sequential", views)
        figures.update(
            cpu_ms_per_view=(cpu_after - cpu_before) * 1000 / args.views,
            wall_ms_per_view=wall * 1000 / args.views,
            driver_cpu_ms_per_view=own_cpu * 1000 / args.views,  # this script's own share of the 2 cores
            rss_before_mb=rss_before,
            rss_after_mb=rss_after,
            rss_growth_pct=(rss_after - rss_before) * 100 / rss_before,
        )
        log(
            f"  {page}: {figures['cpu_ms_per_view']:.0f} ms CPU per view, RSS {rss_before:.0f} → {rss_after:.0f} MB "
            f"over {args.views} views (this script: {figures['driver_cpu_ms_per_view']:.0f} ms CPU per view)"
        )
        first_rss = rss_before if first_rss is None else first_rss
    # Streamlit keeps a closed session (its state, for a reconnect) for server.disconnectedSessionTTL
    # (120 s): memory read right after the views counts them all. Read it again once they have expired.
    if args.settle > 0 and first_rss is not None:
        log(f"  waiting {args.settle:.0f} s for the closed sessions to expire …")
        await asyncio.sleep(args.settle)
        settled = server.rss_mb()
        report.notes.update(
            rss_before_views_mb=first_rss,
            rss_settled_mb=settled,
            rss_settled_growth_pct=(settled - first_rss) * 100 / first_rss,
        )
        log(
            f"  RSS before the first page's {args.views} views {first_rss:.0f} MB; after all {len(pages) * args.views} views, "
            f"once the closed sessions expired, {settled:.0f} MB ({(settled - first_rss) * 100 / first_rss:+.1f}%)"
        )


async def idle(server, quiet_cpu: float = 0.05, quiet_seconds: float = 17.0, limit: float = 180.0) -> None:
    """Wait until the server has spent under `quiet_cpu` seconds of CPU in each second for
    `quiet_seconds` in a row (longer than the warmer's 15 s between looks, so that it has looked
    and finished), or at most `limit` seconds."""
    deadline = time.monotonic() + limit
    before, quiet = server.cpu_seconds(), 0.0
    while time.monotonic() < deadline and quiet < quiet_seconds:
        await asyncio.sleep(1.0)
        now = server.cpu_seconds()
        quiet = quiet + 1.0 if now - before < quiet_cpu else 0.0
        before = now


def _s(figures: dict[str, Any], key: str) -> str:
    if key not in figures:
        return "—"
    text = f"{figures[key]:.2f} s"
    return text + (f" ({figures['errors']} failed)" if figures.get("errors") else "")


def print_table(report: Report, args: argparse.Namespace) -> None:
    print(
        f"\n{report.store}: {report.pilots} pilots · load average now {load_average()} · "
        f"{os.cpu_count()} cores (shared with whatever else runs)\n"
    )
    print(
        f"| page | first view | 1 session, warm | {args.sessions} at once, warm (p95) | {args.sessions} at once right after "
        f"a write (p95) | {args.many} at once, warm (p95) | CPU ms/view | RSS over {args.views} views |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for page, rows in report.rows.items():
        seq = rows.get("sequential", {})
        rss = (
            f"{seq['rss_before_mb']:.0f} → {seq['rss_after_mb']:.0f} MB ({seq['rss_growth_pct']:+.1f}%)"
            if "rss_before_mb" in seq
            else "—"
        )
        cpu = f"{seq['cpu_ms_per_view']:.0f}" if "cpu_ms_per_view" in seq else "—"
        print(
            f"| {page} | {_s(rows.get('first', {}), 'p50')} | {_s(rows.get('single', {}), 'p50')} | "
            f"{_s(rows.get('burst', {}), 'p95')} | {_s(rows.get('after_write', {}), 'p95')} | "
            f"{_s(rows.get('many', {}), 'p95')} | {cpu} | {rss} |"
        )
    print("\np50 / p95 / max per burst (seconds), and what the browser received per view:")
    for page, rows in report.rows.items():
        for what in ("burst", "after_write", "many"):
            f = rows.get(what)
            if f and "p50" in f:
                print(
                    f"  {page:<10} {what:<12} n={f['sessions']:<3} p50 {f['p50']:.2f}  p95 {f['p95']:.2f}  "
                    f"max {f['max']:.2f}  {f['kb_per_view']:.0f} KB/view  errors {f['errors']}"
                )
    if report.notes.get("write_seconds"):
        print(
            "  each write (ingest of one pilot's metrics) took "
            + ", ".join(f"{s:.1f}" for s in report.notes["write_seconds"])
            + " s"
        )
    if report.failures:
        print(f"\n{len(report.failures)} session(s) FAILED (a failed view is not a fast result):")
        for line in report.failures[:50]:
            print(f"  {line}")
    else:
        print("\nEvery session got script_finished without an error.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drive many dashboard sessions at once against the real server.")
    parser.add_argument(
        "--db",
        type=Path,
        default=DEFAULT_DB,
        help="the store to copy and serve (default bench/out/bench.duckdb, built by bench_pages.py)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="serve the 24-pilot demo store instead (built in a temp folder)"
    )
    parser.add_argument(
        "--pages", default=",".join(PAGES), help=f"comma-separated, from {', '.join(PAGES)} (default all)"
    )
    parser.add_argument(
        "--sessions", type=int, default=20, help="sessions at once, warm and after a write (default 20)"
    )
    parser.add_argument("--many", type=int, default=50, help="sessions at once for the larger warm burst (default 50)")
    parser.add_argument(
        "--single", type=int, default=3, help="views one after another for '1 session, warm' (default 3)"
    )
    parser.add_argument(
        "--views", type=int, default=200, help="consecutive views for CPU per view and memory (default 200)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=130.0,
        help="seconds to wait after the consecutive views before reading memory again, so that the closed "
        "sessions Streamlit keeps for a reconnect (server.disconnectedSessionTTL, 120 s) have expired; 0 skips it",
    )
    parser.add_argument("--port", type=int, default=None, help="the server's port (default: a free one)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="serve the store from a new database on this PostgreSQL server (the address of its maintenance "
        "database, e.g. postgresql://pilot@127.0.0.1:5432/postgres) instead of a DuckDB copy",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="dashboards on as many ports, sessions spread over them in turn (more than 1 needs --postgres)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (store copy, server logs)")
    parser.add_argument(
        "--json", action="store_true", help="also print every figure as one JSON object (last line of stdout)"
    )
    args = parser.parse_args(argv)
    args.pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in args.pages if p not in PAGES]
    if unknown:
        parser.error(f"unknown page(s) {', '.join(unknown)}; choose from {', '.join(PAGES)}")
    if args.replicas < 1 or (args.replicas > 1 and not args.postgres):
        parser.error("--replicas above 1 needs --postgres: a DuckDB file is served by one process")

    folder = Path(tempfile.mkdtemp(prefix="bench_burst_"))
    server: Server | Replicas | None = None
    database: str | None = None
    try:
        if args.demo:
            log("building the demo store …")
            db, label = build_demo_store(folder), "demo store"
        else:
            if not args.db.exists():
                raise SystemExit(
                    f"{args.db} does not exist: build it with `.venv/bin/python bench/bench_pages.py` first"
                )
            db, label = folder / "store.duckdb", str(args.db)
            shutil.copyfile(args.db, db)  # never the original: the benchmark writes to the store
            wal = args.db.with_name(args.db.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, db.with_name(db.name + ".wal"))
        write_for = write_target(db)
        report = Report(store=label, pilots=count_pilots(db))
        report.notes.update(
            write_pilot=write_for[0],
            write_metrics=write_for[1],
            load_before=load_average(),
            sessions=args.sessions,
            many=args.many,
            views=args.views,
            cores=os.cpu_count(),
        )
        served: Path | str = db
        if args.postgres:
            log(f"copying {label} into a new database on {args.postgres} …")
            served = database = load_into_postgres(db, args.postgres, folder)
            label = f"{label} on PostgreSQL, {args.replicas} replica{'s' if args.replicas > 1 else ''}"
            report.store = label
        log(f"starting the dashboard on a copy of {label} ({report.pilots} pilots); load average {load_average()} …")
        if args.replicas > 1:
            servers = []
            server = Replicas(servers)
            for number in range(args.replicas):
                (folder / f"replica-{number + 1}").mkdir()
                servers.append(
                    start_server(folder / f"replica-{number + 1}", served, args.port + number if args.port else None)
                )
        else:
            server = start_server(folder, served, args.port)
        report.notes["rss_start_mb"] = server.rss_mb()
        asyncio.run(measure(server, args, report, write_for))
        report.notes.update(load_after=load_average(), rss_end_mb=server.rss_mb(), server_alive=server.alive())
        print_table(report, args)
        if args.json:
            print(
                json.dumps(
                    {
                        "store": report.store,
                        "pilots": report.pilots,
                        "pages": report.rows,
                        "failures": report.failures,
                        "notes": report.notes,
                    }
                )
            )
        return 1 if report.failures else 0
    finally:
        if server is not None:
            server.stop()
        if database and not args.keep:
            drop_database(args.postgres, database)
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
