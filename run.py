#!/usr/bin/env python3
"""The two commands of Pilot Health, with nothing but Python 3.11 and pip.

    python3 run.py          set everything up and start the dashboard
    python3 run.py test     set everything up, run the lint, format and type checks, then the whole test suite

Setting up means: a virtual environment in `.venv`, the pinned requirements, and Pilot Health
itself installed into it (editable, so `python -m pilot_health` works). It is repeated only when
`requirements*.txt` or `pyproject.toml` change. For the browser tests, `test` also makes sure
Chromium is present (Debian's `chromium` package, installed with apt-get when it can be); when it
cannot be had, the browser tests are skipped and the reason is printed. The sign-in browser tests
also need Node.js: `test` installs their OpenID provider's pinned packages (`npm ci` in tests/oidc,
again only when its lock file changes), or prints why those tests will be skipped. Neither is set
up when the pytest arguments leave the browser tests out (`python3 run.py test -m "not browser"`,
or only test files without them), so the quick loop installs nothing it will not use.

The tests that run on both stores need a PostgreSQL server: `test` starts one throwaway server for
the whole run (tests/postgres_support.py; Debian's `postgresql` package, installed with apt-get
when the binaries are missing and it can be), hands its address to pytest in
PILOT_HEALTH_TEST_POSTGRES and stops it at the end. When it cannot, those tests are skipped and the
reason is printed. Only test files named on the command line that never mention PostgreSQL (nor
run on both stores) leave it out.

Runs naming no test files use worker processes (pytest-xdist): three for the whole suite (one
runs the browser tests), two without the browser tests; PILOT_HEALTH_TEST_WORKERS=1 for none. The fast subset while
developing is `python3 run.py test -m "not browser and not slow"` (docs/developing.md, "Tests").

Before pytest, `test` runs the lint, format and type checks (tools/lint_ratchet.py: ruff and mypy
against lint-baseline.json, which only shrinks); pytest runs either way, and a finding above the
baseline makes the command fail (docs/developing.md, "Lint, format and types").

Only the standard library is used here, on purpose: this script runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".pilot-health-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OIDC = ROOT / "tests" / "oidc"
OIDC_LOCK = OIDC / "package-lock.json"
OIDC_MODULES = OIDC / "node_modules"
OIDC_STAMP = OIDC_MODULES / ".pilot-health-installed"
CONFTEST = ROOT / "tests" / "conftest.py"


def say(message: str) -> None:
    print(f"[pilot-health] {message}", flush=True)


def requirements_fingerprint(requirements: str) -> str:
    digest = hashlib.sha256()
    for name in (requirements, "requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return f"{requirements}:{digest.hexdigest()}"


def ensure_environment(requirements: str) -> None:
    """Create .venv and install `requirements` plus this project, unless already done."""
    if sys.version_info < (3, 11):
        sys.exit(f"Pilot Health needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        say("creating the virtual environment in .venv …")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = requirements_fingerprint(requirements)
    done = STAMP.read_text().splitlines() if STAMP.exists() else []
    if wanted in done:
        return
    say(f"installing {requirements} (first run or changed requirements; this takes a minute) …")
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    subprocess.run(pip + ["-r", str(ROOT / requirements)], check=True)
    subprocess.run(pip + ["--no-deps", "-e", str(ROOT)], check=True)
    # A stamp per requirements file: installing the test extras keeps the runtime stamp valid.
    keep = [line for line in done if not line.startswith(f"{requirements}:")]
    STAMP.write_text("\n".join(keep + [wanted]) + "\n")


def find_chromium() -> str | None:
    explicit = os.environ.get("PILOT_HEALTH_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium() -> tuple[str | None, str]:
    """Return (path to Chromium, reason it is missing). Installs Debian's package when possible."""
    found = find_chromium()
    if found:
        return found, ""
    if os.environ.get("PILOT_HEALTH_CHROMIUM"):
        return None, f"PILOT_HEALTH_CHROMIUM points to {os.environ['PILOT_HEALTH_CHROMIUM']}, which does not exist"
    problem = apt_install("chromium", "the browser tests")
    if problem:
        return None, f"Chromium is not installed and {problem}"
    found = find_chromium()
    return (found, "") if found else (None, "apt-get installed chromium but no chromium binary was found on PATH")


def apt_install(package: str, purpose: str) -> str:
    """Install Debian's `package` with apt-get (as root, or through `sudo -n`); "" when done, else
    the reason it could not be."""
    apt = shutil.which("apt-get")
    if not apt:
        return f"this machine has no apt-get to install Debian's {package} package"
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if prefix and not shutil.which("sudo"):
        return f"installing it needs root (run: sudo apt-get install {package})"
    say(f"installing Debian's {package} package for {purpose} …")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (["update", "-qq"], ["install", "-y", "-qq", "--no-install-recommends", package]):
        result = subprocess.run(prefix + [apt] + step, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"apt-get {step[0]} failed ({last[0]}); install Debian's {package} package by hand"
    return ""


def postgres_support():
    """tests/postgres_support.py (standard library only), loaded from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("postgres_support", ROOT / "tests" / "postgres_support.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["postgres_support"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def ensure_postgres():
    """Return (a running throwaway PostgreSQL server, reason there is none). Installs Debian's
    postgresql package when its binaries are missing and that is possible."""
    support = postgres_support()
    if support.find_binaries() is None:
        problem = apt_install("postgresql", "the tests on PostgreSQL")
        if problem:
            return None, f"PostgreSQL is not installed and {problem}"
        if support.find_binaries() is None:
            return None, "apt-get installed postgresql but no initdb was found under /usr/lib/postgresql"
    return support.start()


def both_backend_modules() -> set[str]:
    """The test modules tests/conftest.py runs on both stores (its BOTH_BACKENDS set)."""
    found = re.search(r"BOTH_BACKENDS\s*=\s*\{([^}]*)\}", CONFTEST.read_text(encoding="utf-8"))
    return set(re.findall(r"[\"'](\w+)[\"']", found.group(1))) if found else set()


def postgres_needed(extra: list[str]) -> bool:
    """Whether `pytest extra` can run a test on PostgreSQL: false only when the run names test files
    and none of them runs on both stores (conftest's BOTH_BACKENDS) or mentions PostgreSQL."""
    files = selected_test_files(extra)
    if files is None:
        return True
    both = both_backend_modules()
    return any(
        path.stem in both or "postgres" in path.read_text(encoding="utf-8").lower() for path in files if path.is_file()
    )


def ensure_oidc_provider() -> tuple[str | None, str]:
    """Return (path to node, reason it cannot be used) after installing the sign-in tests' provider.

    `npm ci` runs only when node_modules is missing or the lock file changed since the last install
    (its hash is kept in a stamp inside node_modules, so deleting node_modules starts over)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        return None, f"{missing} not found on PATH (install Node.js 20 or newer with npm)"
    wanted = hashlib.sha256(OIDC_LOCK.read_bytes()).hexdigest()
    installed = OIDC_STAMP.read_text().strip() if OIDC_STAMP.exists() else ""
    if installed != wanted:
        say("installing the sign-in tests' OpenID provider (npm ci in tests/oidc) …")
        result = subprocess.run(
            [npm, "ci", "--prefix", str(OIDC), "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True
        )
        if result.returncode != 0:
            return None, f"npm ci in tests/oidc failed ({npm_error(result.stderr or result.stdout)})"
        OIDC_STAMP.write_text(wanted + "\n")
    return node, ""


def npm_error(output: str) -> str:
    """The line of npm's error output that says what went wrong (not the error code or log file)."""
    lines = [line.removeprefix("npm error").strip() for line in output.splitlines() if line.startswith("npm error")]
    said = [line for line in lines if line and not re.fullmatch(r"(code|errno|syscall) \S+|A complete log .*", line)]
    return (said or lines or output.strip().splitlines()[-1:] or ["no output"])[0]


def oidc_versions(node: str) -> str:
    """ "Node.js X and oidc-provider Y", as installed, for the line that says what the tests use."""
    result = subprocess.run([node, "--version"], capture_output=True, text=True)
    package = json.loads((OIDC_MODULES / "oidc-provider" / "package.json").read_text())
    return f"Node.js {result.stdout.strip().removeprefix('v') or '(unknown version)'} and oidc-provider {package['version']}"


LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def flag_values(extra: list[str], flag: str) -> list[str]:
    """The values given to a Streamlit flag, as `--flag VALUE` or `--flag=VALUE`, in order."""
    values = []
    for index, argument in enumerate(extra):
        if argument.startswith(flag + "="):
            values.append(argument.split("=", 1)[1])
        elif argument == flag and index + 1 < len(extra):
            values.append(extra[index + 1])
    return values


def sign_in_configured(extra: list[str]) -> bool:
    """Whether the secrets file Streamlit will read has an [auth] section (see docs/access.md)."""
    import tomllib

    for path in flag_values(extra, "--secrets.files") or [str(ROOT / ".streamlit" / "secrets.toml")]:
        try:
            if tomllib.loads(Path(path).read_text(encoding="utf-8")).get("auth"):
                return True
        except (OSError, ValueError):
            continue
    return False


def open_network_refusal(extra: list[str]) -> str | None:
    """Why the dashboard must not start: open access (no sign-in) beyond this machine, unless allowed."""
    address = (flag_values(extra, "--server.address") or [None])[-1]  # None: the shipped 127.0.0.1
    allowed = os.environ.get("PILOT_HEALTH_ALLOW_OPEN_NETWORK", "").strip().lower() in {"yes", "y", "true", "1", "on"}
    if address is None or address.strip() in LOOPBACK or allowed or sign_in_configured(extra):
        return None
    return (
        f"--server.address {address or '(every interface)'} would let anyone who reaches this machine see and change "
        "everything, because sign-in is not configured. Configure sign-in (docs/access.md), or, behind a firewall or a "
        "proxy that restricts who reaches it, start it with PILOT_HEALTH_ALLOW_OPEN_NETWORK=yes."
    )


def dashboard(extra: list[str]) -> int:
    refusal = open_network_refusal(extra)
    if refusal:
        say(f"not starting: {refusal}")
        return 2
    ensure_environment("requirements.txt")
    say("starting the dashboard; it opens at the Local URL printed below (Ctrl+C stops it) …")
    # pilot_health.ui.serve is `streamlit run` without Streamlit's public /_stcore/metrics route.
    command = [str(PYTHON), "-m", "pilot_health.ui.serve", "run", str(ROOT / "app.py"), *extra]
    return subprocess.call(command, cwd=ROOT)


# pytest options whose value is the next argument (so that value is never read as a test path).
PYTEST_VALUE_OPTIONS = {
    "-m",
    "-k",
    "-p",
    "-c",
    "-o",
    "-W",
    "-r",
    "-n",
    "--numprocesses",
    "--dist",
    "--maxprocesses",
    "--basetemp",
    "--rootdir",
    "--confcutdir",
    "--deselect",
    "--ignore",
    "--ignore-glob",
    "--durations",
    "--durations-min",
    "--tb",
    "--maxfail",
    "--junitxml",
    "--junit-xml",
    "--log-level",
    "--log-file",
    "--log-cli-level",
    "--import-mode",
    "--capture",
    "--color",
    "--override-ini",
    "--config-file",
    "--pythonwarnings",
    "--strict-markers-file",
    "--timeout",
}
MARKER_TOKEN = re.compile(r"\s*(\(|\)|(?:\w|:|\+|-|\.|\[|\]|\\|/)+)")


def marker_expression(extra: list[str]) -> str | None:
    """The `-m` expression pytest will use (the last one given), or None."""
    found = None
    for index, argument in enumerate(extra):
        if argument == "-m" and index + 1 < len(extra):
            found = extra[index + 1]
        elif argument.startswith("-m") and not argument.startswith("--"):
            found = argument[2:].removeprefix("=")
    return found


def marker_allows(expression: str, marker: str) -> bool:
    """Whether a test marked `marker` (and perhaps others) can satisfy pytest's `-m expression`.

    True unless the expression is false for every choice of the other markers; True as well when
    the expression is not plain and/or/not/parentheses over names (unsure means: set up)."""
    tokens, position = [], 0
    while position < len(expression.rstrip()):
        match = MARKER_TOKEN.match(expression, position)
        if not match:
            return True
        tokens.append(match.group(1))
        position = match.end()
    others = sorted({token for token in tokens if token not in {"(", ")", "and", "or", "not", marker}})
    if not tokens or len(others) > 10:
        return True
    names = {name: f"v[{index}]" for index, name in enumerate(others)}
    python = " ".join(names.get(token, "True" if token == marker else token) for token in tokens)
    try:
        code = compile(python, "<-m>", "eval")
    except SyntaxError:
        return True
    for choice in range(2 ** len(others)):
        values = [bool(choice >> index & 1) for index in range(len(others))]
        if eval(code, {"__builtins__": {}}, {"v": values}):  # noqa: S307 (only names, and/or/not and parentheses)
            return True
    return False


def selected_test_files(extra: list[str]) -> list[Path] | None:
    """The test files the pytest arguments name (folders expanded), or None when they name none
    (pytest then runs the whole of tests/) or name something outside tests/ (unsure: everything)."""
    named: list[Path] = []
    skip_next = False
    for argument in extra:
        if skip_next:
            skip_next = False
            continue
        if argument.startswith("-"):
            skip_next = argument in PYTEST_VALUE_OPTIONS
            continue
        path = (ROOT / argument.split("::", 1)[0]).resolve()
        if not path.exists():
            continue  # an option's value pytest will read (or a typo pytest will report)
        if not path.is_relative_to(ROOT / "tests"):
            return None
        named.extend(sorted(path.rglob("test_*.py")) if path.is_dir() else [path])
    return named or None


def browser_setup_needed(extra: list[str]) -> tuple[bool, bool]:
    """(Chromium needed, the sign-in tests' OpenID provider needed) for `pytest extra`.

    Browser tests are marked `browser` (sign-in ones through browser_support.sign_in_marks);
    a test file that never says so holds none, and one that never starts the provider needs no Node.js."""
    expression = marker_expression(extra)
    if expression is not None and not marker_allows(expression, "browser"):
        return False, False
    files = selected_test_files(extra)
    if files is None:
        return True, True
    texts = [path.read_text(encoding="utf-8") for path in files if path.is_file()]
    chromium = any("mark.browser" in text or "sign_in_marks(" in text for text in texts)
    return chromium, chromium and any("sign_in_marks(" in text or "start_oidc_provider(" in text for text in texts)


TEST_WORKERS = "PILOT_HEALTH_TEST_WORKERS"
POSTGRES_URL = "PILOT_HEALTH_TEST_POSTGRES"  # the names tests/postgres_support.py reads
POSTGRES_SKIP = "PILOT_HEALTH_POSTGRES_SKIP"


def worker_arguments(extra: list[str]) -> list[str]:
    """pytest-xdist's arguments for this run (`--dist loadfile`: whole test files per worker;
    tests/conftest.py keeps the browser files but the printed packs on one worker, one after the
    other). On a machine with two CPUs or more: two workers for a run without browser tests; three
    for a run with them, since the browser tests' worker mostly waits for the dashboard and Chromium
    (docs/developing.md, "Tests", gives the measured times).

    None when the run names test files (workers would only add their start) or chooses workers
    itself (`-n`, `-p no:xdist`); $PILOT_HEALTH_TEST_WORKERS says how many for any run (`1`: none,
    in pytest's own process)."""
    if any(
        argument in {"-n", "--numprocesses", "--dist"} or argument.startswith(("-n", "--numprocesses=", "--dist="))
        for argument in extra
    ) or any(a == "-p" and b in {"no:xdist", "no:xdist.plugin"} for a, b in zip(extra, extra[1:], strict=False)):
        return []
    wanted = os.environ.get(TEST_WORKERS, "").strip()
    if wanted:
        workers = int(wanted) if wanted.isdigit() else 1
    elif selected_test_files(extra) is not None or (os.cpu_count() or 1) < 2:
        return []
    else:
        workers = 3 if browser_setup_needed(extra)[0] else 2
    return ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []


def run_checks() -> int:
    """The lint, format and type checks against their shrink-only baseline; 0 when nothing is above it."""
    say("lint, format and type checks (tools/lint_ratchet.py) …")
    return subprocess.run([str(PYTHON), str(ROOT / "tools" / "lint_ratchet.py")], cwd=ROOT).returncode


def test(extra: list[str]) -> int:
    ensure_environment("requirements-dev.txt")
    checks = run_checks()
    env = dict(os.environ)
    wants_chromium, wants_provider = browser_setup_needed(extra)
    if not wants_chromium:
        reason = "this run's selection leaves out the browser tests, so Chromium was not set up"
        env.setdefault("PILOT_HEALTH_BROWSER_SKIP", reason)
        say("no browser tests selected: Chromium and the sign-in tests' OpenID provider are not set up")
    else:
        chromium, reason = ensure_chromium()
        if chromium:
            env["PILOT_HEALTH_CHROMIUM"] = chromium
            say(f"browser tests will use {chromium}")
        else:
            env["PILOT_HEALTH_BROWSER_SKIP"] = reason
            say(f"browser tests will be SKIPPED: {reason}")
    if not wants_provider:
        reason = "this run's selection leaves out the sign-in tests, so their provider was not set up"
        env.setdefault("PILOT_HEALTH_OIDC_SKIP", reason)
        if wants_chromium:
            say("no sign-in browser tests selected: their OpenID provider is not set up")
    else:
        node, reason = ensure_oidc_provider()
        if node:
            env["PILOT_HEALTH_NODE"] = node
            say(f"sign-in tests will use {oidc_versions(node)}")
        else:
            env["PILOT_HEALTH_OIDC_SKIP"] = reason
            say(f"sign-in browser tests will be SKIPPED: {reason}")
    server = None
    if not postgres_needed(extra):
        env.setdefault(POSTGRES_SKIP, "this run's selection has no tests on PostgreSQL, so no server was started")
    else:
        server, reason = ensure_postgres()
        if server:
            env[POSTGRES_URL] = server.url
            say(f"PostgreSQL tests will use a throwaway server on port {server.port} (stopped at the end)")
        else:
            env[POSTGRES_SKIP] = reason
            say(f"PostgreSQL tests will be SKIPPED: {reason}")
    workers = worker_arguments(extra)
    if workers:
        say(f"tests in {workers[1]} worker processes, a test file per worker at a time ({TEST_WORKERS}=1: in one)")
    command = [str(PYTHON), "-m", "pytest", *workers, *extra]
    try:
        result = subprocess.call(command, cwd=ROOT, env=env)
    finally:
        if server:
            server.stop()
    if checks != 0:
        say(
            "FAILED: the lint, format or type checks found more than their baseline (their report is above the "
            'tests\'); see docs/developing.md, "Lint, format and types"'
        )
        return result or checks
    return result


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(__doc__)
        return 0
    if argv[:1] == ["test"]:
        return test(argv[1:])
    if argv[:1] == ["dashboard"]:
        argv = argv[1:]
    return dashboard(argv)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as error:
        sys.exit(f"[pilot-health] setup failed: {' '.join(map(str, error.cmd))} exited with {error.returncode}")
    except KeyboardInterrupt:
        sys.exit(130)
