"""Tables out: every table on every page comes with a CSV download, and no downloaded cell can run
as a spreadsheet formula — checked on the files the pages really offer, with a pilot whose texts
start with every dangerous character."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from test_pages import assert_clean, open_page
from test_risk import TODAY, Story

from pilot_health.csv_files import FORMULA_STARTS, frame_to_csv, neutralise
from pilot_health.models import Pilot
from pilot_health.register.pilots import create_pilot


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_dangerous_first_character_is_neutralised(start):
    text = f'{start}HYPERLINK("http://evil.test","x")'
    assert neutralise(text) == "'" + text
    [row] = list(csv.reader(io.StringIO(frame_to_csv(pd.DataFrame({"name": [text]})).decode("utf-8"))))[1:]
    assert row == ["'" + text]
    assert (
        frame_to_csv(pd.DataFrame({"n": [-3.5]})).decode("utf-8").splitlines()[1] == "-3.5"
    )  # a number stays a number


DANGEROUS = {f"P-{i}": start for i, start in enumerate(FORMULA_STARTS)}


@pytest.fixture
def hostile_store(demo_store):
    for code, start in DANGEROUS.items():
        record = {
            **Story().record,
            "pilot_id": code,
            "name": f"{start}cmd|' /C calc'!A0",
            "business_unit": "Test",
            "owner": f"{start}1+1",
            "kpi_name": f"{start}SUM(A1:A9)",
            "team_sizes": None,
        }
        create_pilot(demo_store, Pilot.model_validate(record, context={"today": TODAY}))
    return demo_store


VISITS = [
    (None, {}),
    ("pages/1_Pilot_register.py", {"pilot": "P-0"}),
    ("pages/3_Risk.py", {"pilot": "SC-01", "rows": "true"}),
    ("pages/4_Alignment.py", {"pilot": "FN-01"}),
    ("pages/5_Adoption.py", {"pilot": "RO-02"}),
    ("pages/2_Upload_data.py", {}),
]


@pytest.mark.slow
@pytest.mark.parametrize("page, query", VISITS, ids=[p or "home" for p, _ in VISITS])
def test_every_table_has_a_download_and_no_cell_starts_a_formula(hostile_store, app_env, downloads, page, query):
    app_env(hostile_store)
    at = open_page(page, **query)
    if page == "pages/2_Upload_data.py":
        downloads.clear()
        at.toggle(key="history_demo").set_value(True).run()  # the demo's uploads are the history here
    assert_clean(at)
    tables = len(at.dataframe)
    assert tables and len(downloads) >= tables, (
        f"{tables} tables but {len(downloads)} downloads: {[label for label, _ in downloads]}"
    )
    for label, data in downloads:
        for row in csv.reader(io.StringIO(data.decode("utf-8"))):
            for value in row:
                assert not value.startswith(FORMULA_STARTS) or is_number(value), (label, value)


def is_number(text: str) -> bool:
    """A negative number is written as one (it is not a formula)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
