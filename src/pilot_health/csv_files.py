"""Writing CSV files people open in spreadsheets.

Text cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage
return) are neutralised with a leading apostrophe, so Excel shows them as text. A text that already
starts with apostrophes and then one of those characters gets one more, so that the upload, which
takes exactly one such apostrophe off again (ingest/values.restored), reads back every text as it
was written: download, edit, upload changes nothing. Numbers are
written as numbers (a negative number is not a formula), dates as YYYY-MM-DD, yes/no evidence
as yes, no or blank.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """`text` as a spreadsheet shows it as text: an apostrophe before a formula start (and before
    apostrophes that come before one, so the neutralisation can be undone exactly)."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def restore(text: str) -> str:
    """The text `neutralise` was given: one apostrophe off a neutralised cell, anything else as it is
    ('Twas keeps its apostrophe). The upload does the same, in SQL (ingest/values.restored)."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS) else text


def cell(value: Any, *, protect: bool = True) -> str:
    """One value as CSV text, the same way everywhere."""
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".10g")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return (
            value.date().isoformat()
            if value.time() == datetime.min.time()
            else value.isoformat(sep=" ", timespec="seconds")
        )
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return cell(value.item(), protect=protect)
    text = str(value)
    return neutralise(text) if protect else text


def rows_to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, protect: bool = True) -> bytes:
    buffer = io.StringIO()
    # CRLF as RFC 4180 and Excel expect; it also makes the writer quote any field holding a \r.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(v, protect=protect) for v in row])
    return buffer.getvalue().encode("utf-8")


def frame_to_csv(frame: pd.DataFrame, *, protect: bool = True) -> bytes:
    """A DataFrame as UTF-8 CSV bytes, formulas neutralised unless `protect` is False."""
    columns = [str(c) for c in frame.columns]
    rows = frame.astype(object).itertuples(index=False, name=None)
    return rows_to_csv(columns, rows, protect=protect)
