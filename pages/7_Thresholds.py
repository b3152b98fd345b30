"""Thresholds: every number the scores and verdicts compare against, and an administrator's changes to them."""

import pandas as pd
import streamlit as st

from pilot_health.csv_files import frame_to_csv
from pilot_health.errors import PilotHealthError
from pilot_health.rules.thresholds import save_thresholds, threshold_settings
from pilot_health.ui.guide import guide_link
from pilot_health.ui.page import friendly_errors, page_setup

ctx = page_setup("Thresholds", pinnable=False)  # the thresholds in force now; a pinned view keeps those of its moment
# The key stays in the CSV download (it is how the catalogue file names the setting), not on screen. The CSV
# keeps the numbers as the file has them (0.6); the screen shows a share as a per cent (“60%”).
COLUMNS = ["label", "explanation", "in_force", "in_file", "changed_by", "changed_at", "key"]
SHOWN = ["label", "explanation", "in_force_shown", "in_file_shown"]  # who set a value and when: in its own table below
SET_HERE = ["label", "in_force_shown", "in_file_shown", "changed_by", "changed_at"]
ROW_HEIGHT = 78  # taller than 4rem: Streamlit then wraps a cell's text (up to three lines) instead of cutting it
COLUMN_CONFIG = {
    "label": st.column_config.TextColumn("Setting", width=300),
    "explanation": st.column_config.TextColumn("What it does", width=330),
    "in_force_shown": st.column_config.TextColumn(
        "In force", width=80, help="The value every page uses now. A share reads as a per cent."
    ),
    "in_file_shown": st.column_config.TextColumn(
        "As shipped",
        width=90,
        help="The value in the rules as shipped (the signal catalogue the person who runs the dashboard looks after).",
    ),
    "changed_by": st.column_config.TextColumn("Set by", width=200, help="Who set it on this page."),
    "changed_at": st.column_config.DatetimeColumn(
        "Set on", format="D MMM YYYY HH:mm", width=130, help="When it was set on this page (UTC)."
    ),
}


def table(rows: pd.DataFrame, key: str, columns: list[str], file_name: str | None = None) -> None:
    """The settings as people read them, and (given `file_name`) their CSV with the numbers as the file has them."""
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        key=f"{key}.table",
        column_config=COLUMN_CONFIG,
        column_order=columns,
        row_height=ROW_HEIGHT,
        height=38 + ROW_HEIGHT * len(rows) + 2,
    )
    if file_name:
        st.download_button(
            "Download (CSV)",
            frame_to_csv(rows[COLUMNS]),
            file_name=file_name,
            mime="text/csv",
            icon=":material/download:",
            key=f"{key}.download",
            type="tertiary",
            on_click="ignore",
        )


def save(values: dict[str, float], what: str) -> None:
    try:
        changed = save_thresholds(ctx.store, values, ctx.person)
    except PilotHealthError as error:  # one sentence, shown above the tables; nothing was stored
        st.session_state["thresholds_problem"] = str(error)
        return
    st.session_state["flash"] = (
        f"{what}: {len(changed)} threshold{'s' if len(changed) != 1 else ''} changed."
        if changed
        else "Nothing changed."
    )


with friendly_errors():
    st.title("Thresholds")
    if flash := st.session_state.pop("flash", None):
        st.toast(flash, icon=":material/check_circle:")
    settings = threshold_settings(ctx.store)
    by_key = {s.key: s for s in settings}
    set_here = [s for s in settings if s.in_force != s.in_file]
    editable = ctx.person.can("edit_thresholds")
    st.caption(
        "Every number the failure-pattern scores, the health rule and the alignment and adoption verdicts compare against. "
        "Each comes with the dashboard (“as shipped”); a value set here wins over it, applies to every page at once, is checked "
        "by the same rules and is recorded in the audit trail. Setting a value back to the shipped one removes it. A pinned "
        "link keeps the thresholds that were in force at its moment."
    )
    st.caption(
        f"{len(set_here)} of {len(settings)} thresholds are set on this page; the rest are as shipped."
        + ("" if editable else " Only administrators can change them.")
    )
    guide_link("risk", "How the thresholds are used: how risk is judged")
    if problem := st.session_state.pop("thresholds_problem", None):
        st.error(problem, icon=":material/error:")

    if editable:
        with st.container(border=True):
            st.markdown("**Change a threshold**")
            left, middle = st.columns([3, 1], vertical_alignment="bottom")
            key = left.selectbox(
                "Setting",
                list(by_key),
                format_func=lambda k: f"{by_key[k].section} · {by_key[k].label}",
                key="threshold_key",
                index=None,
                placeholder="Choose the setting to change",
            )
            if key is not None:
                chosen = by_key[key]
                left.caption(chosen.explanation, help=f"In the rules file: {key}")
                scale = 100 if chosen.share else 1  # a share is typed as a per cent: 60 for 0.6
                typed = middle.number_input(
                    "New value" + (" (%)" if chosen.share else ""),
                    value=round(float(chosen.in_force) * scale, 6),
                    step=1.0 if chosen.whole_number or chosen.share else 0.01,
                    format="%.0f" if chosen.whole_number else "%g",
                    key=f"threshold_value.{key}",
                    help=f"As shipped: {chosen.shown(chosen.in_file)}. Checked with every other threshold when saved.",
                )
                value = typed if typed is None else round(typed / scale, 6)
                save_column, back_column, _ = st.columns([1, 1.6, 2])
                save_column.button(
                    "Save",
                    type="primary",
                    icon=":material/save:",
                    key="threshold_save",
                    on_click=save,
                    args=({key: value}, "Saved"),
                    disabled=value == chosen.in_force,
                )
                back_column.button(
                    "Set back to the value as shipped",
                    icon=":material/undo:",
                    key="threshold_back",
                    on_click=save,
                    args=({key: chosen.in_file}, "Back as shipped"),
                    disabled=chosen.in_force == chosen.in_file,
                )
        st.button(
            "Set every threshold back as shipped",
            icon=":material/restart_alt:",
            disabled=not set_here,
            key="thresholds_reset",
            on_click=save,
            args=({s.key: s.in_file for s in set_here}, "Back as shipped"),
        )

    frame = pd.DataFrame(
        [
            {c: getattr(s, c) for c in COLUMNS}
            | {"section": s.section, "in_force_shown": s.shown(s.in_force), "in_file_shown": s.shown(s.in_file)}
            for s in settings
        ]
    )
    frame["changed_by"] = frame["changed_by"].fillna("")
    frame["changed_at"] = pd.to_datetime(frame["changed_at"])
    if set_here:
        with st.expander(
            f"Set on this page: {len(set_here)} threshold{'s' if len(set_here) != 1 else ''}, who set {'it' if len(set_here) == 1 else 'them'} and when"
        ):
            table(
                frame[frame["key"].isin([s.key for s in set_here])].reset_index(drop=True),
                "thresholds.set_here",
                SET_HERE,
            )
    for section in frame["section"].unique():
        st.subheader(section)
        slug = section.lower().replace(" ", "_")
        table(
            frame[frame["section"] == section].reset_index(drop=True),
            f"thresholds.{slug}",
            SHOWN,
            f"pilot_health_thresholds_{slug}.csv",
        )
