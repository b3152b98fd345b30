"""Alerts: subscribe to be told when a pilot slips; administrators see what was sent and preview the next run."""

import pandas as pd
import streamlit as st

from pilot_health.errors import PilotHealthError
from pilot_health.formatting import plural
from pilot_health.reports.alerts import EVENT_KINDS, run_alerts, sent_log, subscribe, subscriptions, unsubscribe
from pilot_health.reports.meetings import DUE_SOON_DAYS
from pilot_health.ui import data
from pilot_health.ui.guide import guide_link
from pilot_health.ui.page import friendly_errors, page_setup, show_problem
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import data_table

ctx = page_setup("Alerts", pinnable=False)
EVERYTHING, ONE_UNIT, ONE_PILOT = "Every pilot I may see", "One business unit", "One pilot"
EVENT_HELP = (
    f"Health turns red: the pilot's overall health on the risk view. A failure pattern turns high: one of the five "
    f"patterns that stop pilots reaching production. Decay or drift reaches critical: the model's live results against "
    f"its first live weeks, at the critical level set on the Thresholds page. A committee decision falls due (within "
    f"{DUE_SOON_DAYS} days) or overdue. No new data for a while: the pilot counts as stale on the home page."
)
SUBSCRIPTION_COLUMNS = {
    "subscription_id": st.column_config.NumberColumn("Number", width=70, format="%d"),
    "address": st.column_config.TextColumn(
        "Sent to",
        width=200,
        help="An e-mail address, or a team's channel (a webhook: its address is a secret and is not shown).",
    ),
    "covers": st.column_config.TextColumn("About", width=200),
    "events": st.column_config.TextColumn("Told when", width="large"),
    "units": st.column_config.TextColumn(
        "May see", width=150, help="The business units whose pilots the digests may name."
    ),
    "created_by": st.column_config.TextColumn("Added by", width=150),
}
LOG_COLUMNS = {
    "created_at": st.column_config.DatetimeColumn(
        "When", format="D MMM YYYY HH:mm", width=120, help="Day and time (UTC) of the run."
    ),
    "shown_address": st.column_config.TextColumn("To", width=160),
    "recipient": st.column_config.TextColumn(
        "For", width=140, help="The subscriber, or the executive sponsor an escalation is for."
    ),
    "subject": st.column_config.TextColumn("Subject", width=200),
    "status_words": st.column_config.TextColumn("Status", width=160),
    "attempts": st.column_config.NumberColumn(
        "Tries", width=50, format="%d", help="Attempts to deliver it, over every run."
    ),
    "last_error": st.column_config.TextColumn("Why not delivered", width="large"),
}


def _remove() -> None:
    """Remove the chosen subscription before the page runs again (so the list and the chooser show it gone)."""
    try:
        removed = unsubscribe(ctx.store, st.session_state.get("alert_remove"), by=ctx.person)
        st.session_state["alert_removed"] = (
            "success",
            f"Removed: {md_escape(removed.shown_address)} is no longer told about {md_escape(removed.covers)}.",
        )
    except PilotHealthError as error:
        st.session_state["alert_removed"] = ("error", str(error))
    st.session_state["alert_remove"] = None


with friendly_errors():
    st.title("Alerts")
    st.caption(
        "Be told when a pilot slips, without opening the dashboard: after each nightly load, everyone subscribed gets one "
        "digest (an e-mail, or a message in a team's channel) of what is new — what happened, the evidence in one line and a "
        "link to the view as it stood at that moment. A pilot that stays red with no committee decision is escalated to its "
        "executive sponsor."
    )
    guide_link("alerts", "How alerts work")
    admin = ctx.person.can("manage_alerts")
    own = ctx.person.name if "@" in ctx.person.name else ""
    register = data.pilot_register(*ctx.cache_key)
    units = sorted(register["business_unit"].dropna().unique())
    pilots = list(register["pilot_id"])
    names = dict(zip(register["pilot_id"], register["name"]))

    st.subheader("Subscribe")
    with st.form("subscribe", border=True):
        if admin:
            address = st.text_input(
                "E-mail address or a team channel's address",
                value=own,
                key="alert_address",
                placeholder="name@example.com",
                help="Your address, someone else's, a team's mailbox, or the address of a Microsoft Teams or "
                "Slack channel's incoming webhook (it starts with https://).",
            )
        else:
            address = own
            st.text_input(
                "Your e-mail address",
                value=own,
                disabled=True,
                key="alert_address",
                help="Alerts go to the address you signed in with.",
            )
        about = st.radio("About", (EVERYTHING, ONE_UNIT, ONE_PILOT), horizontal=True, key="alert_about")
        left, right = st.columns(2)
        unit = left.selectbox(
            "Business unit",
            units,
            index=None,
            placeholder="Choose a business unit",
            key="alert_unit",
            help="Used when you subscribe to one business unit.",
        )
        pilot = right.selectbox(
            "Pilot",
            pilots,
            index=None,
            placeholder="Choose a pilot",
            key="alert_pilot",
            format_func=lambda p: f"{p} · {names.get(p, '')}",
            help="Used when you subscribe to one pilot.",
        )
        events = st.multiselect(
            "Tell me when",
            list(EVENT_KINDS),
            default=list(EVENT_KINDS),
            format_func=EVENT_KINDS.get,
            key="alert_events",
            help=EVENT_HELP,
        )
        limit = []
        if admin:
            limit = st.multiselect(
                "Only these business units may be named",
                units,
                key="alert_limit",
                placeholder="Every business unit",
                help="For a team's address or channel: its digests name only these units' pilots. A person "
                "the access list names is always held to their own business units.",
            )
        added = st.form_submit_button("Subscribe", icon=":material/notifications_active:", type="primary")
    if added:
        try:
            made = subscribe(
                ctx.store,
                address,
                events,
                pilot_id=pilot if about == ONE_PILOT else None,
                business_unit=unit if about == ONE_UNIT else None,
                by=ctx.person,
                limited_to=limit or None,
            )
            st.success(
                f"Subscribed {md_escape(made.shown_address)} to {md_escape(made.covers)}. The next run after the nightly "
                "load tells of what is new from then on.",
                icon=":material/check_circle:",
            )
        except PilotHealthError as error:
            show_problem(error)

    found = subscriptions(ctx.store, ctx.person)
    st.subheader("Subscriptions" if admin else "Your subscriptions")
    if not found:
        st.caption("Nobody is subscribed yet." if admin else "You are not subscribed to anything yet.")
    else:
        table = pd.DataFrame(
            [
                {
                    "subscription_id": s.subscription_id,
                    "address": s.shown_address,
                    "covers": s.covers,
                    "events": s.events_text.capitalize(),
                    "units": ", ".join(s.limited_to) if s.limited_to is not None else "Every business unit",
                    "created_by": s.created_by,
                }
                for s in found
            ],
            columns=list(SUBSCRIPTION_COLUMNS),
        )
        data_table(
            table,
            "subscriptions",
            "pilot_health_alert_subscriptions.csv",
            label="Download the subscriptions (CSV)",
            column_config=SUBSCRIPTION_COLUMNS,
            missing_note=False,
        )
        labels = {s.subscription_id: f"{s.subscription_id} · {s.shown_address} · {s.covers}" for s in found}
        left, right = st.columns([4, 1], vertical_alignment="bottom")
        gone = left.selectbox(
            "Remove a subscription",
            list(labels),
            index=None,
            format_func=labels.get,
            key="alert_remove",
            placeholder="Choose a subscription to remove",
        )
        right.button(
            "Remove",
            icon=":material/notifications_off:",
            disabled=gone is None,
            key="alert_remove_button",
            on_click=_remove,
        )
    said = st.session_state.pop("alert_removed", None)
    if said:
        (st.success if said[0] == "success" else st.error)(
            said[1], icon=":material/check_circle:" if said[0] == "success" else ":material/error:"
        )

    if admin:
        st.subheader("What the alerts sent")
        log = pd.DataFrame(sent_log(ctx.store, ctx.person), columns=[*LOG_COLUMNS, "status"])
        if log.empty:
            st.caption("Nothing has been sent yet: the alerts run after the nightly load.")
        else:
            waiting = int((log["status"] != "sent").sum())
            st.caption(
                f"{plural(len(log), 'digest')}, newest first; {plural(waiting, 'digest')} not delivered "
                + "(one not delivered yet is tried again at the next run; one without an address needs it written in the "
                "register or the alerts' settings)."
            )
            only = st.toggle("Only those not delivered", key="alert_log_failed")
            shown = log[log["status"] != "sent"] if only else log
            data_table(
                shown.drop(columns=["status"]).fillna({"last_error": "—"}),
                "alert_log",
                "pilot_health_alerts_sent.csv",
                label="Download what was sent (CSV)",
                column_config=LOG_COLUMNS,
                missing_note=False,
            )

        st.subheader("Preview the next run")
        st.caption("What the next run would send if it ran now: nothing is sent and nothing is recorded.")
        if st.button("Preview", icon=":material/preview:", key="alert_preview"):
            report = run_alerts(ctx.store, dry_run=True, by=ctx.person)
            st.info(report.summary, icon=":material/info:")
            for digest in report.digests:
                # The recipient and subject carry names from the register: never read as Markdown.
                title = md_escape(f"{digest.recipient}: {digest.subject}") + (" (tried again)" if digest.retry else "")
                with st.expander(title):
                    if digest.error:
                        st.warning(md_escape(digest.error), icon=":material/warning:")
                    st.text(digest.body)
