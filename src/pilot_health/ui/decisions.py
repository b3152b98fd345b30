"""The committee's decisions about one pilot, on its risk view: the list with each decision's status
and a link to the evidence it was taken on (its meeting's pinned view), and for editors a small
form to record a meeting and a decision. The rules live in `pilot_health.reports.meetings`."""

from __future__ import annotations

from datetime import datetime, time
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from pilot_health.errors import PilotHealthError
from pilot_health.reports.meetings import (
    CONDITION_LABELS,
    DECISION_LABELS,
    DECISIONS,
    DUE_SOON_DAYS,
    Decision,
    condition_evidence,
    condition_met,
    condition_risk,
    record_decision,
    record_meeting,
)
from pilot_health.store.database import Store
from pilot_health.ui import data
from pilot_health.ui.page import PIN_PARAMETER, PageContext, app_base_url, pin_text
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import details_table, labelled

PREFIX = "decision_form"


def _k(name: str) -> str:
    return f"{PREFIX}.{name}"


@st.cache_data(show_spinner=False, max_entries=64)
def _checked_at_own_threshold(
    store_key: tuple, version: str, decision: Decision, pinned: datetime | None
) -> tuple[str, str | None]:
    """A tied condition with its own threshold: the pilot assessed at it (cached per store version)."""
    found = condition_risk(Store.from_key(store_key), decision, pinned)
    return condition_met(decision, found) or "unknown", condition_evidence(decision, found)


def _evidence_link(ctx: PageContext, decision: Decision) -> str:
    base = app_base_url(ctx) or ""
    return f"{base}/Risk?" + urlencode([("pilot", decision.pilot_id), (PIN_PARAMETER, pin_text(decision.pinned_at))])


def decision_rows(ctx: PageContext, found: list[Decision], risk_result, catalogue) -> pd.DataFrame:
    """One row per decision, as the table shows it (no Streamlit in the values: testable as a frame)."""
    rows = []
    for d in found:
        state, evidence = None, None
        if d.signal_key is not None:
            if d.signal_value is None:
                state, evidence = condition_met(d, risk_result), condition_evidence(d, risk_result)
            else:
                state, evidence = _checked_at_own_threshold(*ctx.cache_key, d, ctx.pinned)
        sign = None
        if d.signal_key is not None:
            try:
                sign = catalogue.signal(d.signal_key).question
            except KeyError:
                sign = d.signal_key
        rows.append(
            {
                "meeting": f"{d.held_on:%d %b %Y} · {d.meeting_title}",
                "decision": DECISION_LABELS.get(d.decision, d.decision),
                "conditions": d.conditions or "",
                "owner": d.owner,
                "due_on": d.due_on,
                "status": d.status_words,
                "sign": (sign or "") + (f" (at {d.signal_value:g})" if d.signal_value is not None else ""),
                "condition": CONDITION_LABELS.get(state, "") if state else "",
                "sign_evidence": evidence or "",
                "evidence": _evidence_link(ctx, d),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "meeting",
            "decision",
            "conditions",
            "owner",
            "due_on",
            "status",
            "sign",
            "condition",
            "sign_evidence",
            "evidence",
        ],
    )


def decision_card(d: Decision, *, pilot_name: str | None = None, tied: str | None = None) -> None:
    """One decision as a small bordered card: what, status, due day and owner on the first line, the
    conditions in full (a table would cut them), a tied warning sign's state, and a link to the view
    its meeting reviewed. Everything a person typed is escaped, never read as Markdown."""
    with st.container(border=True):
        who = (
            f"**{md_escape(d.pilot_id)}{' · ' + md_escape(pilot_name) if pilot_name else ''}** — "
            if pilot_name is not None
            else ""
        )
        st.markdown(
            f"{who}**{d.decision_label}** · {d.status_words} · due {d.due_on:%d %b %Y} · owner {md_escape(d.owner)}"
        )
        st.markdown(f"Conditions: {md_escape(d.conditions)}" if d.conditions else "No conditions written.")
        if tied:
            st.caption(tied)
        st.page_link(
            "pages/3_Risk.py",
            label=f"Taken at {md_escape(d.meeting_title)} on {d.held_on:%d %b %Y}: the view it reviewed",
            icon=":material/history:",
            query_params={"pilot": d.pilot_id, PIN_PARAMETER: pin_text(d.pinned_at)},
            help="This pilot's risk view pinned to the moment the meeting reviewed: the evidence the decision was taken on.",
        )


def render(ctx: PageContext, pilot_id: str, risk_result, catalogue) -> None:
    """The "Committee decisions" section of a pilot's risk view."""
    st.subheader(
        "Committee decisions",
        help=(
            "What steering meetings decided about this pilot, with the conditions, owner and due date. Due: due within "
            f"{DUE_SOON_DAYS} days; overdue: the due day has passed; a later decision replaces an earlier one. A condition tied to a "
            "warning sign reads met while that sign is clear, not met while it fires, and not known yet without evidence."
        ),
    )
    found = data.decisions(*ctx.cache_key, ctx.pinned, (pilot_id,), ctx.utc_today)
    if found:
        table = decision_rows(ctx, found, risk_result, catalogue)
        for d, row in zip(found, table.itertuples(), strict=True):
            tied = (
                (
                    f"{md_escape(row.meeting)} — condition tied to the warning sign “{md_escape(row.sign)}”: "
                    f"{md_escape(row.condition.lower() or 'not known yet')}. {md_escape(row.sign_evidence)}"
                )
                if row.sign
                else None
            )
            decision_card(d, tied=tied)
        st.caption(
            f"{len(found)} decision{'s' if len(found) != 1 else ''}"
            + (", as recorded by the pinned moment." if ctx.pinned else ".")
        )
        details_table(
            "The decisions as a table",
            table,
            "decisions_table",
            f"pilot_health_decisions_{pilot_id}.csv",
            "Download the decisions (CSV)",
            height=38 + 35 * len(table) + 2,
            column_config={
                "meeting": st.column_config.TextColumn("Meeting", width=190, help="The meeting's day and title."),
                "decision": st.column_config.TextColumn("Decision", width=100),
                "status": st.column_config.TextColumn(
                    "Status",
                    width=180,
                    help=(
                        f"Open; due within {DUE_SOON_DAYS} days; overdue once the due day has passed; replaced by a later decision. "
                        + ("Counted on the pinned day." if ctx.pinned else "Counted from today.")
                    ),
                ),
                "due_on": st.column_config.DateColumn("Due", format="D MMM YYYY", width=95),
                "owner": st.column_config.TextColumn("Owner", width=120, help="Who sees that the conditions are met."),
                "conditions": st.column_config.TextColumn("Conditions", width=260),
                "sign": st.column_config.TextColumn("Tied to the warning sign", width=200),
                "condition": st.column_config.TextColumn(
                    "Warning sign",
                    width=110,
                    help=(
                        "For a condition tied to a warning sign: met while the sign is clear, not met while it fires, not known yet "
                        "without the evidence. Computed by the risk engine as this view is scored."
                    ),
                ),
                "sign_evidence": st.column_config.TextColumn("The sign's evidence", width=260),
                "evidence": st.column_config.LinkColumn(
                    "Evidence",
                    display_text="Meeting's view",
                    width=120,
                    help=("This pilot's risk view as the meeting saw it: pinned to the moment the meeting reviewed."),
                ),
            },
        )
    else:
        st.caption("No decision recorded for this pilot" + (" by the pinned moment." if ctx.pinned else " yet."))
    if not ctx.person.can("record_decisions") or ctx.pinned is not None:
        return
    with st.expander("Record a decision", icon=":material/gavel:"):
        _form(ctx, pilot_id, catalogue)


def _save_meeting(store: Store, person) -> None:
    day = st.session_state.get(_k("meeting_day"))
    title = st.session_state.get(_k("meeting_title")) or ""
    try:
        made = record_meeting(store, day, title, datetime.combine(day, time(23, 59, 59)) if day else None, by=person)
    except PilotHealthError as error:
        st.session_state[_k("error")] = f"Meeting not saved: {md_escape(error)}"
        return
    st.session_state[_k("meeting")] = made.meeting_id
    st.session_state[_k("flash")] = f"Recorded the meeting {made.title}."


def _save_decision(store: Store, person, pilot_id: str) -> None:
    s = st.session_state
    meeting_id = s.get(_k("meeting"))
    if meeting_id is None:  # the form offers a meeting whenever one is recorded
        s[_k("error")] = "Not saved: Meeting: choose the meeting that took the decision, or record it first."
        return
    try:
        made = record_decision(
            store,
            pilot_id,
            meeting_id,
            s.get(_k("decision")) or "",
            s.get(_k("owner")) or "",
            s.get(_k("due")),
            conditions=s.get(_k("conditions")),
            signal_key=s.get(_k("signal")),
            signal_value=s.get(_k("signal_value")),
            by=person,
        )
    except PilotHealthError as error:
        s[_k("error")] = f"Not saved: {md_escape(error)}"  # it may quote what was typed
        return
    for name in ("owner", "conditions", "signal", "signal_value"):
        s.pop(_k(name), None)
    s[_k("flash")] = (
        f"Recorded for {made.pilot_id}: {made.decision_label}, owner {made.owner}, due {made.due_on:%d %b %Y}."
    )


def _form(ctx: PageContext, pilot_id: str, catalogue) -> None:
    if flash := st.session_state.pop(_k("flash"), None):
        st.success(md_escape(flash), icon=":material/check_circle:")
    if error := st.session_state.pop(_k("error"), None):
        st.error(error, icon=":material/error:")
    known = data.meetings(*ctx.cache_key, None)
    by_id = {m.meeting_id: m for m in known}
    if known:
        st.selectbox(
            "Meeting",
            list(by_id),
            key=_k("meeting"),
            format_func=lambda i: f"{by_id[i].held_on:%d %b %Y} · {by_id[i].title}",
            help="The meeting that took the decision; its pinned view is the evidence the decision was taken on.",
        )
    else:
        st.caption("No meeting recorded yet: record the meeting first.")
    with st.popover("Record a new meeting", icon=":material/event:"):
        st.date_input("Held on", value=ctx.today, key=_k("meeting_day"), format="YYYY-MM-DD")
        st.text_input("Title", key=_k("meeting_title"), placeholder="March steering committee", max_chars=200)
        st.caption(
            "The meeting reviews the numbers as of the end of its day; from the command line another moment can be given."
        )
        st.button("Record the meeting", key=_k("save_meeting"), on_click=_save_meeting, args=(ctx.store, ctx.person))
    if not known:
        return
    columns = st.columns(3)
    columns[0].selectbox("Decision", DECISIONS, key=_k("decision"), format_func=labelled(DECISION_LABELS))
    columns[1].text_input("Owner", key=_k("owner"), help="Who sees that the conditions are met.", max_chars=200)
    columns[2].date_input("Due", value=None, key=_k("due"), format="YYYY-MM-DD", help="On or after the meeting's day.")
    st.text_area(
        "Conditions", key=_k("conditions"), height=68, max_chars=2000, placeholder="What must be true by the due date"
    )
    signals = {s.key: s for p in catalogue.patterns.values() for s in p.signals}
    sign, threshold = st.columns([3, 1])
    sign.selectbox(
        "Tie the condition to a warning sign (optional)",
        list(signals),
        index=None,
        key=_k("signal"),
        format_func=lambda k: signals[k].question,
        placeholder="No warning sign: a condition in words only",
        help="The condition then reads met while this warning sign is clear, computed by the risk engine.",
    )
    threshold.number_input(
        "At threshold (optional)",
        value=None,
        key=_k("signal_value"),
        format="%g",
        placeholder="Catalogue's",
        help="Check the sign at this threshold instead of the catalogue's, in the sign's units (0.1 for 10%).",
    )
    st.button(
        f"Record the decision about {pilot_id}",
        type="primary",
        key=_k("save"),
        icon=":material/save:",
        on_click=_save_decision,
        args=(ctx.store, ctx.person, pilot_id),
    )
