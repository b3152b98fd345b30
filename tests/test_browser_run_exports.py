"""Run exports on the upload page, in a real browser (issue 16, item 1): the page asks nothing the
file already says. An MLflow export with a `tags.env` column is stored lab and live per run with no
lab-or-live question; a W&B runs table whose run names say lab or live gets one question, already
answered with the run names, and is stored as they say.

Skipped with the reason when there is no Chromium (see browser_support.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import (
    FIRST_RENDER_MS,
    RENDERED_MS,
    Dashboard,
    assert_no_errors_shown,
    load_demo_store,
    open_link,
    start_dashboard,
    store_file_read,
)

pytestmark = pytest.mark.browser

# mlflow.search_runs() saved with pandas to_csv(index=False)
MLFLOW_TAG_ENV = """\
run_id,experiment_id,status,artifact_uri,start_time,end_time,metrics.accuracy,metrics.rmse,params.learning_rate,tags.env,tags.mlflow.runName,tags.mlflow.source.type,tags.pilot_id
5c1e0f4b2a7d4e0f9b1a2c3d4e5f6a7b,3,FINISHED,file:///mlruns/3/5c1e0f4b2a7d4e0f9b1a2c3d4e5f6a7b/artifacts,2026-10-02 09:00:00.120+00:00,2026-10-02 09:10:00.500+00:00,0.91,10.1,0.1,lab,xgb-a,LOCAL,SC-01
6d2f1a5c3b8e4f1a0c2b3d4e5f6a7b8c,3,FINISHED,file:///mlruns/3/6d2f1a5c3b8e4f1a0c2b3d4e5f6a7b8c/artifacts,2026-10-09 09:00:00.120+00:00,2026-10-09 09:12:00.250+00:00,0.84,12.7,0.1,prod,xgb-b,LOCAL,SC-01
7e3a2b6d4c9f4a2b1d3c4e5f6a7b8c9d,3,FAILED,file:///mlruns/3/7e3a2b6d4c9f4a2b1d3c4e5f6a7b8c9d/artifacts,2026-10-10 09:00:00.120+00:00,2026-10-10 09:01:00.000+00:00,0.12,30.2,0.3,lab,xgb-c,LOCAL,SC-01
"""

# The W&B runs table's CSV export; `pilot_id` is a config column.
WANDB_RUN_NAMES = """\
"Name","State","Notes","User","Tags","Created","Runtime","Sweep","pilot_id","lr","accuracy","rmse"
"churn-lab-01","finished","","maya-l","","2024-01-08T09:00:00.000Z","1834","","SC-01","0.001","0.92","9.1"
"churn-live-01","finished","","maya-l","","2024-01-15T09:00:00.000Z","1820","","SC-01","0.001","0.71","14.4"
"xgb-live-w02","finished","","grace-m","","2024-01-29T09:00:00.000Z","2040","","SC-01","0.0008","0.69","14.7"
"churn-live-03","crashed","OOM","grace-m","","2024-02-05T09:00:00.000Z","311","","SC-01","0.0008","0.1","40.5"
"""


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("browser_runs")
    db, env = load_demo_store(folder)
    with start_dashboard(folder, db, env) as server:
        yield server


def stored_environments(dashboard: Dashboard, upload_id: int) -> list[tuple]:

    con = store_file_read(dashboard.db)
    try:
        return con.execute(
            "SELECT metric, environment, strftime(observed_at, '%Y-%m-%d'), round(value, 4) FROM metric_observations "
            "WHERE upload_id = ? ORDER BY 1, 2, 3",
            [upload_id],
        ).fetchall()
    finally:
        con.close()


def store_and_read_receipt(page, rows: int, file_name: str) -> int:
    from playwright.sync_api import expect

    button = page.get_by_role("button", name=f"Store {rows} rows")
    expect(button).to_be_enabled(timeout=RENDERED_MS)
    button.click()
    receipt = page.get_by_text(re.compile(rf"Stored {rows} rows from {re.escape(file_name)} as upload (\d+)"))
    expect(receipt).to_be_visible(timeout=FIRST_RENDER_MS)
    return int(re.search(r"as upload (\d+)", receipt.inner_text()).group(1))


def test_mlflow_tag_env_is_stored_per_run_without_a_question(page, dashboard, script_errors, tmp_path):
    from playwright.sync_api import expect

    file = tmp_path / "mlflow_runs_env.csv"
    file.write_text(MLFLOW_TAG_ENV, encoding="utf-8")
    open_link(page, dashboard, "/Upload_data", "Upload data")
    page.locator('input[type="file"]').set_input_files(str(file))
    expect(page.get_by_text("Check before storing")).to_be_visible(timeout=FIRST_RENDER_MS)
    expect(page.get_by_text("Lab or live?", exact=True)).to_have_count(0)
    expect(page.get_by_text("Which pilot do these rows belong to?")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"^1 failed run left out"))).to_be_visible()
    expect(page.get_by_text("Keep the 1 failed or unfinished run")).to_be_visible()
    upload_id = store_and_read_receipt(page, 4, file.name)
    assert_no_errors_shown(page, script_errors)

    assert stored_environments(dashboard, upload_id) == [
        ("accuracy", "lab", "2026-10-02", 0.91),
        ("accuracy", "live", "2026-10-09", 0.84),
        ("rmse", "lab", "2026-10-02", 10.1),
        ("rmse", "live", "2026-10-09", 12.7),
    ]


def test_wandb_run_names_are_asked_once_prefilled_and_stored(page, dashboard, script_errors, tmp_path):
    from playwright.sync_api import expect

    file = tmp_path / "wandb_runs_names.csv"
    file.write_text(WANDB_RUN_NAMES, encoding="utf-8")
    open_link(page, dashboard, "/Upload_data", "Upload data")
    page.locator('input[type="file"]').set_input_files(str(file))
    expect(page.get_by_text("Check before storing")).to_be_visible(timeout=FIRST_RENDER_MS)
    expect(page.get_by_text("Lab or live?", exact=True)).to_have_count(1)
    expect(page.get_by_role("radio", name="As each run's name says")).to_be_checked()
    expect(page.get_by_text("Before storing:")).to_have_count(0)
    upload_id = store_and_read_receipt(page, 6, file.name)
    assert_no_errors_shown(page, script_errors)

    assert stored_environments(dashboard, upload_id) == [
        ("accuracy", "lab", "2024-01-08", 0.92),
        ("accuracy", "live", "2024-01-15", 0.71),
        ("accuracy", "live", "2024-01-29", 0.69),
        ("rmse", "lab", "2024-01-08", 9.1),
        ("rmse", "live", "2024-01-15", 14.4),
        ("rmse", "live", "2024-01-29", 14.7),
    ]
