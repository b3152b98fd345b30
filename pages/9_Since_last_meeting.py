"""Since last meeting: what changed per pilot between a previous moment and now, the worst first."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from pilot_health.analytics.risk import HEALTH_LABELS
from pilot_health.formatting import moment, plural
from pilot_health.reports import meetings
from pilot_health.reports.changes import BETTER, WORSE, since_moment
from pilot_health.reports.results import KEEPER
from pilot_health.ui import data
from pilot_health.ui.decisions import decision_card
from pilot_health.ui.guide import guide_link
from pilot_health.ui.page import app_base_url, friendly_errors, page_setup, pin_text
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import data_table, details_table, steering_pack_downloads

ctx = page_setup("Since last meeting")
DEFAULT_DAYS = 30  # the previous moment when the address names none: a month ago, a steering committee's rhythm
NO_MEETING = 0  # the chooser's "use the day" (meeting ids start at 1)
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
    "evidence": st.column_config.TextColumn(
        "Evidence", width="medium", help="What the risk view gives as the evidence."
    ),
}

DECISION_COLUMNS = {
    "pilot_id": st.column_config.TextColumn("Pilot", width=70),
    "decision": st.column_config.TextColumn("Decision", width=110),
    "status": st.column_config.TextColumn(
        "Status", width=130, help=f"Overdue: its due date has passed. Due: within {meetings.DUE_SOON_DAYS} days."
    ),
    "due_on": st.column_config.DateColumn("Due", format="D MMM YYYY", width=100),
    "owner": st.column_config.TextColumn("Owner", width=130),
    "conditions": st.column_config.TextColumn("Conditions", width="medium"),
    "meeting": st.column_config.TextColumn("Meeting", width=170, help="The meeting that took the decision."),
}


def decisions_due(found: list, names: dict) -> None:
    """The committee's decisions that are due within a week or overdue, most urgent first: a card
    each (the conditions in full), and the same as a table with its download."""
    st.subheader("Decisions due or overdue")
    if not found:
        st.caption(f"No decision of the committee is due within {meetings.DUE_SOON_DAYS} days or overdue.")
        return
    overdue = sum(d.status == "overdue" for d in found)
    st.caption(
        f"{plural(len(found), 'decision')}: {overdue:,} overdue, {len(found) - overdue:,} due within {meetings.DUE_SOON_DAYS} days. "
        "Each pilot's risk view has its decisions with their conditions."
    )
    for d in found:
        decision_card(d, pilot_name=names.get(d.pilot_id) or "")
    table = pd.DataFrame(
        [
            {
                "pilot_id": d.pilot_id,
                "decision": d.decision_label,
                "status": d.status_label,
                "due_on": d.due_on,
                "owner": d.owner,
                "conditions": d.conditions or "—",
                "meeting": f"{d.held_on:%d %b %Y} · {d.meeting_title}",
            }
            for d in found
        ],
        columns=list(DECISION_COLUMNS),
    )
    details_table(
        "The decisions as a table",
        table,
        "decisions_due",
        "pilot_health_decisions_due.csv",
        "Download the decisions (CSV)",
        column_config=DECISION_COLUMNS,
        height=38 + 35 * len(table) + 2,
    )


with friendly_errors():
    st.title("Since last meeting")
    st.caption(
        "What changed for each pilot between a previous moment — the last steering meeting — and now: health, the failure "
        "patterns and their warning signs, alignment, decay, KPI progress, stage, new and withdrawn uploads, and spend. "
        "Both moments are computed exactly as a pinned link to them shows them. The worst changes come first."
    )
    until = ctx.pinned or KEEPER.moment(ctx.store, version=ctx.version)
    first = data.first_record_at(*ctx.cache_key)
    today = until.date()
    lowest = min(first.date(), today) if first else today
    left, right = st.columns([1, 2])
    # A meeting recorded on this dashboard stands for its moment (the pinned view it reviewed); kept
    # in the address as ?meeting=ID (read and written here: a bound chooser would write its label).
    held = {m.meeting_id: m for m in data.meetings(*ctx.cache_key, ctx.pinned) if m.pinned_at < until}
    asked = st.query_params.get("meeting", "")
    options = [NO_MEETING, *held]
    meeting_id = right.selectbox(
        "Or the moment a meeting reviewed",
        options,
        index=options.index(int(asked)) if asked.isdigit() and int(asked) in held else 0,
        format_func=lambda m: (
            "— none: use the day —" if m == NO_MEETING else f"{held[m].held_on:%d %b %Y} · {held[m].title}"
        ),
        key="since_meeting",
        disabled=not held,
        help="A steering meeting recorded on this dashboard: the view compares the numbers that meeting looked at (its "
        "pinned view) with now. No meeting recorded yet: record one on a pilot's risk view.",
    )
    if meeting_id == NO_MEETING:
        if "meeting" in st.query_params:
            del st.query_params["meeting"]
    else:
        st.query_params["meeting"] = str(meeting_id)
    day = left.date_input(
        "Compare with the end of",
        value=max(today - timedelta(days=DEFAULT_DAYS), lowest),
        min_value=lowest,
        max_value=today,
        key="since",
        bind="query-params",
        format="DD/MM/YYYY",
        disabled=meeting_id != NO_MEETING,
        help="The day of the last meeting: its end (UTC) is compared with now. The day is kept in the page's address, "
        "so a link to this view compares the same two moments.",
    )
    if meeting_id != NO_MEETING:
        since, note = (
            held[meeting_id].pinned_at,
            f"Compared with the numbers “{held[meeting_id].title}” reviewed ({moment(held[meeting_id].pinned_at)}).",
        )
    else:
        since, note = since_moment(day, first, until)
    if since is None:
        st.info(note, icon=":material/event_busy:")
        st.stop()
    if note:
        st.caption(md_escape(note))
    found = data.changes_since(*ctx.cache_key, since, ctx.pinned)
    due = meetings.due_or_overdue(data.decisions(*ctx.cache_key, ctx.pinned, None, ctx.utc_today))
    register = data.pilot_register(*ctx.cache_key, ctx.pinned)
    names = dict(zip(register["pilot_id"], register["name"], strict=True))
    if found.empty:
        st.success(
            f"Nothing changed since {moment(since)}: {plural(found.compared, 'pilot')} compared, "
            f"every one as it was then.",
            icon=":material/check_circle:",
        )
        decisions_due(due, names)
        guide_link("meetings", "How this view is computed")
        st.stop()

    st.subheader(found.summary)
    st.caption(
        f"From {moment(since)} to {moment(found.until)}: {plural(len(found.pilots), 'pilot')} of "
        f"{found.compared:,} changed. A pilot got worse or improved when its health did."
    )
    decisions_due(due, names)

    pin = {"as_of": pin_text(ctx.pinned)} if ctx.pinned else {}
    for pilot in found.pilots[:PILOTS_SHOWN]:
        with st.container(border=True):
            head, health = st.columns([1, 1])
            head.page_link(
                "pages/3_Risk.py",
                label=f"{pilot.pilot_id} · {md_escape(pilot.name)}",
                icon=":material/warning:",
                query_params={"pilot": pilot.pilot_id, **pin},
                help="This pilot's risk view, now.",
            )
            before = (
                HEALTH_LABELS.get(pilot.health_before, "not scored then") if pilot.health_before else "not scored then"
            )
            after = HEALTH_LABELS.get(pilot.health_after, "not scored now") if pilot.health_after else "not scored now"
            moved = f"{before} → {after}" if before != after else f"{after}, unchanged"
            health.markdown(
                f"{DIRECTION_ICONS.get(pilot.direction, NEUTRAL_ICON)} Health: {moved}"
                + (f" · {md_escape(pilot.business_unit)}" if pilot.business_unit else "")
            )
            for change in pilot.changes:
                st.markdown(
                    f"{DIRECTION_ICONS.get(change.direction, NEUTRAL_ICON)} **{change.label}:** {md_escape(change.what)}",
                    help=TERM_HELP.get(change.kind),
                )
                if change.evidence:
                    st.caption(md_escape(change.evidence))
    if len(found.pilots) > PILOTS_SHOWN:
        st.caption(
            f"… and {plural(len(found.pilots) - PILOTS_SHOWN, 'more pilot')} with changes: every change is in the table below."
        )

    with st.expander("Every change as a table"):
        table = pd.DataFrame(
            [
                {"pilot_id": c.pilot_id, "name": c.name, "change": c.label, "what": c.what, "evidence": c.evidence}
                for c in found.changes
            ],
            columns=list(TABLE_COLUMNS),
        )
        data_table(
            table,
            "changes",
            f"pilot_health_changes_since_{since:%Y-%m-%d}.csv",
            label="Download the changes (CSV)",
            column_config=TABLE_COLUMNS,
            missing_note=False,
        )
    st.subheader("Take it to the meeting")
    st.caption("The portfolio's steering pack with a “Since last meeting” section: this summary and the worst changes.")
    steering_pack_downloads(ctx.store, app_base_url(ctx), ctx.pinned, None, "since_pack", since=since)
    guide_link("meetings", "How this view is computed")
