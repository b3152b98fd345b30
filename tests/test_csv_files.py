"""CSV files out: formulas neutralised, numbers and dates written plainly, read back intact."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pandas as pd

from pilot_health.csv_files import frame_to_csv, neutralise
from pilot_health.models import PILOT_FIELDS
from pilot_health.register.pilots import register_csv, template_csv


def read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_text_that_a_spreadsheet_would_run_is_neutralised():
    frame = pd.DataFrame(
        {
            "name": ['=HYPERLINK("http://evil")', "+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "Plain", "a=b"],
            "value": [1.5, -0.12, 3.0, None, 2, 0, 1e-7, 12345678.9],
        }
    )
    rows = read(frame_to_csv(frame))
    assert rows[0] == ["name", "value"]
    assert [r[0] for r in rows[1:]] == [
        '\'=HYPERLINK("http://evil")',
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tTab",
        "'\rCR",
        "Plain",
        "a=b",
    ]
    assert [r[1] for r in rows[1:]] == ["1.5", "-0.12", "3", "", "2", "0", "1e-07", "12345678.9"], (
        "numbers stay numbers"
    )


def test_dates_booleans_and_blanks():
    frame = pd.DataFrame(
        {
            "day": [date(2025, 3, 31), None],
            "at": [datetime(2025, 3, 31, 14, 5), datetime(2025, 4, 1)],
            "ok": [True, None],
            "n": pd.array([3, None], dtype="Int64"),
        }
    )
    rows = read(frame_to_csv(frame))
    assert rows[1] == ["2025-03-31", "2025-03-31 14:05:00", "yes", "3"]
    assert rows[2] == ["", "2025-04-01", "", ""]


def test_neutralise_leaves_ordinary_text_alone():
    assert neutralise("Demand forecasting") == "Demand forecasting"
    assert neutralise("-negative") == "'-negative"


def test_register_download_has_the_template_columns(demo_store):
    from pilot_health.register.pilots import list_pilots

    rows = read(register_csv(list_pilots(demo_store)))
    assert rows[0] == list(PILOT_FIELDS) and len(rows) == 25
    sc01 = next(r for r in rows if r[0] == "SC-01")
    assert sc01[PILOT_FIELDS.index("pipeline_automated")] == "no"
    assert sc01[PILOT_FIELDS.index("approved_on")].count("-") == 2
    assert read(template_csv()) == [list(PILOT_FIELDS)]
