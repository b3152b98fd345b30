"""Run exports of MLflow and Weights & Biases (issue 16, items 1, 2 and 5): lab or live read from the
file itself (a parameter, tag or config column, or the run names), failed and still-running runs
left out unless kept, and W&B chart exports shaped to one value per run.

The files are written here the way the tools write them:
- MLflow `mlflow.search_runs()` saved with pandas `to_csv(index=False)`: `run_id, experiment_id, status,
  artifact_uri, start_time, end_time, metrics.*, params.*, tags.*`, times as `2026-11-25 19:56:18.037+00:00`;
- the MLflow UI's "Download CSV" of runs: every cell quoted, `Start Time, Duration, Run ID, Name, Source Type,
  Source Name, User, Status`, then params, metrics and tags under their bare names;
- the W&B runs table's CSV export: `Name, State, Notes, User, Tags, Created, Runtime, Sweep`, then config
  columns and summary metrics, every cell quoted;
- the W&B chart export: the x-axis (`Step`) and `<run> - <metric>` columns with `__MIN`/`__MAX` companions.
Expectations are written out by hand from the rows.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from conftest import target

from pilot_health.ingest import IngestOptions, IngestResult, ingest


def upload(store, name: str, text: str, *, commit: bool = True, **options) -> IngestResult:
    return ingest(store, text.encode("utf-8"), name, IngestOptions(**options), commit=commit)


def stored(store, result: IngestResult) -> list[tuple]:
    """(metric, environment, observed_at as text, value) of every row the upload stored, sorted."""
    assert result.status == "stored", f"{result.status}: {result.refusal} {result.problems}"
    with store.read() as con:
        rows = con.execute(
            "SELECT metric, environment, observed_at, value FROM metric_observations "
            "WHERE upload_id = ? ORDER BY 1, 2, 3, 4",
            [result.upload_id],
        ).fetchall()
    return [(m, e, f"{t:%Y-%m-%d %H:%M:%S}", None if v is None else round(v, 6)) for m, e, t, v in rows]


# -- MLflow search_runs with the environment in a tag -------------------------------------------------

SEARCH_RUNS = """\
run_id,experiment_id,status,artifact_uri,start_time,end_time,metrics.accuracy,metrics.rmse,params.learning_rate,params.max_depth,tags.env,tags.mlflow.runName,tags.mlflow.source.type,tags.mlflow.user,tags.pilot_id
5c1e0f4b2a7d4e0f9b1a2c3d4e5f6a7b,3,FINISHED,file:///mlruns/3/5c1e0f4b2a7d4e0f9b1a2c3d4e5f6a7b/artifacts,2026-11-02 09:00:00.120+00:00,2026-11-02 09:10:00.500+00:00,0.91,10.1,0.1,6,lab,xgb-offline,LOCAL,maya,SC-01
6d2f1a5c3b8e4f1a0c2b3d4e5f6a7b8c,3,FINISHED,file:///mlruns/3/6d2f1a5c3b8e4f1a0c2b3d4e5f6a7b8c/artifacts,2026-11-09 09:00:00.120+00:00,2026-11-09 09:12:00.250+00:00,0.84,12.7,0.1,6,prod,xgb-prod,LOCAL,maya,SC-01
7e3a2b6d4c9f4a2b1d3c4e5f6a7b8c9d,3,FAILED,file:///mlruns/3/7e3a2b6d4c9f4a2b1d3c4e5f6a7b8c9d/artifacts,2026-11-10 09:00:00.120+00:00,2026-11-10 09:01:00.000+00:00,0.12,,0.3,6,staging,xgb-staging,LOCAL,maya,SC-01
8f4b3c7e5d0a4b3c2e4d5f6a7b8c9d0e,3,RUNNING,file:///mlruns/3/8f4b3c7e5d0a4b3c2e4d5f6a7b8c9d0e/artifacts,2026-11-11 09:00:00.120+00:00,,0.80,,0.1,8,production,xgb-prod-2,LOCAL,maya,SC-01
9a5c4d8f6e1b4c4d3f5e6a7b8c9d0e1f,3,FINISHED,file:///mlruns/3/9a5c4d8f6e1b4c4d3f5e6a7b8c9d0e1f/artifacts,2026-11-12 09:00:00.120+00:00,2026-11-12 09:05:00.000+00:00,0.88,11.0,0.1,6,foo,xgb-foo,LOCAL,maya,SC-01
"""


def test_mlflow_search_runs_tag_env_gives_each_run_lab_or_live(demo_store):
    result = upload(demo_store, "runs.csv", SEARCH_RUNS)

    assert result.mapping.targets["tags.env"] == "environment"
    assert result.needs == [] and result.environment_column
    assert result.environment_source == "from the column “tags.env”"
    assert stored(demo_store, result) == [
        ("accuracy", "lab", "2026-11-02 09:00:00", 0.91),
        ("accuracy", "live", "2026-11-09 09:00:00", 0.84),
        ("rmse", "lab", "2026-11-02 09:00:00", 10.1),
        ("rmse", "live", "2026-11-09 09:00:00", 12.7),
    ], "dated by start_time: the running run has no end_time yet"
    # The FAILED and the RUNNING run are left out, one row each; the `foo` run is rejected, naming its row and column.
    assert result.rows_left_out == 2 and result.unfinished_runs == 2
    assert any(w.startswith("1 failed run and 1 run still running left out") for w in result.warnings), result.warnings
    assert {(p.row, p.column, p.message) for p in result.problems} == {
        (6, "tags.env", "Environment ‘foo’ is neither lab nor live.")
    }
    assert result.as_json()["environment"] == "from the column “tags.env”"


def test_mlflow_failed_and_running_runs_are_stored_when_kept(demo_store):
    result = upload(demo_store, "runs.csv", SEARCH_RUNS, keep_unfinished_runs=True)

    rows = stored(demo_store, result)
    assert ("accuracy", "lab", "2026-11-10 09:00:00", 0.12) in rows, "the failed run: staging is a lab word"
    assert ("accuracy", "live", "2026-11-11 09:00:00", 0.8) in rows, "the running run, dated by its start"
    assert len(rows) == 6 and result.rows_left_out == 0
    assert any("kept, as you chose" in w for w in result.warnings)


# -- MLflow UI "Download CSV" with the environment in a parameter ----------------------------------------

UI_DOWNLOAD = """\
"Start Time","Duration","Run ID","Name","Source Type","Source Name","User","Status","env","learning_rate","accuracy","f1","pilot_id"
"2026-11-20 08:00:00","2.1min","0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e","nightly-eval","LOCAL","train.py","maya","FINISHED","offline","0.05","0.9","0.88","SC-01"
"2026-11-21 08:00:00","2.3min","1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f","nightly-eval","LOCAL","train.py","maya","FINISHED","online","0.05","0.81","0.79","SC-01"
"2026-11-22 08:00:00","12ms","2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a","nightly-eval","LOCAL","train.py","maya","KILLED","online","0.05","0.2","0.1","SC-01"
"""


def test_mlflow_ui_download_param_env_offline_online(demo_store):
    result = upload(demo_store, "runs-ui.csv", UI_DOWNLOAD)

    assert result.mapping.export == "MLflow run table (UI download)"
    assert result.mapping.targets["env"] == "environment" and result.mapping.targets["Status"] == "_run_status"
    assert stored(demo_store, result) == [
        ("accuracy", "lab", "2026-11-20 08:00:00", 0.9),
        ("accuracy", "live", "2026-11-21 08:00:00", 0.81),
        ("f1", "lab", "2026-11-20 08:00:00", 0.88),
        ("f1", "live", "2026-11-21 08:00:00", 0.79),
    ]
    assert result.rows_left_out == 1
    assert any(w.startswith("1 failed run left out") for w in result.warnings), result.warnings


# -- W&B runs table: the environment in a config column, or only in the run names -------------------------

WANDB_CONFIG_ENV = """\
"Name","State","Notes","User","Tags","Created","Runtime","Sweep","env","lr","batch_size","accuracy","val_loss"
"swift-owl-1","finished","-","maya-l","SC-01","2024-03-01T10:00:00.000Z","1200","","offline","0.001","32","0.9","0.3"
"calm-fox-2","finished","-","maya-l","SC-01","2024-03-08T10:00:00.000Z","1250","","shadow","0.001","32","0.86","0.35"
"dark-elk-3","running","-","maya-l","SC-01","2024-03-09T10:00:00.000Z","20","","shadow","0.001","32","0.5","0.9"
"""


def test_wandb_runs_table_config_env_column(demo_store):
    result = upload(demo_store, "wandb.csv", WANDB_CONFIG_ENV, pilot_id="SC-01")

    assert result.mapping.targets["env"] == "environment"
    assert stored(demo_store, result) == [
        ("accuracy", "lab", "2024-03-01 10:00:00", 0.9),
        ("accuracy", "live", "2024-03-08 10:00:00", 0.86),
        ("val_loss", "lab", "2024-03-01 10:00:00", 0.3),
        ("val_loss", "live", "2024-03-08 10:00:00", 0.35),
    ]
    assert result.rows_left_out == 1
    assert any(w.startswith("1 run still running left out") for w in result.warnings), result.warnings


WANDB_NAMES = """\
"Name","State","Notes","User","Tags","Created","Runtime","Sweep","lr","batch_size","accuracy","val_loss"
"churn-lab-01","finished","baseline","maya-l","","2024-01-08T09:00:00.000Z","1834","","0.001","32","0.92","0.21"
"churn-live-01","finished","","maya-l","","2024-01-15T09:00:00.000Z","1820","","0.001","32","0.71","0.44"
"churn-lab-02","finished","","maya-l","","2024-01-22T09:00:00.000Z","1901","","0.0008","64","0.93","0.2"
"xgb-live-w02","finished","","grace-m","","2024-01-29T09:00:00.000Z","2040","","0.0008","64","0.69","0.47"
"churn-live-03","crashed","OOM","grace-m","","2024-02-05T09:00:00.000Z","311","","0.0008","64","0.1","2.5"
"""


def test_wandb_run_names_are_proposed_and_used(demo_store):
    check = upload(demo_store, "wandb.csv", WANDB_NAMES, commit=False, pilot_id="SC-01")

    assert check.mapping.defaults["environment_from_names"] == "Name", "proposed: lab or live from the run names"
    assert check.needs == [] and check.environment_source == "from the run names"
    result = upload(demo_store, "wandb.csv", WANDB_NAMES, pilot_id="SC-01")
    assert stored(demo_store, result) == [
        ("accuracy", "lab", "2024-01-08 09:00:00", 0.92),
        ("accuracy", "lab", "2024-01-22 09:00:00", 0.93),
        ("accuracy", "live", "2024-01-15 09:00:00", 0.71),
        ("accuracy", "live", "2024-01-29 09:00:00", 0.69),
        ("val_loss", "lab", "2024-01-08 09:00:00", 0.21),
        ("val_loss", "lab", "2024-01-22 09:00:00", 0.2),
        ("val_loss", "live", "2024-01-15 09:00:00", 0.44),
        ("val_loss", "live", "2024-01-29 09:00:00", 0.47),
    ]
    assert result.rows_left_out == 1, "churn-live-03 crashed"
    assert any(w.startswith("1 failed run left out") for w in result.warnings), result.warnings


def test_wandb_run_names_declined_asks_lab_or_live(demo_store):
    declined = upload(demo_store, "wandb.csv", WANDB_NAMES, pilot_id="SC-01", environment_from_names=False)
    assert declined.status == "refused" and declined.needs == ["environment"]

    all_live = upload(demo_store, "wandb.csv", WANDB_NAMES, pilot_id="SC-01", environment="live")
    assert {env for _, env, _, _ in stored(demo_store, all_live)} == {"live"}, (
        "one environment chosen for every row wins"
    )
    assert all_live.environment_source == "live for every row"


def test_run_names_that_do_not_say_lab_or_live_are_not_proposed(demo_store):
    text = WANDB_NAMES.replace("xgb-live-w02", "glad-sun-1")
    result = upload(demo_store, "wandb.csv", text, commit=False, pilot_id="SC-01")

    assert "environment_from_names" not in result.mapping.defaults
    assert result.environment_source == "lab for every row"


def test_the_words_come_from_the_environments_file(demo_store, tmp_path, monkeypatch):
    words = tmp_path / "environments.toml"
    words.write_text(
        'lab = ["lab", "sandbox"]\nlive = ["live", "prod", "canary"]\ncolumns = ["env"]\n', encoding="utf-8"
    )
    monkeypatch.setenv("PILOT_HEALTH_ENVIRONMENTS", str(words))
    text = WANDB_CONFIG_ENV.replace('"offline"', '"sandbox"').replace('"shadow"', '"canary"')
    result = upload(demo_store, "wandb.csv", text, pilot_id="SC-01")

    assert {(m, e) for m, e, _, _ in stored(demo_store, result)} == {
        ("accuracy", "lab"),
        ("accuracy", "live"),
        ("val_loss", "lab"),
        ("val_loss", "live"),
    }


# -- W&B chart exports -------------------------------------------------------------------------------------

CHART_LAB_LIVE = """\
"Step","churn-lab - accuracy","churn-lab - accuracy__MIN","churn-lab - accuracy__MAX","churn-live - accuracy","churn-live - accuracy__MIN","churn-live - accuracy__MAX"
"0","0.70","0.70","0.70","0.66","0.66","0.66"
"1","0.75","0.75","0.75","0.70","0.70","0.70"
"2","0.80","0.80","0.80","","0.72","0.72"
"3","0.83","0.83","0.83","","",""
"4","0.85","0.85","0.85","","",""
"""


def test_chart_export_runs_differing_by_environment_keep_the_metric_name(demo_store):
    result = upload(demo_store, "chart.csv", CHART_LAB_LIVE, pilot_id="SC-01", observed_on=date(2024, 3, 1))

    # churn-live logged steps 0-2 (step 2 only in its MIN/MAX, which agree); each run's last value is stored.
    assert stored(demo_store, result) == [
        ("accuracy", "lab", "2024-03-01 00:00:00", 0.85),
        ("accuracy", "live", "2024-03-01 00:00:00", 0.72),
    ]
    assert result.rows_left_out == 6, "4 earlier lab steps and 2 earlier live steps"
    assert (
        "6 earlier training steps left out: a chart export has no dates, so each run's last value is stored."
        in result.warnings
    )


CHART_SEVERAL_LAB_RUNS = """\
"Step","xgb-lab-1 - f1","xgb-lab-1 - f1__MIN","xgb-lab-1 - f1__MAX","xgb-lab-2 - f1","xgb-lab-2 - f1__MIN","xgb-lab-2 - f1__MAX","xgb-live-1 - f1","xgb-live-1 - f1__MIN","xgb-live-1 - f1__MAX"
"0","0.61","0.61","0.61","0.62","0.62","0.62","0.55","0.55","0.55"
"1","0.66","0.66","0.66","0.69","0.69","0.69","0.58","0.58","0.58"
"""


def test_chart_export_with_several_runs_per_environment_keeps_the_run_in_the_name(demo_store):
    result = upload(demo_store, "chart.csv", CHART_SEVERAL_LAB_RUNS, pilot_id="SC-01", observed_on=date(2024, 3, 2))

    assert stored(demo_store, result) == [
        ("f1 (xgb-lab-1)", "lab", "2024-03-02 00:00:00", 0.66),
        ("f1 (xgb-lab-2)", "lab", "2024-03-02 00:00:00", 0.69),
        ("f1 (xgb-live-1)", "live", "2024-03-02 00:00:00", 0.58),
    ]
    assert result.rows_left_out == 3


def test_chart_export_declined_names_keep_the_run_in_the_name(demo_store):
    result = upload(
        demo_store, "chart.csv", CHART_LAB_LIVE, pilot_id="SC-01", observed_on=date(2024, 3, 1), environment="lab"
    )

    assert stored(demo_store, result) == [
        ("accuracy (churn-lab)", "lab", "2024-03-01 00:00:00", 0.85),
        ("accuracy (churn-live)", "lab", "2024-03-01 00:00:00", 0.72),
    ]


CHART_TIMESTAMP = """\
"_timestamp","churn-live - accuracy","churn-live - accuracy__MIN","churn-live - accuracy__MAX"
"1709280000","0.71","0.71","0.71"
"1709366400","0.73","0.73","0.73"
"1709452800","0.72","0.72","0.72"
"""


def test_chart_export_over_time_stores_every_point_at_its_time(demo_store):
    result = upload(demo_store, "chart.csv", CHART_TIMESTAMP, pilot_id="SC-01")

    assert stored(demo_store, result) == [
        ("accuracy", "live", "2024-03-01 08:00:00", 0.71),
        ("accuracy", "live", "2024-03-02 08:00:00", 0.73),
        ("accuracy", "live", "2024-03-03 08:00:00", 0.72),
    ]
    assert result.rows_left_out == 0


# -- the command line ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("choice, environments", [(None, {"lab", "live"}), ("lab", {"lab"})])
def test_command_line_run_names_or_one_environment(demo_store, tmp_path, choice, environments, run_command):
    path = tmp_path / "wandb.csv"
    path.write_text(WANDB_NAMES, encoding="utf-8")
    args = ["ingest", str(path), "--db", target(demo_store), "--pilot", "SC-01", "--json"]
    done = run_command(*args, *(["--environment", choice] if choice else []))
    payload = json.loads(done.stdout)

    assert payload["status"] == "stored", done.stderr
    assert payload["environment"] == ("from the run names" if choice is None else "lab for every row")
    assert payload["rows_left_out"] == 1 and payload["unfinished_runs"] == 1
    with demo_store.read() as con:
        found = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT environment FROM metric_observations WHERE upload_id = ?", [payload["upload_id"]]
            ).fetchall()
        }
    assert found == environments


def test_command_line_chart_export_on_a_chosen_date(demo_store, tmp_path, run_command):
    path = tmp_path / "chart.csv"
    path.write_text(CHART_LAB_LIVE, encoding="utf-8")
    done = run_command(
        "ingest", str(path), "--db", target(demo_store), "--pilot", "SC-01", "--date", "2024-03-05", "--json"
    )
    payload = json.loads(done.stdout)

    assert payload["status"] == "stored", done.stderr
    assert payload["rows_stored"] == 2 and payload["rows_left_out"] == 6
    assert payload["date_range"][0].startswith("2024-03-05") and payload["environment"] == "from the run names"


# -- any metric file: lab or live by the column's name or by its values -----------------------------


def test_a_plain_long_file_finds_lab_or_live_by_its_values_whatever_the_header(demo_store):
    """A column headed `where` is no environment name, but every value is a lab or live word."""
    text = (
        "pilot_id,metric,value,where,date\n"
        "SC-01,accuracy,0.91,offline,2026-11-02 10:17\n"
        "SC-01,accuracy,0.84,Production,2026-11-02 10:17\n"
        "SC-01,accuracy,0.86,shadow,2026-11-09 10:17\n"
    )
    result = upload(demo_store, "plain.csv", text)
    assert result.mapping.targets["where"] == "environment" and "environment" not in result.needs
    assert stored(demo_store, result) == [
        ("accuracy", "lab", "2026-11-02 10:17:00", 0.91),
        ("accuracy", "live", "2026-11-02 10:17:00", 0.84),
        ("accuracy", "live", "2026-11-09 10:17:00", 0.86),
    ]


def test_a_one_column_per_metric_file_reads_a_configured_column_name_and_rejects_a_word_that_is_neither(demo_store):
    """`Stage` is in the configured column names: it is the lab-or-live column even when one value
    (`beta`) is no lab or live word — that row is rejected with its row and column named."""
    text = (
        "date,pilot_id,Stage,accuracy,f1\n"
        "2026-11-02 10:17,SC-01,lab,0.91,0.88\n"
        "2026-11-02 10:17,SC-01,beta,0.85,0.80\n"
        "2026-11-09 10:17,SC-01,prod,0.84,0.79\n"
    )
    result = upload(demo_store, "wide.csv", text)
    assert result.mapping.targets["Stage"] == "environment"
    assert stored(demo_store, result) == [
        ("accuracy", "lab", "2026-11-02 10:17:00", 0.91),
        ("accuracy", "live", "2026-11-09 10:17:00", 0.84),
        ("f1", "lab", "2026-11-02 10:17:00", 0.88),
        ("f1", "live", "2026-11-09 10:17:00", 0.79),
    ]
    problems = [p for p in result.problems if p.row is not None]
    assert problems and all(p.row == 3 and p.column == "Stage" and "beta" in p.message for p in problems)
