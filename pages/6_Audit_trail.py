"""Audit trail: who uploaded, withdrew or changed what, and when."""

import streamlit as st

from pilot_health.models import AUDIT_ACTIONS
from pilot_health.rules.thresholds import threshold_label
from pilot_health.ui import data
from pilot_health.ui.page import friendly_errors, page_setup
from pilot_health.ui.widgets import data_table, report_unknown_url_values

ctx = page_setup("Audit trail")
ROW_HEIGHT = 78  # taller than 4rem: the grid wraps a cell's text (up to three lines) instead of cutting it

with friendly_errors():
    st.title("Audit trail")
    st.caption(
        "Every upload, withdrawal, pilot record change, threshold change, metric definition, demo load or clearance and restore "
        "from a backup, with who made it and when (UTC). Each line is written in the same transaction as the change, so the trail "
        "and the data never disagree. Who is the signed-in person's e-mail address (“dashboard user” when the dashboard runs "
        "without sign-in); a change made from the command line names the person who ran it."
    )
    trail = data.audit_trail(*ctx.cache_key, ctx.pinned)
    if trail.empty:
        st.info("Nothing has been changed yet.", icon=":material/history:")
        st.stop()

    people = sorted(trail["who"].unique())
    report_unknown_url_values("action", list(AUDIT_ACTIONS), "action")
    report_unknown_url_values("who", people, "person")
    first, last = trail["happened_at"].min().date(), trail["happened_at"].max().date()
    left, middle, right = st.columns([2, 2, 2])
    actions = left.multiselect(
        "What",
        list(AUDIT_ACTIONS),
        key="action",
        bind="query-params",
        placeholder="Every kind of change",
        help="Kinds of change (their codes are in the address).",
    )
    who = middle.multiselect("Who", people, key="who", bind="query-params", placeholder="Everyone")
    chosen = right.date_input(
        "When",
        value=(first, last),
        min_value=first,
        max_value=last,
        key="when",
        bind="query-params",
        help="Days (UTC), both included.",
    )
    shown = trail
    if actions:
        shown = shown[shown["action"].isin(actions)]
    if who:
        shown = shown[shown["who"].isin(who)]
    if isinstance(chosen, (tuple, list)) and len(chosen) == 2:
        days = shown["happened_at"].dt.date
        shown = shown[(days >= chosen[0]) & (days <= chosen[1])]
    counts = shown["action"].value_counts()
    st.caption(
        f"{len(shown)} of {len(trail)} changes"
        + (": " + ", ".join(f"{int(n)} × {AUDIT_ACTIONS[a].lower()}" for a, n in counts.items()) if len(shown) else ".")
    )
    thresholds = shown["action"] == "threshold_change"  # the trail records the setting's key; people read its name
    view = shown.assign(
        action=shown["action"].map(AUDIT_ACTIONS),
        subject=shown["subject"].where(~thresholds, shown["subject"].map(threshold_label, na_action="ignore")),
    )
    # A detail (the fields of a record that changed, a file name) runs long: rows are tall enough for three lines of it.
    data_table(
        view[["happened_at", "who", "action", "subject", "detail"]],
        "audit",
        "pilot_health_audit_trail.csv",
        label="Download the audit trail (CSV)",
        row_height=ROW_HEIGHT,
        height=min(38 + ROW_HEIGHT * max(len(view), 1) + 2, 600),
        column_config={
            "happened_at": st.column_config.DatetimeColumn(
                "When", format="D MMM YYYY HH:mm:ss", width=140, help="Day and time (UTC)."
            ),
            "who": st.column_config.TextColumn("Who", width=140),
            "action": st.column_config.TextColumn("What", width=140),
            "subject": st.column_config.TextColumn(
                "About", width=125, help="An upload's number, a pilot's code, a metric, a threshold or a backup file."
            ),
            "detail": st.column_config.TextColumn(
                "Detail",
                width=265,
                help="What changed. A very long detail is cut in the table; the download has it in full.",
            ),
        },
    )
