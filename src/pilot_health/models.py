"""The pilot record: one validated model, used by the form, the register CSV and the store.

Field titles and descriptions here are the single source for form labels, tooltips, the register
template's documentation and error messages. Readiness evidence is three-valued: yes, no, or
unknown (blank) — unknown is missing evidence and is never read as no.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from pilot_health.config import DAYS_PER_MONTH

STAGES = ("proposed", "pilot", "scaling", "production", "paused", "cancelled")
STAGE_LABELS = {s: s.capitalize() for s in STAGES}
SPONSOR_LEVELS = ("vp", "director", "manager", "none")
SPONSOR_LEVEL_LABELS = {"vp": "VP or above", "director": "Director", "manager": "Manager", "none": "No sponsor"}
KPI_DIRECTIONS = ("up", "down")

Stage = Literal["proposed", "pilot", "scaling", "production", "paused", "cancelled"]
SponsorLevel = Literal["vp", "director", "manager", "none"]
KpiDirection = Literal["up", "down"]

PILOT_ID_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
YES = {"yes", "y", "true", "1", "1.0", "ja", "oui", "x"}
NO = {"no", "n", "false", "0", "0.0", "nein", "non", "none"}  # "none" answers a yes/no question: there is none
UNKNOWN = {"", "unknown", "?", "n/a", "na", "-", "blank", "tbd", "null", "nan"}
# Register words that say "there is none" (a champion, an owner, a system, a KPI): an answer, never a blank.
NONE_WORDS = frozenset({"none", "no", "nobody", "no one", "n/a", "-", "tbd"})


def says_none(value: Any) -> bool:
    """A register text that names nothing on purpose ("none", "nobody", "n/a" …), as opposed to a blank."""
    return isinstance(value, str) and value.strip().lower() in NONE_WORDS


SPONSOR_SPELLINGS = {
    "vp": "vp",
    "vice president": "vp",
    "svp": "vp",
    "evp": "vp",
    "c-level": "vp",
    "cxo": "vp",
    "executive": "vp",
    "director": "director",
    "senior director": "director",
    "manager": "manager",
    "none": "none",
    "no sponsor": "none",
}

READINESS_PATTERNS = {
    "data_debt": "Data Debt",
    "integration_avoidance": "Integration Avoidance",
    "organisational_resistance": "Organisational Resistance",
    "governance_vacuum": "Governance Vacuum",
}


def months_since(day: date | datetime | str | None, as_of: date | datetime) -> float | None:
    """Months from `day` to the day of `as_of`, unrounded: whole days ÷ DAYS_PER_MONTH (an average
    month, 365.25 / 12 days). None when `day` is unknown (None, NaT, NaN). The one computation of a
    pilot's months in its stage and months since approval, for the home page, the risk engine and
    the steering packs: 1 Jan 2026 to 1 Jul 2026 is 181 days, 5.95 months."""
    if day is None or day != day:  # NaT and NaN are not equal to themselves
        return None
    if isinstance(day, str):
        day = datetime.fromisoformat(day)
    start = day.date() if isinstance(day, datetime) else day
    end = as_of.date() if isinstance(as_of, datetime) else as_of
    return (end - start).days / DAYS_PER_MONTH


# What the audit trail records, and how each action reads on the Audit trail page.
AUDIT_ACTIONS = {
    "upload": "Upload stored",
    "withdraw": "Upload withdrawn",
    "pilot_create": "Pilot added",
    "pilot_edit": "Pilot record edited",
    "pilot_remove": "Pilot removed",
    "metric_definition": "Metric definition saved",
    "demo_load": "Demo loaded",
    "demo_clear": "Demo cleared",
    "restore": "Store restored from a backup",
    "threshold_change": "Threshold changed",
    "meeting_add": "Meeting added",
    "decision_record": "Decision recorded",
    "alert_subscribe": "Alert subscription added",
    "alert_unsubscribe": "Alert subscription removed",
    "alert_run": "Alerts sent",
}


def _text(title: str, description: str, group: str, max_length: int = 200) -> Any:
    return Field(None, title=title, description=description, max_length=max_length, json_schema_extra={"group": group})


def _evidence(title: str, question: str, pattern: str) -> Any:
    return Field(None, title=title, description=question, json_schema_extra={"group": "readiness", "pattern": pattern})


class Pilot(BaseModel):
    """One AI pilot, as in the register. Validated on every write."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=True)

    pilot_id: str = Field(
        title="Pilot code",
        description="Short unique code, e.g. DF-01: 1–20 letters, digits, '-' or '_'. Stored in capitals.",
        json_schema_extra={"group": "identity"},
    )
    name: str = Field(
        title="Name",
        description="What the pilot is called in steering meetings.",
        max_length=120,
        json_schema_extra={"group": "identity"},
    )
    business_unit: str = Field(
        title="Business unit",
        description="The unit that owns the business outcome, e.g. Supply Chain.",
        max_length=80,
        json_schema_extra={"group": "identity"},
    )
    use_case: str | None = _text("Use case", "What the model does, in a sentence.", "identity", 300)
    owner: str | None = _text("Owner", "The person running the pilot day to day.", "people")
    executive_sponsor: str | None = _text("Executive sponsor", "The executive who backs the pilot.", "people")
    sponsor_level: SponsorLevel | None = Field(
        None,
        title="Sponsor level",
        description="vp, director, manager or none. Blank means not known.",
        json_schema_extra={"group": "people"},
    )
    change_champion: str | None = _text(
        "Change champion",
        "The person leading the change with the teams who will use the model; 'none' when nobody is. Blank means not known.",
        "people",
    )
    vendor: str | None = _text("Vendor", "External vendor or partner, if any.", "people")
    stage: Stage = Field(
        title="Stage",
        description="proposed, pilot, scaling, production, paused or cancelled.",
        json_schema_extra={"group": "lifecycle"},
    )
    approved_on: date | None = Field(
        None,
        title="Approved on",
        description="Date the pilot was approved (YYYY-MM-DD).",
        json_schema_extra={"group": "lifecycle"},
    )
    stage_since: date | None = Field(
        None,
        title="In this stage since",
        description="Date the current stage began (YYYY-MM-DD).",
        json_schema_extra={"group": "lifecycle"},
    )
    target_production_on: date | None = Field(
        None,
        title="Target production date",
        description="When the pilot is planned to be in production (YYYY-MM-DD).",
        json_schema_extra={"group": "lifecycle"},
    )
    budget: float | None = Field(
        None,
        title="Budget",
        description="Approved budget, in the portfolio's currency.",
        ge=0,
        json_schema_extra={"group": "lifecycle"},
    )
    spend_to_date: float | None = Field(
        None,
        title="Spend to date",
        description="Money spent so far, in the same currency as the budget.",
        ge=0,
        json_schema_extra={"group": "lifecycle"},
    )
    target_users: int | None = Field(
        None,
        title="Target users",
        description="How many people should use the model once live.",
        ge=0,
        le=2_147_483_647,
        json_schema_extra={"group": "lifecycle"},
    )
    team_sizes: str | None = Field(
        None,
        title="Team sizes",
        description="How many people each team that should use the model has, e.g. 'Finance: 20; Operations: 12' "
        "(team names as in the survey). Participation per team is counted against these.",
        max_length=1000,
        json_schema_extra={"group": "lifecycle"},
    )
    kpi_name: str | None = _text(
        "Business KPI", "The business outcome the pilot must move, e.g. On-shelf availability.", "outcome", 120
    )
    kpi_baseline: float | None = Field(
        None,
        title="KPI baseline",
        description="The KPI's value before the pilot.",
        json_schema_extra={"group": "outcome"},
    )
    kpi_target: float | None = Field(
        None,
        title="KPI target",
        description="The KPI value that counts as success.",
        json_schema_extra={"group": "outcome"},
    )
    kpi_direction: KpiDirection | None = Field(
        None,
        title="KPI direction",
        description="up if a higher KPI is better, down if lower is better. Left blank, it follows from baseline and target.",
        json_schema_extra={"group": "outcome"},
    )
    kpi_unit: str | None = _text("KPI unit", "Unit of the KPI, e.g. %, $M, days.", "outcome", 30)
    kpi_deadline: date | None = Field(
        None,
        title="KPI deadline",
        description="Date by which the KPI target should be reached (YYYY-MM-DD).",
        json_schema_extra={"group": "outcome"},
    )
    pipeline_automated: bool | None = _evidence(
        "Automated data pipeline", "Is there an automated pipeline from the production data sources?", "data_debt"
    )
    data_quality_monitored: bool | None = _evidence(
        "Data quality monitored", "Are data-quality standards defined and monitored?", "data_debt"
    )
    master_data_managed: bool | None = _evidence(
        "Master data managed", "Is the master data the model depends on managed?", "data_debt"
    )
    api_designed: bool | None = _evidence(
        "API designed", "Is the interface to the system of record designed?", "integration_avoidance"
    )
    latency_defined: bool | None = _evidence(
        "Latency defined", "Are latency requirements defined?", "integration_avoidance"
    )
    error_handling_designed: bool | None = _evidence(
        "Error handling designed", "Is error handling for the integration designed?", "integration_avoidance"
    )
    integration_resourced: bool | None = _evidence(
        "Integration resourced", "Are people and budget assigned to the integration work?", "integration_avoidance"
    )
    change_plan: bool | None = _evidence(
        "Change plan", "Is there a structured change plan (for example ADKAR)?", "organisational_resistance"
    )
    training_ready: bool | None = _evidence(
        "Training ready", "Is training ready before go-live?", "organisational_resistance"
    )
    monitoring_in_place: bool | None = _evidence(
        "Production monitoring", "Is the model's performance monitored in production?", "governance_vacuum"
    )
    drift_alerts: bool | None = _evidence(
        "Drift alerts", "Do alerts fire when data or performance drifts?", "governance_vacuum"
    )
    responsible_ai_review: bool | None = _evidence(
        "Responsible-AI review", "Has a fairness / responsible-AI review been done?", "governance_vacuum"
    )
    escalation_path: bool | None = _evidence(
        "Escalation path", "Is there an escalation path when the model fails?", "governance_vacuum"
    )
    data_effort_pct: float | None = Field(
        None,
        title="Data engineering effort (%)",
        description="Share of the pilot's effort spent on data engineering, 0–100. The article's guidance is 40–50%.",
        ge=0,
        le=100,
        json_schema_extra={"group": "effort"},
    )
    integration_target: str | None = _text(
        "Integration target",
        "System of record the model must plug into (ERP, CRM, WMS …), or 'none'. Blank means not known.",
        "effort",
        80,
    )
    accountable_owner: str | None = _text(
        "Accountable owner",
        "The person accountable for the model's behaviour in production; 'none' when nobody is. Blank means not known.",
        "effort",
    )

    # -- normalisation of what people type and spreadsheets write ---------------------------

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip() == "":
            return None
        if isinstance(value, float) and math.isnan(value):
            return None
        if value is not None and type(value).__name__ in {"NaTType", "NAType"}:
            return None
        return value

    @field_validator("pilot_id", mode="before")
    @classmethod
    def _pilot_code(cls, value: Any) -> Any:
        if value is None or str(value).strip() == "":
            return None
        code = str(value).strip().upper()
        if not PILOT_ID_PATTERN.match(code):
            raise ValueError(
                "use 1–20 letters, digits, '-' or '_', starting with a letter or digit (for example DF-01)"
            )
        return code

    @field_validator("stage", "kpi_direction", mode="before")
    @classmethod
    def _lower_choice(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("sponsor_level", mode="before")
    @classmethod
    def _sponsor_level(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        key = value.strip().lower()
        return SPONSOR_SPELLINGS.get(key, key)

    @field_validator(
        "pipeline_automated",
        "data_quality_monitored",
        "master_data_managed",
        "api_designed",
        "latency_defined",
        "error_handling_designed",
        "integration_resourced",
        "change_plan",
        "training_ready",
        "monitoring_in_place",
        "drift_alerts",
        "responsible_ai_review",
        "escalation_path",
        mode="before",
    )
    @classmethod
    def _yes_no_unknown(cls, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        key = str(value).strip().lower()
        if key in YES:
            return True
        if key in NO:
            return False
        if key in UNKNOWN:
            return None
        raise ValueError("answer yes, no, or leave it blank when nobody knows")

    @field_validator("budget", "spend_to_date", "kpi_baseline", "kpi_target", "data_effort_pct", mode="before")
    @classmethod
    def _plain_number(cls, value: Any) -> Any:
        if isinstance(value, str):
            cleaned = (
                value.strip()
                .replace("%", "")
                .replace("$", "")
                .replace("€", "")
                .replace("£", "")
                .replace(",", "")
                .strip()
            )
            try:
                value = float(cleaned)
            except ValueError:
                raise ValueError(f"{value!r} is not a number") from None
        if isinstance(value, float) and math.isinf(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("team_sizes", mode="before")
    @classmethod
    def _team_sizes(cls, value: Any) -> Any:
        if (
            value is None
            or (isinstance(value, str) and not value.strip())
            or (isinstance(value, float) and math.isnan(value))
        ):
            return None
        return format_team_sizes(parse_team_sizes(str(value)))

    @field_validator("approved_on", "stage_since", "target_production_on", "kpi_deadline", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.date()
        if hasattr(value, "to_pydatetime"):
            return value.to_pydatetime().date()
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Pilot:
        today = (info.context or {}).get("today") or date.today()
        problems: list[tuple[str, str]] = []
        if self.approved_on and self.approved_on > today:
            problems.append(("approved_on", "cannot be in the future"))
        if self.stage_since and self.stage_since > today:
            problems.append(("stage_since", "cannot be in the future"))
        if self.approved_on and self.stage_since and self.stage != "proposed" and self.stage_since < self.approved_on:
            problems.append(
                (
                    "stage_since",
                    f"is before the approval date {self.approved_on.isoformat()}; a {self.stage} stage starts on or after approval",
                )
            )
        if self.approved_on and self.target_production_on and self.target_production_on < self.approved_on:
            problems.append(("target_production_on", f"is before the approval date {self.approved_on.isoformat()}"))
        if self.approved_on and self.kpi_deadline and self.kpi_deadline < self.approved_on:
            problems.append(("kpi_deadline", f"is before the approval date {self.approved_on.isoformat()}"))
        has_kpi_detail = any(v is not None for v in (self.kpi_baseline, self.kpi_target, self.kpi_deadline))
        if has_kpi_detail and not self.kpi_name:
            problems.append(("kpi_name", "is needed when a KPI baseline, target or deadline is given"))
        if self.kpi_baseline is not None and self.kpi_target is not None:
            if self.kpi_target == self.kpi_baseline:
                problems.append(("kpi_target", "equals the baseline, so there is nothing to improve"))
            else:
                implied = "up" if self.kpi_target > self.kpi_baseline else "down"
                if self.kpi_direction is None:
                    object.__setattr__(self, "kpi_direction", implied)
                elif self.kpi_direction != implied:
                    relation = "below" if implied == "down" else "above"
                    problems.append(
                        (
                            "kpi_direction",
                            f"is '{self.kpi_direction}' but the target {self.kpi_target:g} is {relation} the baseline {self.kpi_baseline:g}",
                        )
                    )
        if problems:
            raise ValueError("\n".join(f"{field}: {message}" for field, message in problems))
        return self


def parse_team_sizes(text: str) -> dict[str, int]:
    """'Finance: 20; Operations: 12' -> {'Finance': 20, 'Operations': 12}. Parts are separated by
    ';' or new lines, and a name from its size by ':' or '='. Raises ValueError with a sentence."""
    sizes: dict[str, int] = {}
    for part in re.split(r"[;\n]", text or ""):
        if not part.strip():
            continue
        found = re.fullmatch(r"(.*)[:=](.*)", part.strip())  # greedy: the last ':' or '=' separates the size
        name, number = (found.group(1).strip(), found.group(2).strip()) if found else ("", "")
        if not name:
            raise ValueError(
                f"write each team as 'name: number', e.g. 'Finance: 20; Operations: 12' ({part.strip()!r} is not)"
            )
        try:
            size = int(float(number.replace(",", "")))
        except ValueError:
            raise ValueError(f"the size of {name!r} is not a whole number ({number!r})") from None
        if size <= 0 or size != float(number.replace(",", "")):
            raise ValueError(f"the size of {name!r} must be a whole number above 0")
        if name.casefold() in {n.casefold() for n in sizes}:
            raise ValueError(f"the team {name!r} is named twice")
        sizes[name] = size
    return sizes


def format_team_sizes(sizes: dict[str, int]) -> str | None:
    return "; ".join(f"{name}: {size}" for name, size in sizes.items()) or None


def _extra(name: str) -> dict[str, Any]:
    """What a register field says of itself beyond its type (its group, its evidence pattern)."""
    extra = Pilot.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


PILOT_FIELDS: tuple[str, ...] = tuple(Pilot.model_fields)
READINESS_FIELDS: tuple[str, ...] = tuple(
    name for name in Pilot.model_fields if _extra(name).get("group") == "readiness"
)
REQUIRED_FIELDS = tuple(name for name, f in Pilot.model_fields.items() if f.is_required())


def field_title(name: str) -> str:
    info = Pilot.model_fields.get(name)
    return info.title if info and info.title else name


def field_group(name: str) -> str:
    return _extra(name).get("group", "")


def evidence_pattern(name: str) -> str:
    return _extra(name).get("pattern", "")


@dataclass(frozen=True)
class FieldProblem:
    """One rejected value, said so that a business owner understands it."""

    field: str
    message: str

    @property
    def title(self) -> str:
        return field_title(self.field)

    def __str__(self) -> str:
        return f"{self.title} ({self.field}) {self.message}"


_TYPE_MESSAGES = {
    "missing": "is required",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "int_parsing": "is not a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "is not a whole number",
    "date_from_datetime_parsing": "is not a date; write it as YYYY-MM-DD, e.g. 2025-03-31",
    "date_parsing": "is not a date; write it as YYYY-MM-DD, e.g. 2025-03-31",
    "date_type": "is not a date; write it as YYYY-MM-DD, e.g. 2025-03-31",
    "date_from_datetime_inexact": "must be a date without a time of day",
    "string_too_long": "is too long",
    "string_type": "must be text",
    "extra_forbidden": "is not a column of the pilot register",
    "bool_parsing": "answer yes, no, or leave it blank",
}


def _message_for(error: Mapping[str, Any]) -> list[FieldProblem]:
    field = str(error["loc"][0]) if error.get("loc") else ""
    kind = error.get("type", "")
    if error.get("input") is None and field in REQUIRED_FIELDS and kind != "value_error":
        return [FieldProblem(field, "is required")]
    if kind == "value_error":
        text = str(error.get("ctx", {}).get("error", error.get("msg", "")))
        if not field:  # the cross-field check names its fields itself
            problems = []
            for part in text.split("\n"):
                name, _, message = part.partition(": ")
                problems.append(FieldProblem(name, message))
            return problems
        return [FieldProblem(field, text)]
    if kind == "literal_error":
        choices = {"stage": STAGES, "sponsor_level": SPONSOR_LEVELS, "kpi_direction": KPI_DIRECTIONS}.get(field, ())
        return [FieldProblem(field, f"{error.get('input')!r} is not one of: {', '.join(choices)}")]
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = error.get("ctx", {})
        if field == "data_effort_pct":
            return [FieldProblem(field, "must be a percentage between 0 and 100")]
        if "ge" in bound:
            return [FieldProblem(field, f"must be {bound['ge']:,.15g} or more")]
        return [FieldProblem(field, f"must be {bound.get('le'):,.15g} or less")]
    if kind == "string_too_long":
        return [FieldProblem(field, f"is too long (at most {error.get('ctx', {}).get('max_length')} characters)")]
    return [FieldProblem(field, _TYPE_MESSAGES.get(kind, error.get("msg", "is not valid")))]


def explain(error: ValidationError) -> list[FieldProblem]:
    """Turn pydantic's errors into one plain message per rejected value."""
    problems: list[FieldProblem] = []
    for item in error.errors(include_url=False):
        problems.extend(_message_for(item))
    return problems


def validate_pilot(values: dict[str, Any], *, today: date | None = None) -> tuple[Pilot | None, list[FieldProblem]]:
    """Validate a mapping of register values; returns the pilot or the problems, never raises.

    `today` is the day dates may not lie beyond (default: the real today)."""
    try:
        return Pilot.model_validate(values, context={"today": today}), []
    except ValidationError as error:
        return None, explain(error)
