"""The pilot register file: one row per pilot, its dates and numbers read as everywhere else, each row
checked by the Pilot model (the same rules as the pilot form), and a limited person's rows kept to
their business units."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pilot_health.access import Person
from pilot_health.formatting import plural
from pilot_health.ingest import values as v
from pilot_health.ingest.problems import Problem
from pilot_health.ingest.recognise import IGNORE
from pilot_health.ingest.run import PREVIEW_ROWS, Run
from pilot_health.lazy import pandas as pd
from pilot_health.models import PILOT_FIELDS, READINESS_FIELDS, Pilot, explain, says_none
from pilot_health.store import queries

REGISTER_DATES = ("approved_on", "stage_since", "target_production_on", "kpi_deadline")
REGISTER_NUMBERS = ("budget", "spend_to_date", "kpi_baseline", "kpi_target", "data_effort_pct", "target_users")
TOO_SMALL = "__too_small"  # a register number column's flag (values.too_small), beside its value
# A register column's own vocabulary wins over the generic spellings of an empty cell (values.NULL_SPELLINGS):
# these words are answers, kept as written, exactly as the pilot form would store them. Names of a person, a
# system or a KPI keep the words that say "there is none" (`none`, `n/a`, `-`, as the risk engine reads them); the
# sponsor level's `none` is one of its levels; a yes/no question answered `none` reads as no; and a number or a
# date written `none` is rejected with a reason (is it 0, or not known?) rather than stored as unknown.
REGISTER_NAMED = (
    "use_case",
    "owner",
    "executive_sponsor",
    "change_champion",
    "vendor",
    "kpi_name",
    "kpi_unit",
    "integration_target",
    "accountable_owner",
)
REGISTER_OWN_WORDS: dict[str, tuple[str, ...]] = {
    **{name: tuple(s for s in v.NULL_SPELLINGS if says_none(s)) for name in REGISTER_NAMED},  # none, n/a, -
    "sponsor_level": ("none",),
    **{name: ("none",) for name in READINESS_FIELDS},
    **{name: ("none",) for name in (*REGISTER_NUMBERS, *REGISTER_DATES)},
}


def parse_register(run: Run) -> pd.DataFrame:
    """The register is small (one row per pilot): each row goes through the Pilot model,
    after dates and numbers were read the same way as everywhere else."""
    select = []
    for header, target in run.mapping.targets.items():
        if target == IGNORE:
            continue
        c = run.cell(header)
        as_written = v.cleaned(c, REGISTER_OWN_WORDS.get(target, ()))
        if target in REGISTER_DATES:
            decision = v.detect_date_format(run.con, "ingest_raw", c, f"the {target} column", run.options.date_order)
            expr = f"CAST({v.timestamp(c, decision.format)} AS DATE)" if decision.format else as_written
            select.append(f"coalesce(CAST({expr} AS VARCHAR), {as_written}) AS {target}")
        elif target in REGISTER_NUMBERS:
            decimal_comma = run.options.decimal == "comma" if run.options.decimal else run.text.format.delimiter == ";"
            select.append(f"coalesce(CAST({v.number(c, decimal_comma)} AS VARCHAR), {as_written}) AS {target}")
            select.append(
                f"CASE WHEN {v.too_small(c, v.number(c, decimal_comma))} THEN {as_written} END AS {target}{TOO_SMALL}"
            )
        else:
            select.append(f"{as_written} AS {target}")
    return run.con.execute(f"SELECT rowid - {run.base} + 1 AS ord, {', '.join(select)} FROM ingest_raw").df()


def register_rows(run: Run, person: Person) -> list[Pilot]:
    """The register file's pilots to store: each row read by the Pilot model, the problems of a row
    that is not a valid pilot (or not one of the uploader's business units) listed with its line,
    a pilot repeated in the file kept once, and pilots already in the register left as they are
    unless the uploader chose to replace them (said in notes)."""
    result = run.result
    frame = parse_register(run)
    units = queries.pilot_business_units(run.con)
    existing = set(units)
    pilots: list[Pilot] = []
    seen: set[str] = set()
    skipped_existing = []
    for record in frame.to_dict("records"):
        pilot = _pilot_of(run, record, units, person)
        if pilot is None:
            continue
        if pilot.pilot_id in seen:
            result.rows_left_out += 1
            result.warnings.append(f"{pilot.pilot_id} appears more than once; only its first row was used.")
            continue
        seen.add(pilot.pilot_id)
        if pilot.pilot_id in existing and not run.options.replace_existing:
            skipped_existing.append(pilot.pilot_id)
            continue
        pilots.append(pilot)
    _say_existing(run, pilots, skipped_existing, existing)
    result.rows_read = len(frame) + len(run.rejects)
    result.rows_rejected += len(run.rejects)
    result.rows_to_store = len(pilots)
    result.pilots = [p.pilot_id for p in pilots]
    result.preview = pd.DataFrame([p.model_dump() for p in pilots[:PREVIEW_ROWS]], columns=list(PILOT_FIELDS))
    return pilots


def _pilot_of(run: Run, record: dict[Any, Any], units: dict[str, str], person: Person) -> Pilot | None:
    """One row as a pilot, or None: a blank row, or a rejected one (its problems listed, counted)."""
    result = run.result
    column_of = {t: h for h, t in run.mapping.targets.items()}
    ordinal = int(record.pop("ord"))
    tiny = {
        k.removesuffix(TOO_SMALL): written
        for k in list(record)
        if k.endswith(TOO_SMALL) and not pd.isna(written := record.pop(k))
    }
    values = {k: (None if pd.isna(val) else val) for k, val in record.items() if not k.endswith(TOO_SMALL)}
    if all(val is None for val in values.values()):
        return None
    problems: list[Problem] = []
    if tiny:  # 1e-400 is read as 0 by every number parser: say so rather than store 0
        for target, written in tiny.items():
            title = Pilot.model_fields[target].title
            problems.append(
                Problem(
                    run.line_for(ordinal),
                    column_of.get(target, target),
                    f"{title} ‘{written}’ is too small to store (it would become 0); write 0 if 0 is meant.",
                )
            )
    elif said_none := [
        t
        for t in (*REGISTER_NUMBERS, *REGISTER_DATES)
        if isinstance(written := values.get(t), str) and written.lower() == "none"
    ]:
        for target in said_none:
            title = Pilot.model_fields[target].title
            what = (
                "is a number: write 0 when there is none, or leave the cell blank when it is not known"
                if target in REGISTER_NUMBERS
                else "is a date: leave the cell blank when there is none or it is not known"
            )
            problems.append(
                Problem(
                    run.line_for(ordinal),
                    column_of.get(target, target),
                    f"{title} says ‘{values[target]}’, but it {what}.",
                )
            )
    else:
        try:
            pilot = Pilot.model_validate(values)
        except ValidationError as error:
            for problem in explain(error):
                column = next((h for h, t in run.mapping.targets.items() if t == problem.field), problem.field)
                problems.append(Problem(run.line_for(ordinal), column, f"{problem.title} {problem.message}."))
        else:
            refusal = outside_units(pilot, units, person)
            if refusal is None:
                return pilot
            field_name, message = refusal
            problems.append(Problem(run.line_for(ordinal), column_of.get(field_name, field_name), message))
    result.problems.extend(problems)
    result.rows_rejected += 1
    return None


def _say_existing(run: Run, pilots: list[Pilot], skipped_existing: list[str], existing: set[str]) -> None:
    """Notes on pilots already in the register: left as they are, or to be updated from this file."""
    result = run.result
    if skipped_existing:
        result.rows_left_out += len(skipped_existing)
        result.already_stored = len(skipped_existing)
        shown = f"{', '.join(skipped_existing[:6])}{' …' if len(skipped_existing) > 6 else ''}"
        result.warnings.append(
            f"{plural(len(skipped_existing), 'pilot')} already in the register "
            f"{'was' if len(skipped_existing) == 1 else 'were'} left as they are ({shown}). "
            "Choose “replace stored values” to update them from this file."
        )
    updated = [p.pilot_id for p in pilots if p.pilot_id in existing]
    if updated:
        result.warnings.append(
            f"{plural(len(updated), 'existing pilot')} will be updated: "
            f"{', '.join(updated[:6])}{' …' if len(updated) > 6 else ''}."
        )


def outside_units(pilot: Pilot, units: dict[str, str], person: Person) -> tuple[str, str] | None:
    """Why a limited person may not store this register row: (the field at fault, the reason), or None."""
    if pilot.pilot_id in units and not person.sees(units[pilot.pilot_id]):
        return (
            "pilot_id",
            f"The code {pilot.pilot_id} is already used by a pilot of another business unit; choose another code.",
        )
    if not person.sees(pilot.business_unit):
        return "business_unit", (
            f"“{pilot.business_unit}” is not one of your business units ({person.units_text}); "
            "you may add or change pilots of those only."
        )
    return None
