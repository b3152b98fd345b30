"""Small widgets and notes used on several pages."""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import streamlit as st

from ..csv_files import frame_to_csv

from ..models import STAGE_LABELS, STAGES
from ..portfolio import PortfolioFilters
from .text import md_escape


def report_unknown_url_values(key: str, valid: Sequence[str], noun: str) -> list[str]:
    """Say so when a link asks for a value that does not exist (a deleted pilot, a misspelt stage).

    Streamlit drops such values from a bound widget by itself; this makes the fallback visible.
    Call it before the widget bound to `key` is drawn."""
    valid_set = set(valid)
    unknown = [v for v in st.query_params.get_all(key) if v and v not in valid_set]
    for value in unknown:
        st.warning(f"This link asks for the {noun} “{md_escape(value)}”, which does not exist here; it is left out.", icon=":material/link_off:")
    return unknown


def portfolio_filters(units: Sequence[str], widths: Sequence[float] = (1, 1)) -> tuple[PortfolioFilters, list]:
    """The business-unit and stage filters every portfolio page shows, bound to `?bu=` and
    `?stage=` (a stage reads by its label in the URL, e.g. `?stage=Pilot`), in the first two of a
    row of columns of these `widths`; values a link asks for that do not exist are named in a note
    above them. Returns the filters and the row's other columns."""
    report_unknown_url_values("bu", units, "business unit")
    report_unknown_url_values("stage", [STAGE_LABELS[s] for s in STAGES], "stage")
    unit_column, stage_column, *others = st.columns(list(widths))
    chosen_units = unit_column.multiselect("Business unit", list(units), key="bu", bind="query-params", placeholder="All business units")
    chosen_stages = stage_column.multiselect("Stage", list(STAGES), format_func=STAGE_LABELS.get, key="stage", bind="query-params",
                                             placeholder="All stages")
    return PortfolioFilters(tuple(chosen_units), tuple(chosen_stages)), others


def filtered_portfolio(table: pd.DataFrame, widths: Sequence[float] = (1, 1)) -> tuple[pd.DataFrame, list]:
    """The business-unit and stage filters over a portfolio table (one row per pilot) and the rows
    they keep, with the row's other columns; says so and stops the page when there are no pilots
    or none match."""
    if table.empty:
        st.info("There are no pilots yet. Add pilots on the Pilot register page, or upload a register.", icon=":material/inbox:")
        st.stop()
    filters, others = portfolio_filters(sorted(table["business_unit"].unique()), widths)
    shown = filters.apply(table)
    if shown.empty:
        st.info("No pilot matches these filters.", icon=":material/filter_alt_off:")
        st.stop()
    return shown, others


def pilot_picker(order: Sequence[str], placeholder: str = "Choose a pilot",
                 help_text: str = "The pilot's code, worst first. The choice is part of the page's address.") -> str | None:
    """The pilot chooser under a portfolio table, bound to `?pilot=`; a pilot a link asks for that
    is not in the table (deleted, or filtered out) is named in a note above it."""
    report_unknown_url_values("pilot", order, "pilot")
    return st.selectbox("Pilot", list(order), index=None, key="pilot", bind="query-params", placeholder=placeholder, help=help_text)


def data_table(frame: pd.DataFrame, key: str, file_name: str, *, label: str = "Download (CSV)", **dataframe_options) -> None:
    """A table with its own CSV download under it: every table can be taken out, with cells a
    spreadsheet would run as formulas neutralised (the grid's built-in export is switched off in
    .streamlit/config.toml because it does not do that)."""
    st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}.table", **dataframe_options)
    st.download_button(label, frame_to_csv(frame), file_name=file_name, mime="text/csv", icon=":material/download:",
                       key=f"{key}.download", type="tertiary")
