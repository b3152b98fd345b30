"""Technical vs business numbers, one implementation each: lab-to-live gap, live decay, alignment
of the technical metric with the KPI, and KPI progress against time.

Inputs are weekly series (pandas Series indexed by week start, one value per week), as
`evidence.weekly_series` gives them. Values are averaged over `smoothing_weeks` where a single
week would be noise; every result says which weeks and how many values it used.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

import numpy as np
import pandas as pd

from .catalogue import Analysis


def relative_shortfall(reference: float, value: float, direction: str) -> float:
    """How much worse `value` is than `reference`, as a share of the reference (negative = better)."""
    if reference == 0:
        return 0.0
    worse = (reference - value) if direction == "up" else (value - reference)
    return worse / abs(reference)


def _clean(series: pd.Series) -> pd.Series:
    """Without missing values, in time order (the evidence's series usually are already: then free)."""
    if series.hasnans:
        series = series.dropna()
    return series if series.index.is_monotonic_increasing else series.sort_index()


def _rolling_mean(values: np.ndarray, weeks: int) -> np.ndarray:
    """Mean of each value and the `weeks − 1` before it (fewer at the start), as pandas'
    rolling(weeks, min_periods=1).mean() gives it."""
    totals = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - weeks, 0)
    return (totals[ends] - totals[starts]) / (ends - starts)


def _decay_arrays(values: np.ndarray, direction: str, settings: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed values (full windows only), the best so far, and the share worse than that best."""
    smooth = _rolling_mean(values, settings.smoothing_weeks)[settings.smoothing_weeks - 1:]
    best = np.maximum.accumulate(smooth) if direction == "up" else np.minimum.accumulate(smooth)
    worse = (best - smooth) if direction == "up" else (smooth - best)
    with np.errstate(divide="ignore", invalid="ignore"):
        shortfall = np.where(best != 0, worse / np.abs(best), 0.0)
    return smooth, best, shortfall


def _level(share: float, settings: Analysis) -> str:
    return "critical" if share >= settings.decay_critical else "warning" if share >= settings.decay_warning else "none"


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their places), as pandas' rank() gives them."""
    _, inverse, counts = np.unique(np.asarray(values, dtype=float), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2)[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation; 0 when either side does not vary."""
    if len(x) < 3:
        return 0.0
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


# -- lab to live ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gap:
    metric: str
    direction: str
    lab: float
    live: float
    absolute: float  # live − lab
    relative: float  # share of the lab value by which live is worse (negative: live is better)
    lab_until: date
    live_from: date
    live_until: date
    lab_values: int
    live_values: int


def lab_live_gap(lab: pd.Series, live: pd.Series, metric: str, direction: str, settings: Analysis, at: str = "latest") -> Optional[Gap]:
    """Lab vs live for one metric. `at="latest"`: the latest smoothed values of each. `at="first_live"`:
    the first live weeks against the lab values up to then — the cliff at go-live, before any decay."""
    lab, live = _clean(lab), _clean(live)
    if lab.empty or live.empty:
        return None
    if at == "first_live":
        live_part = live.iloc[: settings.first_live_weeks]
        lab_part = lab[lab.index <= live_part.index[-1]].iloc[-settings.smoothing_weeks:]
        if lab_part.empty:
            lab_part = lab.iloc[: settings.smoothing_weeks]
    else:
        live_part = live.iloc[-settings.smoothing_weeks:]
        lab_part = lab.iloc[-settings.smoothing_weeks:]
    lab_value, live_value = float(lab_part.mean()), float(live_part.mean())
    return Gap(
        metric=metric, direction=direction, lab=lab_value, live=live_value, absolute=live_value - lab_value,
        relative=relative_shortfall(lab_value, live_value, direction), lab_until=lab_part.index[-1].date(),
        live_from=live_part.index[0].date(), live_until=live_part.index[-1].date(),
        lab_values=len(lab_part), live_values=len(live_part),
    )


# -- decay --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decay:
    metric: str
    direction: str
    latest: float
    latest_week: date
    best: float
    best_week: date
    first: float  # the first weeks' level
    relative: float  # share below the best (positive = worse than the best)
    vs_first: float  # share below the first weeks
    level: str  # none | warning | critical
    weeks: int


def decay_path(live: pd.Series, direction: str, settings: Analysis) -> pd.DataFrame:
    """Week by week: the smoothed live value, the best smoothed value so far, the share by which the
    value is worse than that best, and the alert level (none, warning, critical). The first
    `smoothing_weeks − 1` weeks are left out: they are not yet a full average."""
    live = _clean(live)
    smooth, best, shortfall = _decay_arrays(live.to_numpy(dtype=float), direction, settings)
    if not len(smooth):
        return pd.DataFrame(columns=["week", "value", "best", "shortfall", "level"])
    level = np.where(shortfall >= settings.decay_critical, "critical", np.where(shortfall >= settings.decay_warning, "warning", "none"))
    return pd.DataFrame({"week": live.index[settings.smoothing_weeks - 1:], "value": smooth, "best": best, "shortfall": shortfall, "level": level})


def live_decay(live: pd.Series, metric: str, direction: str, settings: Analysis) -> Optional[Decay]:
    """The live metric's latest smoothed level against its best smoothed level so far and against
    its first weeks. None with fewer than `decay_min_weeks` weeks. (The same arrays as decay_path.)"""
    live = _clean(live)
    if len(live) < settings.decay_min_weeks:
        return None
    values = live.to_numpy(dtype=float)
    smooth, best, shortfall = _decay_arrays(values, direction, settings)
    if not len(smooth):
        return None
    weeks = live.index[settings.smoothing_weeks - 1:]
    best_at = int(np.argmax(smooth if direction == "up" else -smooth))
    first = float(values[: settings.smoothing_weeks].mean())
    latest = float(smooth[-1])
    return Decay(
        metric=metric, direction=direction, latest=latest, latest_week=weeks[-1].date(), best=float(smooth[best_at]),
        best_week=weeks[best_at].date(), first=first, relative=float(shortfall[-1]),
        vs_first=relative_shortfall(first, latest, direction), level=_level(float(shortfall[-1]), settings), weeks=len(live),
    )


def crossings(path: pd.DataFrame, column: str = "level") -> list[tuple[date, str]]:
    """The weeks where an alert level went up (none → warning, warning → critical, none → critical)."""
    order = {"none": 0, "warning": 1, "critical": 2}
    found, previous = [], 0
    for week, level in zip(path["week"], path[column]):
        rank = order[level]
        if rank > previous:
            found.append((pd.Timestamp(week).date(), level))
        previous = rank
    return found


# -- drift ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drift:
    """A standardised shift of the current window's mean from the reference window's.

    score = |mean(current) − mean(reference)| / sd(reference), with the reference's standard
    deviation floored at 1% of its mean (a flat reference would make any wobble infinite)."""

    metric: str
    environment: str
    score: float
    shift: float  # mean(current) − mean(reference)
    worse: Optional[bool]  # the shift is in the bad direction (None when the direction is unknown)
    level: str  # none | warning | critical
    reference_mean: float
    reference_sd: float
    current_mean: float
    reference_from: date
    reference_until: date
    current_from: date
    current_until: date
    reference_n: int
    current_n: int


def _drift_score(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    sd = float(np.std(reference, ddof=1)) if len(reference) > 1 else 0.0
    sd = max(sd, 0.01 * abs(float(np.mean(reference))), 1e-12)
    return abs(float(np.mean(current)) - float(np.mean(reference))) / sd, sd


def _drift_level(score: float, settings: Analysis) -> str:
    return "critical" if score >= settings.drift_critical else "warning" if score >= settings.drift_warning else "none"


def drift(series: pd.Series, metric: str, direction: Optional[str], settings: Analysis, environment: str = "live") -> Optional[Drift]:
    """The first `drift_reference_weeks` weeks (the reference) against the last `drift_current_weeks`
    weeks. None until there are enough weeks for both windows without overlap."""
    series = _clean(series)
    n_ref, n_cur = settings.drift_reference_weeks, settings.drift_current_weeks
    if len(series) < n_ref + n_cur:
        return None
    reference, current = series.iloc[:n_ref], series.iloc[-n_cur:]
    score, sd = _drift_score(reference.to_numpy(dtype=float), current.to_numpy(dtype=float))
    shift = float(current.mean()) - float(reference.mean())
    worse = None if direction is None else (shift < 0 if direction == "up" else shift > 0)
    return Drift(metric, environment, round(score, 3), shift, worse, _drift_level(score, settings), float(reference.mean()), sd,
                 float(current.mean()), reference.index[0].date(), reference.index[-1].date(), current.index[0].date(),
                 current.index[-1].date(), len(reference), len(current))


def drift_path(series: pd.Series, settings: Analysis) -> pd.DataFrame:
    """The drift score each week, with the current window ending that week (week, score, level)."""
    series = series.dropna().sort_index()
    n_ref, n_cur = settings.drift_reference_weeks, settings.drift_current_weeks
    values = series.to_numpy(dtype=float)
    rows = []
    for end in range(n_ref + n_cur, len(values) + 1):
        score, _ = _drift_score(values[:n_ref], values[end - n_cur:end])
        rows.append((series.index[end - 1], score, _drift_level(score, settings)))
    return pd.DataFrame(rows, columns=["week", "score", "level"])


# -- alignment ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Alignment:
    label: str  # aligned | decoupled | inverted | insufficient data
    periods: int
    period: str  # week | month
    rho: Optional[float]  # rank correlation of period-over-period changes at the best lag
    lag: Optional[int]  # periods by which the KPI follows the technical metric
    technical_trend: Optional[float]  # rank correlation of the (direction-adjusted) level with time
    kpi_trend: Optional[float]
    first_period: Optional[date] = None
    last_period: Optional[date] = None


def _density(series: pd.Series) -> str:
    days = np.diff(series.dropna().sort_index().index.to_numpy()) / np.timedelta64(1, "D")
    return "week" if len(days) and np.median(days) <= 10 else "month"


def _resample(series: pd.Series, period: str) -> pd.Series:
    """Mean per week (starting Monday) or per month (starting the 1st)."""
    series = series.dropna().sort_index()
    days = series.index.to_numpy().astype("datetime64[D]")
    if period == "week":
        starts = days - ((days.astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
    else:
        starts = days.astype("datetime64[M]").astype("datetime64[D]")
    starts = pd.DatetimeIndex(starts.astype("datetime64[ns]"))
    if starts.is_unique:  # already one value per period (weekly data by weeks): nothing to average
        return pd.Series(series.to_numpy(), index=starts)
    return series.groupby(starts).mean()


def alignment(technical: pd.Series, kpi: pd.Series, technical_direction: str, kpi_direction: str, settings: Analysis) -> Alignment:
    """Do the technical metric and the KPI move together? Both are put on common periods (weeks when
    both are at least weekly, else months), turned so that up is better, and compared two ways: the
    trend of each over time, and the rank correlation of their period-over-period changes with the
    KPI following by 0 to `alignment_max_lag` periods.

    - inverted: one improves while the other worsens, or (when their trends do not agree) their
      period-over-period changes move against each other;
    - decoupled: the technical metric improves and the KPI does not move;
    - aligned: otherwise (they move together, or neither moves);
    - insufficient data: fewer than `alignment_min_periods` common periods."""
    period = "week" if _density(technical) == "week" and _density(kpi) == "week" else "month"
    tech = _resample(technical, period) * (1 if technical_direction == "up" else -1)
    business = _resample(kpi, period) * (1 if kpi_direction == "up" else -1)
    common = tech.index.intersection(business.index)
    if len(common) < settings.alignment_min_periods:
        return Alignment("insufficient data", len(common), period, None, None, None, None,
                         common.min().date() if len(common) else None, common.max().date() if len(common) else None)
    tech, business = tech[common], business[common]
    steps = np.arange(len(common))
    tech_trend = spearman(steps, tech.to_numpy())
    kpi_trend = spearman(steps, business.to_numpy())
    tech_changes, kpi_changes = np.diff(tech.to_numpy()), np.diff(business.to_numpy())
    best_rho, best_lag = 0.0, 0
    for lag in range(0, settings.alignment_max_lag + 1):
        if len(tech_changes) - lag < 4:
            break
        rho = spearman(tech_changes[: len(tech_changes) - lag], kpi_changes[lag:])
        if abs(rho) > abs(best_rho):
            best_rho, best_lag = rho, lag
    t = settings.trend_threshold
    opposite = (tech_trend >= t and kpi_trend <= -t) or (tech_trend <= -t and kpi_trend >= t)
    same_way = (tech_trend >= t and kpi_trend >= t) or (tech_trend <= -t and kpi_trend <= -t)
    if opposite or (best_rho <= -t and not same_way):
        label = "inverted"
    elif tech_trend >= t and abs(kpi_trend) < t:
        label = "decoupled"
    else:
        label = "aligned"
    return Alignment(label, len(common), period, round(best_rho, 3), best_lag, round(tech_trend, 3), round(kpi_trend, 3),
                     common.min().date(), common.max().date())


# -- KPI progress ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class KpiProgress:
    latest: float
    latest_week: date
    baseline: float
    target: float
    progress: float  # share of the way from baseline to target (can be negative, or above 1)
    time_elapsed: Optional[float]  # share of the time from approval to the deadline gone (None without dates)
    behind: Optional[bool]
    values: int


def kpi_progress(kpi: pd.Series, baseline: float, target: float, approved_on: Optional[date], deadline: Optional[date],
                 as_of: datetime, margin: float, settings: Analysis) -> Optional[KpiProgress]:
    """(latest − baseline) / (target − baseline) against the share of time elapsed between approval
    and the KPI deadline. Latest = the average of the last `smoothing_weeks` weeks."""
    kpi = kpi.dropna().sort_index()
    if kpi.empty or target == baseline:
        return None
    recent = kpi.iloc[-settings.smoothing_weeks:]
    latest = float(recent.mean())
    progress = (latest - baseline) / (target - baseline)
    elapsed = None
    if approved_on and deadline and deadline > approved_on:
        elapsed = max(0.0, (as_of.date() - approved_on).days / (deadline - approved_on).days)
    behind = None if elapsed is None else (min(elapsed, 1.0) - progress) >= margin
    return KpiProgress(latest, recent.index[-1].date(), baseline, target, progress, elapsed, behind, len(recent))
