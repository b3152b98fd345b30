"""Two dashboard replicas on one PostgreSQL database: the multi-replica deployment of
docs/deployment.md, in real browsers, with a real OpenID Connect provider and real command-line runs.

One database on the test PostgreSQL server (a copy of the demo portfolio) and two `streamlit run
app.py` processes on two ports, both with PILOT_HEALTH_DB=postgresql://… and the same access file
and cookie secret. Checked here:

(a) an upload through the Upload page of replica 1 (a real file in the file input) shows on
    replica 2's next page view, though replica 2 had drawn the page before the upload;
(b) `python -m pilot_health ingest --db URL` while both replicas serve pages runs without a
    "busy" or lock error, and both replicas then show its pilot;
(c) two command-line ingests of overlapping files started at the same moment end with every
    distinct row stored once, and each command's JSON says how many of its rows were already stored;
(d) a person limited to one business unit sees only it on both replicas.

Without a load balancer in front, each replica needs its own sign-in return address, so each has its
own provider (the same accounts); the cookie secret and the access file are shared, as on a real
deployment. Skipped, with the reason printed, when Chromium, the provider (Node.js) or PostgreSQL
cannot run here.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import pytest
from browser_support import (
    ACCOUNTS,
    ADMIN,
    FINANCE_EDITOR,
    FIRST_RENDER_MS,
    PILOT_ID,
    RENDERED_MS,
    VIEWER,
    assert_no_errors_shown,
    finished_running,
    free_port,
    fresh_page,
    sign_in,
    sign_in_marks,
    start_dashboard,
    start_oidc_provider,
    write_access_file,
    write_auth_secrets,
)

pytestmark = sign_in_marks()

ROOT = Path(__file__).resolve().parents[1]
UPLOADS = ROOT / "tests" / "fixtures" / "uploads"
# A register row the command line adds in test (b): a pilot of Supply Chain no replica has drawn.
CLI_PILOT = "REP-01"


# --- The deployment: one database, two replicas ---------------------------------------------------


def _admin_connection(server_url: str):
    import psycopg

    return psycopg.connect(server_url, autocommit=True)


@pytest.fixture(scope="module")
def database(chromium_path, postgres_server, _postgres_demo):
    """The address of a database holding the demo portfolio, for this module's two replicas (a
    copy of conftest's demo template, dropped at the end)."""
    name = f"replicas_{secrets.token_hex(5)}"
    with _admin_connection(postgres_server) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_postgres_demo}"')
    try:
        yield postgres_server.rsplit("/", 1)[0] + "/" + name
    finally:
        from pilot_health.store.postgres import close_pools

        close_pools()
        with _admin_connection(postgres_server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Replica:
    def __init__(self, dashboard, provider):
        self.dashboard, self.provider = dashboard, provider
        self.url = dashboard.url

    @property
    def origins(self) -> list[str]:
        return [self.url, self.provider.issuer]


@pytest.fixture(scope="module")
def replicas(database, tmp_path_factory):
    """Two dashboards on two ports, one database: (replica 1, replica 2)."""
    folder = tmp_path_factory.mktemp("replicas")
    access = write_access_file(folder / "access.toml")
    env = dict(
        os.environ,
        PILOT_HEALTH_DB=database,
        PILOT_HEALTH_DEMO_ON_FIRST_RUN="no",
        PILOT_HEALTH_ACCESS=str(access),
    )
    cookie_secret = secrets.token_urlsafe(32)  # the same on every replica
    with ExitStack() as servers:
        started = []
        for _ in range(2):
            port = free_port()  # the return address names the dashboard's port before either starts
            redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
            provider = servers.enter_context(start_oidc_provider(folder, redirect_uri, ACCOUNTS))
            # A replica's own provider and return address, the cookie secret they all share.
            secrets_toml = write_auth_secrets(folder / f"secrets-{port}.toml", provider, redirect_uri, cookie_secret)
            dashboard = servers.enter_context(
                start_dashboard(folder, None, env, ["--secrets.files", str(secrets_toml)], port=port)
            )
            started.append(Replica(dashboard, provider))
        yield tuple(started)


@pytest.fixture
def tab(browser, replicas, script_errors):
    """Opens a fresh browser page for a replica, as a person opening it for the first time."""
    with ExitStack() as pages:
        yield lambda replica: pages.enter_context(fresh_page(browser, replica.origins, script_errors))
    for replica in replicas:
        replica.dashboard.assert_alive("during the test")


# --- Reading the pages ----------------------------------------------------------------------------

TEXT_NODES_JS = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) parts.push(walker.currentNode.textContent);
  return parts.join(" \u2502 ");
}"""


def settled(page, ready_text: str) -> None:
    page.get_by_text(ready_text, exact=True).first.wait_for(state="visible", timeout=FIRST_RENDER_MS)
    finished_running(page)
    page.wait_for_timeout(300)


def signed_in_as(page, replica: Replica, email: str, link: str = "/", ready_text: str = "All pilots") -> None:
    page.goto(replica.url + link, wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click(timeout=FIRST_RENDER_MS)
    sign_in(page, email)
    settled(page, ready_text)


def view(page, replica: Replica, link: str = "/", ready_text: str = "All pilots") -> None:
    """One page view: open `link` and wait until the page has finished drawing."""
    page.goto(replica.url + link, wait_until="domcontentloaded")
    settled(page, ready_text)


def pilots_drawn(page) -> set[str]:
    """The pilot codes on the page once its tables and charts have drawn (they draw after the rest)."""
    for _ in range(RENDERED_MS // 250):
        codes = set(PILOT_ID.findall(page.evaluate(TEXT_NODES_JS)))
        if codes:
            page.wait_for_timeout(500)
            return set(PILOT_ID.findall(page.evaluate(TEXT_NODES_JS)))
        page.wait_for_timeout(250)
    return set()


def stored(database: str, sql: str, *params):
    import psycopg

    with psycopg.connect(database) as con:
        return con.execute(sql, params).fetchall()


def ingest(database: str, path: Path) -> subprocess.Popen:
    """`python -m pilot_health ingest --db URL FILE --json` started as a process of its own."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pilot_health",
            "ingest",
            "--db",
            database,
            str(path),
            "--json",
            "--by",
            "the scheduler",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen, timeout: float = 120) -> tuple[int, dict, str]:
    out, err = process.communicate(timeout=timeout)
    try:
        payload = json.loads(out)
    except ValueError:
        pytest.fail(f"the ingest printed no JSON (exit {process.returncode}):\n{out}\n{err}", pytrace=False)
    return process.returncode, payload, err


# --- The tests ------------------------------------------------------------------------------------


def test_an_upload_on_one_replica_shows_on_the_others_next_page_view(tab, replicas, database, script_errors):
    from playwright.sync_api import expect

    first, second = replicas
    reader = tab(second)
    signed_in_as(reader, second, VIEWER)
    before = pilots_drawn(reader)
    assert before and not {"NEW-01", "NEW-02"} & before, before  # replica 2 has drawn the portfolio already

    uploader = tab(first)
    signed_in_as(uploader, first, ADMIN, "/Upload_data", "Uploads so far")
    uploader.locator('input[type="file"]').set_input_files(str(UPLOADS / "pilots_register.csv"))
    expect(uploader.get_by_text("Check before storing")).to_be_visible(timeout=FIRST_RENDER_MS)
    store = uploader.get_by_role("button", name="Store 2 rows")
    expect(store).to_be_enabled(timeout=RENDERED_MS)
    store.click()
    expect(uploader.get_by_text(re.compile(r"Stored 2 rows from pilots_register\.csv as upload \d+"))).to_be_visible(
        timeout=FIRST_RENDER_MS
    )
    assert_no_errors_shown(uploader, script_errors)

    view(reader, second)
    after = pilots_drawn(reader)
    assert {"NEW-01", "NEW-02"} <= after, sorted(after - before)
    assert after == before | {"NEW-01", "NEW-02"}
    assert_no_errors_shown(reader, script_errors)


def _register_file(folder: Path) -> Path:
    """The register fixture's first pilot again, as a new code, name and unit-wide change."""
    with open(UPLOADS / "pilots_register.csv", newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    row = dict(rows[0], pilot_id=CLI_PILOT, name="Replica freshness check", business_unit="Supply Chain")
    path = folder / "nightly_register.csv"
    with open(path, "w", newline="", encoding="utf-8") as target:
        writer = csv.DictWriter(target, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    return path


def test_a_command_line_ingest_while_both_replicas_serve_pages_shows_on_both(
    tab, replicas, database, tmp_path, script_errors
):
    pages = [tab(replica) for replica in replicas]
    for page, replica in zip(pages, replicas, strict=True):
        signed_in_as(page, replica, VIEWER)
        assert CLI_PILOT not in pilots_drawn(page)

    command = ingest(database, _register_file(tmp_path))
    views = 0
    while command.poll() is None:  # page views on both replicas for as long as the ingest runs
        for page, replica in zip(pages, replicas, strict=True):
            view(page, replica)
            views += 1
    code, payload, err = finished(command)
    said = json.dumps(payload) + err
    assert code == 0, said
    assert not re.search(r"\bbusy\b|stayed in use|\block(ed)?\b|another process|try again", said, re.IGNORECASE), said
    assert (payload["status"], payload["rows_stored"], payload["pilots"]) == ("stored", 1, [CLI_PILOT]), said
    assert views >= 2, "the ingest ended before either replica served a page"

    for page, replica in zip(pages, replicas, strict=True):
        view(page, replica)
        assert CLI_PILOT in pilots_drawn(page), f"{replica.url} does not show {CLI_PILOT}"
        assert_no_errors_shown(page, script_errors)


def _metrics_file(path: Path, first_day: int, days: int) -> Path:
    """SC-01's accuracy, lab and live, one row a day from 2019-01-01 + first_day (a year the
    demo has no observations in)."""
    start = date(2019, 1, 1)
    with open(path, "w", newline="", encoding="utf-8") as target:
        writer = csv.writer(target)
        writer.writerow(["pilot_id", "metric", "environment", "observed_at", "value"])
        for day in range(first_day, first_day + days):
            for environment in ("lab", "live"):
                value = 0.7 + (day % 50) / 200 - (0.03 if environment == "live" else 0)
                writer.writerow(
                    ["SC-01", "accuracy", environment, (start + timedelta(days=day)).isoformat(), f"{value:.3f}"]
                )
    return path


def test_two_concurrent_ingests_of_overlapping_files_store_each_row_once(replicas, database, tmp_path):
    """Files of 400 rows each, sharing 200: whichever commits second finds those 200 already
    stored, whatever the order the two processes reach the store in."""
    in_2019 = "SELECT count(*) FROM metric_observations WHERE pilot_id = 'SC-01' AND observed_at < '2020-01-01'"
    assert stored(database, in_2019) == [(0,)]
    files = [_metrics_file(tmp_path / "a.csv", 0, 200), _metrics_file(tmp_path / "b.csv", 100, 200)]
    commands = [ingest(database, path) for path in files]
    results = [finished(command) for command in commands]

    for code, payload, err in results:
        assert code == 0, (payload, err)
        assert payload["status"] == "stored", payload
        assert payload["rows_stored"] + payload["rows_left_out"] == 400, payload
    stored_counts = sorted(payload["rows_stored"] for _, payload, _ in results)
    assert stored_counts == [200, 400], [payload for _, payload, _ in results]
    second = next(payload for _, payload, _ in results if payload["rows_stored"] == 200)
    assert second["rows_left_out"] == 200
    assert any(warning.startswith("200 observations repeat ones already stored") for warning in second["warnings"]), (
        second
    )
    assert stored(database, in_2019) == [(600,)]
    assert stored(
        database,
        "SELECT count(*) FROM (SELECT DISTINCT metric, environment, observed_at FROM metric_observations"
        " WHERE pilot_id = 'SC-01' AND observed_at < '2020-01-01') AS distinct_rows",
    ) == [(600,)]


def test_a_person_limited_to_one_unit_sees_only_it_on_both_replicas(tab, replicas, database, script_errors):
    units = dict(stored(database, "SELECT pilot_id, business_unit FROM pilots"))
    finance = {code for code, unit in units.items() if unit == "Finance"}
    assert finance and set(units) - finance
    for replica in replicas:
        page = tab(replica)
        signed_in_as(page, replica, FINANCE_EDITOR)
        shown = pilots_drawn(page)
        assert shown, f"{replica.url} drew no pilot for a Finance editor"
        assert shown <= finance, f"{replica.url} shows other units' pilots: {sorted(shown - finance)}"
        assert shown == finance, f"{replica.url} leaves out Finance pilots: {sorted(finance - shown)}"
        view(page, replica, "/Upload_data", "Uploads so far")
        leaked = set(PILOT_ID.findall(page.evaluate(TEXT_NODES_JS))) & (set(units) - finance)
        assert not leaked, f"{replica.url}'s upload page names other units' pilots: {sorted(leaked)}"
        assert_no_errors_shown(page, script_errors)


def test_the_replicas_stayed_up_and_wrote_no_traceback(replicas):
    time.sleep(0.5)
    for replica in replicas:
        replica.dashboard.assert_alive("after the tests")
        assert "Traceback" not in replica.dashboard.stderr(), replica.dashboard.stderr()
