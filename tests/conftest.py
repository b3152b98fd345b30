"""Shared fixtures: stores in temporary folders (never the real data/ store), the demo portfolio,
AppTest runs of the real pages against them, and the browser tests' Chromium and fresh pages
(helpers in browser_support.py). Test modules use fixtures by name and never import them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import postgres_support
import pytest
from browser_support import CHROMIUM_ARGS, chromium_or_skip, fresh_page

from pilot_health.demo.portfolio import DEMO_NOW, load_demo
from pilot_health.store import queries
from pilot_health.store.database import Store, open_store, utc_now

ROOT = Path(__file__).resolve().parents[1]
# The demo as shipped, loaded without re-dating: tests compute dates against this "today".
DEMO_TODAY = DEMO_NOW.date()


@pytest.fixture(autouse=True, scope="session")
def _never_the_real_secrets(tmp_path_factory):
    """No AppTest run reads a developer's own .streamlit/secrets.toml (sign-in configured there
    would turn every open-access test into a sign-in screen): tests that want sign-in set at.secrets."""
    from streamlit import config

    config.set_option("secrets.files", [str(tmp_path_factory.mktemp("secrets") / "none.toml")])


@pytest.fixture(autouse=True)
def _never_the_real_store(monkeypatch, tmp_path):
    """No test may touch data/pilot_health.duckdb: point the default at a temporary file."""
    monkeypatch.setenv("PILOT_HEALTH_DB", str(tmp_path / "default.duckdb"))
    monkeypatch.setenv("PILOT_HEALTH_LOCK_WAIT", "5")
    # No background warmer per temporary store in AppTest runs (tests/test_results_once.py tests it directly).
    monkeypatch.setenv("PILOT_HEALTH_WARM_SECONDS", "0")


# --- The two stores: the embedded DuckDB file and a PostgreSQL server ---------------------------
#
# The test modules named here run every test that takes `store` or `demo_store` twice, once per
# backend (ids [duckdb] and [postgres]); the rest use the embedded file only. The PostgreSQL runs
# need a server: run.py starts one (PILOT_HEALTH_TEST_POSTGRES), a plain pytest run starts one per
# worker, and when neither can they are skipped with the reason printed.
BOTH_BACKENDS = {
    "test_store",
    "test_access",
    "test_alerts",
    "test_audit",
    "test_backup",
    "test_cli",
    "test_csv_files",
    "test_demo",
    "test_ingest_atomic",
    "test_ingest_crosstabs",
    "test_ingest_formats",
    "test_ingest_kpi_questions",
    "test_ingest_messages",
    "test_ingest_periods_and_percents",
    "test_ingest_rows",
    "test_ingest_run_exports",
    "test_ingest_semantics",
    "test_ingest_surveymonkey",
    "test_meetings",
    "test_metric_weeks",
    "test_migrations",
    "test_operations",
    "test_postgres_ingest",
    "test_thresholds",
}


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.module.__name__.rsplit(".", 1)[-1] in BOTH_BACKENDS:
        metafunc.parametrize("backend", ["duckdb", "postgres"], indirect=True)


@pytest.fixture
def backend(request) -> str:
    """Which store the test's `store` and `demo_store` are: "duckdb" unless parametrized."""
    return getattr(request, "param", "duckdb")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """The address of a PostgreSQL server's maintenance database (see postgres_support)."""
    url = os.environ.get(postgres_support.URL_VARIABLE)
    if url:
        yield url
        return
    reason = os.environ.get(postgres_support.SKIP_VARIABLE)
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server, reason = postgres_support.start()
    if server is None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    try:
        yield server.url
    finally:
        server.stop()


def _database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + name


def _admin(server_url: str):
    import psycopg

    return psycopg.connect(server_url, autocommit=True)


def _unique_name(prefix: str) -> str:
    import uuid

    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def _template(server_url: str, prefix: str, fill) -> str:
    """A database made once per worker (migrated, or with the demo loaded), copied for each test."""
    from pilot_health.store.postgres import close_pools

    name = _unique_name(prefix)
    with _admin(server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    fill(open_store(_database_url(server_url, name), lock_wait_seconds=5))
    close_pools()  # nobody may be connected to a template while it is copied
    return name


@pytest.fixture(scope="session")
def _postgres_migrated(postgres_server) -> str:
    return _template(postgres_server, "migrated", lambda s: s.ensure_ready())


@pytest.fixture(scope="session")
def _postgres_demo(postgres_server, _demo_file, tmp_path_factory) -> str:
    """The embedded tests' demo store moved over with migrate-store: the same rows, upload ids and
    version on both backends (and a tenth of the time of loading it again)."""
    from pilot_health.store.move import move_store

    source = tmp_path_factory.mktemp("demo_to_move") / "demo.duckdb"
    shutil.copy(_demo_file, source)
    return _template(postgres_server, "demo", lambda s: move_store(source, s.url))


def _fresh_database(server_url: str, template: str):
    from pilot_health.store.postgres import close_pools

    name = _unique_name("t")
    with _admin(server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _database_url(server_url, name)
    finally:
        close_pools()
        with _admin(server_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server, _postgres_migrated):
    """The address of a new, migrated, empty PostgreSQL database for one test (dropped after it)."""
    yield from _fresh_database(postgres_server, _postgres_migrated)


@pytest.fixture
def postgres_demo_url(postgres_server, _postgres_demo):
    """The address of a new PostgreSQL database holding the demo portfolio, for one test."""
    yield from _fresh_database(postgres_server, _postgres_demo)


@pytest.fixture
def blank_url(postgres_server):
    """The address of a new PostgreSQL database with nothing in it (not even the store's tables):
    a rebuilt server's, or one a store is moved or restored into."""
    yield from _fresh_database(postgres_server, "template0")


@pytest.fixture
def store(backend, tmp_path, request) -> Store:
    if backend == "postgres":
        return open_store(request.getfixturevalue("postgres_url"), lock_wait_seconds=5)
    return Store(tmp_path / "store.duckdb", lock_wait_seconds=5)


@pytest.fixture(scope="session")
def _demo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    load_demo(Store(path), today=DEMO_TODAY)
    return path


@pytest.fixture
def demo_store(backend, tmp_path, request) -> Store:
    """A fresh copy of the demo store (as shipped, not re-dated) for one test to read or change."""
    if backend == "postgres":
        return open_store(request.getfixturevalue("postgres_demo_url"), lock_wait_seconds=5)
    path = tmp_path / "demo.duckdb"
    shutil.copy(request.getfixturevalue("_demo_file"), path)
    return Store(path, lock_wait_seconds=5)


def target(store) -> str:
    """What the command line's --db (and PILOT_HEALTH_DB) takes for a store: its file, or its
    postgresql:// address."""
    return getattr(store, "url", None) or str(store.path)


def record_upload(con, file_name: str, sha256: str) -> int:
    """An upload of no rows recorded through a store's write connection, known afterwards by its
    hash (what the backup, restore and move tests look for); its upload id."""
    return queries.insert_upload(
        con,
        kind="metrics",
        file_name=file_name,
        sha256=sha256,
        rows_stored=0,
        rows_rejected=0,
        uploaded_at=utc_now(),
        uploaded_by="test",
    )


def run_python(code: str, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def run_cli(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pilot_health", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture
def run_command(capsys, monkeypatch):
    """`python -m pilot_health ARGS` run in this process: the command line's own `main(argv)`, with
    what it printed and its exit code as a CompletedProcess, like run_cli. For tests where the
    process boundary is not what is tested (no Python start, no imports paid again: about a second
    saved per command). `env` replaces the whole environment and `cwd` the current folder for the
    one command, as they would for a process; both are restored after it."""
    from pilot_health import cli

    def run(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        with monkeypatch.context() as scoped:
            if env is not None:
                for name in set(os.environ) - set(env):
                    scoped.delenv(name)
                for name, value in env.items():
                    scoped.setenv(name, value)
            scoped.chdir(cwd)
            capsys.readouterr()  # what the test printed before is not the command's
            try:
                code = cli.main(list(args))
            except SystemExit as exit:  # argparse refuses a bad command line this way (exit 2)
                code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
            out, err = capsys.readouterr()
        return subprocess.CompletedProcess([sys.executable, "-m", "pilot_health", *args], code, out, err)

    return run


@pytest.fixture
def app_env(monkeypatch):
    """Point the pages at a given store for AppTest runs (which read the environment)."""

    def use(store: Store, *, demo_on_first_run: bool = False) -> None:
        monkeypatch.setenv("PILOT_HEALTH_DB", target(store))
        monkeypatch.setenv("PILOT_HEALTH_DEMO_ON_FIRST_RUN", "yes" if demo_on_first_run else "no")

    return use


# Who may do what when sign-in is configured (the `signin_env` fixture): an administrator, a viewer,
# and an editor limited to one business unit.
ACCESS = """
[[people]]
email = "ann@example.com"
role = "admin"

[[people]]
email = "vic@example.com"
role = "viewer"

[[people]]
email = "fay@example.com"
role = "editor"
business_units = ["Finance"]
"""


@pytest.fixture
def signin_env(app_env, monkeypatch, tmp_path):
    """Pages against `store`, with sign-in configured and the access file above."""

    def use(store):
        app_env(store)
        access = tmp_path / "access.toml"
        access.write_text(ACCESS, encoding="utf-8")
        monkeypatch.setenv("PILOT_HEALTH_ACCESS", str(access))

    return use


def today() -> date:
    return date.today()


@pytest.fixture
def downloads(monkeypatch) -> list[tuple[str, bytes]]:
    """Every file a page offers for download during AppTest runs, as (label, bytes): what a person would get."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    offered: list[tuple[str, bytes]] = []
    real = DeltaGenerator.download_button

    def capture(self, label, data, *args, **kwargs):
        if (
            callable(data) and kwargs.get("mime") == "text/csv"
        ):  # a table made when clicked: made here, as a click would
            made = data()
            offered.append((label, made if isinstance(made, bytes) else str(made).encode("utf-8")))
        elif callable(data):  # made when clicked (the steering pack): recorded, not made here
            offered.append((label, b""))
        else:
            offered.append((label, data if isinstance(data, bytes) else str(data).encode("utf-8")))
        return real(self, label, data, *args, **kwargs)

    # Columns and containers call the method; `st.download_button` was bound to the main one at import.
    monkeypatch.setattr(DeltaGenerator, "download_button", capture)
    monkeypatch.setattr(st, "download_button", lambda *args, **kwargs: capture(st._main, *args, **kwargs))
    return offered


def without_demo_meetings(store: Store) -> Store:
    """The demo store without its two past meetings and their decisions: for tests that record
    their own from a clean slate."""
    from pilot_health.store import queries

    with store.write() as con:
        ids = [m["meeting_id"] for m in queries.fetch_meetings(con)]
        queries.delete_demo_meetings(con, ids, "demo")
    return store


# --- Two workers (pytest-xdist, started by run.py) ------------------------------------------------
# Test files whose names start with this hold the browser tests, and only they do (checked below):
# the scheduler keeps them together on one worker, so at most two dashboards and two Chromiums run
# at once (the printed packs on the other worker), while the other worker takes the rest of the
# suite, file by file.
BROWSER_FILES = "test_browser"


def pytest_runtest_setup(item):
    """A browser test outside a test_browser*.py file would run beside the browser tests on another
    worker (two Chromiums on two CPUs time out): it fails before it starts, saying where it belongs."""
    if item.get_closest_marker("browser") and not item.path.name.startswith(BROWSER_FILES):
        pytest.fail(f"a browser test belongs in a {BROWSER_FILES}*.py file (tests/conftest.py says why)", pytrace=False)


# The browser file that prints the steering packs (Chromium's print, little clicking or waiting)
# runs first on the other worker, beside the rest of the browser tests, so neither worker is left
# with a long tail.
PRINTED_PACKS = "tests/test_browser_packs.py"


def pytest_xdist_make_scheduler(config, log):
    """With `--dist loadfile` (what run.py asks for), one work unit per test file, except that the
    browser files but one are one unit: one worker runs them one after the other while the other
    worker starts with the printed packs and goes on with the rest of the suite. xdist's own
    loadgroup would do this but its grouping is lost with pytest 9.2 (it renames items through a
    field pytest no longer reads)."""
    if getattr(config.option, "dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BrowserFilesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            if path == PRINTED_PACKS or not Path(path).name.startswith(BROWSER_FILES):
                return path
            return "browser tests"

        def _assign_work_unit(self, node) -> None:
            """The browser tests first, then the printed packs, then the largest files first."""
            for scope in ("browser tests", PRINTED_PACKS):
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
                    break
            super()._assign_work_unit(node)

    return BrowserFilesTogether(config, log)


# --- Browser tests (marker `browser`; helpers in browser_support.py) ---------------------------------


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return chromium_or_skip()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def script_errors() -> list[str]:
    """Uncaught JavaScript errors on the test's page."""
    return []


@pytest.fixture
def allowed_origins(dashboard) -> list[str]:
    """The servers the `page` fixture's page may reach: the `dashboard` fixture of the test's
    module. A module that signs in overrides this to add its provider's issuer."""
    return [dashboard.url]


@pytest.fixture
def page(browser, dashboard, allowed_origins, script_errors):
    """A fresh page (see fresh_page) for a test against the `dashboard` fixture of its module."""
    dashboard.assert_alive("before the test started")
    with fresh_page(browser, allowed_origins, script_errors) as tab:
        yield tab
    dashboard.assert_alive("during the test")
