"""Guide: the user documentation, one topic at a time, inside the dashboard (`?topic=risk`)."""
import streamlit as st

from pilot_health.ui.guide import BY_KEY, TOPICS, guide_markdown
from pilot_health.ui.page import friendly_errors, page_setup
from pilot_health.ui.widgets import report_unknown_url_values

ctx = page_setup("Guide", pinnable=False)  # the documentation does not change with the data

with friendly_errors():
    report_unknown_url_values("topic", list(BY_KEY), "topic")
    left, _ = st.columns([2, 3])
    key = left.selectbox("Topic", list(BY_KEY), format_func=lambda k: BY_KEY[k].title, key="topic", bind="query-params",
                         help="What the dashboard's pages show and how their numbers are worked out. The topic is part of the "
                              "page's address, so a link opens the same topic.")
    st.divider()
    st.markdown(guide_markdown(BY_KEY[key or TOPICS[0].key]))
