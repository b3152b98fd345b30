"""Pilot register: every pilot record, and the form to add or edit one."""
import streamlit as st

from pilot_health.models import PILOT_FIELDS, READINESS_FIELDS, STAGE_LABELS
from pilot_health.pilots import get_pilot, register_csv, template_csv
from pilot_health.ui import data, pilot_form
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
        st.caption(
            f"{len(register)} pilots. Every column of the register template is kept; the table shows the main ones. "
            "“Evidence known” counts the readiness questions answered yes or no (the rest are unknown)."
        )
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            height=320,
            column_order=[
                "pilot_id", "name", "business_unit", "stage", "owner", "executive_sponsor", "change_champion",
                "approved_on", "stage_since", "budget", "spend_to_date", "kpi_name", "evidence", "updated_at",
            ],
            column_config={
                "pilot_id": st.column_config.TextColumn("Pilot"),
                "name": "Name", "business_unit": "Business unit", "stage": "Stage", "owner": "Owner",
                "executive_sponsor": "Sponsor", "change_champion": "Change champion",
                "approved_on": st.column_config.DateColumn("Approved", format="YYYY-MM-DD"),
                "stage_since": st.column_config.DateColumn("In stage since", format="YYYY-MM-DD"),
                "budget": st.column_config.NumberColumn("Budget", format="compact"),
                "spend_to_date": st.column_config.NumberColumn("Spend", format="compact"),
                "kpi_name": "Business KPI",
                "evidence": st.column_config.TextColumn("Evidence known", help="Readiness questions answered yes or no."),
                "updated_at": st.column_config.DatetimeColumn("Last edited (UTC)", format="YYYY-MM-DD HH:mm"),
            },
        )
    left, right, _ = st.columns([1, 1, 2])
    left.download_button(
        "Download the register (CSV)", lambda register=register: register_csv(register) if not register.empty else template_csv(),
        file_name="pilot_register.csv", mime="text/csv", icon=":material/download:", key="download_register",
        help="Every pilot in the register template's columns; open it in a spreadsheet, edit, and upload it back.", on_click="ignore",
    )
    right.download_button(
        "Download an empty template", template_csv(), file_name="pilot_register_template.csv", mime="text/csv",
        icon=":material/description:", key="download_template",
        help=f"The header row of the register: {len(PILOT_FIELDS)} columns, documented in docs/pilot-register.md.", on_click="ignore",
    )

    st.divider()
    if not ctx.person.can("edit_pilots"):
        st.info("You can read the register and download it; adding and editing pilots needs the editor role.", icon=":material/edit_off:")
        st.stop()
    if ctx.pinned is not None:
        st.info("This is the register as it was at the pinned moment, so it cannot be edited here. Choose “Show latest” "
                "above to add or edit pilots.", icon=":material/edit_off:")
        st.stop()
    st.header("Add or edit a pilot")
    ids = register["pilot_id"].tolist()
    report_unknown_url_values("pilot", ids, "pilot")
    chosen = st.selectbox(
        "Pilot", [pilot_form.NEW, *ids], key="pilot", bind="query-params",
        format_func=lambda p: "New pilot" if p == pilot_form.NEW else p,
        help="Choose a pilot to edit its record, or “New pilot” to add one. The choice is part of the page's address.",
    )
    record = None if chosen == pilot_form.NEW else get_pilot(ctx.store, chosen)
    if record is not None:
        st.text(f"{record.name} · {record.business_unit} · {STAGE_LABELS[record.stage]}")
    if ctx.person.limited:
        st.caption(f"You may add and edit pilots of {md_escape(ctx.person.units_text)} only.")
    pilot_form.render(ctx.store, record, set(ids), ctx.person)
