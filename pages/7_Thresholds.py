"""Thresholds: every number the scores and verdicts compare against, and an administrator's changes to them."""
import pandas as pd
import streamlit as st

from pilot_health.csv_files import frame_to_csv
from pilot_health.errors import PilotHealthError
from pilot_health.thresholds import save_thresholds, threshold_settings
from pilot_health.ui.page import friendly_errors, page_setup
from pilot_health.ui.widgets import data_table

ctx = page_setup("Thresholds", pinnable=False)  # the thresholds in force now; a pinned view uses them too
COLUMNS = ["key", "label", "in_file", "in_force", "changed_by", "changed_at"]


def editor_round() -> int:
    return st.session_state.get("thresholds_round", 0)


def forget_edits() -> None:
    st.session_state["thresholds_round"] = editor_round() + 1


def save(values: dict[str, float], what: str) -> None:
    try:
        changed = save_thresholds(ctx.store.unscoped(), values, ctx.person)
    except PilotHealthError as error:  # one sentence, shown above the tables; nothing was stored
        st.session_state["thresholds_problem"] = str(error)
        return
    st.session_state["flash"] = f"{what}: {len(changed)} threshold{'s' if len(changed) != 1 else ''} changed." if changed else "Nothing to change."
    forget_edits()


with friendly_errors():
    st.title("Thresholds")
    if flash := st.session_state.pop("flash", None):
        st.toast(flash, icon=":material/check_circle:")
    settings = threshold_settings(ctx.store)
    editable = ctx.person.can("edit_thresholds")
    set_here = [s for s in settings if s.in_force != s.in_file]
    st.caption(
        "Every number the failure-pattern scores, the health rule and the alignment and adoption verdicts compare against. "
        "The signal catalogue file (config/signals.toml, or PILOT_HEALTH_SIGNALS) holds them as shipped; a value set here wins "
        "over the file, applies to every page at once, is checked by the same rules as the file and is recorded in the audit "
        "trail. Setting a value back to the file's removes it. Pinned links use the thresholds in force now."
    )
    st.caption(f"{len(set_here)} of {len(settings)} thresholds are set on this page; the rest are the file's."
               + ("" if editable else " Only administrators can change them."))
    if problem := st.session_state.pop("thresholds_problem", None):
        st.error(problem, icon=":material/error:")

    frame = pd.DataFrame([{c: getattr(s, c) for c in COLUMNS} | {"section": s.section, "whole": s.whole_number} for s in settings])
    column_config = {
        "key": st.column_config.TextColumn("Setting", help="Its name in the catalogue file (signals.… is a signal's threshold)."),
        "label": st.column_config.TextColumn("What it is", width="large"),
        "in_file": st.column_config.NumberColumn("In the file", format="%g"),
        "in_force": st.column_config.NumberColumn("In force", format="%g", help="Change it here (administrators)."),
        "changed_by": st.column_config.TextColumn("Set by"),
        "changed_at": st.column_config.DatetimeColumn("Set at (UTC)", format="YYYY-MM-DD HH:mm"),
    }
    edited: dict[str, float] = {}
    for section in frame["section"].unique():
        rows = frame[frame["section"] == section][COLUMNS].reset_index(drop=True)
        st.subheader(section)
        if editable:
            result = st.data_editor(rows, key=f"thresholds.{section}.{editor_round()}", hide_index=True, width="stretch",
                                    disabled=[c for c in COLUMNS if c != "in_force"], column_config=column_config)
            for key, before, after in zip(rows["key"], rows["in_force"], result["in_force"]):
                if pd.notna(after) and float(after) != float(before):
                    edited[key] = float(after)
        else:
            slug = section.lower().replace(" ", "_")
            data_table(rows, f"thresholds.{slug}", f"pilot_health_thresholds_{slug}.csv", column_config=column_config)

    if editable:
        st.divider()
        left, right, _ = st.columns([1.2, 1.6, 3])
        left.button(f"Save {len(edited)} change{'s' if len(edited) != 1 else ''}", type="primary", icon=":material/save:",
                    disabled=not edited, on_click=save, args=(edited, "Saved"), key="thresholds_save",
                    help="Checked all together by the catalogue's rules before anything is stored.")
        right.button("Set every threshold back to the file's", icon=":material/restart_alt:", disabled=not set_here,
                     on_click=save, args=({s.key: s.in_file for s in set_here}, "Back to the file"), key="thresholds_reset")
        if edited:
            st.caption("Changed, not saved yet: " + ", ".join(f"{k} → {v:g}" for k, v in edited.items()) + ".")
        st.download_button("Download every threshold (CSV)", frame_to_csv(frame[COLUMNS]), file_name="pilot_health_thresholds.csv",
                           mime="text/csv", icon=":material/download:", key="thresholds.download", type="tertiary")
