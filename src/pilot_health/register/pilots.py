"""Reading and writing pilot records. Every write is validated by the `Pilot` model first."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pydantic import ValidationError

from pilot_health.access import Person, as_person
from pilot_health.csv_files import frame_to_csv
from pilot_health.errors import DuplicateError, NotFoundError
from pilot_health.models import PILOT_FIELDS, Pilot
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now


def list_pilots(store: Store, as_of: datetime | None = None) -> pd.DataFrame:
    """The register now, or as it stood at `as_of` (a pinned link)."""
    with store.read() as con:
        return queries.fetch_pilots(con, as_of)


def get_pilot(store: Store, pilot_id: str) -> Pilot | None:
    with store.read() as con:
        row = queries.fetch_pilot(con, pilot_id)
    if row is None:
        return None
    values = {k: row[k] for k in PILOT_FIELDS}
    try:
        return Pilot.model_validate(values)
    except ValidationError:
        # Stored records were valid when written; a rule tightened since must not hide them.
        return Pilot.model_construct(**values)


def create_pilot(store: Store, pilot: Pilot, by: Person | str = "local user") -> None:
    """Add a pilot: an editor or admin, and a limited editor only in one of their business units."""
    person = as_person(by)
    pilot = Pilot.model_validate(pilot.model_dump())  # re-validate: the record may have been edited since
    person.require("edit_pilots", f"add the pilot {pilot.pilot_id}")
    person.require_unit(pilot.business_unit, f"add the pilot {pilot.pilot_id}")
    with store.write() as con:
        existing = queries.fetch_pilot(con, pilot.pilot_id)
        if existing is not None and not person.sees(existing["business_unit"]):
            raise DuplicateError(
                f"The code {pilot.pilot_id} is already used by a pilot of another business unit; choose another code."
            )
        if existing is not None:
            raise DuplicateError(
                f"A pilot with the code {pilot.pilot_id} already exists; choose another code or edit that pilot."
            )
        queries.insert_pilots(con, [pilot], utc_now())
        queries.record_audit(con, utc_now(), person.name, "pilot_create", pilot.pilot_id, pilot.name)


def changes(before: dict, after: Pilot) -> str:
    """The fields an edit changed, in words: 'stage: pilot → scaling; budget: 900000 → 950000'."""
    values = after.model_dump(mode="python")
    parts = []
    for name in PILOT_FIELDS:
        old, new = before.get(name), values.get(name)
        old = None if old is not None and not isinstance(old, (list, tuple)) and pd.isna(old) else old
        if old is not None and new is not None and hasattr(old, "isoformat") and hasattr(new, "isoformat"):
            old, new = old.isoformat()[:10], new.isoformat()[:10]
        if old != new:
            parts.append(f"{name}: {'—' if old is None else old} → {'—' if new is None else new}")
    return "; ".join(parts) or "no change"


def update_pilot(store: Store, pilot: Pilot, by: Person | str = "local user") -> None:
    """Change a pilot's record; a limited editor may neither change another unit's pilot nor move one out of their units."""
    person = as_person(by)
    pilot = Pilot.model_validate(pilot.model_dump())
    person.require("edit_pilots", f"change the pilot {pilot.pilot_id}")
    with store.write() as con:
        before = queries.fetch_pilot(con, pilot.pilot_id)
        if before is None or not person.sees(before["business_unit"]):
            raise NotFoundError(f"There is no pilot {pilot.pilot_id} to update; it may have been removed.")
        person.require_unit(pilot.business_unit, f"move the pilot {pilot.pilot_id} to another business unit")
        queries.update_pilot(con, pilot, utc_now())
        queries.record_audit(con, utc_now(), person.name, "pilot_edit", pilot.pilot_id, changes(before, pilot))


def register_csv(frame: pd.DataFrame) -> bytes:
    """The register as a CSV in the template's columns (formulas neutralised)."""
    return frame_to_csv(frame[list(PILOT_FIELDS)])


def template_csv() -> bytes:
    """An empty register with the template's header row."""
    return frame_to_csv(pd.DataFrame(columns=list(PILOT_FIELDS)))
