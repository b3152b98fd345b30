"""`python3 run.py test`: the quick loop (`-m "not browser"`, or only files without browser tests)
sets up neither Chromium nor the sign-in tests' OpenID provider; the whole suite (what `.ci/run`
runs) sets up both, and every run that can hold a test on PostgreSQL gets one throwaway server,
stopped at the end. run.py is loaded in this process and its installers replaced by recorders, so
nothing is installed here (one slow test starts a real server)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_py():
    spec = importlib.util.spec_from_file_location("run_py_under_test", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "arguments, chromium, provider",
    [
        ([], True, True),  # `.ci/run`: the whole suite
        (["-m", "not browser"], False, False),  # the README's quick loop
        (["-m", "not browser and not slow"], False, False),
        (["-m", "not (browser or slow)"], False, False),
        (["-mnot browser"], False, False),
        (["-m", "browser"], True, True),
        (["-m", "slow or browser"], True, True),
        (["-m", "not slow"], True, True),  # browser tests that are not slow still run
        (["-m", "browser", "-m", "not browser"], False, False),  # pytest keeps the last -m
        (["-m", "not browser", "-m", "browser"], True, True),
        (["-m", "browser(name=1)"], True, True),  # not understood here: set up
        (["tests/test_risk.py", "-k", "heatmap"], False, False),  # the developers' guide's example
        (["tests/test_cli.py::test_help", "-p", "no:cacheprovider", "-x"], False, False),
        (["tests/test_browser_risk.py"], True, False),  # a browser file that never signs in
        (["tests/test_browser_access.py"], True, True),
        (["tests/test_browser_oidc_harness.py", "tests/test_cli.py"], True, True),
        (["tests"], True, True),
        (["tests/test_browser.py::test_x", "-m", "not browser"], False, False),
        (["-k", "tests", "tests/test_cli.py"], False, False),  # -k's value is not a path
        (["--basetemp", "/tmp", "tests/test_cli.py"], False, False),  # nor is --basetemp's
        (["/tmp"], True, True),  # something outside tests/: unsure, so set up
    ],
)
def test_browser_setup_only_when_the_selection_can_hold_browser_tests(run_py, arguments, chromium, provider):
    assert run_py.browser_setup_needed(arguments) == (chromium, provider)


class _RecordedServer:
    """Stands in for postgres_support.Server: records when it is stopped."""

    def __init__(self, called: dict):
        self.called, self.port, self.url = called, 54321, "postgresql://pilot@127.0.0.1:54321/postgres"

    def stop(self) -> None:
        self.called["postgres stopped"] += 1


def _record_test_run(run_py, monkeypatch, tmp_path, checks=0, postgres_reason=""):
    """Replace every installer, the lint checks and the pytest call by recorders; returns what was
    called. The PostgreSQL server "starts" unless `postgres_reason` says why it cannot."""
    called: dict = {"chromium": 0, "provider": 0, "checks": 0, "postgres": 0, "postgres stopped": 0}
    monkeypatch.setattr(
        run_py, "ensure_environment", lambda requirements: called.setdefault("environment", requirements)
    )

    def run_checks():
        called["checks"] += 1
        return checks

    monkeypatch.setattr(run_py, "run_checks", run_checks)
    chromium = tmp_path / "chromium"
    chromium.write_text("")

    def ensure_chromium():
        called["chromium"] += 1
        return str(chromium), ""

    def ensure_oidc_provider():
        called["provider"] += 1
        return None, "node not found on PATH (install Node.js 20 or newer with npm)"

    def ensure_postgres():
        called["postgres"] += 1
        return (None, postgres_reason) if postgres_reason else (_RecordedServer(called), "")

    def call(command, cwd, env):
        called["command"], called["env"] = command, env
        called["postgres stopped when pytest ran"] = called["postgres stopped"]
        return 0

    monkeypatch.setattr(run_py, "ensure_postgres", ensure_postgres)
    monkeypatch.setattr(run_py, "ensure_chromium", ensure_chromium)
    monkeypatch.setattr(run_py, "ensure_oidc_provider", ensure_oidc_provider)
    monkeypatch.setattr(run_py.subprocess, "call", call)
    for name in (
        "PILOT_HEALTH_BROWSER_SKIP",
        "PILOT_HEALTH_OIDC_SKIP",
        "PILOT_HEALTH_CHROMIUM",
        "PILOT_HEALTH_NODE",
        "PILOT_HEALTH_TEST_POSTGRES",
        "PILOT_HEALTH_POSTGRES_SKIP",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PILOT_HEALTH_TEST_WORKERS", raising=False)
    monkeypatch.setattr(run_py.os, "cpu_count", lambda: 2)  # this machine's
    return called, str(chromium)


def test_the_quick_loop_installs_no_browser_and_says_so(run_py, monkeypatch, tmp_path, capsys):
    called, _ = _record_test_run(run_py, monkeypatch, tmp_path)
    assert run_py.main(["test", "-m", "not browser"]) == 0
    assert (called["chromium"], called["provider"]) == (0, 0)
    assert called["environment"] == "requirements-dev.txt"
    assert called["command"][1:] == ["-m", "pytest", *TWO_WORKERS, "-m", "not browser"]
    # Should a browser test slip through after all, it is skipped with the reason, never failed on a missing browser.
    assert "leaves out the browser tests" in called["env"]["PILOT_HEALTH_BROWSER_SKIP"]
    assert "leaves out the sign-in tests" in called["env"]["PILOT_HEALTH_OIDC_SKIP"]
    assert "Chromium and the sign-in tests' OpenID provider are not set up" in capsys.readouterr().out


def test_the_whole_suite_sets_up_chromium_and_the_provider_as_before(run_py, monkeypatch, tmp_path, capsys):
    called, chromium = _record_test_run(run_py, monkeypatch, tmp_path)
    monkeypatch.delenv("PILOT_HEALTH_TEST_WORKERS", raising=False)
    monkeypatch.setattr(run_py.os, "cpu_count", lambda: 2)
    assert run_py.main(["test"]) == 0
    assert (called["chromium"], called["provider"]) == (1, 1)
    assert called["command"][1:] == ["-m", "pytest", *THREE_WORKERS]  # browser files on one worker (conftest)
    assert called["env"]["PILOT_HEALTH_CHROMIUM"] == chromium
    assert "PILOT_HEALTH_BROWSER_SKIP" not in called["env"]
    assert called["env"]["PILOT_HEALTH_OIDC_SKIP"].startswith("node not found")
    said = capsys.readouterr().out
    assert f"browser tests will use {chromium}" in said
    assert "sign-in browser tests will be SKIPPED: node not found" in said


def test_one_browser_file_gets_chromium_but_no_provider_it_does_not_use(run_py, monkeypatch, tmp_path):
    called, chromium = _record_test_run(run_py, monkeypatch, tmp_path)
    assert run_py.main(["test", "tests/test_browser_risk.py"]) == 0
    assert (called["chromium"], called["provider"]) == (1, 0)
    assert called["env"]["PILOT_HEALTH_CHROMIUM"] == chromium


def test_the_lint_checks_run_before_the_tests_and_a_finding_above_the_baseline_fails_the_run(
    run_py, monkeypatch, tmp_path, capsys
):
    called, _ = _record_test_run(run_py, monkeypatch, tmp_path, checks=1)
    assert run_py.main(["test", "-m", "not browser"]) == 1
    assert called["checks"] == 1
    assert called["command"][1:] == [
        "-m",
        "pytest",
        *TWO_WORKERS,
        "-m",
        "not browser",
    ]  # the tests still run and report
    assert "FAILED: the lint, format or type checks" in capsys.readouterr().out


TWO_WORKERS = ["-n", "2", "--dist", "loadfile"]
THREE_WORKERS = ["-n", "3", "--dist", "loadfile"]


@pytest.mark.parametrize(
    "arguments, workers_variable, cpus, expected",
    [
        ([], None, 2, THREE_WORKERS),  # the whole suite: browser files on one worker (mostly waiting), the rest on two
        ([], None, 8, THREE_WORKERS),
        ([], None, 1, []),  # one CPU: pytest's own process
        ([], "1", 2, []),  # unless asked for none
        (["-m", "browser"], None, 2, THREE_WORKERS),
        (["-m", "not browser and not slow"], None, 2, TWO_WORKERS),  # the fast subset on this 2-CPU machine
        (["-m", "not browser"], None, 8, TWO_WORKERS),  # never more than two unless asked
        (["-m", "not browser"], None, 1, []),  # one CPU: pytest's own process
        (["-m", "not browser"], "1", 2, []),  # asked for none
        ([], "3", 2, ["-n", "3", "--dist", "loadfile"]),
        ([], "several", 2, []),  # not a number: the safe choice
        (["tests/test_cli.py"], None, 2, []),  # a named file: workers would only add their start
        (["tests/test_cli.py"], "2", 2, TWO_WORKERS),  # unless asked for
        (["-m", "not browser", "-n", "4"], None, 2, []),  # the caller's own choice
        (["-m", "not browser", "-n0"], None, 2, []),
        (["-m", "not browser", "--dist=loadscope", "-n", "2"], None, 2, []),
        (["-m", "not browser", "-p", "no:xdist"], None, 2, []),
        (["-m", "not browser", "-k", "heatmap"], None, 2, TWO_WORKERS),
    ],
)
def test_runs_use_two_workers_unless_files_are_named_or_workers_chosen(
    run_py, monkeypatch, arguments, workers_variable, cpus, expected
):
    if workers_variable is None:
        monkeypatch.delenv("PILOT_HEALTH_TEST_WORKERS", raising=False)
    else:
        monkeypatch.setenv("PILOT_HEALTH_TEST_WORKERS", workers_variable)
    monkeypatch.setattr(run_py.os, "cpu_count", lambda: cpus)
    assert run_py.worker_arguments(arguments) == expected


def test_one_named_file_runs_in_pytests_own_process(run_py, monkeypatch, tmp_path, capsys):
    called, _ = _record_test_run(run_py, monkeypatch, tmp_path)
    assert run_py.main(["test", "tests/test_cli.py", "-x"]) == 0
    assert called["command"][1:] == ["-m", "pytest", "tests/test_cli.py", "-x"]
    assert "worker processes" not in capsys.readouterr().out


def test_passing_lint_checks_leave_the_tests_verdict(run_py, monkeypatch, tmp_path):
    called, _ = _record_test_run(run_py, monkeypatch, tmp_path, checks=0)
    assert run_py.main(["test", "tests/test_cli.py"]) == 0
    assert called["checks"] == 1


def test_run_checks_runs_the_ratchet_with_the_environments_python(run_py, monkeypatch):
    ran = {}

    def run(command, cwd):
        ran["command"], ran["cwd"] = command, cwd
        return run_py.subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(run_py.subprocess, "run", run)
    assert run_py.run_checks() == 1
    assert ran["command"] == [str(run_py.PYTHON), str(ROOT / "tools" / "lint_ratchet.py")]
    assert ran["cwd"] == ROOT


# --- PostgreSQL: one throwaway server per run -------------------------------------------------------


def test_the_whole_suite_gets_one_postgres_server_for_the_run_stopped_after_pytest(
    run_py, monkeypatch, tmp_path, capsys
):
    called, _ = _record_test_run(run_py, monkeypatch, tmp_path)
    assert run_py.main(["test"]) == 0
    assert called["postgres"] == 1
    assert called["env"]["PILOT_HEALTH_TEST_POSTGRES"] == "postgresql://pilot@127.0.0.1:54321/postgres"
    assert "PILOT_HEALTH_POSTGRES_SKIP" not in called["env"]
    assert (called["postgres stopped when pytest ran"], called["postgres stopped"]) == (0, 1)
    assert "PostgreSQL tests will use a throwaway server on port 54321" in capsys.readouterr().out


def test_the_server_is_stopped_even_when_pytest_is_interrupted(run_py, monkeypatch, tmp_path):
    called, _ = _record_test_run(run_py, monkeypatch, tmp_path)

    def interrupted(command, cwd, env):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_py.subprocess, "call", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_py.main(["test", "-m", "not browser"])
    assert called["postgres stopped"] == 1


def test_without_a_server_the_postgres_tests_are_skipped_with_the_reason_printed(run_py, monkeypatch, tmp_path, capsys):
    reason = "PostgreSQL is not installed and this machine has no apt-get to install Debian's postgresql package"
    called, _ = _record_test_run(run_py, monkeypatch, tmp_path, postgres_reason=reason)
    assert run_py.main(["test", "-m", "not browser"]) == 0
    assert called["env"]["PILOT_HEALTH_POSTGRES_SKIP"] == reason
    assert "PILOT_HEALTH_TEST_POSTGRES" not in called["env"]
    assert called["postgres stopped"] == 0
    assert f"PostgreSQL tests will be SKIPPED: {reason}" in capsys.readouterr().out


def test_named_files_without_postgres_tests_start_no_server(run_py, monkeypatch, tmp_path):
    called, _ = _record_test_run(run_py, monkeypatch, tmp_path)
    assert run_py.main(["test", "tests/test_risk.py", "-k", "heatmap"]) == 0
    assert called["postgres"] == 0
    # Should a PostgreSQL test slip through after all, it is skipped with the reason, never failed.
    assert "no tests on PostgreSQL" in called["env"]["PILOT_HEALTH_POSTGRES_SKIP"]


@pytest.mark.parametrize(
    "arguments, needed",
    [
        ([], True),  # the whole suite
        (["-m", "not browser and not slow"], True),  # the fast subset runs the store tests on both
        (["tests"], True),
        (["tests/test_risk.py", "-k", "heatmap"], False),
        (["tests/test_store.py"], True),  # in conftest's BOTH_BACKENDS
        (["tests/test_risk.py", "tests/test_store.py"], True),
        (["tests/test_browser_replicas.py"], True),  # says PostgreSQL itself
        (["/tmp"], True),  # something outside tests/: unsure, so start one
    ],
)
def test_a_server_is_started_when_the_selection_can_hold_a_postgres_test(run_py, arguments, needed):
    assert run_py.postgres_needed(arguments) is needed


def test_the_modules_on_both_stores_are_read_from_conftest(run_py):
    import conftest

    assert run_py.both_backend_modules() == conftest.BOTH_BACKENDS


class _Support:
    """Stands in for tests/postgres_support.py: no binaries until "installed"."""

    def __init__(self, binaries_after_install: bool):
        self.installed, self.after = False, binaries_after_install

    def find_binaries(self):
        return Path("/usr/lib/postgresql/15/bin") if self.installed and self.after else None

    def start(self):
        return "a server", ""


def test_missing_binaries_are_installed_from_debians_package_like_chromium(run_py, monkeypatch):
    support, asked = _Support(binaries_after_install=True), []

    def apt_install(package, purpose):
        asked.append(package)
        support.installed = True
        return ""

    monkeypatch.setattr(run_py, "postgres_support", lambda: support)
    monkeypatch.setattr(run_py, "apt_install", apt_install)
    assert run_py.ensure_postgres() == ("a server", "")
    assert asked == ["postgresql"]


def test_a_failed_install_gives_the_reason(run_py, monkeypatch):
    monkeypatch.setattr(run_py, "postgres_support", lambda: _Support(binaries_after_install=False))
    monkeypatch.setattr(
        run_py,
        "apt_install",
        lambda package, purpose: "installing it needs root (run: sudo apt-get install postgresql)",
    )
    assert run_py.ensure_postgres() == (
        None,
        "PostgreSQL is not installed and installing it needs root (run: sudo apt-get install postgresql)",
    )
    monkeypatch.setattr(run_py, "apt_install", lambda package, purpose: "")
    server, reason = run_py.ensure_postgres()
    assert server is None and "no initdb was found" in reason


@pytest.mark.slow
def test_ensure_postgres_starts_a_real_server_that_answers_and_is_gone_after_stop(run_py):
    import psycopg

    if run_py.postgres_support().find_binaries() is None:  # a test installs nothing
        pytest.skip("PostgreSQL tests skipped: PostgreSQL is not installed (Debian's postgresql package)")
    server, reason = run_py.ensure_postgres()
    if server is None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    try:
        with psycopg.connect(server.url, connect_timeout=5) as con:
            assert con.execute("SELECT current_user").fetchone() == ("pilot",)
    finally:
        server.stop()
    assert not server.folder.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)
