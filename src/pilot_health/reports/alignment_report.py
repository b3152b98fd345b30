"""The Alignment page and the `alignment` command, without Streamlit: one row per pilot (label,
gap, decay, drift, KPI progress, worst first), and one pilot's series, thresholds, crossings and
plain-language verdict. Every number comes from `PilotNumbers`, which the risk engine uses too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from pilot_health.analytics.alignment import (
    KPI_WINDOW_PERIODS as KPI_WINDOW_PERIODS,  # re-exported: pages word the KPI's "latest" with it
)
from pilot_health.analytics.alignment import (
    Alignment,
    Decay,
    Drift,
    Gap,
    KpiProgress,
    Trend,
    chance_words,
    crossings,
    decay_path,
    drift_path,
)
from pilot_health.analytics.evidence import Evidence, load_evidence
from pilot_health.analytics.pilot_numbers import PilotNumbers
from pilot_health.formatting import percent, setting_percent
from pilot_health.models import says_none
from pilot_health.rules.catalogue import Catalogue
from pilot_health.rules.metric_dictionary import MetricInfo
from pilot_health.rules.thresholds import catalogue_for
from pilot_health.store.database import Store

LABEL_WORDS = {
    "aligned": "Aligned: the model's progress and the KPI clearly move together.",
    "decoupled": "Decoupled: the model clearly improves but the KPI shows no clear change and does not follow it.",
    "inverted": "Inverted: the model and the KPI clearly move against each other.",
    "inconclusive": "Inconclusive: neither moves clearly enough, or the data are too noisy, to say whether they move together.",
    "insufficient data": "Insufficient data: fewer common periods than needed to judge.",
}
# The verdict in one or two words, short enough for a card at 1280 px (the full words are in its help).
LABEL_SHORT = {
    "aligned": "Aligned",
    "decoupled": "Decoupled",
    "inverted": "Inverted",
    "inconclusive": "Unclear",
    "insufficient data": "Too early",
    "no comparison": "–",
}
# Common metric keys as a business owner reads them; the technical term stays in tooltips.
METRIC_NAMES = {
    "roc_auc": "ROC AUC",
    "auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "average_precision": "Average precision",
    "f1": "F1 score",
    "f1_score": "F1 score",
    "r2": "R²",
    "r_squared": "R²",
    "rmse": "Error (RMSE)",
    "mae": "Error (MAE)",
    "mse": "Error (MSE)",
    "mape": "Error (MAPE)",
    "smape": "Error (sMAPE)",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "log_loss": "Log loss",
    "logloss": "Log loss",
    "brier": "Brier score",
    "ndcg": "Ranking quality (NDCG)",
    "bleu": "Translation score (BLEU)",
    "wer": "Word error rate",
    "cer": "Character error rate",
}
# How often values come, from their spacing: the word for one period and for "period by period".
CADENCE_WORDS = {"day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly"}


def humanise(key: str) -> str:
    """'time_to_resolve' -> 'Time to resolve', 'AvgHandleTime' -> 'Avg handle time' (a key no table knows)."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(key).strip())
    words = [w for w in re.split(r"[_\s\-./]+", text) if w]
    if not words:
        return str(key)
    out = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return out[0].upper() + out[1:]


def plain_metric_name(info: MetricInfo) -> str:
    """A metric's name for business readers: an answer someone gave wins; then the common names
    above; then the dictionary's label when it is more than the key; else the key humanised."""
    if info.source == "answered" and info.label:
        return info.label
    if info.key in METRIC_NAMES:
        return METRIC_NAMES[info.key]
    if info.label and info.label != info.key:
        return info.label
    # Only a plain identifier is written out in words; any other name is shown exactly as uploaded.
    return humanise(info.key) if re.fullmatch(r"[A-Za-z0-9_\-. ]+", str(info.key)) else (info.label or str(info.key))


def cadence_of(index) -> str:
    """How often a series has values, from the median spacing of its dates: day (≤ 1.5 days), week
    (≤ 10), month (≤ 45) or quarter. A single value counts as weekly (the stores' unit)."""
    days = np.diff(pd.DatetimeIndex(index).sort_values().to_numpy()) / np.timedelta64(1, "D")
    spacing = float(np.median(days)) if len(days) else 7.0
    return "day" if spacing <= 1.5 else "week" if spacing <= 10 else "month" if spacing <= 45 else "quarter"


def by_cadence(cadence: str) -> str:
    """'week by week', 'month by month'."""
    return f"{cadence} by {cadence}"


# Points towards "worst first" (docs/alignment.md lists them).
CONCERN_POINTS = {
    "inverted": 3,
    "decoupled": 2,
    "inconclusive": 0.5,
    "insufficient data": 0.5,
    "no comparison": 0.5,
    "decay critical": 3,
    "decay warning": 1.5,
    "drift critical": 1,
    "drift warning": 0.5,
    "behind plan": 2,
    "gap": 1,
}


@dataclass
class PilotAlignment:
    """One pilot's technical-vs-business picture, as of one moment."""

    pilot_id: str
    name: str
    business_unit: str
    stage: str
    as_of: datetime
    primary_metric: str | None
    kpi_metric: str | None
    kpi_name: str | None
    alignment: Alignment | None
    gaps: dict[str, Gap]
    decays: dict[str, Decay]
    drifts: dict[str, Drift]
    kpi_progress: KpiProgress | None
    gap_threshold: float
    technical_label: str = ""  # the primary metric as business readers call it (plain_metric_name)
    names: dict[str, str] = field(default_factory=dict)  # every metric of the pilot -> its plain name
    reasons: list[str] = field(default_factory=list)  # why the pilot is where it is in the list
    concern: float = 0.0
    verdict: str = ""

    @property
    def label(self) -> str:
        return self.alignment.label if self.alignment else "no comparison"

    @property
    def primary_decay(self) -> Decay | None:
        return self.decays.get(self.primary_metric) if self.primary_metric else None

    @property
    def primary_gap(self) -> Gap | None:
        return self.gaps.get(self.primary_metric) if self.primary_metric else next(iter(self.gaps.values()), None)


def _concern(row: PilotAlignment, name=lambda metric: metric) -> tuple[float, list[str]]:
    """Points and reasons; `name` gives a metric's label (the metric dictionary's)."""
    points, reasons = 0.0, []

    def add(key: str, why: str) -> None:
        nonlocal points
        points += CONCERN_POINTS[key]
        reasons.append(why)

    if row.label in CONCERN_POINTS:  # every label but aligned
        add(row.label, row.label)
    worst_decay = max(row.decays.values(), key=lambda d: d.relative, default=None)
    if worst_decay and worst_decay.level != "none":
        add(f"decay {worst_decay.level}", f"{name(worst_decay.metric)} decay {worst_decay.level}")
    worse_drifts = [d for d in row.drifts.values() if d.level != "none" and d.worse is True]
    if worse_drifts:
        worst = max(worse_drifts, key=lambda d: d.score)
        add(f"drift {worst.level}", f"{name(worst.metric)} drift {worst.level}")
    if row.kpi_progress and row.kpi_progress.behind:
        add("behind plan", "KPI behind plan")
    if row.primary_gap and row.primary_gap.relative >= row.gap_threshold:
        add("gap", f"live {name(row.primary_gap.metric)} {row.primary_gap.relative:.0%} worse than lab")
    return points, reasons


def assess_alignment(numbers: PilotNumbers, catalogue: Catalogue) -> PilotAlignment:
    r = numbers.record
    row = PilotAlignment(
        pilot_id=r["pilot_id"],
        name=r.get("name") or "",
        business_unit=r.get("business_unit") or "",
        stage=r.get("stage") or "",
        as_of=numbers.as_of,
        primary_metric=numbers.primary_metric,
        kpi_metric=numbers.kpi_metric,
        kpi_name=r.get("kpi_name"),
        alignment=numbers.alignment,
        gaps=numbers.latest_gaps,
        decays=numbers.decays,
        drifts=numbers.drifts,
        kpi_progress=numbers.kpi_progress,
        gap_threshold=catalogue.threshold("lab_to_live_drop"),
        technical_label=plain_metric_name(metric_label(numbers, numbers.primary_metric))
        if numbers.primary_metric
        else "",
    )
    row.names = {
        m: display_name(numbers, m)
        for m in [*numbers.evidence.technical_metrics, *([numbers.kpi_metric] if numbers.kpi_metric else [])]
    }
    row.concern, row.reasons = _concern(row, lambda metric: display_name(numbers, metric))
    row.verdict = verdict(numbers, row)
    return row


def numbers_for(evidence: Evidence, pilot_id: str, catalogue: Catalogue) -> PilotNumbers:
    return PilotNumbers(
        evidence.pilot(pilot_id), catalogue.analysis, evidence.as_of, catalogue.threshold("kpi_behind_plan")
    )


def portfolio_alignment(
    store: Store,
    as_of: datetime | None = None,
    pilot_ids: Sequence[str] | None = None,
    catalogue: Catalogue | None = None,
    records_at: datetime | None = None,
) -> list[PilotAlignment]:
    """Every pilot (approved by `as_of`), worst first: most concern points, then pilot code."""
    catalogue = catalogue or catalogue_for(store, records_at)  # pinned: the thresholds in force then
    evidence = load_evidence(store, as_of, pilot_ids, records_at, surveys=False)  # alignment reads no survey
    rows = []
    for pilot_id in evidence.pilots["pilot_id"]:
        approved = evidence.pilot(pilot_id).record.get("approved_on")
        if approved is not None and pd.Timestamp(approved).date() > evidence.as_of.date():
            continue
        rows.append(assess_alignment(numbers_for(evidence, pilot_id, catalogue), catalogue))
    return worst_first(rows)


def worst_first(rows: Sequence[PilotAlignment]) -> list[PilotAlignment]:
    """The portfolio's order: most concern points, then pilot code."""
    return sorted(rows, key=lambda row: (-row.concern, row.pilot_id))


# -- words ------------------------------------------------------------------------------------------


def start_and_end(series: pd.Series, weeks: int) -> tuple[float, float, float, float, date]:
    """Robust levels at each end of a series: the median of the first and of the last w values,
    w = `weeks` (the smoothing window), but at most a third of the series (at least one value), so
    the two ends never share values. Also the lowest and highest value, and the first date."""
    series = series.dropna().sort_index()
    values = series.to_numpy(dtype=float)
    w = max(1, min(weeks, len(values) // 3))
    return (
        float(np.median(values[:w])),
        float(np.median(values[-w:])),
        float(values.min()),
        float(values.max()),
        series.index[0].date(),
    )


def _negligible(change: float, reference: float, unit: str | None) -> bool:
    relative = change / abs(reference) if reference else (0.0 if change == 0 else 1.0)
    points = change * 100 if unit == "share" else change if unit == "%" else None
    return abs(relative) < 0.02 and (points is None or abs(points) < 1)


def describe_change(
    label: str,
    first: float,
    last: float,
    unit: str | None,
    direction: str | None = None,
    low: float | None = None,
    high: float | None = None,
) -> str:
    """'Accuracy rose 6 points', 'On-shelf availability has not moved', 'Cost fell 12% (better)',
    'Accuracy moved up and down (between 88 and 92.5) and ended about where it started'.
    Shares (0–1) and percentages change by points; other units by per cent. A change under 2% of
    the starting level (and under one point) is negligible: then, when the series swung by more than
    that on the way (`low` to `high`), it "moved up and down", else it "has not moved"."""
    if _negligible(last - first, first, unit):
        if low is not None and high is not None and not _negligible(high - low, first, unit):
            return f"{label} moved up and down (between {_number(low, unit)} and {_number(high, unit)}) and ended about where it started"
        return f"{label} has not moved"
    relative = (last - first) / abs(first) if first else 1.0
    points = (last - first) * 100 if unit == "share" else (last - first) if unit == "%" else None
    if points is not None and abs(points) >= 0.1:
        size = abs(points)
        number = f"{size:.1f}".rstrip("0").rstrip(".") if size < 10 else f"{size:.0f}"
        amount = "1 point" if number == "1" else f"{number} points"
    else:
        amount = percent(abs(relative))
    judged = ""
    if direction in ("up", "down"):
        judged = " (better)" if (last > first) == (direction == "up") else " (worse)"
    return f"{label} {'rose' if last > first else 'fell'} {amount}{judged}"


def change_words(
    label: str, series: pd.Series, weeks: int, unit: str | None, direction: str | None, trend: Trend | None
) -> str:
    """`describe_change` made to agree with the trend test the label rests on: a clear trend is never
    "ended about where it started" (it "rose slowly but steadily"), and a change the test cannot tell
    from the series' ups and downs says so."""
    first, last, low, high, _ = start_and_end(series, weeks)
    words = describe_change(label, first, last, unit, direction, low, high)
    if trend is None or direction not in ("up", "down"):
        return words
    negligible = _negligible(last - first, first, unit)
    if trend.direction in ("up", "down"):
        better = trend.direction == "up"  # the test turns the series so that up is better
        ends_agree = not negligible and ((last > first) == (direction == "up")) == better
        if ends_agree:
            return words
        rising = better == (direction == "up")
        return (
            f"{label} {'rose' if rising else 'fell'} slowly but steadily (from about {_number(first, unit)} to "
            f"{_number(last, unit)}, {'better' if better else 'worse'})"
        )
    return words if negligible else words + ", but not clearly beyond its ups and downs"


def _number(value: float, unit: str | None) -> str:
    if unit == "share":
        return setting_percent(value)
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def metric_label(numbers: PilotNumbers, metric: str) -> MetricInfo:
    return numbers.evidence.dictionary.describe(metric)


def display_name(numbers: PilotNumbers, metric: str) -> str:
    """A metric as people call it: the KPI by the register's name, others by the dictionary's label."""
    if metric == numbers.kpi_metric and numbers.record.get("kpi_name"):
        return numbers.record["kpi_name"]
    return plain_metric_name(metric_label(numbers, metric))


def _periods(a: Alignment) -> str:
    return f"{a.periods} {a.period}ly periods" if a.periods != 1 else f"1 {a.period}"


def alignment_sentence(a: Alignment, technical: str, kpi: str, brief: bool = False) -> str:
    """The label with what it rests on: the periods, each trend with its chance in words, and the
    lag and ρ only when the association is significant (so they never contradict the label)."""
    if a.label == "insufficient data":
        return f"{LABEL_WORDS[a.label][:-1]}: {a.why}."
    head = LABEL_WORDS[a.label].split(":")[0]
    parts = [f"{head} over {_periods(a)}"]
    if brief:  # the label and its periods; the tests' chances are on the page
        return parts[0] + (f" ({a.why})" if a.label == "inconclusive" else "") + "."
    if a.technical is not None and a.kpi is not None:
        parts.append(f"{technical} shows {a.technical.words()}; {kpi} shows {a.kpi.words()}")
    if a.association is not None and a.association.significant:
        lag, rho = a.association.lag, a.association.rho  # a.lag and a.rho: given when significant
        follows = "in the same period" if lag == 0 else f"{lag} {a.period}{'s' if lag != 1 else ''} later"
        way = "in step with" if rho > 0 else "against"
        parts.append(
            f"its period-to-period changes move {way} the model's {follows} (rank correlation {rho:+.2f}, "
            f"{chance_words(a.association.p)}, allowing for the {a.association.lags_tried} delays tried)"
        )
    if a.label == "inconclusive":
        parts[0] += f" ({a.why})"
    return parts[0] + (": " + "; ".join(parts[1:]) if len(parts) > 1 else "") + "."


def verdict(numbers: PilotNumbers, row: PilotAlignment, brief: bool = False) -> str:
    """A plain-language verdict, e.g. "Live Accuracy rose 6 points since March 2025; Revenue per visit
    has not moved. Decoupled over 26 weekly periods: …" """
    a = numbers.analysis
    metric = row.primary_metric
    if not metric:
        return "No technical metric has been uploaded for this pilot, so model progress cannot be compared with the business."
    info = metric_label(numbers, metric)
    plain = plain_metric_name(info)
    technical, environment = numbers.technical_series(metric)
    name = f"{'Live' if environment == 'live' else 'Lab'} {plain}"
    kpi_name = row.kpi_name or display_name(numbers, row.kpi_metric) if row.kpi_metric else row.kpi_name
    parts = []
    judged = row.alignment if row.alignment and row.alignment.label != "insufficient data" else None
    if len(technical) >= 2:
        since = technical.dropna().index.min()
        parts.append(
            f"Since {since:%B %Y}, "
            + change_words(
                name, technical, a.smoothing_weeks, info.unit, info.direction, judged.technical if judged else None
            )
        )
    if row.kpi_metric and not numbers.kpi.empty:
        parts.append(
            change_words(
                kpi_name or display_name(numbers, row.kpi_metric),  # always kpi_name here: a KPI metric has a name
                numbers.kpi,
                a.smoothing_weeks,
                numbers.record.get("kpi_unit"),
                numbers.kpi_direction,
                judged.kpi if judged else None,
            )
        )
    elif row.kpi_name and says_none(row.kpi_name):
        parts.append("the register says the pilot has no business KPI to judge it by")
    elif row.kpi_name:
        parts.append(f"no data for the KPI “{row.kpi_name}” has been uploaded")
    else:
        parts.append("the register names no business KPI to judge it by")
    sentence = "; ".join(parts) + "."
    sentence = sentence[0].upper() + sentence[1:]
    if row.alignment:
        sentence += " " + alignment_sentence(row.alignment, name, kpi_name or "the KPI", brief)
        if not brief:
            sentence += direction_note(
                row.alignment, name, info.direction, kpi_name or "the KPI", numbers.kpi_direction
            )
    decay = row.primary_decay
    if decay and decay.level != "none":
        sentence += (
            f" Live {plain} is {decay.relative:.0%} worse than its first live weeks (the reference), "
            f"more than its week-to-week noise explains ({decay.level})."
        )
    progress = row.kpi_progress
    if progress and progress.time_elapsed is not None:
        sentence += (
            f" The KPI is {progress.progress:.0%} of the way to target with {min(progress.time_elapsed, 1):.0%} of the time gone"
            + (
                ": behind plan."
                if progress.behind
                else f": {progress.shortfall:.0%} behind, but within its own ups and downs, so not counted as behind plan."
                if progress.within_noise
                else "."
            )
        )
        if progress.outliers:
            sentence += f" {outlier_words(progress)}"
    return sentence


def direction_note(
    a: Alignment, technical: str, technical_direction: str | None, kpi: str, kpi_direction: str | None
) -> str:
    """What the label means for series where lower is better, in plain words: " Lower Monthly churn
    rate is better, so its rise counts as a worsening; the charts below turn its scale upside down so
    that up means better on both." Empty when both are higher-is-better or nothing was judged."""
    if a.label == "insufficient data" or a.technical is None or a.kpi is None:
        return ""
    lower = [
        (label, trend)
        for label, trend, direction in ((technical, a.technical, technical_direction), (kpi, a.kpi, kpi_direction))
        if direction == "down"
    ]
    if not lower:
        return ""
    said = []
    for label, trend in lower:
        who = "its" if len(lower) == 1 else f"{label}'s"
        if trend.direction == "up":
            said.append(f"{who} fall counts as an improvement")
        elif trend.direction == "down":
            said.append(f"{who} rise counts as a worsening")
        else:
            said.append(
                "a fall would count as an improvement"
                if len(lower) == 1
                else f"a fall of {label} would count as an improvement"
            )
    names = " and ".join(label for label, _ in lower)
    scale = "its scale" if len(lower) == 1 else "their scales"
    return (
        f" Lower is better for {names}, so {'; '.join(said)}; the chart below shows {scale} upside down, so that up "
        "means better in both panels."
    )


def kpi_noise_words(progress: KpiProgress, k: float) -> str:
    """How the KPI's shortfall against its plan compares with its own noise, in words (for a tooltip)."""
    size = progress.shortfall_in_standard_errors
    if progress.shortfall is None:
        return ""
    if progress.shortfall <= 0:
        return "it is not behind the time gone"
    if size is None:
        return "its values move smoothly, so the shortfall alone decides"
    return f"its shortfall is {size:.1f} times the uncertainty from its ups and downs ({k:g} needed)"


def outlier_words(progress: KpiProgress) -> str:
    """ "One KPI value (7.9 on 2026-05-25) is far from the rest and was given no weight." """
    shown = ", ".join(f"{value:.4g} on {day:%Y-%m-%d}" for day, value in progress.outliers)
    many = len(progress.outliers) > 1
    return (
        f"{'Some' if many else 'One'} KPI value{'s' if many else ''} ({shown}) {'are' if many else 'is'} far from the rest and "
        f"{'were' if many else 'was'} given little weight."
    )


# -- tables -----------------------------------------------------------------------------------------


def portfolio_table(rows: Sequence[PilotAlignment]) -> pd.DataFrame:
    """The portfolio view, one row per pilot in the order given (worst first)."""
    records = []
    for row in rows:
        gap, decay, a, progress = row.primary_gap, row.primary_decay, row.alignment, row.kpi_progress
        records.append(
            {
                "pilot_id": row.pilot_id,
                "name": row.name,
                "business_unit": row.business_unit,
                "stage": row.stage,
                "label": row.label,
                "technical_metric": row.primary_metric,
                "technical_label": row.technical_label or None,
                "kpi": row.kpi_name,
                "rho": a.rho if a else None,
                "lag": a.lag if a else None,
                "periods": a.periods if a else None,
                "period": a.period if a else None,
                "technical_p": a.technical_p if a else None,
                "kpi_p": a.kpi_p if a else None,
                "association_p": a.association_p if a else None,
                "lab_live_gap": gap.relative if gap else None,
                "decay": decay.relative if decay else None,
                "decay_level": decay.level if decay else None,
                "kpi_progress": progress.progress if progress else None,
                "time_elapsed": min(progress.time_elapsed, 1.0)
                if progress and progress.time_elapsed is not None
                else None,
                "behind_plan": progress.behind if progress else None,
                "concern": row.concern,
                "why": ", ".join(row.reasons) or "nothing of concern",
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=[
            "pilot_id",
            "name",
            "business_unit",
            "stage",
            "label",
            "technical_metric",
            "technical_label",
            "kpi",
            "rho",
            "lag",
            "periods",
            "period",
            "technical_p",
            "kpi_p",
            "association_p",
            "lab_live_gap",
            "decay",
            "decay_level",
            "kpi_progress",
            "time_elapsed",
            "behind_plan",
            "concern",
            "why",
        ],
    )


TABLE_ROWS = 25  # the portfolio table shows the worst 25 unless "show all" is on
SCREEN_COLUMNS = [
    "pilot_id",
    "name",
    "label",
    "technical_label",
    "kpi",
    "rho",
    "lag",
    "periods",
    "lab_live_gap",
    "decay",
    "decay_level",
    "kpi_progress",
    "time_elapsed",
    "why",
]
# What fits beside the sidebar at 1280 px; the statistics behind each verdict go in a second table.
MAIN_COLUMNS = ["pilot_id", "name", "label", "technical_label", "kpi", "kpi_progress", "why"]
DETAIL_COLUMNS = ["pilot_id", "periods", "rho", "lag", "lab_live_gap", "decay", "decay_level", "time_elapsed"]
DECAY_WORDS = {"none": "no alert", "warning": "warning", "critical": "critical"}
WHY_SHOWN = 2  # reasons the table shows per pilot (the weightiest come first); the rest are counted


LABEL_TILES = ("aligned", "decoupled", "inverted", "inconclusive", "insufficient data")  # the page's counts, in order


@dataclass(frozen=True)
class AlignmentCounts:
    """The alignment page's headline: pilots per verdict and how many have a KPI behind plan, for
    the pilots of a portfolio table (`portfolio_table`, filtered or not)."""

    pilots: int
    aligned: int
    decoupled: int
    inverted: int
    inconclusive: int
    insufficient_data: int  # fewer common periods than needed
    no_comparison: int  # no technical metric or KPI series to compare: counted with insufficient data
    behind_plan: int  # KPI progress trailing the time gone (beyond its noise)

    def tile(self, label: str) -> int:
        """A tile's count (`LABEL_TILES`): "insufficient data" includes the pilots with no comparison."""
        if label == "insufficient data":
            return self.insufficient_data + self.no_comparison
        return int(getattr(self, label))


def alignment_counts(table: pd.DataFrame) -> AlignmentCounts:
    """Pilots per alignment verdict and with a KPI behind plan, in a `portfolio_table` frame."""
    counts = table["label"].value_counts()
    return AlignmentCounts(
        pilots=len(table),
        aligned=int(counts.get("aligned", 0)),
        decoupled=int(counts.get("decoupled", 0)),
        inverted=int(counts.get("inverted", 0)),
        inconclusive=int(counts.get("inconclusive", 0)),
        insufficient_data=int(counts.get("insufficient data", 0)),
        no_comparison=int(counts.get("no comparison", 0)),
        behind_plan=int(table["behind_plan"].eq(True).sum()),
    )


def short_why(why, keep: int = WHY_SHOWN):
    """The table's "why here": the first `keep` reasons (they come weightiest first) and how many
    more there are — "inverted, ROC AUC decay critical + 3 more". The full list is in the download
    and in the pilot's own view."""
    if not isinstance(why, str):
        return why
    reasons = why.split(", ")
    return why if len(reasons) <= keep else ", ".join(reasons[:keep]) + f" + {len(reasons) - keep} more"


def delay_words(lag, period) -> str | None:
    """How many periods the KPI follows the model, in words: 'same week', '1 week later', '2 months later'."""
    if lag is None or pd.isna(lag) or not period:
        return None
    lag = int(lag)
    return f"same {period}" if lag == 0 else f"{lag} {period}{'s' if lag != 1 else ''} later"


def screen_table(table: pd.DataFrame, limit: int | None = TABLE_ROWS) -> pd.DataFrame:
    """The portfolio table as people read it (the first `limit` rows, worst first; all with None):
    labels capitalised, the metric by its plain name, the delay in words, shares as whole per cents
    (numbers 0–100, the page formats them with a % sign), ρ to two decimals, the reasons shortened to
    the weightiest two and how many more (`short_why`). Missing numbers stay
    missing (the page shows a dash); the download keeps the exact values."""
    view = table.head(limit) if limit is not None else table
    out = view[SCREEN_COLUMNS].copy()
    out["label"] = view["label"].map(lambda label: label[:1].upper() + label[1:] if isinstance(label, str) else label)
    out["technical_label"] = view["technical_label"].fillna(view["technical_metric"])
    out["lag"] = [delay_words(lag, period) for lag, period in zip(view["lag"], view["period"])]
    out["decay_level"] = view["decay_level"].map(DECAY_WORDS)
    out["why"] = view["why"].map(short_why)
    out["rho"] = pd.to_numeric(view["rho"], errors="coerce").round(2)
    out["periods"] = pd.to_numeric(view["periods"], errors="coerce").astype("Int64")
    for column in ("lab_live_gap", "decay", "kpi_progress", "time_elapsed"):
        out[column] = (pd.to_numeric(view[column], errors="coerce") * 100).round(0) + 0.0  # + 0.0: no "-0"
    return out.reset_index(drop=True)


def _whole(share: float | None) -> float | None:
    return None if share is None or pd.isna(share) else round(share * 100) + 0.0


def gap_table(row: PilotAlignment) -> pd.DataFrame:
    """Every metric's lab → live gap, for people: plain names, whole per cents."""
    return pd.DataFrame(
        [
            {
                "metric": row.names.get(m, m),
                "better": "higher" if g.direction == "up" else "lower",
                "lab": g.lab,
                "live": g.live,
                "live worse by": _whole(g.relative),
                "lab weeks": g.lab_values,
                "live weeks": g.live_values,
            }
            for m, g in row.gaps.items()
        ],
        columns=["metric", "better", "lab", "live", "live worse by", "lab weeks", "live weeks"],
    )


def decay_table(row: PilotAlignment) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "metric": row.names.get(m, m),
                "latest": d.latest,
                "first live weeks": d.reference,
                "worse than first weeks": _whole(d.relative),
                "beyond weekly noise": "yes" if d.beyond_noise else "no",
                "alert": DECAY_WORDS[d.level],
                "live weeks": d.weeks,
            }
            for m, d in row.decays.items()
        ],
        columns=[
            "metric",
            "latest",
            "first live weeks",
            "worse than first weeks",
            "beyond weekly noise",
            "alert",
            "live weeks",
        ],
    )


def drift_table(row: PilotAlignment) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "series": row.names.get(m, m),
                "score": round(d.score, 1),
                "alert": DECAY_WORDS[d.level],
                "direction": "–" if d.worse is None else ("worse" if d.worse else "better"),
                "first weeks' mean": d.reference_mean,
                "latest weeks' mean": d.current_mean,
                "first weeks": f"{d.reference_from:%d %b %Y} – {d.reference_until:%d %b %Y} ({d.reference_n})",
                "latest weeks": f"{d.current_from:%d %b %Y} – {d.current_until:%d %b %Y} ({d.current_n})",
            }
            for m, d in row.drifts.items()
        ],
        columns=[
            "series",
            "score",
            "alert",
            "direction",
            "first weeks' mean",
            "latest weeks' mean",
            "first weeks",
            "latest weeks",
        ],
    )


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def as_json(row: PilotAlignment) -> dict:
    """The command line's block for one pilot."""
    a, progress = row.alignment, row.kpi_progress
    return {
        "pilot_id": row.pilot_id,
        "name": row.name,
        "label": row.label,
        "verdict": row.verdict,
        "technical_metric": row.primary_metric,
        "kpi": row.kpi_name,
        "rho": a.rho if a else None,
        "lag": a.lag if a else None,
        "periods": a.periods if a else 0,
        "period": a.period if a else None,
        "alignment": _alignment_json(a),
        "lab_live_gap": {
            m: {
                "lab": g.lab,
                "live": g.live,
                "absolute": g.absolute,
                "relative": g.relative,
                "direction": g.direction,
                "lab_until": _day(g.lab_until),
                "live_until": _day(g.live_until),
            }
            for m, g in row.gaps.items()
        },
        "decay": {
            m: {
                "latest": d.latest,
                "latest_from": _day(d.latest_from),
                "latest_until": _day(d.latest_week),
                "reference": d.reference,
                "reference_from": _day(d.reference_from),
                "reference_until": _day(d.reference_until),
                "relative": d.relative,
                "noise": d.noise,
                "standard_error": d.standard_error,
                "beyond_noise": d.beyond_noise,
                "level": d.level,
                "weeks": d.weeks,
            }
            for m, d in row.decays.items()
        },
        "drift": {
            m: {
                "score": d.score,
                "level": d.level,
                "worse": d.worse,
                "shift": d.shift,
                "reference_n": d.reference_n,
                "current_n": d.current_n,
                "reference": [_day(d.reference_from), _day(d.reference_until)],
                "current": [_day(d.current_from), _day(d.current_until)],
            }
            for m, d in row.drifts.items()
        },
        "kpi_progress": progress.progress if progress else None,
        "time_elapsed": progress.time_elapsed if progress else None,
        "behind_plan": progress.behind if progress else None,
        "kpi_latest": None
        if progress is None
        else {
            "level": progress.latest,
            "method": progress.method,
            "cadence": progress.cadence,
            "values": progress.values,
            "from": _day(progress.window_from),
            "until": _day(progress.latest_week),
            "outliers": [{"date": _day(day), "value": value} for day, value in progress.outliers],
        },
        "concern": row.concern,
        "reasons": row.reasons,
    }


def _trend_json(trend) -> dict | None:
    return (
        None
        if trend is None
        else {
            "n": trend.n,
            "s": trend.s,
            "variance": trend.variance,
            "tau": trend.tau,
            "p": trend.p,
            "direction": trend.direction,
        }
    )


def _alignment_json(a: Alignment | None) -> dict | None:
    """The tests behind the label: each trend (Mann–Kendall), the strongest association of the changes."""
    if a is None:
        return None
    link = a.association
    return {
        "significance": a.significance,
        "why": a.why,
        "first_period": _day(a.first_period),
        "last_period": _day(a.last_period),
        "technical_trend": _trend_json(a.technical),
        "kpi_trend": _trend_json(a.kpi),
        "association": None
        if link is None
        else {
            "rho": link.rho,
            "lag": link.lag,
            "pairs": link.pairs,
            "p": link.p,
            "lags_tried": link.lags_tried,
            "significant": link.significant,
        },
    }


# -- one pilot's chart data ---------------------------------------------------------------------------


@dataclass
class PilotChartData:
    """What the pilot view draws: the technical metric (lab and live), its alert bands and the
    weeks an alert level was crossed; the KPI with its baseline, target, plan line and the
    "where it should be by now" point."""

    metric: str
    metric_label: str
    direction: str | None
    technical: pd.DataFrame  # week, value, environment (lab | live)
    bands: pd.DataFrame  # level, low, high (value ranges of the warning and critical zones)
    events: pd.DataFrame  # week, value, what (e.g. "decay warning"), level
    kpi_label: str | None
    kpi: pd.DataFrame  # week, value
    kpi_lines: pd.DataFrame  # line (baseline | target), value
    plan: pd.DataFrame  # week, value: the straight line from baseline at approval to target at the deadline
    expected_now: dict | None  # week, value: where the KPI should be by now
    reference: float | None  # the decay reference: the mean of the first live weeks
    kpi_direction: str | None = None  # up | down: which way is better for the KPI (the register's)
    judged: Alignment | None = None  # the alignment the verdict states (the primary metric's), None for other metrics
    judged_environment: str | None = None  # the technical series the verdict judged: live, else lab
    technical_cadence: str = "week"  # day | week | month | quarter, from the plotted values' spacing
    kpi_cadence: str = "week"

    @property
    def technical_flipped(self) -> bool:
        """Lower is better: the chart turns the scale upside down so that up means better."""
        return self.direction == "down"

    @property
    def kpi_flipped(self) -> bool:
        return self.kpi_direction == "down"

    @property
    def judged_window(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last day of the periods the verdict compared (to the end of the last period)."""
        a = self.judged
        if a is None or a.first_period is None or a.label == "insufficient data":
            return None
        last = pd.Timestamp(a.last_period) + (pd.Timedelta(days=6) if a.period == "week" else pd.offsets.MonthEnd(0))
        return pd.Timestamp(a.first_period), last

    @property
    def data_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last plotted value's date (technical or KPI)."""
        weeks = (
            pd.concat([pd.to_datetime(self.technical["week"]), pd.to_datetime(self.kpi["week"])])
            if len(self.kpi)
            else pd.to_datetime(self.technical["week"])
        )
        if weeks.empty:
            return None
        return weeks.min(), weeks.max()

    @property
    def span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The x-axis: the data's span, stretched only to show "where it should be by now" when that
        is close after the last value (within a tenth of the span, at least 35 days); the plan line
        is cut to it. A pilot whose data stopped long ago keeps an axis that ends with its data."""
        span = self.data_span
        if span is None or not self.expected_now:
            return span
        now = pd.Timestamp(self.expected_now["week"])
        slack = max((span[1] - span[0]) * 0.1, pd.Timedelta(days=35))
        return (span[0], now) if span[1] < now <= span[1] + slack else span

    def plotted(self, which: str) -> pd.Series:
        """The values the verdict judged, as drawn (by date, in the judged window): `technical` (the
        judged environment's) or `kpi`. For tests and words: the series people see go up or down."""
        if which == "technical":
            frame = self.technical[self.technical["environment"] == (self.judged_environment or "live")]
        else:
            frame = self.kpi
        series = pd.Series(frame["value"].to_numpy(dtype=float), index=pd.to_datetime(frame["week"])).sort_index()
        window = self.judged_window
        if window is not None:
            series = series[(series.index >= window[0]) & (series.index <= window[1])]
        return series

    @property
    def expected_now_shown(self) -> bool:
        """Whether "where it should be by now" falls inside the x-axis (else the caption says it)."""
        span = self.span
        return bool(self.expected_now and span and span[0] <= pd.Timestamp(self.expected_now["week"]) <= span[1])


def chart_data(
    numbers: PilotNumbers, metric: str | None = None, start: date | None = None, end: date | None = None
) -> PilotChartData | None:
    """The pilot view's chart data for a technical metric (default: the primary one), between two
    days (default: all). Thresholds and crossings are computed on the whole series, then cut."""
    metric = metric or numbers.primary_metric
    if not metric:
        return None
    a, e = numbers.analysis, numbers.evidence
    info = e.dictionary.describe(metric)
    direction = numbers.direction(metric)
    parts = []
    for environment in ("lab", "live"):
        series = e.series(metric, environment, "technical")
        if not series.empty:
            parts.append(pd.DataFrame({"week": series.index, "value": series.to_numpy(), "environment": environment}))
    technical = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["week", "value", "environment"])

    live = e.series(metric, "live", "technical")
    bands = pd.DataFrame(columns=["level", "low", "high"])
    events = []
    reference = None
    if direction and len(live) >= a.decay_reference_weeks + a.smoothing_weeks:
        path = decay_path(live, direction, a)
        reference = float(path["reference"].iloc[-1])
        sign = 1 if direction == "up" else -1
        warn, crit = reference * (1 - sign * a.decay_warning), reference * (1 - sign * a.decay_critical)
        floor = min(technical["value"].min(), crit) if direction == "up" else max(technical["value"].max(), crit)
        edge = floor - abs(floor) * 0.05 * sign
        bands = pd.DataFrame(
            [
                {"level": "warning", "low": min(warn, crit), "high": max(warn, crit)},
                {"level": "critical", "low": min(crit, edge), "high": max(crit, edge)},
            ]
        )
        values = dict(zip(path["week"], path["value"]))
        for week, level in crossings(path):
            events.append(
                {
                    "week": pd.Timestamp(week),
                    "value": values[pd.Timestamp(week)],
                    "what": f"decay {level}",
                    "level": level,
                }
            )
    if len(live) >= a.drift_reference_weeks + a.drift_current_weeks:
        path = drift_path(live, a)
        lookup = dict(zip(live.index, live.to_numpy()))
        for week, level in crossings(path):
            events.append(
                {
                    "week": pd.Timestamp(week),
                    "value": lookup[pd.Timestamp(week)],
                    "what": f"drift {level}",
                    "level": level,
                }
            )
    events_frame = pd.DataFrame(events, columns=["week", "value", "what", "level"])

    kpi = numbers.kpi
    kpi_frame = (
        pd.DataFrame({"week": kpi.index, "value": kpi.to_numpy()})
        if not kpi.empty
        else pd.DataFrame(columns=["week", "value"])
    )
    r = numbers.record
    lines = [
        {"line": name, "value": r.get(field_name)}
        for name, field_name in (("baseline", "kpi_baseline"), ("target", "kpi_target"))
        if r.get(field_name) is not None
    ]
    plan_rows, expected = [], None
    approved, deadline = r.get("approved_on"), r.get("kpi_deadline")
    if numbers.has_kpi_plan and approved is not None and deadline is not None:
        approved_day, deadline_day = pd.Timestamp(approved).date(), pd.Timestamp(deadline).date()
        if deadline_day > approved_day:
            plan_rows = [
                {"week": pd.Timestamp(approved_day), "value": r["kpi_baseline"]},
                {"week": pd.Timestamp(deadline_day), "value": r["kpi_target"]},
            ]
            now = numbers.as_of.date()
            value = numbers.expected_kpi(now)
            if value is not None:
                expected = {"week": pd.Timestamp(now), "value": value}
    data = PilotChartData(
        metric=metric,
        metric_label=info.label,
        direction=direction,
        technical=technical,
        bands=bands,
        events=events_frame,
        kpi_label=r.get("kpi_name"),
        kpi=kpi_frame,
        kpi_lines=pd.DataFrame(lines, columns=["line", "value"]),
        plan=pd.DataFrame(plan_rows, columns=["week", "value"]),
        expected_now=expected,
        reference=reference,
        kpi_direction=numbers.kpi_direction,
        judged=numbers.alignment if metric == numbers.primary_metric else None,
        judged_environment=numbers.technical_series(metric)[1],
        technical_cadence=cadence_of(numbers.technical_series(metric)[0].index) if len(technical) else "week",
        kpi_cadence=cadence_of(kpi.index) if len(kpi) else "week",
    )
    return cut(data, start, end)


def _values(n: int, cadence: str) -> str:
    return f"{n} {CADENCE_WORDS.get(cadence, cadence)} value{'s' if n != 1 else ''}"


def chart_caption(chart: PilotChartData, a) -> str:
    """What the pilot chart shows, in words, with the cadence named from the data ("month by
    month", never "week by week" for monthly values) and why a scale runs upside down. `a`: the
    analysis settings. Plain text (the page escapes it)."""
    lab_live = set(chart.technical["environment"]) if len(chart.technical) else set()
    drawn = " and ".join(e for e in ("lab (dashed grey)", "live (blue)") if e.split(" ")[0] in lab_live)
    parts = [
        f"Top: {chart.metric_label} {by_cadence(chart.technical_cadence)}, {drawn}, "
        f"{_values(len(chart.technical), chart.technical_cadence)} shown"
        + (
            "; lower is better, so its scale runs upside down and up means better."
            if chart.technical_flipped
            else "; higher is better."
        )
    ]
    if chart.reference is not None:
        parts.append(
            f"Shaded zones: {a.decay_warning:.0%} (warning) and {a.decay_critical:.0%} (critical) worse than the first "
            f"{a.decay_reference_weeks} live weeks ({chart.reference:.4g})."
        )
    if not chart.events.empty:
        parts.append("Markers: where decay or drift crossed an alert level (the legend says which).")
    if chart.kpi.empty:
        parts.append("No KPI values to show below.")
    else:
        kpi = chart.kpi_label or "the KPI"
        words = (
            f"Bottom: {kpi} {by_cadence(chart.kpi_cadence)} ({_values(len(chart.kpi), chart.kpi_cadence)})"
            + (", upside down because lower is better" if chart.kpi_flipped else "")
            + (", with its baseline and target" if not chart.kpi_lines.empty else "")
        )
        if not chart.plan.empty:
            words += ", and the plan from approval to deadline (dotted)"
        if chart.expected_now and chart.expected_now_shown:
            words += "; the diamond is where it should be by now"
        elif chart.expected_now:
            day = pd.Timestamp(chart.expected_now["week"])
            words += (
                f"; by the plan it should be at {chart.expected_now['value']:.4g} by now ({day:%d %b %Y}), "
                "after the last value shown, so it is not drawn"
            )
        parts.append(words + ".")
    window = chart.judged_window
    if window is not None and chart.judged is not None:
        judged = chart.judged
        lag = judged.lag
        parts.append(
            f"Pale background: the {judged.periods} {CADENCE_WORDS.get(judged.period, judged.period)} periods the verdict compared "
            f"({window[0]:%d %b %Y} – {min(window[1], pd.Timestamp(judged.last_period)):%d %b %Y})"
            + (f", the KPI read {lag} {judged.period}{'s' if lag != 1 else ''} after the model." if lag else ".")
        )
    return " ".join(parts)


def cut(data: PilotChartData, start: date | None, end: date | None) -> PilotChartData:
    """Only the weeks between two days (inclusive); thresholds stay as computed on everything."""
    if start is None and end is None:
        return data

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return frame
        weeks = pd.to_datetime(frame["week"])
        mask = pd.Series(True, index=frame.index)
        if start is not None:
            mask &= weeks >= pd.Timestamp(start)
        if end is not None:
            mask &= weeks <= pd.Timestamp(end)
        return frame[mask].reset_index(drop=True)

    data.technical, data.events, data.kpi = keep(data.technical), keep(data.events), keep(data.kpi)
    return data


def date_span(numbers: PilotNumbers) -> tuple[date, date] | None:
    """The first and last week with any technical or KPI value (the date picker's bounds)."""
    weeks = [numbers.evidence.weeks("technical", env) for env in ("lab", "live")] + [numbers.kpi.index]
    weeks = [w for w in weeks if len(w)]
    if not weeks:
        return None
    return min(w.min() for w in weeks).date(), max(w.max() for w in weeks).date()


@dataclass(frozen=True)
class AlignmentDetail:
    """One pilot's alignment view: its numbers and verdict (`row`), its technical metrics (the
    primary one first), each metric's chart data and the span of its weeks (the date chooser's bounds)."""

    row: PilotAlignment
    metrics: tuple[str, ...]
    charts: dict[str, PilotChartData | None] = field(compare=False)
    span: tuple[date, date] | None


def alignment_detail(
    store: Store,
    as_of: datetime,
    pilot_id: str,
    catalogue: Catalogue | None = None,
    records_at: datetime | None = None,
) -> AlignmentDetail | None:
    """One pilot's alignment view as of `as_of` (the portfolio's moment), with the records as they
    stood at `records_at` (a pinned view) and the thresholds then; None when the pilot is not in the store."""
    catalogue = catalogue or catalogue_for(store, records_at)
    evidence = load_evidence(store, as_of, [pilot_id], records_at, surveys=False)  # alignment reads no survey
    if pilot_id not in set(evidence.pilots["pilot_id"]):
        return None
    numbers = numbers_for(evidence, pilot_id, catalogue)
    primary = [numbers.primary_metric] if numbers.primary_metric else []
    metrics = tuple(primary + [m for m in numbers.evidence.technical_metrics if m != numbers.primary_metric])
    return AlignmentDetail(
        row=assess_alignment(numbers, catalogue),
        metrics=metrics,
        charts={m: chart_data(numbers, m) for m in metrics},
        span=date_span(numbers),
    )
