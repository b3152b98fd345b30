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
    assert status["migrations"] == ["001_initial_schema", "002_upload_details", "003_metric_definitions", "004_pilot_team_sizes", "005_pilot_history", "006_audit_log", "007_threshold_overrides", "008_threshold_history"]


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
        positional = {"ingest": ["export.csv"], "export": ["--portfolio", "--format", "pdf", "--out", "pack.pdf"],
                      "backup": ["--out", "backups"], "restore": ["backup.duckdb"]}.get(name, [])
        args = parser.parse_args([name, *positional, "--db", "x.duckdb", "--json"])
        assert args.db == "x.duckdb" and args.json is True


FIXTURES = __import__("conftest").ROOT / "tests" / "fixtures" / "uploads"


def demo_db(tmp_path):
    db = tmp_path / "ingest.duckdb"
    assert run_cli("demo", "--db", str(db)).returncode == 0
    return db


def test_ingest_stores_and_reports_one_json_object(tmp_path):
    db = demo_db(tmp_path)
    result = run_cli("ingest", str(FIXTURES / "metrics_ragged.csv"), "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["status"] == "stored" and isinstance(payload["upload_id"], int)
    assert payload["rows_stored"] == 8 and payload["rows_rejected"] == 2
    assert [e["row"] for e in payload["errors"]] == [5, 8]
    assert all(set(e) == {"row", "column", "message"} for e in payload["errors"])
    assert isinstance(payload["warnings"], list)
    again = json.loads(run_cli("ingest", str(FIXTURES / "metrics_ragged.csv"), "--db", str(db), "--json").stdout)
    assert again["status"] == "duplicate" and again["duplicate_of"] == payload["upload_id"] and again["rows_stored"] == 0


def test_ingest_refusal_exits_1_with_one_line_and_the_reason_in_json(tmp_path):
    db = demo_db(tmp_path)
    human = run_cli("ingest", str(FIXTURES / "metrics_unknown_pilot.csv"), "--db", str(db))
    assert human.returncode == 1 and human.stdout == ""
    assert human.stderr.count("\n") == 1 and "SC-99" in human.stderr and "closest: SC-01" in human.stderr
    as_json = run_cli("ingest", str(FIXTURES / "image_named.csv"), "--db", str(db), "--json")
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    assert payload["status"] == "refused" and payload["upload_id"] is None and payload["rows_stored"] == 0
    assert payload["errors"][0]["message"] == "image_named.csv is a PNG image, not a CSV or Excel export."


def test_ingest_options_and_kind_detection(tmp_path):
    db = demo_db(tmp_path)
    missing = run_cli("ingest", str(FIXTURES / "metrics_wide_per_metric.csv"), "--db", str(db))
    assert missing.returncode == 1 and "--pilot CODE" in missing.stderr and "--environment" in missing.stderr
    ok = run_cli("ingest", str(FIXTURES / "metrics_wide_per_metric.csv"), "--db", str(db), "--pilot", "SC-01",
                 "--environment", "live", "--json")
    assert json.loads(ok.stdout)["rows_stored"] == 24
    survey = json.loads(run_cli("ingest", str(FIXTURES / "qualtrics_adkar.csv"), "--db", str(db), "--pilot", "SC-01", "--wave", "4", "--json").stdout)
    assert survey["kind"] == "survey" and survey["rows_stored"] == 25 and survey["rows_left_out"] == 4
    check = run_cli("ingest", str(FIXTURES / "usage_wide.csv"), "--db", str(db), "--check", "--json")
    assert json.loads(check.stdout)["status"] == "ready"
    pilots = run_cli("ingest", str(FIXTURES / "pilots_register.csv"), "--db", str(db), "--kind", "pilots")
    assert pilots.returncode == 0 and "Stored pilots_register.csv: 2 rows" in pilots.stdout and "line 4 (stage)" in pilots.stdout


def test_ingest_refuses_a_file_over_the_upload_limit(tmp_path):
    db = demo_db(tmp_path)
    big = tmp_path / "big.csv"
    big.write_text("pilot_id,metric,environment,observed_at,value\n" + "SC-01,accuracy,lab,2024-01-01,0.9\n" * 40_000)
    env = dict(os.environ, PILOT_HEALTH_MAX_UPLOAD_MB="1")
    result = run_cli("ingest", str(big), "--db", str(db), env=env)
    assert result.returncode == 1
    assert "more than the upload limit of 1 MB" in result.stderr and "PILOT_HEALTH_MAX_UPLOAD_MB" in result.stderr
