"""`python -m pilot_health`: real processes, real stores, one JSON object or one line."""
from __future__ import annotations

import json
import os

from conftest import run_cli


def test_demo_loads_and_reports_one_json_object(tmp_path):
    db = tmp_path / "cli.duckdb"
    result = run_cli("demo", "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # exactly one JSON document
    assert payload["ok"] is True and payload["command"] == "demo"
    assert payload["pilots"] == 24 and payload["metric_observations"] > 4000 and payload["survey_responses"] > 2000
    status = json.loads(run_cli("status", "--db", str(db), "--json").stdout)
    assert status["counts"]["pilots"] == 24 and status["demo_loaded"] is True
    assert status["migrations"] == ["001_initial_schema", "002_upload_details"]


def test_human_output_and_clearing(tmp_path):
    db = tmp_path / "cli.duckdb"
    loaded = run_cli("demo", "--db", str(db))
    assert loaded.returncode == 0 and "Loaded the demo portfolio" in loaded.stdout and "24 pilots" in loaded.stdout
    cleared = run_cli("demo", "--clear", "--db", str(db))
    assert cleared.returncode == 0 and "Removed the demo data" in cleared.stdout
    assert json.loads(run_cli("status", "--db", str(db), "--json").stdout)["counts"]["pilots"] == 0


def test_failure_exits_non_zero_with_one_line(tmp_path):
    db = tmp_path / "cli.duckdb"
    run_cli("demo", "--db", str(db))
    again = run_cli("demo", "--db", str(db))
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.count("\n") == 1 and "already loaded" in again.stderr and "Traceback" not in again.stderr
    as_json = run_cli("demo", "--db", str(db), "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout) == {"ok": False, "command": "demo", "error": as_json.stderr.split(": ", 1)[1].strip()}


def test_the_environment_variable_chooses_the_store(tmp_path):
    db = tmp_path / "from-env.duckdb"
    env = dict(os.environ, PILOT_HEALTH_DB=str(db))
    result = run_cli("status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["db"] == str(db) and db.exists()


def test_a_bad_setting_is_one_line_too(tmp_path):
    env = dict(os.environ, PILOT_HEALTH_LOCK_WAIT="soon")
    result = run_cli("status", "--db", str(tmp_path / "x.duckdb"), env=env)
    assert result.returncode == 1 and "PILOT_HEALTH_LOCK_WAIT" in result.stderr and "Traceback" not in result.stderr


def test_write_csv_templates(tmp_path):
    result = run_cli("demo", "--write-csv", str(tmp_path / "templates"), "--json")
    assert result.returncode == 0
    names = sorted(os.path.basename(p) for p in json.loads(result.stdout)["written"])
    assert names == ["metrics.csv", "pilots.csv", "survey.csv", "usage.csv"]


def test_every_command_takes_db_and_json():
    from pilot_health.cli import COMMANDS, build_parser

    parser = build_parser()
    for name in COMMANDS:
        positional = ["export.csv"] if name == "ingest" else []
        args = parser.parse_args([name, *positional, "--db", "x.duckdb", "--json"])
        assert args.db == "x.duckdb" and args.json is True
