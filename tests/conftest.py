"""Shared fixtures: stores in temporary folders (never the real data/ store), the demo portfolio,
and AppTest runs of the real pages against them."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from pilot_health.demo import DEMO_NOW, load_demo
from pilot_health.store import Store

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


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store.duckdb", lock_wait_seconds=5)


@pytest.fixture(scope="session")
def _demo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    load_demo(Store(path), today=DEMO_TODAY)
    return path


@pytest.fixture
def demo_store(_demo_file, tmp_path) -> Store:
    """A fresh copy of the demo store (as shipped, not re-dated) for one test to read or change."""
    path = tmp_path / "demo.duckdb"
    shutil.copy(_demo_file, path)
    return Store(path, lock_wait_seconds=5)


def run_python(code: str, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )


def run_cli(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pilot_health", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )


@pytest.fixture
def app_env(monkeypatch):
    """Point the pages at a given store for AppTest runs (which read the environment)."""

    def use(store: Store, *, demo_on_first_run: bool = False) -> None:
        monkeypatch.setenv("PILOT_HEALTH_DB", str(store.path))
        monkeypatch.setenv("PILOT_HEALTH_DEMO_ON_FIRST_RUN", "yes" if demo_on_first_run else "no")

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
        if callable(data) and kwargs.get("mime") == "text/csv":  # a table made when clicked: made here, as a click would
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
    from pilot_health import queries

    with store.write() as con:
        ids = [m["meeting_id"] for m in queries.fetch_meetings(con)]
        queries.delete_demo_meetings(con, ids, "demo")
    return store
