"""A throwaway PostgreSQL server for the tests (standard library only: run.py imports it too).

`python3 run.py test` starts one server for the whole run and hands its address to pytest in
PILOT_HEALTH_TEST_POSTGRES; a plain `pytest` run starts one per worker from tests/conftest.py.
The server lives in a temporary folder, listens on 127.0.0.1 on a free port, runs without fsync
(the tests never need their data to survive a crash) and is stopped and deleted at the end.
`initdb` refuses to run as root, so as root the server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

URL_VARIABLE = "PILOT_HEALTH_TEST_POSTGRES"
SKIP_VARIABLE = "PILOT_HEALTH_POSTGRES_SKIP"
USER = "pilot"


def find_binaries() -> Path | None:
    """The folder with initdb and pg_ctl: Debian keeps them out of PATH, under /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    folder: Path
    port: int
    binaries: Path
    as_user: list[str]

    @property
    def url(self) -> str:
        """The address of its maintenance database; tests create their own databases from it."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            [
                *self.as_user,
                str(self.binaries / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def start(parent: Path | None = None) -> tuple[Server | None, str]:
    """A running server, or None and the reason it could not be started (the tests that need it
    are then skipped with that reason printed)."""
    binaries = find_binaries()
    if binaries is None:
        return None, "PostgreSQL is not installed (Debian's postgresql package gives initdb and pg_ctl)"
    as_user: list[str] = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if not runuser:
            return None, "PostgreSQL refuses to run as root and this machine has no runuser to start it as postgres"
        as_user = [runuser, "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="pilot-health-pg-", dir=parent))
    if as_user:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    initdb = subprocess.run(
        [
            *as_user,
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
    )
    if initdb.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"initdb failed: {(initdb.stderr or initdb.stdout).strip().splitlines()[-1:]}"
    for _attempt in range(3):
        port = _free_port()
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=300 "
            "-c fsync=off -c full_page_writes=off"
        )
        started = subprocess.run(
            [
                *as_user,
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-w",
                "-o",
                options,
                "start",
            ],
            capture_output=True,
            text=True,
        )
        if started.returncode == 0:
            return Server(folder, port, binaries, as_user), ""
        time.sleep(0.2)
    log = (folder / "log").read_text(errors="replace").strip().splitlines()[-1:] if (folder / "log").exists() else []
    shutil.rmtree(folder, ignore_errors=True)
    return None, f"PostgreSQL did not start: {log}"
