"""The add/edit form for a pilot record, validated as the user types.

Widgets live outside `st.form`, so every change reruns the page and the `Pilot` model checks the
values at once; each rejected value is explained under its own field. Saving happens in the
button's callback (before the page reruns), which is also where the new pilot gets selected.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from pilot_health.access import Person
from pilot_health.errors import PilotHealthError
from pilot_health.models import (
    KPI_DIRECTIONS,
    PILOT_FIELDS,
    READINESS_PATTERNS,
    SPONSOR_LEVEL_LABELS,
    SPONSOR_LEVELS,
    STAGE_LABELS,
    STAGES,
    FieldProblem,
    Pilot,
    evidence_pattern,
    field_group,
    validate_pilot,
)
from pilot_health.register.pilots import create_pilot, update_pilot
from pilot_health.store.database import Store
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import labelled

NEW = "__new__"
GROUPS = (
    ("identity", "Identity"),
    ("people", "People"),
    ("lifecycle", "Lifecycle, budget and users"),
    ("outcome", "Business outcome"),
    ("effort", "Data and integration"),
    ("readiness", "Readiness evidence"),
)
EVIDENCE_OPTIONS = ("unknown", "yes", "no")
EVIDENCE_LABELS = {"unknown": "Not known", "yes": "Yes", "no": "No"}
CHOICES = {
    "stage": (STAGES, STAGE_LABELS, "Choose a stage"),
    "sponsor_level": (SPONSOR_LEVELS, SPONSOR_LEVEL_LABELS, "Not known"),
    "kpi_direction": (
        KPI_DIRECTIONS,
        {"up": "Up: higher is better", "down": "Down: lower is better"},
        "From baseline and target",
    ),
}
MONEY_FIELDS = ("budget", "spend_to_date")
NUMBER_STEPS = {
    "budget": 10_000.0,
    "spend_to_date": 10_000.0,
    "kpi_baseline": 0.1,
    "kpi_target": 0.1,
    "data_effort_pct": 5.0,
}
DATE_RANGE = (date(1990, 1, 1), date(2100, 12, 31))


def key(prefix: str, name: str) -> str:
    return f"pilot_form.{prefix}.{name}"


def _info(name: str) -> Any:
    return Pilot.model_fields[name]


def _widget(name: str, prefix: str, pilot: Pilot | None) -> None:
    info = _info(name)
    label = info.title + (" *" if info.is_required() else "")
    current = getattr(pilot, name) if pilot else None
    k = key(prefix, name)
    if name in CHOICES:
        options, labels, placeholder = CHOICES[name]
        index = options.index(current) if current in options else None
        st.selectbox(
            label,
            options,
            index=index,
            format_func=labelled(labels),
            key=k,
            help=info.description,
            placeholder=placeholder,
        )
    elif field_group(name) == "readiness":
        value = "unknown" if current is None else ("yes" if current else "no")
        st.radio(
            label,
            EVIDENCE_OPTIONS,
            index=EVIDENCE_OPTIONS.index(value),
            format_func=EVIDENCE_LABELS.get,
            horizontal=True,
            key=k,
            help=info.description,
        )
    elif info.annotation in (date | None, date):
        st.date_input(
            label,
            value=current,
            min_value=DATE_RANGE[0],
            max_value=DATE_RANGE[1],
            format="YYYY-MM-DD",
            key=k,
            help=info.description,
        )
    elif name == "target_users":
        st.number_input(label, value=current, step=1, key=k, help=info.description, placeholder="Not known")
    elif name in NUMBER_STEPS:
        if name in MONEY_FIELDS:
            from pilot_health.config import currency_symbol

            label = f"{label} ({currency_symbol()})"
        st.number_input(
            label,
            value=None if current is None else float(current),
            step=NUMBER_STEPS[name],
            format="%.2f" if NUMBER_STEPS[name] < 1 else "%.0f",
            key=k,
            help=info.description,
            placeholder="Not known",
        )
    else:
        st.text_input(
            label,
            value=current or "",
            key=k,
            help=info.description,
            disabled=(name == "pilot_id" and pilot is not None),
        )


def collect(prefix: str, pilot: Pilot | None) -> dict[str, Any]:
    """The form's current values, shaped for the `Pilot` model."""
    values: dict[str, Any] = {}
    for name in PILOT_FIELDS:
        raw = st.session_state.get(key(prefix, name))
        if field_group(name) == "readiness":
            raw = None if raw in (None, "unknown") else raw == "yes"
        values[name] = raw
    if pilot is not None:
        values["pilot_id"] = pilot.pilot_id  # the code is the record's identity; it is not edited
    return values


def problems_for(prefix: str, pilot: Pilot | None, existing_ids: set[str]) -> tuple[Pilot | None, list[FieldProblem]]:
    checked, problems = validate_pilot(collect(prefix, pilot))
    if pilot is None and checked is not None and checked.pilot_id in existing_ids:
        problems = [
            FieldProblem("pilot_id", f"{checked.pilot_id} is already used by another pilot; choose another code")
        ]
        checked = None
    return checked, problems


def _save(store: Store, prefix: str, pilot: Pilot | None, existing_ids: set[str], person: Person) -> None:
    checked, problems = problems_for(prefix, pilot, existing_ids)
    st.session_state[key(prefix, "__tried")] = True
    if checked is None:
        st.session_state["pilot_form.error"] = (
            f"Not saved: {len(problems)} value{'s' if len(problems) != 1 else ''} need attention (marked above)."
        )
        return
    try:
        if pilot is None:
            create_pilot(store, checked, person)
        else:
            update_pilot(store, checked, person)
    except PilotHealthError as error:
        st.session_state["pilot_form.error"] = f"Not saved: {md_escape(error)}"  # it may quote what was typed
        return
    st.session_state["flash"] = f"Saved {checked.pilot_id} · {checked.name}."
    if pilot is None:
        for name in list(st.session_state.keys()):
            if str(name).startswith(f"pilot_form.{NEW}."):
                del st.session_state[name]
        st.session_state["pilot"] = checked.pilot_id


def render(store: Store, pilot: Pilot | None, existing_ids: set[str], person: Person) -> None:
    prefix = pilot.pilot_id if pilot else NEW
    slots: dict[str, Any] = {}
    for group, title in GROUPS:
        st.markdown(f"#### {title}")
        names = [n for n in PILOT_FIELDS if field_group(n) == group]
        if group == "readiness":
            st.caption("Yes, no, or not known. Not known is missing evidence — it is never read as no.")
            for pattern, pattern_title in READINESS_PATTERNS.items():
                st.markdown(f"**{pattern_title}**")
                in_pattern = [n for n in names if evidence_pattern(n) == pattern]
                four = st.columns(4)
                for i, name in enumerate(in_pattern):
                    with four[i % 4]:
                        _widget(name, prefix, pilot)
                        slots[name] = st.empty()
            continue
        columns = st.columns(3)
        for i, name in enumerate(names):
            with columns[i % 3]:
                _widget(name, prefix, pilot)
                slots[name] = st.empty()

    checked, problems = problems_for(prefix, pilot, existing_ids)
    tried = st.session_state.get(key(prefix, "__tried"), False)
    shown = 0
    for problem in problems:
        slot = slots.get(problem.field)
        if problem.message == "is required" and not tried:
            if slot is not None:
                slot.caption("Required.")
            continue
        shown += 1
        text = f"{problem.title} {md_escape(problem.message)}."
        (slot.error if slot is not None else st.error)(text, icon=":material/error:")

    st.divider()
    if error := st.session_state.pop("pilot_form.error", None):
        st.error(error, icon=":material/error:")
    elif shown:
        st.warning(
            f"{shown} value{'s' if shown != 1 else ''} need attention before this pilot can be saved.",
            icon=":material/warning:",
        )
    elif checked is not None:
        st.success("All values are valid.", icon=":material/check_circle:")
    st.button(
        "Add this pilot" if pilot is None else f"Save changes to {pilot.pilot_id}",
        type="primary",
        key=f"save.{prefix}",
        on_click=_save,
        args=(store, prefix, pilot, existing_ids, person),
        icon=":material/save:",
    )
