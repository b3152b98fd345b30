"""`python -m pilot_health`: real stores, one JSON object or one line.

Most tests run the command line's own `main(argv)` in this process (the `run_command` fixture):
what they test is what a command does, not how a process starts. Real processes remain where the
process is the point: `python -m pilot_health`'s exit codes and output streams, and paths taken
from the folder a shell runs it in."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_cli, target


@pytest.mark.slow
def test_demo_loads_and_reports_one_json_object(tmp_path, run_command):
    db = tmp_path / "cli.duckdb"
    result = run_command("demo", "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # exactly one JSON document
    assert payload["ok"] is True and payload["command"] == "demo"
    assert payload["pilots"] == 24 and payload["metric_observations"] > 4000 and payload["survey_responses"] > 2000
    status = json.loads(run_command("status", "--db", str(db), "--json").stdout)
    assert status["counts"]["pilots"] == 24 and status["demo_loaded"] is True
    assert status["migrations"] == [
        "001_initial_schema",
        "002_upload_details",
        "003_metric_definitions",
        "004_pilot_team_sizes",
        "005_pilot_history",
        "006_audit_log",
        "007_threshold_overrides",
        "008_threshold_history",
        "009_upload_pilots",
        "010_meetings_and_decisions",
        "011_alerts",
        "012_postgres_data_indexes",
        "013_postgres_date_indexes",
        "014_metric_weeks",
    ]


@pytest.mark.slow
def test_human_output_and_clearing(tmp_path, run_command):
    db = tmp_path / "cli.duckdb"
    loaded = run_command("demo", "--db", str(db))
    assert loaded.returncode == 0 and "Loaded the demo portfolio" in loaded.stdout and "24 pilots" in loaded.stdout
    cleared = run_command("demo", "--clear", "--db", str(db))
    assert cleared.returncode == 0 and "Removed the demo data" in cleared.stdout
    assert json.loads(run_command("status", "--db", str(db), "--json").stdout)["counts"]["pilots"] == 0


@pytest.mark.slow
def test_failure_exits_non_zero_with_one_line(demo_store, run_command):
    db = target(demo_store)  # the demo is loaded already
    again = run_command("demo", "--db", str(db))
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.count("\n") == 1 and "already loaded" in again.stderr and "Traceback" not in again.stderr
    as_json = run_command("demo", "--db", str(db), "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout) == {
        "ok": False,
        "command": "demo",
        "error": as_json.stderr.split(": ", 1)[1].strip(),
    }


@pytest.mark.slow
def test_the_environment_variable_chooses_the_store(tmp_path, run_command):
    db = tmp_path / "from-env.duckdb"
    env = dict(os.environ, PILOT_HEALTH_DB=str(db))
    assert run_command("demo", "--json", env=env).returncode == 0 and db.exists()
    result = run_command("status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["db"] == str(db)


def test_a_bad_setting_is_one_line_too(tmp_path, run_command):
    env = dict(os.environ, PILOT_HEALTH_LOCK_WAIT="soon")
    result = run_command("status", "--db", str(tmp_path / "x.duckdb"), env=env)
    assert result.returncode == 1 and "PILOT_HEALTH_LOCK_WAIT" in result.stderr and "Traceback" not in result.stderr


def test_write_csv_templates(tmp_path, run_command):
    result = run_command("demo", "--write-csv", str(tmp_path / "templates"), "--json")
    assert result.returncode == 0
    names = sorted(os.path.basename(p) for p in json.loads(result.stdout)["written"])
    assert names == ["metrics.csv", "pilots.csv", "survey.csv", "usage.csv"]


def test_every_command_takes_db_and_json():
    from pilot_health.cli import COMMANDS, build_parser

    parser = build_parser()
    for name in COMMANDS:
        positional = {
            "ingest": ["export.csv"],
            "export": ["--portfolio", "--format", "pdf", "--out", "pack.pdf"],
            "backup": ["--out", "backups"],
            "restore": ["backup.duckdb"],
            "meeting": ["add", "--date", "2026-03-02", "--title", "March"],
            "decide": ["SC-01", "--meeting", "1", "--decision", "continue", "--owner", "Ben", "--due", "2026-04-01"],
            "changes": ["--since", "2026-11-19"],
            "subscribe": ["ann@example.com"],
            "unsubscribe": ["1"],
            "migrate-store": ["--from", "old.duckdb", "--to", "postgresql://pilot@db/pilot_health"],
        }.get(name, [])
        args = parser.parse_args([name, *positional, "--db", "x.duckdb", "--json"])
        assert args.db == "x.duckdb" and args.json is True


FIXTURES = __import__("conftest").ROOT / "tests" / "fixtures" / "uploads"


def test_ingest_stores_and_reports_one_json_object(demo_store, tmp_path, run_command):
    db = target(demo_store)  # the demo portfolio, as `demo` loads it
    result = run_command("ingest", str(FIXTURES / "metrics_ragged.csv"), "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["status"] == "stored" and isinstance(payload["upload_id"], int)
    assert payload["rows_stored"] == 8 and payload["rows_rejected"] == 2
    assert [e["row"] for e in payload["errors"]] == [5, 8]
    assert all(set(e) == {"row", "column", "message"} for e in payload["errors"])
    assert isinstance(payload["warnings"], list)
    again = json.loads(run_command("ingest", str(FIXTURES / "metrics_ragged.csv"), "--db", str(db), "--json").stdout)
    assert (
        again["status"] == "duplicate" and again["duplicate_of"] == payload["upload_id"] and again["rows_stored"] == 0
    )


def test_ingest_refusal_exits_1_with_one_line_and_the_reason_in_json(demo_store, tmp_path, run_command):
    db = target(demo_store)  # the demo portfolio, as `demo` loads it
    human = run_command("ingest", str(FIXTURES / "metrics_unknown_pilot.csv"), "--db", str(db))
    assert human.returncode == 1 and human.stdout == ""
    assert human.stderr.count("\n") == 1 and "SC-99" in human.stderr and "closest: SC-01" in human.stderr
    as_json = run_command("ingest", str(FIXTURES / "image_named.csv"), "--db", str(db), "--json")
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    assert payload["status"] == "refused" and payload["upload_id"] is None and payload["rows_stored"] == 0
    assert payload["errors"][0]["message"] == "image_named.csv is a PNG image, not a CSV or Excel export."


@pytest.mark.slow
def test_ingest_options_and_kind_detection(demo_store, tmp_path, run_command):
    db = target(demo_store)  # the demo portfolio, as `demo` loads it
    missing = run_command("ingest", str(FIXTURES / "metrics_wide_per_metric.csv"), "--db", str(db))
    assert missing.returncode == 1 and "--pilot CODE" in missing.stderr and "--environment" in missing.stderr
    ok = run_command(
        "ingest",
        str(FIXTURES / "metrics_wide_per_metric.csv"),
        "--db",
        str(db),
        "--pilot",
        "SC-01",
        "--environment",
        "live",
        "--json",
    )
    assert json.loads(ok.stdout)["rows_stored"] == 24
    survey = json.loads(
        run_command(
            "ingest",
            str(FIXTURES / "qualtrics_adkar.csv"),
            "--db",
            str(db),
            "--pilot",
            "SC-01",
            "--wave",
            "4",
            "--json",
        ).stdout
    )
    assert survey["kind"] == "survey" and survey["rows_stored"] == 25 and survey["rows_left_out"] == 4
    check = run_command("ingest", str(FIXTURES / "usage_wide.csv"), "--db", str(db), "--check", "--json")
    assert json.loads(check.stdout)["status"] == "ready"
    pilots = run_command("ingest", str(FIXTURES / "pilots_register.csv"), "--db", str(db), "--kind", "pilots")
    assert (
        pilots.returncode == 0
        and "Stored pilots_register.csv: 2 rows" in pilots.stdout
        and "line 4 (stage)" in pilots.stdout
    )


def test_ingest_refuses_a_file_over_the_upload_limit(demo_store, tmp_path, run_command):
    db = target(demo_store)  # the demo portfolio, as `demo` loads it
    big = tmp_path / "big.csv"
    big.write_text("pilot_id,metric,environment,observed_at,value\n" + "SC-01,accuracy,lab,2024-01-01,0.9\n" * 40_000)
    env = dict(os.environ, PILOT_HEALTH_MAX_UPLOAD_MB="1")
    result = run_command("ingest", str(big), "--db", str(db), env=env)
    assert result.returncode == 1
    assert "more than the upload limit of 1 MB" in result.stderr and "PILOT_HEALTH_MAX_UPLOAD_MB" in result.stderr


def run_here(cwd, *args: str, env: dict | None = None):
    """The command line run from another folder than the checkout, as a person in a shell does."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "pilot_health", *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


@pytest.mark.slow
def test_relative_paths_are_taken_from_the_current_folder(tmp_path, _demo_file):
    """--db, backup --out, restore FILE, export --out and ingest FILE, all relative, from tmp_path."""
    import shutil

    from conftest import ROOT

    (tmp_path / "stores").mkdir()
    shutil.copy(_demo_file, tmp_path / "stores" / "mine.duckdb")
    status = run_here(tmp_path, "status", "--db", "stores/mine.duckdb", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["db"] == str(tmp_path / "stores" / "mine.duckdb")
    assert json.loads(status.stdout)["counts"]["pilots"] == 24
    assert not (ROOT / "stores").exists()  # nothing was created in the checkout

    made = run_here(tmp_path, "backup", "--db", "stores/mine.duckdb", "--out", "backups", "--json")
    assert made.returncode == 0, made.stderr
    backup_file = json.loads(made.stdout)["file"]
    assert backup_file.startswith(str(tmp_path / "backups") + os.sep) and os.path.exists(backup_file)

    shutil.copy(FIXTURES / "metrics_ragged.csv", tmp_path / "export.csv")
    stored = run_here(tmp_path, "ingest", "export.csv", "--db", "stores/mine.duckdb", "--json")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["status"] == "stored"

    relative_backup = os.path.relpath(backup_file, tmp_path)
    restored = run_here(tmp_path, "restore", relative_backup, "--db", "stores/mine.duckdb", "--yes", "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["restored_from"] == backup_file
    # the restored store is the backup again: 8 stored rows of export.csv are gone from it
    after = json.loads(run_here(tmp_path, "status", "--db", "stores/mine.duckdb", "--json").stdout)
    assert after["counts"]["metric_observations"] == json.loads(status.stdout)["counts"]["metric_observations"]

    pack = run_here(
        tmp_path,
        "export",
        "--db",
        "stores/mine.duckdb",
        "--pilot",
        "SC-01",
        "--format",
        "html",
        "--out",
        "packs/sc01.html",
    )
    assert pack.returncode == 0, pack.stderr
    assert (tmp_path / "packs" / "sc01.html").stat().st_size > 1000


def test_a_read_only_command_never_creates_a_store(tmp_path, run_command):
    for command in (
        ["status"],
        ["risk"],
        ["alignment"],
        ["adoption"],
        ["backup", "--out", "b"],
        ["export", "--portfolio", "--format", "html", "--out", "pack.html"],
    ):
        result = run_command(*command, "--db", "typo.duckdb", cwd=tmp_path)
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.strip() == (
            f"pilot_health {command[0]}: There is no store at {tmp_path / 'typo.duckdb'}; check the path (--db), "
            "or run `python -m pilot_health demo` (or open the dashboard) to create one."
        )
        assert (
            not (tmp_path / "typo.duckdb").exists()
            and not (tmp_path / "b").exists()
            and not (tmp_path / "pack.html").exists()
        )
    # A command that writes creates the store where it was told, and says so.
    shutil_copy = __import__("shutil").copy
    shutil_copy(FIXTURES / "pilots_register.csv", tmp_path / "register.csv")
    created = run_command("ingest", "register.csv", "--kind", "pilots", "--db", "new/first.duckdb", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert f"(A new store was created at {tmp_path / 'new' / 'first.duckdb'}.)" in created.stdout


@pytest.mark.slow
def test_python_m_pilot_health_exits_with_the_command_s_code_and_one_json_object(tmp_path, demo_store):
    """The process itself, as cron or a script sees it: exit 0 with exactly one JSON document on
    stdout; exit 1 with one line on stderr and nothing on stdout; exit 2 for a command line it
    cannot read; never a traceback."""
    done = run_cli("status", "--db", target(demo_store), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["pilots"] == 24 and done.stderr == ""
    missing = run_cli("status", "--db", str(tmp_path / "typo.duckdb"))
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "There is no store at" in missing.stderr
    unreadable = run_cli("status", "--no-such-flag")
    assert unreadable.returncode == 2 and "unrecognized arguments: --no-such-flag" in unreadable.stderr
    assert "Traceback" not in missing.stderr + unreadable.stderr


def test_a_postgresql_address_names_the_store_and_its_password_is_never_shown(postgres_demo_url, run_command):
    """--db and PILOT_HEALTH_DB take a postgresql:// address (left as written, not taken as a path
    from the current folder); what the command prints names it without its password."""
    scheme, rest = postgres_demo_url.split("://", 1)
    user, host = rest.split("@", 1)
    with_password = f"{scheme}://{user}:s3cret-pw@{host}"  # the test server trusts local connections
    by_flag = run_command("status", "--db", with_password, "--json")
    assert by_flag.returncode == 0, by_flag.stderr
    assert json.loads(by_flag.stdout)["db"] == postgres_demo_url
    assert json.loads(by_flag.stdout)["counts"]["pilots"] == 24
    by_setting = run_command("status", env=dict(os.environ, PILOT_HEALTH_DB=with_password))
    assert by_setting.returncode == 0, by_setting.stderr
    assert by_setting.stdout.startswith(f"{postgres_demo_url}: 24 pilots")
    assert "s3cret-pw" not in by_flag.stdout + by_flag.stderr + by_setting.stdout + by_setting.stderr


def test_a_read_only_command_never_creates_a_store_on_postgresql(blank_url, run_command):
    """A database without the store's tables is no store: a command that only reads says so."""
    import psycopg

    result = run_command("status", "--db", blank_url)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"pilot_health status: There is no store at {blank_url}; check the address (--db), "
        "or run `python -m pilot_health demo` (or open the dashboard) to create one."
    )
    with psycopg.connect(blank_url) as con:
        tables = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        assert tables.fetchone()[0] == 0
