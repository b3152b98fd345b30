"""Pilot register: every pilot record, and the form to add or edit one."""

import streamlit as st

from pilot_health.models import PILOT_FIELDS, READINESS_FIELDS, STAGE_LABELS
from pilot_health.register.pilots import get_pilot, register_csv, template_csv
from pilot_health.ui import data, pilot_form
from pilot_health.ui.columns import MISSING, MISSING_NOTE, money_column
from pilot_health.ui.guide import guide_link
from pilot_health.ui.page import friendly_errors, page_setup
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import report_unknown_url_values

ctx = page_setup("Pilot register")

with friendly_errors():
    st.title("Pilot register")
    if flash := st.session_state.pop("flash", None):
        st.toast(md_escape(flash), icon=":material/check_circle:")  # it names the pilot saved
    register = data.pilot_register(*ctx.cache_key, ctx.pinned)

    if register.empty:
        st.info("The register is empty. Add the first pilot with the form below.", icon=":material/inbox:")
    else:
        known = register[list(READINESS_FIELDS)].notna().sum(axis=1)
        table = register.assign(
            stage=register["stage"].map(STAGE_LABELS),
            evidence=known.astype(int).astype(str) + f" of {len(READINESS_FIELDS)}",
        )
        more = st.toggle(
            "More columns",
            key="register_more",
            bind="query-params",
            help="Also show the business unit, budget, spend, sponsor, change champion, the readiness evidence and the "
            "dates. The table then needs scrolling sideways on a laptop screen; the download below has every column.",
        )
        st.caption(
            f"{len(register)} pilots. Every column of the register template is kept; the table shows the main ones"
            + (
                ". “Evidence” counts the readiness questions answered yes or no (the rest are unknown). "
                if more
                else " (“More columns” shows more; the download has them all). "
            )
            + MISSING_NOTE
        )
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            height=320,
            placeholder=MISSING,
            column_order=[
                "pilot_id",
                "name",
                "stage",
                "business_unit",
                "budget",
                "spend_to_date",
                "owner",
                "executive_sponsor",
                "change_champion",
                "kpi_name",
                "evidence",
                "approved_on",
                "stage_since",
                "updated_at",
            ]
            if more
            else ["pilot_id", "name", "stage", "owner", "kpi_name"],
            column_config={
                "pilot_id": st.column_config.TextColumn("Pilot", pinned=True, width=70, help="The pilot's code."),
                "name": st.column_config.TextColumn("Name", width=240),
                "business_unit": st.column_config.TextColumn("Unit", width=125, help="Business unit."),
                "stage": st.column_config.TextColumn("Stage", width=85),
                "owner": st.column_config.TextColumn("Owner", width=130, help="The person accountable for the pilot."),
                "executive_sponsor": st.column_config.TextColumn("Sponsor", width=120, help="The executive sponsor."),
                "change_champion": st.column_config.TextColumn(
                    "Champion", width=120, help="The change champion in the business."
                ),
                "approved_on": st.column_config.DateColumn(
                    "Approved", format="D MMM YYYY", width=95, help="The day the pilot was approved."
                ),
                "stage_since": st.column_config.DateColumn(
                    "In stage since",
                    format="D MMM YYYY",
                    width=105,
                    help="The day the pilot entered its current stage.",
                ),
                "budget": money_column("Budget", width=95, help="Approved budget."),
                "spend_to_date": money_column("Spend", width=95, help="Spend to date."),
                "kpi_name": st.column_config.TextColumn(
                    "Business KPI", width=235, help="The business result the pilot must move."
                ),
                "evidence": st.column_config.TextColumn(
                    "Evidence", width=75, help="Readiness questions answered yes or no, of all of them."
                ),
                "updated_at": st.column_config.DatetimeColumn(
                    "Last edited", format="D MMM YYYY HH:mm", width=130, help="When the record was last changed (UTC)."
                ),
            },
        )
    buttons = st.container(horizontal=True)
    buttons.download_button(
        "Download the register (CSV)",
        lambda register=register: register_csv(register) if not register.empty else template_csv(),
        file_name="pilot_register.csv",
        mime="text/csv",
        icon=":material/download:",
        key="download_register",
        help="Every pilot in the register template's columns; open it in a spreadsheet, edit, and upload it back.",
        on_click="ignore",
    )
    buttons.download_button(
        "Download an empty template",
        template_csv(),
        file_name="pilot_register_template.csv",
        mime="text/csv",
        icon=":material/description:",
        key="download_template",
        help=f"The header row of the register: {len(PILOT_FIELDS)} columns, each explained in the Guide (“The pilot register”).",
        on_click="ignore",
    )
    guide_link("register", "What each column of the register means")

    st.divider()
    if not ctx.person.can("edit_pilots"):
        st.info(
            "You can read the register and download it; adding and editing pilots needs the editor role.",
            icon=":material/edit_off:",
        )
        st.stop()
    if ctx.pinned is not None:
        st.info(
            "This is the register as it was at the pinned moment, so it cannot be edited here. Choose “Show latest” "
            "above to add or edit pilots.",
            icon=":material/edit_off:",
        )
        st.stop()
    st.header("Add or edit a pilot")
    ids = register["pilot_id"].tolist()
    report_unknown_url_values("pilot", ids, "pilot")
    chosen = st.selectbox(
        "Pilot",
        [pilot_form.NEW, *ids],
        key="pilot",
        bind="query-params",
        format_func=lambda p: "New pilot" if p == pilot_form.NEW else p,
        help="Choose a pilot to edit its record, or “New pilot” to add one. The choice is part of the page's address.",
    )
    record = None if chosen == pilot_form.NEW else get_pilot(ctx.store, chosen)
    if record is not None:
        st.text(f"{record.name} · {record.business_unit} · {STAGE_LABELS[record.stage]}")
    if ctx.person.limited:
        st.caption(f"You may add and edit pilots of {md_escape(ctx.person.units_text)} only.")
    pilot_form.render(ctx.store, record, set(ids), ctx.person)
