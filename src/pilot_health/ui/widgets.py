"""Small widgets and notes used on several pages."""
from __future__ import annotations

from typing import Sequence

import streamlit as st

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
