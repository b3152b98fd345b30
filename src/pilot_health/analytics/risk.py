"""The failure-pattern risk engine: every pilot against the five patterns, with the evidence.

Each signal of the catalogue (`config/signals.toml`) is fired, clear or unknown for a pilot, with
one sentence of evidence and, where data was read, the rows behind it. A pattern's score is the
weighted share of fired signals among the known ones; its coverage is the weighted share known;
below the catalogue's coverage minimum it reads "insufficient evidence", never "low risk". Health
(green / amber / red / insufficient evidence) follows from the pattern statuses by the rule in
`health()`, which docs/risk.md repeats in words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

import pandas as pd

from pilot_health.analytics.adoption import ELEMENT_LABELS, adoption_rate, group_barrier
from pilot_health.analytics.alignment import Trend
from pilot_health.analytics.evidence import Evidence, PilotEvidence, load_evidence, load_evidence_at
from pilot_health.analytics.pilot_numbers import PilotNumbers
from pilot_health.formatting import percent
from pilot_health.models import Pilot, months_since, says_none
from pilot_health.rules.catalogue import Catalogue, Pattern
from pilot_health.rules.thresholds import catalogue_for
from pilot_health.store.database import Store, utc_now

FIRED, CLEAR, UNKNOWN = "fired", "clear", "unknown"
HEALTH_LABELS = {"green": "Green", "amber": "Amber", "red": "Red", "insufficient": "Insufficient evidence"}
STATUS_LABELS = {"high": "High", "medium": "Medium", "low": "Low", "insufficient": "Insufficient evidence"}
HEALTH_RANK = {"red": 0, "amber": 1, "insufficient": 2, "green": 3}  # worst first


@dataclass(frozen=True)
class SignalResult:
    key: str
    question: str
    weight: float
    state: str  # fired | clear | unknown
    evidence: str
    todo: str | None = None  # for an unknown signal: what nobody has said, as a to-do
    rows: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    action: str | None = None  # for a fired signal: what to do about it (the catalogue's `action`)
    decisive: bool = False  # fired at or past the catalogue's `decisive` mark: the pattern is at least medium


@dataclass(frozen=True)
class Action:
    """One recommended next step, tied to the warning sign that calls for it and its evidence."""

    pattern: str  # the pattern's name
    signal: str  # the signal's key
    text: str
    evidence: str
    decisive: bool


@dataclass(frozen=True)
class PatternResult:
    key: str
    name: str
    score: (
        float | None
    )  # 0–100; None when too little is known to score (status insufficient, or raised by a decisive sign)
    coverage: float  # 0–1
    status: str  # high | medium | low | insufficient
    signals: list[SignalResult]
    step: int
    step_title: str
    raised_by: list[str] = field(
        default_factory=list
    )  # the decisive signs that raised the status to medium, in a few words
    decisive_evidence: list[str] = field(
        default_factory=list
    )  # every decisive sign that fired, in a few words (raised or not)

    @property
    def fired(self) -> list[SignalResult]:
        return [s for s in self.signals if s.state == FIRED]

    @property
    def decisive(self) -> list[SignalResult]:
        return [s for s in self.signals if s.decisive]

    @property
    def score_label(self) -> str:
        """The score as shown: a whole number, or "?" when there is too little evidence to score."""
        return "?" if self.score is None else f"{self.score:.0f}"

    @property
    def actions(self) -> list[Action]:
        """What to do, one step per fired signal (decisive first, then heaviest): never a step the
        register or the data already shows done, because a clear or unknown signal gives none."""
        fired = sorted(self.fired, key=lambda s: (not s.decisive, -s.weight))
        return [Action(self.name, s.key, s.action, s.evidence, s.decisive) for s in fired if s.action]


@dataclass(frozen=True)
class PilotRisk:
    pilot_id: str
    name: str
    business_unit: str
    stage: str
    as_of: datetime
    health: str  # green | amber | red | insufficient
    health_reason: str
    patterns: dict[str, PatternResult]

    @property
    def missing_evidence(self) -> list[tuple[str, str]]:
        """(pattern name, what nobody has said) for every unknown signal, heaviest first."""
        items = [(p.name, s) for p in self.patterns.values() for s in p.signals if s.state == UNKNOWN and s.todo]
        return [(name, s.todo) for name, s in sorted(items, key=lambda x: -x[1].weight)]

    @property
    def next_actions(self) -> list[PatternResult]:
        """Patterns that call for action (high or medium) and have a fired signal to act on, the
        most serious first (high before medium, then decisive signs, then score)."""
        flagged = [p for p in self.patterns.values() if p.status in ("high", "medium") and p.actions]
        return sorted(flagged, key=lambda p: (p.status != "high", not p.decisive, -(p.score or 0)))

    @property
    def actions(self) -> list[Action]:
        """Every recommended step of the patterns that call for action, most serious first."""
        return [action for pattern in self.next_actions for action in pattern.actions]


# -- evaluating one pilot --------------------------------------------------------------------------


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


class _Context:
    """One pilot, one moment: the shared numbers, computed once."""

    def __init__(self, evidence: PilotEvidence, catalogue: Catalogue, as_of: datetime, with_rows: bool) -> None:
        self.evidence = evidence
        self.record = evidence.record
        self.catalogue = catalogue
        self.analysis = catalogue.analysis
        self.as_of = as_of
        self.with_rows = with_rows  # the rows behind each signal: only for a pilot's detail, they cost time
        self.numbers = PilotNumbers(evidence, catalogue.analysis, as_of, catalogue.threshold("kpi_behind_plan"))

    def months_in_stage(self) -> float | None:
        return months_since(self.record.get("stage_since"), self.as_of)

    def months_since_approval(self) -> float | None:
        return months_since(self.record.get("approved_on"), self.as_of)

    @cached_property
    def live_technical_weeks(self) -> pd.DatetimeIndex:
        return self.evidence.weeks("technical", "live")

    # The technical-vs-business numbers are PilotNumbers' (shared with the Alignment page).
    @property
    def gap(self):
        return self.numbers.first_live_gap

    @property
    def decay(self):
        return self.numbers.decay

    @property
    def kpi(self) -> pd.Series:
        return self.numbers.kpi

    @property
    def alignment(self):
        return self.numbers.alignment

    @property
    def technical_trend(self) -> Trend | None:
        return self.numbers.technical_trend

    @cached_property
    def barrier(self):
        if len(self.evidence.responses) < self.analysis.min_respondents:
            return None
        return group_barrier(self.evidence.responses)

    @cached_property
    def adoption(self):
        return adoption_rate(self.evidence.active_users, self.record.get("target_users"), self.analysis)

    def weekly_rows(self, *metrics: str | None) -> pd.DataFrame | None:
        """The weekly values behind a signal (None unless rows were asked for)."""
        if not self.with_rows:
            return None
        rows = self.evidence.weekly[self.evidence.weekly["metric"].isin([m for m in metrics if m])]
        return (
            rows[["metric", "kind", "environment", "week", "value", "n"]]
            .rename(columns={"n": "observations"})
            .reset_index(drop=True)
        )


Evaluator = Callable[[_Context, float], tuple[str, str, pd.DataFrame | None]]
EVALUATORS: dict[str, Evaluator] = {}


def _evaluator(key: str) -> Callable[[Evaluator], Evaluator]:
    def register(function: Evaluator) -> Evaluator:
        EVALUATORS[key] = function
        return function

    return register


def _record_rows(ctx: _Context, *fields: str) -> pd.DataFrame | None:
    """The register fields behind a signal (None unless rows were asked for)."""
    if not ctx.with_rows:
        return None
    return pd.DataFrame(
        [(f, Pilot.model_fields[f].title, _answer_words(ctx.record.get(f))) for f in fields],
        columns=["field", "meaning", "value"],
    ).astype({"value": "object"})


def _answer_words(value: object) -> str:
    """A register answer as people read it: yes, no, "not said" for a blank (never a raw None)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "not said"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (date, datetime)):
        return f"{value:%d %b %Y}"
    return str(value)


def _answer(field_name: str, fired_text: str, clear_text: str) -> Evaluator:
    """A readiness answer: no fires the signal, yes clears it, blank is unknown."""

    def evaluate(ctx: _Context, threshold: float) -> tuple[str, str, pd.DataFrame | None]:
        value = ctx.record.get(field_name)
        rows = _record_rows(ctx, field_name)
        if value is None:
            return UNKNOWN, "The register does not say.", rows
        return (FIRED, fired_text, rows) if not value else (CLEAR, clear_text, rows)

    return evaluate


for _key, _field, _fired, _clear in (
    (
        "no_automated_pipeline",
        "pipeline_automated",
        "The register says there is no automated pipeline from the production data sources.",
        "The register says the pipeline from production data is automated.",
    ),
    (
        "no_data_quality_monitoring",
        "data_quality_monitored",
        "The register says data quality is not defined or monitored.",
        "The register says data quality is defined and monitored.",
    ),
    (
        "no_master_data_management",
        "master_data_managed",
        "The register says the master data is not managed.",
        "The register says the master data is managed.",
    ),
    (
        "api_not_designed",
        "api_designed",
        "The register says the interface to the system of record is not designed.",
        "The register says the interface is designed.",
    ),
    (
        "latency_not_defined",
        "latency_defined",
        "The register says latency requirements are not defined.",
        "The register says latency requirements are defined.",
    ),
    (
        "error_handling_not_designed",
        "error_handling_designed",
        "The register says error handling is not designed.",
        "The register says error handling is designed.",
    ),
    (
        "integration_not_resourced",
        "integration_resourced",
        "The register says nobody is resourced for the integration work.",
        "The register says the integration work is resourced.",
    ),
    (
        "no_change_plan",
        "change_plan",
        "The register says there is no structured change plan.",
        "The register says there is a structured change plan.",
    ),
    (
        "training_not_ready",
        "training_ready",
        "The register says training is not ready.",
        "The register says training is ready.",
    ),
    (
        "no_production_monitoring",
        "monitoring_in_place",
        "The register says the model is not monitored in production.",
        "The register says the model is monitored in production.",
    ),
    (
        "no_drift_alerts",
        "drift_alerts",
        "The register says there are no drift alerts.",
        "The register says drift alerts are in place.",
    ),
    (
        "no_responsible_ai_review",
        "responsible_ai_review",
        "The register says no responsible-AI review has been done.",
        "The register says a responsible-AI review has been done.",
    ),
    (
        "no_escalation_path",
        "escalation_path",
        "The register says there is no escalation path.",
        "The register says there is an escalation path.",
    ),
):
    EVALUATORS[_key] = _answer(_field, _fired, _clear)


def _named(field_name: str, role: str) -> Evaluator:
    """A name in the register: 'none' fires the signal, a name clears it, blank is unknown."""

    def evaluate(ctx: _Context, threshold: float) -> tuple[str, str, pd.DataFrame | None]:
        value = (ctx.record.get(field_name) or "").strip()
        rows = _record_rows(ctx, field_name)
        if not value:
            return UNKNOWN, "The register does not say.", rows
        if says_none(value):
            return FIRED, f"The register says there is no {role}.", rows
        return CLEAR, f"{role[0].upper() + role[1:]}: {value}.", rows

    return evaluate


EVALUATORS["no_change_champion"] = _named("change_champion", "change champion")
EVALUATORS["no_accountable_owner"] = _named("accountable_owner", "accountable owner for the model in production")
EVALUATORS["no_system_of_record"] = _named("integration_target", "system of record to integrate with")


@_evaluator("data_effort_below_guidance")
def _data_effort(ctx: _Context, threshold: float):
    value = ctx.record.get("data_effort_pct")
    rows = _record_rows(ctx, "data_effort_pct")
    if value is None:
        return UNKNOWN, "The register does not say.", rows
    if value < threshold:
        return FIRED, f"Data engineering is {value:.0f}% of the effort, below the {threshold:.0f}% guidance.", rows
    return CLEAR, f"Data engineering is {value:.0f}% of the effort (guidance: at least {threshold:.0f}%).", rows


@_evaluator("lab_to_live_drop")
def _lab_to_live(ctx: _Context, threshold: float):
    gap = ctx.gap
    if gap is None:
        return UNKNOWN, "No lab and live results of the same metric.", None
    label = ctx.evidence.dictionary.describe(gap.metric).label
    text = (
        f"Live {label} {_fmt(gap.live)} vs lab {_fmt(gap.lab)} in the first live weeks "
        f"({gap.live_from:%Y-%m-%d} to {gap.live_until:%Y-%m-%d}, {gap.live_values} live weeks), "
    )
    rows = ctx.weekly_rows(gap.metric)
    if gap.relative >= threshold - 1e-9:
        return FIRED, text + f"{percent(gap.relative)} worse than in the lab (threshold {percent(threshold)}).", rows
    words = (
        f"{percent(gap.relative)} worse than in the lab"
        if gap.relative > 0.005
        else (
            f"{percent(-gap.relative)} better than in the lab" if gap.relative < -0.005 else "no worse than in the lab"
        )
    )
    return CLEAR, text + f"{words} (threshold {percent(threshold)}).", rows


@_evaluator("no_live_data")
def _no_live(ctx: _Context, threshold: float):
    stage = ctx.record.get("stage")
    live = ctx.live_technical_weeks
    if len(live):
        return CLEAR, f"Live results since {live[0]:%Y-%m-%d} ({len(live)} weeks).", None
    if stage == "proposed":
        return CLEAR, "No live results expected yet: the pilot is only proposed.", None
    months = ctx.months_since_approval()
    if months is None:
        return UNKNOWN, "The approval date is not known.", None
    if months >= threshold:
        return FIRED, f"No live results at all, {months:.0f} months after approval.", None
    return (
        CLEAR,
        f"No live results yet, but only {months:.1f} months after approval (expected within {threshold:.0f}).",
        None,
    )


INTEGRATION_ITEMS = ("api_designed", "latency_defined", "error_handling_designed", "integration_resourced")
# What is still open, in words, for each integration answer that is "no".
INTEGRATION_OPEN_WORDS = {
    "api_designed": "the interface to the system of record is not designed",
    "latency_defined": "latency requirements are not defined",
    "error_handling_designed": "error handling is not designed",
    "integration_resourced": "nobody is resourced for the integration work",
}


def _join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@_evaluator("integration_open_too_long")
def _integration_open(ctx: _Context, threshold: float):
    rows = _record_rows(ctx, "stage", "stage_since", *INTEGRATION_ITEMS)
    if ctx.record.get("stage") != "pilot":
        return CLEAR, f"Not in the pilot stage ({ctx.record.get('stage')}).", rows
    months = ctx.months_in_stage()
    answers = {item: ctx.record.get(item) for item in INTEGRATION_ITEMS}
    open_items = [INTEGRATION_OPEN_WORDS[i] for i, v in answers.items() if v is False]
    if all(v is True for v in answers.values()):
        return CLEAR, "Every integration item is answered yes.", rows
    if months is None:
        return UNKNOWN, "The date the pilot stage began is not known.", rows
    if months < threshold:
        return CLEAR, f"{months:.1f} months in the pilot stage, under the {threshold:.0f}-month mark.", rows
    if open_items:
        return FIRED, f"{months:.0f} months in the pilot stage, and {_join(open_items)}.", rows
    return UNKNOWN, f"{months:.0f} months in the pilot stage; whether the integration work is done is not known.", rows


@_evaluator("sponsor_below_director")
def _sponsor(ctx: _Context, threshold: float):
    level = ctx.record.get("sponsor_level")
    sponsor = ctx.record.get("executive_sponsor")
    rows = _record_rows(ctx, "executive_sponsor", "sponsor_level")
    if says_none(sponsor):  # "none" as the sponsor is an answer, whatever the level column says (or leaves blank)
        return FIRED, "The register says there is no executive sponsor.", rows
    if level is None:
        return UNKNOWN, "The register does not say.", rows
    if level == "none":
        return FIRED, "There is no executive sponsor.", rows
    who = f"{sponsor} " if sponsor else "The sponsor "
    if level == "manager":
        return (
            FIRED,
            f"{who}is at manager level, below director.".strip().capitalize()
            if not sponsor
            else f"{sponsor} is at manager level, below director.",
            rows,
        )
    return (
        CLEAR,
        f"{sponsor + ' is' if sponsor else 'The sponsor is'} at {'VP' if level == 'vp' else 'director'} level.",
        rows,
    )


@_evaluator("adkar_barrier")
def _adkar(ctx: _Context, threshold: float):
    barrier = ctx.barrier
    if barrier is None:
        n = len(ctx.evidence.responses)
        return (
            UNKNOWN,
            f"No survey wave with {ctx.analysis.min_respondents} or more respondents"
            + (f" (latest has {n})." if n else "."),
            None,
        )
    wave = int(ctx.evidence.responses["wave"].iloc[0])
    rows = (
        pd.DataFrame(
            [(ELEMENT_LABELS.get(e, "None — not stuck"), n) for e, n in barrier.distribution.items()],
            columns=["barrier point", "respondents"],
        )
        if ctx.with_rows
        else None
    )
    if barrier.element is None:
        return CLEAR, f"In wave {wave}, none of the {barrier.respondents} respondents is stuck on the ADKAR path.", rows
    share = barrier.element_count / barrier.respondents
    text = (
        f"In wave {wave}, {barrier.element_count} of {barrier.respondents} respondents ({percent(share)}) are stuck at "
        f"{ELEMENT_LABELS[barrier.element]}, the most common barrier point"
    )
    return (FIRED if share >= threshold else CLEAR), text + f" (threshold {percent(threshold)}).", rows


@_evaluator("adoption_below_target")
def _adoption(ctx: _Context, threshold: float):
    rate = ctx.adoption
    target = ctx.record.get("target_users")
    if not target:
        return UNKNOWN, "The register has no target number of users.", None
    if rate is None or rate.weeks < ctx.analysis.adoption_min_weeks:
        weeks = 0 if rate is None else rate.weeks
        return UNKNOWN, f"Usage data covers {weeks} weeks; {ctx.analysis.adoption_min_weeks} are needed.", None
    rows = ctx.weekly_rows("active_users")
    text = (
        f"{rate.active_users:.0f} active users against a target of {rate.target_users} ({percent(rate.rate)}), "
        f"average of the last {ctx.analysis.smoothing_weeks} weeks to {rate.latest_week:%Y-%m-%d}"
    )
    if rate.rate < threshold:
        return FIRED, text + f"; below {percent(threshold)}.", rows
    return CLEAR, text + ".", rows


@_evaluator("live_decay")
def _decay(ctx: _Context, threshold: float):
    """Fired when the live level is worse than the first live weeks (the reference) by the threshold
    AND by more than the week-to-week noise explains (`decay_noise_k` standard errors)."""
    decay = ctx.decay
    if decay is None:
        return (
            UNKNOWN,
            (
                f"Fewer than {max(ctx.analysis.decay_min_weeks, ctx.analysis.decay_reference_weeks + ctx.analysis.smoothing_weeks)} weeks of live "
                "results on a metric whose direction is known."
            ),
            None,
        )
    label = ctx.evidence.dictionary.describe(decay.metric).label
    text = (
        f"Live {label} averages {_fmt(decay.latest)} over the {decay.current_weeks} weeks to {decay.latest_week:%Y-%m-%d}, "
        f"against {_fmt(decay.reference)} in its first {decay.reference_weeks} live weeks (the reference, to "
        f"{decay.reference_until:%Y-%m-%d}; {decay.weeks} live weeks in all)"
    )
    rows = ctx.weekly_rows(decay.metric)
    if decay.relative <= 0.005:
        return CLEAR, text + f": no worse than its first live weeks (threshold {percent(threshold)}).", rows
    worse = f": {percent(decay.relative)} worse than its first live weeks"
    drop = decay.drop_in_standard_errors
    noise = (
        "its week-to-week values do not vary"
        if drop is None
        else f"{drop:.1f} times the uncertainty from its week-to-week noise, {ctx.analysis.decay_noise_k:g} needed"
    )
    if decay.relative < threshold - 1e-9:
        return CLEAR, text + worse + f" (threshold {percent(threshold)}).", rows
    if not decay.beyond_noise:
        return (
            CLEAR,
            text
            + worse
            + f", but that is within its week-to-week noise ({noise}), so it is not counted (threshold {percent(threshold)}).",
            rows,
        )
    return (
        FIRED,
        text + worse + f" (threshold {percent(threshold)}), more than its week-to-week noise explains ({noise}).",
        rows,
    )


def _has_kpi(record: dict) -> bool:
    """A named business KPI (not "none") with a baseline and a target."""
    name = record.get("kpi_name")
    return (
        bool(name)
        and not says_none(name)
        and record.get("kpi_baseline") is not None
        and record.get("kpi_target") is not None
    )


@_evaluator("no_business_kpi")
def _no_kpi(ctx: _Context, threshold: float):
    """Blank is unknown and counted here once (as missing evidence); "none" is an answer and fires."""
    rows = _record_rows(ctx, "kpi_name", "kpi_baseline", "kpi_target", "kpi_unit", "kpi_deadline")
    name = ctx.record.get("kpi_name")
    if _has_kpi(ctx.record):
        unit = f" {ctx.record.get('kpi_unit')}" if ctx.record.get("kpi_unit") else ""
        return (
            CLEAR,
            f"KPI: {name}, from {_fmt(ctx.record['kpi_baseline'])} to {_fmt(ctx.record['kpi_target'])}{unit}.",
            rows,
        )
    if says_none(name):
        return FIRED, "The register says the pilot has no business KPI.", rows
    if name:
        missing = " and ".join(
            w for w, f in (("baseline", "kpi_baseline"), ("target", "kpi_target")) if ctx.record.get(f) is None
        )
        return UNKNOWN, f"The KPI “{name}” is named, but its {missing} is not known.", rows
    return UNKNOWN, "The register does not name a business KPI.", rows


def _business_data(ctx: _Context) -> tuple[int, pd.Timestamp | None]:
    """Weeks of business results and the latest: the KPI's series when the KPI is named, else any business series."""
    if not ctx.kpi.empty:
        return len(ctx.kpi), ctx.kpi.index[-1]
    name = ctx.record.get("kpi_name")
    if name and not says_none(name):
        return 0, None
    weeks = ctx.evidence.weeks("business", "live").union(ctx.evidence.weeks("business", "lab"))
    return len(weeks), (weeks[-1] if len(weeks) else None)


@_evaluator("no_business_data")
def _no_kpi_data(ctx: _Context, threshold: float):
    weeks, latest = _business_data(ctx)
    name = ctx.record.get("kpi_name")
    named = bool(name) and not says_none(name)
    if weeks:
        what = f"Business results for “{name}”" if named and not ctx.kpi.empty else "Business results"
        return CLEAR, f"{what}: {weeks} weeks, latest {latest:%Y-%m-%d}.", None
    if ctx.record.get("stage") == "proposed":
        return CLEAR, "No business results expected yet: the pilot is only proposed.", None
    months = ctx.months_since_approval()
    if months is None:
        return UNKNOWN, "The approval date is not known.", None
    if months < threshold:
        return (
            CLEAR,
            f"No business results yet, {months:.1f} months after approval (expected within {threshold:.0f}).",
            None,
        )
    if named:
        return (
            FIRED,
            f"The KPI “{name}” is defined but no data for it has been uploaded, {months:.0f} months after approval.",
            None,
        )
    return FIRED, f"No business results have been uploaded at all, {months:.0f} months after approval.", None


@_evaluator("technical_not_business")
def _technical_not_business(ctx: _Context, threshold: float):
    """Fired when the technical metric improves significantly while the KPI does not (Mann–Kendall
    trends of the alignment, the KPI judged at the lag found), or while the register says there is no
    KPI at all; unknown when the KPI is blank (counted once, as missing evidence, by "no business KPI")
    or below the minimum periods."""
    metric, kpi = ctx.evidence.primary_metric, ctx.record.get("kpi_name")
    if not kpi:
        return (
            UNKNOWN,
            "The register does not name a business KPI, so model progress cannot be compared with business results.",
            None,
        )
    if says_none(kpi):
        trend = ctx.technical_trend
        if metric is None or trend is None:
            return (
                UNKNOWN,
                "The register says there is no business KPI, and there are too few periods of a technical metric to tell whether the model improves.",
                None,
            )
        name = ctx.evidence.dictionary.describe(metric).label
        if trend.direction == "up":
            return (
                FIRED,
                (
                    f"{name} improved clearly ({trend.chance}, {trend.n} periods) while the register says there is "
                    "no business KPI to judge it by."
                ),
                ctx.weekly_rows(metric),
            )
        moved = "got clearly worse" if trend.direction == "down" else "shows no clear change"
        return (
            CLEAR,
            f"{name} {moved} ({trend.chance}, {trend.n} periods); the register says there is no business KPI.",
            None,
        )
    result = ctx.alignment
    if result is None or metric is None:
        return UNKNOWN, f"No technical metric and {kpi} series (with known directions) to compare.", None
    name = ctx.evidence.dictionary.describe(metric).label
    rows = ctx.weekly_rows(metric, ctx.evidence.kpi_metric)
    over = f"over {result.periods} {result.period}ly periods"
    if result.label == "insufficient data" or result.technical is None or result.kpi is None:
        return (
            UNKNOWN,
            (
                f"Only {result.periods} common {result.period}ly periods of {name} and {kpi} "
                f"({ctx.analysis.alignment_min_periods} or more needed)."
            ),
            rows,
        )
    tech, business = result.technical, result.kpi
    later = f", {kpi} judged {result.lag} {result.period}{'s' if result.lag != 1 else ''} later" if result.lag else ""
    said = f"{over}{later}; alignment: {result.label}"
    if tech.direction == "up" and business.direction != "up":
        how = "showed a clear worsening" if business.direction == "down" else "showed no clear change"
        return FIRED, (f"{name} improved clearly ({tech.chance}) while {kpi} {how} ({business.chance}), {said}."), rows
    if tech.direction == "up":
        return CLEAR, (f"{name} and {kpi} both improved clearly ({tech.chance}; {business.chance}), {said}."), rows
    moved = "got clearly worse" if tech.direction == "down" else "shows no clear change"
    return (
        CLEAR,
        (
            f"{name} {moved} ({tech.chance}), so this is not model progress without "
            f"business results ({kpi}: {business.words()}), {said}."
        ),
        rows,
    )


@_evaluator("kpi_behind_plan")
def _behind(ctx: _Context, threshold: float):
    """Fired when progress toward the target trails the time gone by the threshold AND by more than
    the KPI's own noise explains (`kpi_noise_k` standard errors of its latest level)."""
    if not _has_kpi(ctx.record) or ctx.kpi.empty:
        return UNKNOWN, "No KPI with baseline, target and data.", None
    progress = ctx.numbers.kpi_progress
    if progress is None or progress.time_elapsed is None:
        return UNKNOWN, "The approval date or KPI deadline is missing.", None
    rows = ctx.weekly_rows(ctx.evidence.kpi_metric)
    how = (
        f"the trend line through its last {progress.values} {progress.cadence}ly values"
        if progress.method == "trend line"
        else f"the middle of its last {progress.values} {progress.cadence}ly value{'s' if progress.values != 1 else ''}"
    )
    text = (
        f"{ctx.record['kpi_name']} at {_fmt(progress.latest)} ({how}, to {progress.latest_week:%Y-%m-%d}): "
        f"{percent(progress.progress)} of the way from {_fmt(progress.baseline)} to {_fmt(progress.target)}, "
        f"with {percent(min(progress.time_elapsed, 1))} of the time to the deadline gone"
    )
    if progress.outliers:
        many = len(progress.outliers) > 1
        shown = ", ".join(f"{_fmt(value)} on {day:%Y-%m-%d}" for day, value in progress.outliers)
        tail = f" {'Some values' if many else 'One value'} ({shown}) {'are' if many else 'is'} far from the rest and given little weight."
    else:
        tail = ""
    gap = progress.shortfall * 100
    size = progress.shortfall_in_standard_errors
    noise = (
        "its values move smoothly, without ups and downs"
        if size is None
        else f"{size:.1f} times the uncertainty from its ups and downs from one value to the next, {ctx.analysis.kpi_noise_k:g} needed"
    )
    if progress.behind:
        return (
            FIRED,
            text
            + (
                f" (behind by {gap:.0f} percentage points; {threshold * 100:.0f} or more counts), "
                f"more than the KPI's own noise explains ({noise})."
            )
            + tail,
            rows,
        )
    if progress.within_noise:
        return (
            CLEAR,
            text
            + (
                f": behind by {gap:.0f} percentage points, but that is within the KPI's own noise "
                f"({noise}), so it is not counted ({threshold * 100:.0f} or more counts)."
            )
            + tail,
            rows,
        )
    return CLEAR, text + "." + tail, rows


# -- scoring ------------------------------------------------------------------------------------------

# How far past its mark a fired signal is, in the unit of the catalogue's `decisive` setting.
# Only these signals can be decisive: the evidence the article calls decisive on its own.
DECISIVE_MEASURES: dict[str, Callable[[_Context], float | None]] = {
    "lab_to_live_drop": lambda ctx: ctx.gap.relative if ctx.gap else None,  # share of the lab value lost live
    "no_live_data": lambda ctx: ctx.months_since_approval(),  # months after approval with no live results
    "no_business_data": lambda ctx: ctx.months_since_approval(),  # months after approval with no business results
}
# The decisive evidence in a few words, for the health reason ("a 27% drop from lab to live").
DECISIVE_WORDS: dict[str, Callable[[float], str]] = {
    "lab_to_live_drop": lambda share: f"a {percent(share)} drop from lab to live",
    "no_live_data": lambda months: f"no live results {months:.0f} months after approval",
    "no_business_data": lambda months: f"no business results {months:.0f} months after approval",
}
TOLERANCE = 1e-9  # a measure exactly at its mark reaches it, whatever the floating-point error


def decisive_rule(catalogue: Catalogue) -> str:
    """The floor rule in words, from the catalogue in force (for help texts)."""
    marks = {key: catalogue.signal(key).decisive for key in DECISIVE_MEASURES}
    parts = []
    if marks["lab_to_live_drop"] is not None:
        parts.append(f"a lab-to-live drop of {percent(marks['lab_to_live_drop'])} or more")
    for key, what in (("no_live_data", "live"), ("no_business_data", "business")):
        if marks[key] is not None:
            parts.append(f"no {what} results {marks[key]:g} months after approval")
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    return f"Decisive evidence ({listed}) makes its pattern at least medium."


def _is_decisive(signal, state: str, ctx: _Context) -> bool:
    if state != FIRED or signal.decisive is None or signal.key not in DECISIVE_MEASURES:
        return False
    measure = DECISIVE_MEASURES[signal.key](ctx)
    return measure is not None and measure >= signal.decisive - TOLERANCE


def score_pattern(key: str, pattern: Pattern, ctx: _Context, catalogue: Catalogue) -> PatternResult:
    """Score = weight fired ÷ weight known; below the coverage minimum there is no score. A decisive
    warning sign makes the pattern at least medium, whatever the other signals say or how few are known."""
    results = []
    for signal in pattern.signals:
        state, evidence, rows = EVALUATORS[signal.key](ctx, signal.threshold if signal.threshold is not None else 0.0)
        results.append(
            SignalResult(
                signal.key,
                signal.question,
                signal.weight,
                state,
                evidence,
                signal.todo if state == UNKNOWN else None,
                rows,
                action=signal.action if state == FIRED else None,
                decisive=_is_decisive(signal, state, ctx),
            )
        )
    known = sum(s.weight for s in results if s.state != UNKNOWN)
    fired = sum(s.weight for s in results if s.state == FIRED)
    coverage = known / pattern.total_weight
    score = round(100 * fired / known, 1) if known else None
    scoring = catalogue.scoring
    if coverage < scoring.insufficient_coverage - TOLERANCE or score is None:
        status, score = "insufficient", None
    elif score >= scoring.high - TOLERANCE:
        status = "high"
    elif score >= scoring.medium - TOLERANCE:
        status = "medium"
    else:
        status = "low"
    decisive_words = [DECISIVE_WORDS[s.key](DECISIVE_MEASURES[s.key](ctx)) for s in results if s.decisive]
    raised_by = []
    if decisive_words and status in ("low", "insufficient"):
        status = "medium"
        raised_by = decisive_words
    return PatternResult(
        key,
        pattern.name,
        score,
        round(coverage, 3),
        status,
        results,
        pattern.step,
        pattern.step_title,
        raised_by,
        decisive_words,
    )


def _is_are(names: Sequence[str]) -> str:
    return "is" if len(names) == 1 else "are"


def health(
    patterns: dict[str, PatternResult], months_in_pilot: float | None, catalogue: Catalogue, stage: str | None = None
) -> tuple[str, str]:
    """Red means "needs the steering committee's attention now"; amber "watch it, fix it before the
    next review"; green the healthy core. The rule, in order:
    1. red when a pattern is high on decisive evidence (a decisive warning sign fired in it), or
       `red_high_patterns` patterns are high, or the pilot has been `months_in_pilot_amber` months
       in the pilot stage and a pattern is high — but a cancelled pilot needs no decision: it reads
       amber, with the reason it would have been red;
    2. amber when a pattern is high, or `amber_medium_patterns` patterns are medium (a decisive
       warning sign makes its pattern at least medium), or the pilot has been that long in the
       pilot stage;
    3. insufficient evidence when fewer than `min_patterns_with_evidence` patterns have enough evidence;
    4. green otherwise (every pattern with enough evidence is low)."""
    rules = catalogue.health
    high = [p.name for p in patterns.values() if p.status == "high"]
    medium = [p.name for p in patterns.values() if p.status == "medium"]
    judged = [p for p in patterns.values() if p.status != "insufficient"]
    long_in_pilot = months_in_pilot is not None and months_in_pilot >= rules.months_in_pilot_amber
    decisive_high = [p for p in patterns.values() if p.status == "high" and p.decisive_evidence]
    raised = [
        f"{p.name} is at least medium on decisive evidence: {_join(p.raised_by)}."
        for p in patterns.values()
        if p.raised_by
    ]
    because = "".join(f" {sentence}" for sentence in raised)
    red = None
    if decisive_high:
        red = (
            f"{_join(high)} {_is_are(high)} high."
            + "".join(f" Decisive evidence for {p.name}: {_join(p.decisive_evidence)}." for p in decisive_high)
            + because
        )
    elif len(high) >= rules.red_high_patterns:
        red = f"{_join(high)} are high." + because
    elif long_in_pilot and high:
        red = f"{months_in_pilot:.0f} months in the pilot stage, and {_join(high)} {_is_are(high)} high." + because
    if red is not None:
        if stage == "cancelled":
            return (
                "amber",
                "Cancelled, so no decision is needed (it would otherwise be red); the lessons remain. " + red,
            )
        return "red", red
    if high:
        also = [name for name in medium]
        return "amber", (
            f"{_join(high)} {_is_are(high)} high"
            + (f"; {_join(also)} {_is_are(also)} medium" if also else "")
            + "."
            + (f" {months_in_pilot:.0f} months in the pilot stage." if long_in_pilot else "")
            + because
        )
    if len(medium) >= rules.amber_medium_patterns:
        return "amber", (
            f"{_join(medium)} {_is_are(medium)} medium."
            + because
            + (f" {months_in_pilot:.0f} months in the pilot stage." if long_in_pilot else "")
        )
    if long_in_pilot:
        return "amber", f"{months_in_pilot:.0f} months in the pilot stage (mark: {rules.months_in_pilot_amber:.0f})."
    if len(judged) < rules.min_patterns_with_evidence:
        return (
            "insufficient",
            f"Only {len(judged)} of 5 patterns have enough evidence (at least {rules.min_patterns_with_evidence} needed).",
        )
    return "green", f"Every pattern with enough evidence is low ({len(judged)} of 5 judged)."


def health_rule(catalogue: Catalogue) -> dict[str, str]:
    """Each verdict's rule in words, from the catalogue in force (for the page's help texts)."""
    rules = catalogue.health
    months = f"{rules.months_in_pilot_amber:g}"
    mediums = (
        "a pattern is medium"
        if rules.amber_medium_patterns == 1
        else f"{rules.amber_medium_patterns} patterns are medium"
    )
    return {
        "red": (
            "Needs the steering committee's attention now: a pattern is high on decisive evidence, or "
            f"{rules.red_high_patterns} patterns are high, or the pilot has been {months} months or more in the pilot stage "
            "with a high pattern. A cancelled pilot is never red: no decision is needed."
        ),
        "amber": (
            f"Watch it and fix it before the next review: one pattern is high, or {mediums}, or the pilot has been "
            f"{months} months or more in the pilot stage. " + decisive_rule(catalogue)
        ).strip(),
        "green": f"The healthy core: every pattern with enough evidence is low, and at least {rules.min_patterns_with_evidence} have enough evidence.",
        "insufficient": f"Fewer than {rules.min_patterns_with_evidence} patterns have enough evidence to judge: unknown is not the same as healthy.",
    }


def pilots_by_health(by_pilot: Mapping[str, PilotRisk], pilot_ids: Iterable[str]) -> dict[str, list[str]]:
    """The pilots of each health verdict, in the order given (the page names the red and amber ones
    under their counts, so "5 red" says which five)."""
    grouped: dict[str, list[str]] = {verdict: [] for verdict in HEALTH_LABELS}
    for pilot_id in dict.fromkeys(pilot_ids):
        grouped[by_pilot[pilot_id].health].append(pilot_id)
    return grouped


def card_evidence(pattern: PatternResult) -> str:
    """How much of a pattern's evidence is known, as its card says it ("91% of evidence known"):
    never a bare percentage, which would read like a probability."""
    return f"{percent(pattern.coverage)} of evidence known"


def card_label(pattern: PatternResult) -> str:
    """A pattern card's line under its score: its reading and how much of its evidence is known
    ("Low · 91% of evidence known")."""
    return f"{STATUS_LABELS[pattern.status]} · {card_evidence(pattern)}"


def card_help(pattern: PatternResult, minimum: float) -> str:
    """A pattern card's tooltip: the score and the evidence share, in words."""
    known = sum(1 for s in pattern.signals if s.state != UNKNOWN)
    score = "no score (too little evidence)" if pattern.score is None else f"score {pattern.score:.0f} of 100"
    return (
        f"{pattern.name}: {score}, from {len(pattern.fired)} warning sign{'s' if len(pattern.fired) != 1 else ''} "
        f"among the {known} of {len(pattern.signals)} signals whose answer is known. "
        f"“{percent(pattern.coverage)} of evidence known” is the share of the pattern's signals (by weight) that have an "
        f"answer or data — not a probability. Below {percent(minimum)} the pattern reads “insufficient evidence”."
    )


def threshold_words(threshold: float | None, unit: str | None) -> str:
    """A signal's mark as people read it: "15% drop", "3 months after approval", "40% of effort"."""
    if threshold is None:
        return ""
    unit = (unit or "").strip()
    if unit.startswith(("share", "relative")):
        words = unit.removeprefix("relative ").removeprefix("share of ")
        return f"{percent(threshold)} " + ("of " + words if unit.startswith("share") else words)
    if unit.startswith("%"):
        return f"{threshold:g}{unit}"
    return f"{threshold:g} {unit}".strip()


def assess_pilot(evidence: PilotEvidence, catalogue: Catalogue, as_of: datetime, with_rows: bool = False) -> PilotRisk:
    ctx = _Context(evidence, catalogue, as_of, with_rows)
    patterns = {key: score_pattern(key, pattern, ctx, catalogue) for key, pattern in catalogue.patterns.items()}
    months_in_pilot = ctx.months_in_stage() if evidence.record.get("stage") == "pilot" else None
    verdict, reason = health(patterns, months_in_pilot, catalogue, evidence.record.get("stage"))
    r = evidence.record
    return PilotRisk(
        r["pilot_id"],
        r.get("name") or "",
        r.get("business_unit") or "",
        r.get("stage") or "",
        as_of,
        verdict,
        reason,
        patterns,
    )


def assess(
    store: Store,
    as_of: datetime | None = None,
    pilot_ids: Sequence[str] | None = None,
    catalogue: Catalogue | None = None,
    with_rows: bool = False,
    records_at: datetime | None = None,
) -> list[PilotRisk]:
    """Every pilot's risk as of a moment (default: now). Pilots approved after that moment are left out.
    `with_rows` also keeps the data rows behind each signal (for one pilot's detail; it costs time);
    `records_at` reads the pilot records as they stood then (a pinned link) instead of as they are."""
    catalogue = catalogue or catalogue_for(store, records_at)  # pinned: the thresholds in force then
    evidence = load_evidence(store, as_of, pilot_ids, records_at)
    return assess_evidence(evidence, catalogue, with_rows)


def assess_evidence(evidence: Evidence, catalogue: Catalogue, with_rows: bool = False) -> list[PilotRisk]:
    results = []
    for pilot_id in evidence.pilots["pilot_id"]:
        pilot = evidence.pilot(pilot_id)
        approved = pilot.record.get("approved_on")
        if approved is not None and pd.Timestamp(approved).date() > evidence.as_of.date():
            continue
        results.append(assess_pilot(pilot, catalogue, evidence.as_of, with_rows))
    return results


# -- tables for pages and the command line -----------------------------------------------------


def heatmap_frame(results: Sequence[PilotRisk]) -> pd.DataFrame:
    """One row per pilot and pattern: score, coverage, status (for the heatmap and its table)."""
    rows = []
    for risk in results:
        for pattern in risk.patterns.values():
            rows.append(
                {
                    "pilot_id": risk.pilot_id,
                    "name": risk.name,
                    "business_unit": risk.business_unit,
                    "stage": risk.stage,
                    "health": risk.health,
                    "pattern": pattern.key,
                    "pattern_name": pattern.name,
                    "score": pattern.score,
                    "coverage": pattern.coverage,
                    "status": pattern.status,
                    "fired": len(pattern.fired),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "pilot_id",
            "name",
            "business_unit",
            "stage",
            "health",
            "pattern",
            "pattern_name",
            "score",
            "coverage",
            "status",
            "fired",
        ],
    )


HEATMAP_PILOTS = 25  # the heatmap's rows unless every pilot is asked for: the first in the page's order (worst first)


def order_pilots(by_pilot: Mapping[str, PilotRisk], pilot_ids: Iterable[str], sort: str) -> list[str]:
    """The pilots in the risk page's order (its heatmap, picker and download): by `sort` "health",
    worst first (red, amber, insufficient evidence, green; then the highest pattern score; then the
    code); "pilot", by code; or a pattern's key, by that pattern's score, highest first, with the
    pilots whose evidence is insufficient for it last."""
    pilot_ids = list(dict.fromkeys(pilot_ids))
    if sort == "health":
        return sorted(
            pilot_ids,
            key=lambda p: (
                HEALTH_RANK[by_pilot[p].health],
                -max(x.score or 0 for x in by_pilot[p].patterns.values()),
                p,
            ),
        )
    if sort == "pilot":
        return sorted(pilot_ids)
    return sorted(
        pilot_ids,
        key=lambda p: (
            by_pilot[p].patterns[sort].status == "insufficient",
            -(by_pilot[p].patterns[sort].score or 0),
            p,
        ),
    )


def heatmap_rows(order: Sequence[str], show_all: bool, limit: int | None = None) -> list[str]:
    """The pilots the heatmap draws: the first `limit` (HEATMAP_PILOTS) of the page's order, or
    every one when asked; the rest stay in the picker and the download."""
    limit = HEATMAP_PILOTS if limit is None else limit
    return list(order) if show_all else list(order[:limit])


def scores_table(frame: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """The heatmap's frame (`heatmap_frame`) as a table of one row per pilot with its five scores,
    in `order` (the page's download)."""
    from pilot_health.rules.catalogue import PATTERN_KEYS

    table = (
        frame.pivot_table(
            index=["pilot_id", "name", "business_unit", "stage", "health"],
            columns="pattern",
            values="score",
            aggfunc="first",
        )
        .reindex(columns=list(PATTERN_KEYS))
        .reset_index()
    )
    rank = {p: i for i, p in enumerate(order)}
    return (
        table[table["pilot_id"].isin(rank)]
        .sort_values("pilot_id", key=lambda ids: ids.map(rank), kind="stable")
        .reset_index(drop=True)
    )


def as_json(risk: PilotRisk) -> dict:
    return {
        "pilot_id": risk.pilot_id,
        "name": risk.name,
        "health": risk.health,
        "health_reason": risk.health_reason,
        "as_of": risk.as_of.isoformat(timespec="seconds"),
        "patterns": {
            key: {
                "score": p.score,
                "coverage": p.coverage,
                "status": p.status,
                "raised_by_decisive_evidence": p.raised_by,
                "signals": [
                    {"key": s.key, "state": s.state, "evidence": s.evidence, "decisive": s.decisive} for s in p.signals
                ],
                "actions": [{"signal": a.signal, "action": a.text, "evidence": a.evidence} for a in p.actions]
                if p.status in ("high", "medium")
                else [],
            }
            for key, p in risk.patterns.items()
        },
    }


def month_ends(today: date, months: int) -> list[datetime]:
    """The ends of the last `months` months, oldest first; the current month ends today."""
    ends = []
    year, month = today.year, today.month
    for _ in range(months):
        start_next = date(year + (month == 12), month % 12 + 1, 1)
        ends.append(
            min(
                datetime.combine(start_next, datetime.min.time()) - pd.Timedelta(seconds=1).to_pytimedelta(),
                datetime.combine(today, datetime.max.time()),
            )
        )
        month, year = (month - 1, year) if month > 1 else (12, year - 1)
    return sorted(ends)


TREND_MONTHS = 12  # how far back a pilot's risk view draws its scores, month by month


def risk_trend(
    store: Store,
    pilot_id: str,
    months: int | None = None,
    catalogue: Catalogue | None = None,
    today: date | None = None,
    records_at: datetime | None = None,
) -> pd.DataFrame:
    """A pilot's pattern scores and health at the end of each of the last `months` months, from what
    had been uploaded by then (`TREND_MONTHS` unless `months` is given)."""
    months = TREND_MONTHS if months is None else months
    catalogue = catalogue or catalogue_for(store, records_at)
    rows = []
    moments = month_ends(today or utc_now().date(), months)
    if records_at is not None:  # a pinned view: nothing after its moment, even later that day
        moments = [min(m, records_at) for m in moments]
    for evidence in load_evidence_at(store, moments, [pilot_id], records_at):
        moment = evidence.as_of
        found = assess_evidence(evidence, catalogue)
        if not found:
            continue
        risk = found[0]
        for pattern in risk.patterns.values():
            rows.append(
                {
                    "month": pd.Timestamp(moment.date()),
                    "pattern": pattern.key,
                    "pattern_name": pattern.name,
                    "score": pattern.score,
                    "coverage": pattern.coverage,
                    "status": pattern.status,
                    "health": risk.health,
                }
            )
    return pd.DataFrame(rows, columns=["month", "pattern", "pattern_name", "score", "coverage", "status", "health"])
