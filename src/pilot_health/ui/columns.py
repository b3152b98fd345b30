"""Table columns that show numbers as people read them: whole per cent, money in the configured
currency with thousands separators, counts without decimals. Use these in every st.dataframe's
column_config instead of Streamlit's bare formats ("percent" alone shows 57.78%, "compact" shows
1.7M without a currency)."""

from __future__ import annotations

import streamlit as st

from pilot_health.formatting import BLANK, currency_prefix

# What a missing value reads as in every table (st.dataframe's placeholder): never "None"; the same
# blank as every number outside a table (formatting.BLANK).
MISSING = BLANK
MISSING_NOTE = "“—” means not known (nobody has said, or there is no data yet)."


def percent_bar_column(label: str, *, help: str | None = None, width=None):
    """A share (0 to 1) as a bar with its whole per cent next to it."""
    return st.column_config.ProgressColumn(
        label, format="percent", step=0.01, min_value=0, max_value=1, help=help, width=width
    )


def money_column(label: str, *, help: str | None = None, width=None, currency: str | None = None):
    """An amount in the configured currency with thousands separators: $1,650,000."""
    prefix = currency_prefix(currency).replace("%", "%%")
    return st.column_config.NumberColumn(label, format=f"{prefix}%,.0f", help=help, width=width)


def count_column(label: str, *, help: str | None = None, width=None):
    """A whole number with thousands separators: 12,480."""
    return st.column_config.NumberColumn(label, format="%,d", help=help, width=width)
