"""What the browser tests share: Chromium, a real `streamlit run` on a free port, fresh pages that
reach only the servers a test names, a real OpenID Connect provider for signing in, and helpers
that read what Streamlit drew.

Chromium comes from $PILOT_HEALTH_CHROMIUM (set by `python3 run.py test`), else `chromium` on PATH;
$PILOT_HEALTH_BROWSER_SKIP skips every browser test with its reason. The provider is
tests/oidc/provider.mjs (oidc-provider, installed by `python3 run.py test` with `npm ci`), run by
$PILOT_HEALTH_NODE, else `node` on PATH; $PILOT_HEALTH_OIDC_SKIP skips the sign-in tests with its
reason. A skip always says why (pytest runs with -rs); these tests never pass silently.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OIDC_DIR = ROOT / "tests" / "oidc"
SERVER_START_SECONDS = 60
SERVER_STOP_SECONDS = 10
PROVIDER_START_SECONDS = 30
FIRST_RENDER_MS = 60_000  # a cold server imports pandas, altair and duckdb on the first page view
RENDERED_MS = 15_000  # once a page has drawn, later checks on it need far less
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PILOT_ID = re.compile(r"\b[A-Z]{2,4}-\d{2,3}\b")
# oidc-provider rejects Streamlit's default prompt=select_account; prompt=login also means every
# sign-in shows the form, whatever the provider remembers from an earlier test.
AUTH_CLIENT_KWARGS = {"scope": "openid email profile groups", "prompt": "login"}
# The colleagues the sign-in tests sign in as: their accounts on the test provider, and the access
# file that lets nobody else in (see write_access_file).
ADMIN, VIEWER, FINANCE_EDITOR = "ann.admin@example.com", "vic.viewer@example.com", "fay.finance@example.com"
ACCOUNTS = {
    ADMIN: {"email": ADMIN, "name": "Ann Admin"},
    VIEWER: {"email": VIEWER, "name": "Vic Viewer"},
    FINANCE_EDITOR: {"email": FINANCE_EDITOR, "name": "Fay Finance"},
}
FINANCE_EDITOR_BY_ADDRESS = f"""
[[people]]
email = "{FINANCE_EDITOR}"
role = "editor"
business_units = ["Finance"]
"""


def write_access_file(path: Path, finance_editor: str = FINANCE_EDITOR_BY_ADDRESS) -> Path:
    """An access file for PILOT_HEALTH_ACCESS: nobody gets in unless listed, ADMIN administers,
    VIEWER views, and `finance_editor` (a [[people]] or [[claims]] entry) edits Finance only."""
    path.write_text(
        f"""
default_role = "none"

[[people]]
email = "{ADMIN}"
role = "admin"

[[people]]
email = "{VIEWER}"
role = "viewer"
"""
        + finance_editor,
        encoding="utf-8",
    )
    return path


# --- Chromium and fresh pages ---------------------------------------------------------------------


def store_file_read(db: Path, wait_seconds: float = 30.0):
    """A read-only DuckDB connection to a running dashboard's store file, waiting while the
    dashboard holds the file (its warmer computes a new version's results right after a write, on a
    busy machine for a few seconds), as the store itself waits for its file."""
    import duckdb

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(db), read_only=True)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def chromium_or_skip() -> str:
    """The Chromium to drive, or pytest.skip with the reason there is none."""
    if "PILOT_HEALTH_BROWSER_SKIP" in os.environ:
        reason = os.environ["PILOT_HEALTH_BROWSER_SKIP"].strip() or "PILOT_HEALTH_BROWSER_SKIP is set"
        pytest.skip(f"browser tests skipped: {reason}")
    explicit = os.environ.get("PILOT_HEALTH_CHROMIUM", "").strip()
    if explicit:
        if not Path(explicit).is_file():
            pytest.skip(f"browser tests skipped: PILOT_HEALTH_CHROMIUM points to {explicit}, which does not exist")
        return explicit
    found = shutil.which("chromium")
    if not found:
        pytest.skip(
            "browser tests skipped: no Chromium found (set PILOT_HEALTH_CHROMIUM, or install Debian's "
            "chromium package; `python3 run.py test` does that for you)"
        )
    return found


def _leaves(origins: Sequence[str]):
    """A route filter: true for a request to none of `origins` (the test's own servers)."""
    prefixes = tuple(origin.rstrip("/") + "/" for origin in origins)
    return lambda url: not url.startswith(prefixes)


@contextmanager
def fresh_page(browser, origins: Sequence[str], script_errors: list[str] | None = None) -> Iterator:
    """A page in a new browser context: no cookies, storage or Streamlit session from earlier
    pages. Requests to anything but `origins` are refused, so no test depends on the internet;
    uncaught JavaScript errors are appended to `script_errors` when given."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    try:
        context.set_default_timeout(FIRST_RENDER_MS)
        context.route(_leaves(origins), lambda route: route.abort())
        tab = context.new_page()
        if script_errors is not None:
            tab.on("pageerror", lambda error: script_errors.append(str(error)))
        yield tab
    finally:
        context.close()


# --- Servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SERVER_STOP_SECONDS)


def _tail(path: Path, what: str, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(could not read {what}: {error})"
    text = text.strip() or "(empty)"
    return text if len(text) <= limit else "…" + text[-limit:]


class _Stoppable:
    """`with start_…() as server:` stops the server however the block ends."""

    def stop(self) -> None:
        _stop(self.process)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


@dataclass
class Dashboard(_Stoppable):
    url: str
    process: subprocess.Popen
    stderr_path: Path
    db: Path | None

    def stderr(self, limit: int = 6000) -> str:
        return _tail(self.stderr_path, "the server's stderr", limit)

    def assert_alive(self, when: str) -> None:
        code = self.process.poll()
        if code is not None:
            pytest.fail(
                f"the Streamlit server exited with code {code} {when}. Its stderr:\n{self.stderr()}", pytrace=False
            )


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def load_demo_store(folder: Path) -> tuple[Path, dict[str, str]]:
    """A store in `folder` with the demo portfolio, and the environment that points the dashboard
    at it (and not at the demo it would otherwise load on a first run).

    The demo is loaded once per test process and day by the real command line
    (`python -m pilot_health demo`, re-dated to today) into a template next to `folder`; each
    caller gets its own copy of that file, so a module's dashboard can change its store freely."""
    db = folder / "store.duckdb"
    env = dict(os.environ, PILOT_HEALTH_DB=str(db), PILOT_HEALTH_DEMO_ON_FIRST_RUN="no")
    shutil.copyfile(_demo_template(folder.parent), db)
    return db, env


def _demo_template(parent: Path) -> Path:
    """The demo store loaded today by `python -m pilot_health demo`, in `parent` (pytest's base
    temporary folder of this process: under xdist, each worker has its own)."""
    template = parent / f"demo-template-{date.today().isoformat()}" / "store.duckdb"
    if template.is_file():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    partial = template.with_name("loading.duckdb")
    partial.unlink(missing_ok=True)
    env = dict(os.environ, PILOT_HEALTH_DB=str(partial), PILOT_HEALTH_DEMO_ON_FIRST_RUN="no")
    loaded = subprocess.run(
        [sys.executable, "-m", "pilot_health", "demo", "--db", str(partial)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if loaded.returncode != 0:
        pytest.fail(
            f"loading the demo portfolio failed (exit {loaded.returncode}):\n{loaded.stderr or loaded.stdout}",
            pytrace=False,
        )
    if partial.with_name(partial.name + ".wal").exists():
        pytest.fail(f"the demo store {partial} was left with a write-ahead log; it cannot be copied", pytrace=False)
    partial.rename(template)
    return template


def start_dashboard(
    folder: Path,
    db: Path | None,
    env: dict[str, str],
    extra_args: Iterable[str] = (),
    *,
    port: int | None = None,
    script: str | Path = "app.py",
) -> Dashboard:
    """`streamlit run script` as run.py starts it (through pilot_health.ui.serve; the dashboard by default) from the project folder, headless on
    127.0.0.1:`port` (a free one unless given), once it answers /_stcore/health. `extra_args` go
    to Streamlit, e.g. ("--secrets.files", path). Its output is kept in `folder`. Call stop(), or
    use it in a `with` block."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    extra_args = list(extra_args)
    if "--secrets.files" not in extra_args:  # never a developer's own .streamlit/secrets.toml
        extra_args += ["--secrets.files", str(folder / f"no-secrets-{port}.toml")]
    stdout_path, stderr_path = folder / f"server-{port}.stdout", folder / f"server-{port}.stderr"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pilot_health.ui.serve",
                "run",
                str(script),  # as run.py starts it
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
                *extra_args,
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    server = Dashboard(url=url, process=process, stderr_path=stderr_path, db=db)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _health_ok(url):
            server.assert_alive("before it answered on /_stcore/health")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the Streamlit server did not answer {url}/_stcore/health within {SERVER_START_SECONDS} s. "
                    f"Its stderr:\n{server.stderr()}",
                    pytrace=False,
                )
            time.sleep(0.25)
    except BaseException:
        server.stop()
        raise
    return server


# --- Signing in through a real OpenID Connect provider --------------------------------------------


def _node() -> str | None:
    explicit = os.environ.get("PILOT_HEALTH_NODE", "").strip()
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("node")


def oidc_skip_reason() -> str | None:
    """Why the sign-in tests cannot run here, or None when they can."""
    if "PILOT_HEALTH_OIDC_SKIP" in os.environ:
        return (
            f"sign-in tests skipped: {os.environ['PILOT_HEALTH_OIDC_SKIP'].strip() or 'PILOT_HEALTH_OIDC_SKIP is set'}"
        )
    if not _node():
        if os.environ.get("PILOT_HEALTH_NODE", "").strip():
            return f"sign-in tests skipped: PILOT_HEALTH_NODE points to {os.environ['PILOT_HEALTH_NODE']}, which does not exist"
        return "sign-in tests skipped: no Node.js found (set PILOT_HEALTH_NODE, or install Node.js 20 or newer)"
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        return (
            "sign-in tests skipped: the OpenID provider's packages are not installed "
            "(`python3 run.py test` installs them, or run: npm ci --prefix tests/oidc)"
        )
    return None


def sign_in_marks() -> list:
    """`pytestmark` of a module that signs in: a browser test, skipped (with the reason printed)
    when the provider cannot run; decided at import, so no server starts for a skipped module."""
    reason = oidc_skip_reason()
    return [pytest.mark.browser, pytest.mark.skipif(reason is not None, reason=reason or "")]


@dataclass
class OidcProvider(_Stoppable):
    issuer: str
    client_id: str
    client_secret: str
    process: subprocess.Popen
    log_path: Path

    def log(self, limit: int = 6000) -> str:
        return _tail(self.log_path, "the provider's output", limit)


def start_oidc_provider(folder: Path, redirect_uri: str, accounts: dict[str, dict]) -> OidcProvider:
    """tests/oidc/provider.mjs on a free port, once it says it is ready. `accounts` maps each login
    (an e-mail address) to the claims it signs in with, e.g. {"email": …, "name": …, "groups": […]};
    its login form accepts any password. Call stop(), or use it in a `with` block."""
    node = _node()
    if not node:
        pytest.fail(oidc_skip_reason() or "no Node.js found", pytrace=False)
    port = free_port()
    issuer = f"http://localhost:{port}"
    client_id, client_secret = "pilot-health-tests", secrets.token_urlsafe(24)
    config = folder / f"oidc-{port}.json"
    config.write_text(
        json.dumps(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
                "accounts": accounts,
            },
            indent=2,
        )
    )
    log_path = folder / f"oidc-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [node, str(OIDC_DIR / "provider.mjs"), str(port), str(config)],
            cwd=OIDC_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    provider = OidcProvider(
        issuer=issuer, client_id=client_id, client_secret=client_secret, process=process, log_path=log_path
    )
    deadline = time.monotonic() + PROVIDER_START_SECONDS
    while f"ready {issuer}" not in log_path.read_text(errors="replace"):
        problem = (
            f"exited with code {process.returncode}"
            if process.poll() is not None
            else f"did not say it was ready within {PROVIDER_START_SECONDS} s"
            if time.monotonic() > deadline
            else None
        )
        if problem:
            provider.stop()
            pytest.fail(f"the OpenID provider {problem}. Its output:\n{provider.log()}", pytrace=False)
        time.sleep(0.1)
    return provider


def write_auth_secrets(path: Path, provider: OidcProvider, redirect_uri: str, cookie_secret: str | None = None) -> Path:
    """A secrets.toml whose [auth] section makes st.login() sign in with `provider`; give it to
    Streamlit with `--secrets.files PATH`. `cookie_secret`: the one every replica shares (else a new one)."""

    def toml(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    kwargs = ", ".join(f"{key} = {toml(value)}" for key, value in AUTH_CLIENT_KWARGS.items())
    path.write_text(
        "[auth]\n"
        f"redirect_uri = {toml(redirect_uri)}\n"
        f"cookie_secret = {toml(cookie_secret or secrets.token_urlsafe(32))}\n"
        f"client_id = {toml(provider.client_id)}\n"
        f"client_secret = {toml(provider.client_secret)}\n"
        f"server_metadata_url = {toml(provider.issuer + '/.well-known/openid-configuration')}\n"
        f"client_kwargs = {{ {kwargs} }}\n",
        encoding="utf-8",
    )
    return path


def sign_in(page, email: str, password: str = "any password will do") -> None:
    """Sign in as `email` on the provider's login form, whether the page is already there or is
    on its way (just after a click on the app's sign-in button); returns once the form is gone."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    login = page.locator("input[name=login]")
    try:
        login.wait_for(state="visible", timeout=FIRST_RENDER_MS)
    except PlaywrightTimeout:
        pytest.fail(
            f"the provider's login form did not appear within {FIRST_RENDER_MS // 1000} s; the page at "
            f"{page.url} showed:\n{page.locator('body').inner_text(timeout=1000)[:2000]}",
            pytrace=False,
        )
    login.fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("button[type=submit]").click()
    login.wait_for(state="detached", timeout=FIRST_RENDER_MS)


# --- Reading and using what Streamlit drew --------------------------------------------------------


@contextmanager
def colleague_page(browser, dashboard: Dashboard, also_allowed: Sequence[str] = ()) -> Iterator:
    """A page in a second, fresh browser context: a colleague opening a pasted link, with no
    session, cookies or storage of the first (requests leaving the dashboard and `also_allowed`,
    e.g. the provider's issuer, are refused)."""
    with fresh_page(browser, [dashboard.url, *also_allowed]) as fresh:
        yield fresh


def open_link(page, dashboard: Dashboard, link: str, ready_text: str) -> None:
    """Open `link` (relative to the dashboard) and wait until Streamlit has drawn `ready_text`."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(dashboard.url + link, wait_until="domcontentloaded")
    try:
        page.get_by_text(ready_text, exact=True).first.wait_for(state="visible", timeout=FIRST_RENDER_MS)
    except PlaywrightTimeout:
        dashboard.assert_alive(f"while {link} was loading")
        main = page.get_by_test_id("stMain")
        shown = main.inner_text(timeout=1000) if main.count() else page.content()[:2000]
        pytest.fail(
            f"{link} did not show “{ready_text}” within {FIRST_RENDER_MS // 1000} s. The page showed:\n{shown}\n"
            f"Server stderr:\n{dashboard.stderr()}",
            pytrace=False,
        )


def finished_running(page, timeout: int = FIRST_RENDER_MS) -> None:
    """Wait until Streamlit has finished running the page's script (its app element says so)."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        state="attached", timeout=timeout
    )


def metric_value(page, label: str):
    return (
        page.get_by_test_id("stMetric")
        .filter(has=page.get_by_test_id("stMetricLabel").filter(has_text=label))
        .get_by_test_id("stMetricValue")
    )


def multiselect_tags(page, label: str):
    """The chosen values shown as tags in the multiselect labelled `label`."""
    widget = page.get_by_test_id("stMultiSelect").filter(has=page.get_by_role("combobox", name=label, exact=True))
    return widget.locator("[data-tag]")


def assert_no_errors_shown(page, script_errors: list[str], *, except_saying: str | None = None) -> None:
    """No traceback, no JavaScript error and no red message — except those saying `except_saying`
    (the risk page shows a red pilot's health in a red box on purpose)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stException"), "a Python traceback is shown on the page").to_have_count(0)
    errors = page.get_by_test_id("stAlertContentError")
    if except_saying:
        errors = errors.filter(has_not_text=except_saying)
    expect(errors, "an error message is shown on the page").to_have_count(0)
    assert script_errors == [], f"uncaught JavaScript errors: {script_errors}"


def until_it_took(page, act, took, *, what: str, attempts: int = 3, timeout: int = RENDERED_MS) -> None:
    """Do `act` (a click that changes the page) and wait for `took(timeout_ms)` to prove it took (a
    widget's checked state, the page's changed text; it raises AssertionError or a Playwright timeout
    while it does not). On a busy machine a click that lands while Streamlit is redrawing the page can
    be lost; `act` is done again only when, the page having finished running, the proof still fails,
    as a person would press again. So `act` must look for itself whether it is still needed (a switch
    that is already on is not clicked again)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, attempts + 1):
        finished_running(page)  # never click into a page that is being redrawn
        act()
        try:
            took(timeout)
        except (AssertionError, PlaywrightTimeout) as lost:
            if attempt == attempts:
                pytest.fail(f"{what}: not done after {attempts} tries on {page.url}. Last: {lost}", pytrace=False)
            print(f"{what}: the click was lost (try {attempt}), clicked again")  # shown with the test's output
            continue
        finished_running(page)
        return


def switch_on(page, label: str, shows) -> None:
    """Turn on the switch (st.toggle) labelled `label` by clicking its label, as a person does, and
    wait until it is on and the page shows `shows` (a locator of what the rerun draws with it on)."""
    from playwright.sync_api import expect

    switch = page.get_by_role("switch", name=label, exact=True)

    def act() -> None:
        if not switch.is_checked():
            page.get_by_test_id("stCheckbox").filter(has=switch).get_by_text(label, exact=True).click()

    def took(timeout: int) -> None:
        expect(switch).to_be_checked(timeout=timeout)
        expect(shows).to_be_attached(timeout=timeout)

    until_it_took(page, act, took, what=f"turning on “{label}”")


def open_expander(page, title) -> None:
    """Open the expander whose title starts with `title` (or the expander `title` locates), if it is
    closed (what is in a closed one is not drawn, and its buttons cannot be reached), and wait until
    its content is shown."""
    from playwright.sync_api import expect

    expander = (
        page.get_by_test_id("stExpander").filter(has=page.locator("summary", has_text=title)).first
        if isinstance(title, str)
        else title
    )
    expect(expander).to_be_visible(timeout=RENDERED_MS)
    details = expander.locator("details").first

    def act() -> None:
        if details.get_attribute("open") is None:
            expander.locator("summary").first.click()

    def took(timeout: int) -> None:
        expect(details).to_have_attribute("open", "", timeout=timeout)
        expect(expander.get_by_test_id("stExpanderDetails")).to_be_visible(timeout=timeout)
        expect(expander.get_by_test_id("stExpanderDetails")).not_to_have_attribute("inert", "", timeout=timeout)

    until_it_took(page, act, took, what=f"opening the expander “{expander.locator('summary').first.inner_text()}”")


def download(page, button, *, timeout: int = RENDERED_MS, attempts: int = 3):
    """Click a download button and return Playwright's Download once the browser has the file.

    The button is first waited for until it can be clicked (shown, enabled, no longer moving while
    the page redraws), outside the time the file is given to start (`timeout`: more for a document
    made when clicked). A click that hands over no file in that time was lost and is made again: a
    download changes nothing, so pressing twice is harmless."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, attempts + 1):
        finished_running(page)
        button.click(trial=True)  # waits until a click would reach it, without clicking
        try:
            with page.expect_download(timeout=timeout) as info:
                button.click()
        except PlaywrightTimeout:
            if attempt == attempts:
                pytest.fail(
                    f"“{button.inner_text().strip()}” on {page.url} handed over no file in {attempts} clicks",
                    pytrace=False,
                )
            print(f"download from {page.url}: no file after click {attempt}, clicked again")  # shown with the output
            continue
        result = info.value
        assert result.failure() is None, f"the download failed: {result.failure()}"
        return result


def download_table(page, label: str = "Download this table (CSV)") -> tuple[str, list[dict[str, str]]]:
    """Click the download button labelled `label` (the portfolio's by default) and return the file
    name and the rows of the CSV."""
    file = download(page, page.get_by_role("button", name=label))
    text = Path(file.path()).read_text(encoding="utf-8")
    return file.suggested_filename, list(csv.DictReader(io.StringIO(text)))
