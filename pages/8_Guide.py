"""Guide: the user documentation, one topic at a time, inside the dashboard (`?topic=risk`)."""

import streamlit as st

from pilot_health.ui.guide import BY_KEY, TOPICS, guide_markdown
from pilot_health.ui.page import friendly_errors, page_setup
from pilot_health.ui.widgets import report_unknown_url_values

ctx = page_setup("Guide", pinnable=False)  # the documentation does not change with the data


def follow_choice() -> None:
    """The topic chosen goes into the address (?topic=…), so a copied link opens the same topic."""
    st.query_params["topic"] = st.session_state["topic"]


with friendly_errors():
    report_unknown_url_values("topic", list(BY_KEY), "topic")
    # Not bound to the address by Streamlit: a bound chooser would put the topic's title in it, and
    # pages link here by the short key (?topic=risk).
    asked = st.query_params.get("topic")
    if asked in BY_KEY and st.session_state.get("topic") != asked:
        st.session_state["topic"] = asked
    left, _ = st.columns([2, 3])
    key = left.selectbox(
        "Topic",
        list(BY_KEY),
        format_func=lambda k: BY_KEY[k].title,
        key="topic",
        on_change=follow_choice,
        help="What the dashboard's pages show and how their numbers are worked out. The topic is part of the "
        "page's address, so a link opens the same topic.",
    )
    st.divider()
    st.markdown(guide_markdown(BY_KEY[key or TOPICS[0].key]))
