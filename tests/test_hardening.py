"""Hardened defaults for running beyond a laptop: the server settings, and the dashboard's DuckDB
connections locked down to the folders it needs."""

from __future__ import annotations

import tomllib

import pytest
from conftest import ROOT

from pilot_health.config import SETTINGS
from pilot_health.store.database import Store


def test_the_server_settings_are_the_hardened_ones():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server, client = config["server"], config["client"]
    assert server["address"] == "127.0.0.1"  # this machine only, unless the person starting it says otherwise
    assert server["fileWatcherType"] == "none" and server["runOnSave"] is False
    assert server["enableXsrfProtection"] is True and server["enableCORS"] is True
    assert client["showErrorDetails"] == "none"  # logged on the server, never shown to a visitor
    assert client["disableDataExport"] is True  # our downloads neutralise formulas; the grid's export does not
    default_limit = int(next(s.default for s in SETTINGS if s.env == "PILOT_HEALTH_MAX_UPLOAD_MB"))
    assert server["maxUploadSize"] >= default_limit


def test_a_locked_down_store_reads_files_only_in_its_folders(tmp_path):
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    (allowed / "ok.csv").write_text("x\n1\n", encoding="utf-8")
    (elsewhere / "secret.csv").write_text("x\n2\n", encoding="utf-8")
    store = Store(allowed / "store.duckdb")
    with store.read() as con:  # before: any file can be read
        assert con.execute("SELECT x FROM read_csv(?)", [str(elsewhere / "secret.csv")]).fetchall() == [(2,)]
    store.lock_down([allowed])
    with store.read() as con:
        assert con.execute("SELECT x FROM read_csv(?)", [str(allowed / "ok.csv")]).fetchall() == [(1,)]
        for path in (elsewhere / "secret.csv", "/etc/passwd"):
            with pytest.raises(Exception, match="disabled by configuration|Permission"):
                con.execute("SELECT * FROM read_csv(?)", [str(path)]).fetchall()
        with pytest.raises(Exception, match="Cannot enable external access"):
            con.execute("SET enable_external_access = true")
    # Another store file in the same process is not affected.
    other = Store(elsewhere / "other.duckdb")
    with other.read() as con:
        assert con.execute("SELECT x FROM read_csv(?)", [str(elsewhere / "secret.csv")]).fetchall() == [(2,)]


def test_the_dashboard_locks_its_store_down(demo_store, app_env):
    from test_pages import assert_clean, home

    from pilot_health.store.database import _LOCKED_DOWN

    app_env(demo_store)
    assert_clean(home())
    assert str(demo_store.path.parent) + "/" in _LOCKED_DOWN[demo_store.path]


def test_two_connections_at_once_to_a_locked_down_store_both_open(tmp_path):
    """The page and a download being made at the same time share one DuckDB instance in the
    process; the second connection finds it locked already and must open all the same."""
    store = Store(tmp_path / "store.duckdb")
    store.lock_down([tmp_path])
    with store.read() as first:
        with store.read() as second:
            assert second.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False
        assert first.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.slow
def test_run_py_refuses_open_access_beyond_this_machine(tmp_path, monkeypatch):
    """`python3 run.py --server.address 0.0.0.0` without sign-in stops with one sentence before
    anything starts; sign-in, or PILOT_HEALTH_ALLOW_OPEN_NETWORK=yes, lets it go ahead."""
    import subprocess
    import sys

    monkeypatch.delenv("PILOT_HEALTH_ALLOW_OPEN_NETWORK", raising=False)
    no_auth = tmp_path / "secrets.toml"
    no_auth.write_text('[other]\nkey = "value"\n', encoding="utf-8")
    refused = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--server.address", "0.0.0.0", "--secrets.files", str(no_auth)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert refused.returncode == 2
    assert (
        "not starting: --server.address 0.0.0.0 would let anyone who reaches this machine see and change everything"
        in refused.stdout
    )

    sys.path.insert(0, str(ROOT))
    import run

    assert run.open_network_refusal(["--server.address=0.0.0.0", "--secrets.files", str(no_auth)])
    assert run.open_network_refusal(["--server.address", "127.0.0.1"]) is None and run.open_network_refusal([]) is None
    with_auth = tmp_path / "auth.toml"
    with_auth.write_text('[auth]\nclient_id = "x"\n', encoding="utf-8")
    assert run.open_network_refusal(["--server.address", "0.0.0.0", "--secrets.files", str(with_auth)]) is None
    monkeypatch.setenv("PILOT_HEALTH_ALLOW_OPEN_NETWORK", "yes")
    assert run.open_network_refusal(["--server.address", "0.0.0.0", "--secrets.files", str(no_auth)]) is None
