"""Small example files, one per layout the upload page understands, offered as downloads.

Each is a real upload: stored in this order on an empty store (the register first, as it names
the example pilot DF-01), every row is stored and none is rejected. They show the columns and
spellings a file may use; the tools' own exports (MLflow, SurveyMonkey …) are read as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from pilot_health.csv_files import rows_to_csv
from pilot_health.models import PILOT_FIELDS


@dataclass(frozen=True)
class Example:
    title: str  # what the button says
    file_name: str
    description: str  # one sentence under the button
    data: bytes


_REGISTER = {
    "pilot_id": "DF-01",
    "name": "Demand forecasting for fresh produce",
    "business_unit": "Fresh Food Operations",
    "use_case": "Daily demand forecast per store",
    "owner": "Maya Lindqvist",
    "executive_sponsor": "Daniel Okafor",
    "sponsor_level": "director",
    "change_champion": "Grace Moreau",
    "stage": "pilot",
    "approved_on": "2025-07-01",
    "stage_since": "2025-08-01",
    "budget": "1800000",
    "spend_to_date": "650000",
    "target_users": "60",
    "kpi_name": "Forecast accuracy",
    "kpi_baseline": "72",
    "kpi_target": "87",
    "kpi_direction": "up",
    "kpi_unit": "%",
    "kpi_deadline": "2026-12-31",
}
_LONG = [
    ("DF-01", "accuracy", "technical", "lab", "2025-09-01", "0.91"),
    ("DF-01", "accuracy", "technical", "live", "2025-09-01", "0.84"),
    ("DF-01", "accuracy", "technical", "lab", "2025-09-08", "0.92"),
    ("DF-01", "accuracy", "technical", "live", "2025-09-08", "0.83"),
    ("DF-01", "Forecast accuracy", "business", "live", "2025-09-08", "74.5"),
]
_WIDE = [
    ("DF-01", "2025-09-15", "live", "0.85", "0.061"),
    ("DF-01", "2025-09-22", "live", "0.84", "0.064"),
    ("DF-01", "2025-09-29", "live", "0.86", "0.058"),
]
_SURVEY = [
    ("DF-01", "R001", "2025-09-10", "1", "Planners", "Planner", "4", "4", "3", "3", "2", "Need more practice time"),
    ("DF-01", "R002", "2025-09-10", "1", "Planners", "Planner", "5", "4", "4", "3", "3", ""),
    (
        "DF-01",
        "R003",
        "2025-09-11",
        "1",
        "Store leads",
        "Store lead",
        "3",
        "2",
        "2",
        "2",
        "",
        "Not sure why we need it",
    ),
]
_USAGE = [
    ("DF-01", "2025-09-01", "18", "64"),
    ("DF-01", "2025-09-08", "22", "81"),
    ("DF-01", "2025-09-15", "25", "97"),
]


def examples() -> list[Example]:
    """One small CSV per layout: the pilot register, a metric export (one value per row, and one
    column per metric), survey responses and a usage export."""
    register = rows_to_csv(list(PILOT_FIELDS), [tuple(_REGISTER.get(f, "") for f in PILOT_FIELDS)])
    return [
        Example(
            "Pilot register",
            "example_pilot_register.csv",
            "One pilot per row, in the register's columns; a blank cell is “not known”.",
            register,
        ),
        Example(
            "Metric export: one value per row",
            "example_metrics_long.csv",
            "Pilot, metric, kind (technical or business), lab or live, date and value.",
            rows_to_csv(["pilot_id", "metric", "kind", "environment", "observed_at", "value"], _LONG),
        ),
        Example(
            "Metric export: one column per metric",
            "example_metrics_wide.csv",
            "A row per date, a column per metric (here accuracy and mape).",
            rows_to_csv(["pilot_id", "date", "environment", "accuracy", "mape"], _WIDE),
        ),
        Example(
            "Survey responses (ADKAR)",
            "example_survey.csv",
            "One response per row: the five ADKAR scores 1–5 (blank when skipped), team, role and comment.",
            rows_to_csv(
                [
                    "pilot_id",
                    "respondent_id",
                    "responded_at",
                    "wave",
                    "team",
                    "role",
                    "awareness",
                    "desire",
                    "knowledge",
                    "ability",
                    "reinforcement",
                    "comment",
                ],
                _SURVEY,
            ),
        ),
        Example(
            "Usage export",
            "example_usage.csv",
            "A row per date with active users and sessions.",
            rows_to_csv(["pilot_id", "date", "active_users", "sessions"], _USAGE),
        ),
    ]
