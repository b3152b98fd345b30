"""The pilot record: what it accepts, how it normalises, and how it explains what it rejects."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pilot_health.models import PILOT_FIELDS, READINESS_FIELDS, Pilot, validate_pilot

BASE = {"pilot_id": "DF-01", "name": "Demand forecasting", "business_unit": "Supply Chain", "stage": "pilot"}


def problems(**values):
    pilot, found = validate_pilot({**BASE, **values})
    return {p.field: p.message for p in found}


def test_a_minimal_record_is_valid_and_normalised():
    pilot, found = validate_pilot({**BASE, "pilot_id": " df-01 ", "stage": "Pilot", "name": "  Demand forecasting "})
    assert found == []
    assert pilot.pilot_id == "DF-01" and pilot.stage == "pilot" and pilot.name == "Demand forecasting"
    assert all(getattr(pilot, f) is None for f in READINESS_FIELDS)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("yes", True),
        ("Y", True),
        ("TRUE", True),
        ("1", True),
        (True, True),
        ("no", False),
        ("N", False),
        ("false", False),
        ("0", False),
        (False, False),
        ("", None),
        ("  ", None),
        ("unknown", None),
        ("N/A", None),
        ("?", None),
        (None, None),
    ],
)
def test_readiness_is_yes_no_or_unknown_and_blank_is_never_no(answer, expected):
    pilot, found = validate_pilot({**BASE, "drift_alerts": answer})
    assert found == [] and pilot.drift_alerts is expected


def test_an_unreadable_readiness_answer_is_explained():
    assert problems(drift_alerts="maybe") == {"drift_alerts": "answer yes, no, or leave it blank when nobody knows"}


@pytest.mark.parametrize(
    "spelling, level",
    [("VP", "vp"), ("Vice President", "vp"), ("Director", "director"), ("manager", "manager"), ("No sponsor", "none")],
)
def test_sponsor_level_spellings(spelling, level):
    pilot, found = validate_pilot({**BASE, "sponsor_level": spelling})
    assert found == [] and pilot.sponsor_level == level


@pytest.mark.parametrize(
    "values, field, fragment",
    [
        ({"pilot_id": "DF 01"}, "pilot_id", "letters, digits"),
        ({"pilot_id": "X" * 21}, "pilot_id", "1–20"),
        ({"name": ""}, "name", "is required"),
        ({"business_unit": None}, "business_unit", "is required"),
        ({"stage": "dreaming"}, "stage", "'dreaming' is not one of: proposed, pilot"),
        ({"sponsor_level": "intern"}, "sponsor_level", "is not one of"),
        ({"budget": -5}, "budget", "must be 0 or more"),
        ({"budget": "lots"}, "budget", "is not a number"),
        ({"target_users": 2.5}, "target_users", "whole number"),
        ({"target_users": 3_000_000_000}, "target_users", "must be 2,147,483,647 or less"),
        ({"data_effort_pct": 140}, "data_effort_pct", "between 0 and 100"),
        ({"approved_on": "31/02/2024"}, "approved_on", "is not a date"),
        ({"approved_on": (date.today() + timedelta(days=3)).isoformat()}, "approved_on", "cannot be in the future"),
        (
            {"approved_on": "2025-03-01", "stage_since": "2025-01-01"},
            "stage_since",
            "before the approval date 2025-03-01",
        ),
        (
            {"approved_on": "2025-03-01", "target_production_on": "2024-12-01"},
            "target_production_on",
            "before the approval date",
        ),
        ({"kpi_baseline": 72, "kpi_target": 87}, "kpi_name", "is needed"),
        ({"kpi_name": "OSA", "kpi_baseline": 94, "kpi_target": 94}, "kpi_target", "nothing to improve"),
        (
            {"kpi_name": "OSA", "kpi_baseline": 94, "kpi_target": 98, "kpi_direction": "down"},
            "kpi_direction",
            "target 98 is above the baseline 94",
        ),
        ({"colour": "blue"}, "colour", "is not a column of the pilot register"),
    ],
)
def test_rejected_values_are_explained_field_by_field(values, field, fragment):
    found = problems(**values)
    assert field in found, found
    assert fragment in found[field]


def test_kpi_direction_follows_from_baseline_and_target_when_blank():
    pilot, _ = validate_pilot({**BASE, "kpi_name": "Inventory", "kpi_baseline": 48, "kpi_target": 40.8})
    assert pilot.kpi_direction == "down"


def test_numbers_as_people_type_them():
    pilot, found = validate_pilot(
        {
            **BASE,
            "budget": "1,800,000",
            "data_effort_pct": "35%",
            "kpi_name": "A",
            "kpi_baseline": "72",
            "kpi_target": "87",
        }
    )
    assert found == []
    assert pilot.budget == 1_800_000 and pilot.data_effort_pct == 35 and pilot.kpi_target == 87


def test_a_proposed_pilot_may_have_been_proposed_before_approval():
    _, found = validate_pilot({**BASE, "stage": "proposed", "approved_on": "2025-03-01", "stage_since": "2025-01-01"})
    assert found == []


def test_problem_text_names_the_field_for_people():
    _, found = validate_pilot({**BASE, "budget": -1})
    assert str(found[0]) == "Budget (budget) must be 0 or more"


def test_the_register_columns_are_the_model_fields():
    assert PILOT_FIELDS[0] == "pilot_id" and "accountable_owner" in PILOT_FIELDS
    assert len(READINESS_FIELDS) == 13
    assert set(Pilot.model_fields) == set(PILOT_FIELDS)
