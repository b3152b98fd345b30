"""Since last meeting: what changed per pilot between a previous moment and now, the worst first."""
from datetime import timedelta

import pandas as pd
import streamlit as st

from pilot_health.changes import BETTER, WORSE, since_moment
from pilot_health.formatting import moment, plural
from pilot_health.results import KEEPER
from pilot_health.risk import HEALTH_LABELS
from pilot_health.ui import data
from pilot_health.ui.guide import guide_link
from pilot_health.ui.page import app_base_url, friendly_errors, page_setup, pin_text
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import data_table, steering_pack_downloads

ctx = page_setup("Since last meeting")
DEFAULT_DAYS = 30  # the previous moment when the address names none: a month ago, a steering committee's rhythm
PILOTS_SHOWN = 20  # pilots drawn one by one; every change of every pilot is in the table below them
DIRECTION_ICONS = {WORSE: ":red[:material/trending_down:]", BETTER: ":green[:material/trending_up:]"}
NEUTRAL_ICON = ":gray[:material/swap_horiz:]"
# Tooltips for the words a business owner may not know.
TERM_HELP = {
    "pattern_worse": "One of the five failure patterns that stop AI pilots reaching production; its status is High, Medium or Low "
                     "from the warning signs that fired.",
    "pattern_better": "One of the five failure patterns that stop AI pilots reaching production; its status is High, Medium or Low "
                      "from the warning signs that fired.",
    "sign_new": "A warning sign is one question of a failure pattern that the register or the data now answers the bad way.",
    "sign_cleared": "A warning sign is one question of a failure pattern; it cleared when the register or the data no longer "
                    "answers it the bad way.",
    "decay_worse": "Decay: the model's live results now against its first live weeks. Warning and critical are the levels set "
                   "on the Thresholds page.",
    "decay_better": "Decay: the model's live results now against its first live weeks. Warning and critical are the levels set "
                    "on the Thresholds page.",
    "alignment_worse": "Alignment: whether the model's progress and the business KPI move together (Aligned), apart "
                       "(Decoupled) or against each other (Inverted).",
    "alignment_better": "Alignment: whether the model's progress and the business KPI move together (Aligned), apart "
                        "(Decoupled) or against each other (Inverted).",
    "alignment_changed": "Alignment: whether the model's progress and the business KPI move together, apart or against each other.",
    "kpi_worse": "The share of the way from the KPI's baseline to its target, against the share of the time from approval to "
                 "the KPI deadline gone.",
    "kpi_better": "The share of the way from the KPI's baseline to its target, against the share of the time from approval to "
                  "the KPI deadline gone.",
}
TABLE_COLUMNS = {
    "pilot_id": st.column_config.TextColumn("Pilot", width=80),
    "name": st.column_config.TextColumn("Name", width=180),
    "change": st.column_config.TextColumn("Change", width=150),
    "what": st.column_config.TextColumn("What changed", width="large"),
    "evidence": st.column_config.TextColumn("Evidence", width="medium", help="What the risk view gives as the evidence."),
}

with friendly_errors():
    st.title("Since last meeting")
    st.caption("What changed for each pilot between a previous moment — the last steering meeting — and now: health, the failure "
               "patterns and their warning signs, alignment, decay, KPI progress, stage, new and withdrawn uploads, and spend. "
               "Both moments are computed exactly as a pinned link to them shows them. The worst changes come first.")
    until = ctx.pinned or KEEPER.moment(ctx.store)
    first = data.first_record_at(*ctx.cache_key)
    today = until.date()
    lowest = min(first.date(), today) if first else today
    left, _ = st.columns([1, 2])
    day = left.date_input(
        "Compare with the end of", value=max(today - timedelta(days=DEFAULT_DAYS), lowest), min_value=lowest, max_value=today,
        key="since", bind="query-params", format="DD/MM/YYYY",
        help="The day of the last meeting: its end (UTC) is compared with now. The day is kept in the page's address, "
             "so a link to this view compares the same two moments.")
    since, note = since_moment(day, first, until)
    if since is None:
        st.info(note, icon=":material/event_busy:")
        st.stop()
    if note:
        st.caption(note)
    found = data.changes_since(*ctx.cache_key, since, ctx.pinned)
    if found.empty:
        st.success(f"Nothing changed since {moment(since)}: {plural(found.compared, 'pilot')} compared, "
                   f"every one as it was then.", icon=":material/check_circle:")
        guide_link("meetings", "How this view is computed")
        st.stop()

    st.subheader(found.summary)
    st.caption(f"From {moment(since)} to {moment(found.until)}: {plural(len(found.pilots), 'pilot')} of "
               f"{found.compared:,} changed. A pilot got worse or improved when its health did.")

    pin = {"as_of": pin_text(ctx.pinned)} if ctx.pinned else {}
    for pilot in found.pilots[:PILOTS_SHOWN]:
        with st.container(border=True):
            head, health = st.columns([1, 1])
            head.page_link("pages/3_Risk.py", label=f"{pilot.pilot_id} · {md_escape(pilot.name)}", icon=":material/warning:",
                           query_params={"pilot": pilot.pilot_id, **pin}, help="This pilot's risk view, now.")
            before = HEALTH_LABELS.get(pilot.health_before, "not scored then") if pilot.health_before else "not scored then"
            after = HEALTH_LABELS.get(pilot.health_after, "not scored now") if pilot.health_after else "not scored now"
            moved = f"{before} → {after}" if before != after else f"{after}, unchanged"
            health.markdown(f"{DIRECTION_ICONS.get(pilot.direction, NEUTRAL_ICON)} Health: {moved}"
                            + (f" · {md_escape(pilot.business_unit)}" if pilot.business_unit else ""))
            for change in pilot.changes:
                st.markdown(f"{DIRECTION_ICONS.get(change.direction, NEUTRAL_ICON)} **{change.label}:** {md_escape(change.what)}",
                            help=TERM_HELP.get(change.kind))
                if change.evidence:
                    st.caption(md_escape(change.evidence))
    if len(found.pilots) > PILOTS_SHOWN:
        st.caption(f"… and {plural(len(found.pilots) - PILOTS_SHOWN, 'more pilot')} with changes: every change is in the table below.")

    with st.expander("Every change as a table"):
        table = pd.DataFrame([{"pilot_id": c.pilot_id, "name": c.name, "change": c.label, "what": c.what, "evidence": c.evidence}
                              for c in found.changes], columns=list(TABLE_COLUMNS))
        data_table(table, "changes", f"pilot_health_changes_since_{since:%Y-%m-%d}.csv", label="Download the changes (CSV)",
                   column_config=TABLE_COLUMNS, missing_note=False)
    st.subheader("Take it to the meeting")
    st.caption("The portfolio's steering pack with a “Since last meeting” section: this summary and the worst changes.")
    steering_pack_downloads(ctx.store, app_base_url(ctx), ctx.pinned, None, "since_pack", since=since)
    guide_link("meetings", "How this view is computed")
