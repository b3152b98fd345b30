"""The signal catalogue: `config/signals.toml`, validated, with the values in force.

The file holds every weight, threshold and sentence the risk engine uses; an administrator edits
it (or points PILOT_HEALTH_SIGNALS at a copy). A file with a mistake is refused with one sentence
naming the file and the setting, so a typo never silently changes a score.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pilot_health.config import reread_when_changed

PATTERN_KEYS = (
    "data_debt",
    "integration_avoidance",
    "organisational_resistance",
    "governance_vacuum",
    "wrong_success_metrics",
)
# Each pattern's short name, wherever its full name (the catalogue's `name`) does not fit: the risk
# heatmap's columns, the risk view's cards, sort choices and rules table, the command line's table.
PATTERN_SHORT_NAMES = {
    "data_debt": "Data Debt",
    "integration_avoidance": "Integration",
    "organisational_resistance": "Resistance",
    "governance_vacuum": "Governance",
    "wrong_success_metrics": "Wrong Metrics",
}
SIGNAL_KEYS: dict[str, tuple[str, ...]] = {
    "data_debt": (
        "data_effort_below_guidance",
        "no_automated_pipeline",
        "no_data_quality_monitoring",
        "no_master_data_management",
        "lab_to_live_drop",
        "no_live_data",
    ),
    "integration_avoidance": (
        "no_system_of_record",
        "api_not_designed",
        "latency_not_defined",
        "error_handling_not_designed",
        "integration_not_resourced",
        "integration_open_too_long",
    ),
    "organisational_resistance": (
        "no_change_champion",
        "sponsor_below_director",
        "no_change_plan",
        "training_not_ready",
        "adkar_barrier",
        "adoption_below_target",
    ),
    "governance_vacuum": (
        "no_production_monitoring",
        "no_drift_alerts",
        "no_responsible_ai_review",
        "no_escalation_path",
        "no_accountable_owner",
        "live_decay",
    ),
    "wrong_success_metrics": ("no_business_kpi", "no_business_data", "technical_not_business", "kpi_behind_plan"),
}
NEEDS_THRESHOLD = {
    "data_effort_below_guidance",
    "lab_to_live_drop",
    "no_live_data",
    "integration_open_too_long",
    "adkar_barrier",
    "adoption_below_target",
    "live_decay",
    "no_business_data",
    "kpi_behind_plan",
}
# The evidence the article calls decisive on its own (a lab-to-live cliff, months with no live or
# business results): these signals may carry a `decisive` mark that makes their pattern at least medium.
CAN_BE_DECISIVE = {"lab_to_live_drop", "no_live_data", "no_business_data"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scoring(_Strict):
    insufficient_coverage: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=100)
    medium: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Scoring:
        if self.medium > self.high:
            raise ValueError("scoring.medium must not be above scoring.high")
        return self


class Health(_Strict):
    min_patterns_with_evidence: int = Field(ge=0, le=5)
    red_high_patterns: int = Field(ge=1, le=5)
    amber_medium_patterns: int = Field(ge=1, le=5)
    months_in_pilot_amber: float = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, values):
        """A copy of the catalogue from before the health rule of issue 18 still loads: medium
        patterns no longer make a pilot red, so their count is read and set aside."""
        if isinstance(values, dict):
            values = {k: v for k, v in values.items() if k != "red_medium_patterns"}
        return values


class Analysis(_Strict):
    smoothing_weeks: int = Field(ge=1, le=26)
    first_live_weeks: int = Field(ge=1, le=26)
    decay_min_weeks: int = Field(ge=2, le=104)
    decay_warning: float = Field(gt=0, lt=1)
    decay_critical: float = Field(gt=0, lt=1)
    alignment_min_periods: int = Field(ge=3, le=104)
    alignment_max_lag: int = Field(ge=0, le=12)
    # Verdicts as tested claims (docs/alignment.md): defaults so that an older copy of the catalogue still loads.
    significance: float = Field(default=0.05, gt=0, le=0.2)
    decay_reference_weeks: int = Field(default=8, ge=2, le=52)
    decay_noise_k: float = Field(default=2.0, ge=0, le=10)
    kpi_noise_k: float = Field(default=2.0, ge=0, le=10)
    adoption_min_weeks: int = Field(ge=1, le=104)
    min_respondents: int = Field(ge=1, le=100)
    # Drift: defaults so that a copy of the catalogue made before drift existed still loads.
    drift_reference_weeks: int = Field(default=8, ge=2, le=52)
    drift_current_weeks: int = Field(default=4, ge=2, le=52)
    drift_warning: float = Field(default=2.0, gt=0)
    drift_critical: float = Field(default=3.0, gt=0)
    # Adoption page: defaults for the same reason.
    participation_warning: float = Field(default=0.6, gt=0, le=1)
    usage_trend_weeks: int = Field(default=12, ge=2, le=104)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data):
        """Settings that no longer exist are ignored, not refused: `trend_threshold` (a rank
        correlation cut-off) gave way to `significance` (trends are tested)."""
        if isinstance(data, dict) and "trend_threshold" in data:
            data = {k: v for k, v in data.items() if k != "trend_threshold"}
        return data

    @model_validator(mode="after")
    def _ordered_levels(self) -> Analysis:
        if self.decay_critical < self.decay_warning:
            raise ValueError("decay_critical must be at least decay_warning")
        if self.drift_critical < self.drift_warning:
            raise ValueError("drift_critical must be at least drift_warning")
        return self


class Signal(_Strict):
    key: str
    question: str
    weight: float = Field(gt=0)
    reads: list[str]
    threshold: float | None = None
    unit: str | None = None
    todo: str
    action: str | None = None  # what to do when this warning sign fires (the Risk page's "What to do next")
    decisive: float | None = None  # fired at or past this mark (in the signal's unit): the pattern is at least medium


class Pattern(_Strict):
    name: str
    step: int = Field(ge=1, le=5)
    step_title: str
    summary: str
    signals: list[Signal] = Field(min_length=1)
    # A general playbook per pattern, from before each signal named its own action: still read from
    # an older copy of the file, never shown (it advised steps the register showed done).
    actions: list[str] = Field(default_factory=list)

    @property
    def total_weight(self) -> float:
        return sum(s.weight for s in self.signals)


class Catalogue(_Strict):
    """The file's content, plus where it came from (`source`) and a short hash of it (`fingerprint`)."""

    scoring: Scoring
    health: Health
    analysis: Analysis
    patterns: dict[str, Pattern]
    source: str = ""
    fingerprint: str = ""
    overrides: dict[str, float] = {}  # thresholds set in the dashboard on top of the file (thresholds.py)

    @model_validator(mode="after")
    def _complete(self) -> Catalogue:
        if list(self.patterns) != list(PATTERN_KEYS):
            missing = [k for k in PATTERN_KEYS if k not in self.patterns]
            extra = [k for k in self.patterns if k not in PATTERN_KEYS]
            if missing or extra:
                raise ValueError(
                    f"patterns must be exactly {', '.join(PATTERN_KEYS)}"
                    + (f" (missing {', '.join(missing)})" if missing else "")
                    + (f" (unknown {', '.join(extra)})" if extra else "")
                )
        for key, pattern in self.patterns.items():
            keys = [s.key for s in pattern.signals]
            if sorted(keys) != sorted(SIGNAL_KEYS[key]):
                raise ValueError(
                    f"patterns.{key} must have the signals {', '.join(SIGNAL_KEYS[key])} (it has {', '.join(keys)})"
                )
            for signal in pattern.signals:
                if signal.key in NEEDS_THRESHOLD and signal.threshold is None:
                    raise ValueError(f"signal {signal.key} needs a threshold")
                if signal.decisive is not None and signal.key not in CAN_BE_DECISIVE:
                    raise ValueError(
                        f"signal {signal.key} cannot be decisive (only {', '.join(sorted(CAN_BE_DECISIVE))} can)"
                    )
        return self

    @property
    def source_label(self) -> str:
        """Where the rules come from, in words for the screen (the file's path is for operators:
        `source`): the shipped rules, and how many thresholds the dashboard sets on top of them."""
        label = "the signal catalogue"
        if self.overrides:
            count = len(self.overrides)
            label += f" with {count} threshold{'s' if count != 1 else ''} set on the Thresholds page"
        return label

    def signal(self, key: str) -> Signal:
        for pattern in self.patterns.values():
            for signal in pattern.signals:
                if signal.key == key:
                    return signal
        raise KeyError(key)

    def threshold(self, key: str) -> float:
        value = self.signal(key).threshold
        assert value is not None
        return value


def catalogue_path() -> Path:
    """The catalogue in force: PILOT_HEALTH_SIGNALS, else config/signals.toml in the checkout."""
    from pilot_health.config import load_config

    return load_config().signals_path


@reread_when_changed(catalogue_path)
def load_catalogue(path: Path) -> Catalogue:
    """The catalogue in force (re-read when the file changes)."""
    from pilot_health.config import read_settings_file

    catalogue, _ = read_settings_file(
        path, "signal catalogue", "config/signals.toml", "PILOT_HEALTH_SIGNALS", Catalogue, add_source=True
    )
    return catalogue
