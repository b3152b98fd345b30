"""Technical vs business numbers, one implementation each: lab-to-live gap, live decay, drift,
alignment of the technical metric with the KPI, and KPI progress against time.

Inputs are weekly series (pandas Series indexed by week start, one value per week), as
`evidence.weekly_series` gives them. Every verdict here is a tested claim: trends by Mann–Kendall,
associations by rank correlation corrected for the lags tried, decay against the pilot's own
week-to-week noise, the KPI's latest level by a robust line; every result says how many values it
rests on. docs/alignment.md explains each method in words, with its false-alarm and detection rates
(bench/validate_methods.py measures them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from pilot_health.rules.catalogue import Analysis


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


TOLERANCE = 1e-9  # thresholds are compared with this slack, so an exact 10% or 20% drop always reaches its level


def weekly_noise(values: np.ndarray) -> float:
    """A robust estimate of the week-to-week noise (standard deviation of one week's value): the
    median absolute deviation of the week-to-week differences, / (0.6745 · √2). A step change or a
    steady slope moves one or all differences alike and so does not inflate it."""
    steps = np.diff(np.asarray(values, dtype=float))
    if len(steps) < 2:
        return 0.0
    mad = float(np.median(np.abs(steps - np.median(steps))))
    return mad / (0.6745 * math.sqrt(2))


def _decay_level(share: float, beyond_noise: bool, settings: Analysis) -> str:
    if not beyond_noise:
        return "none"
    if share >= settings.decay_critical - TOLERANCE:
        return "critical"
    return "warning" if share >= settings.decay_warning - TOLERANCE else "none"


def _decay_at(
    values: np.ndarray, end: int, direction: str, settings: Analysis
) -> tuple[float, float, float, float, float, bool, str]:
    """Decay judged on the weeks before `end`: (reference, current, share worse, noise, standard
    error, beyond noise, level). The reference is the mean of the first
    `decay_reference_weeks` weeks, the current level the mean of the last `smoothing_weeks` weeks
    (computed directly, no running values)."""
    n_ref, n_cur = settings.decay_reference_weeks, settings.smoothing_weeks
    reference = float(values[:n_ref].mean())
    current = float(values[end - n_cur : end].mean())
    share = relative_shortfall(reference, current, direction)
    worse = (reference - current) if direction == "up" else (current - reference)
    noise = weekly_noise(values[:end])
    error = noise * math.sqrt(1 / n_ref + 1 / n_cur)
    beyond = worse > 0 and worse >= settings.decay_noise_k * error - TOLERANCE * max(abs(reference), 1.0)
    return reference, current, share, noise, error, beyond, _decay_level(share, beyond, settings)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their places), as pandas' rank() gives them."""
    values = np.asarray(values, dtype=float)
    sorter = np.argsort(values, kind="mergesort")
    inverse = np.empty(len(values), dtype=np.intp)
    inverse[sorter] = np.arange(len(values))
    ordered = values[sorter]
    new = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    dense = np.cumsum(new)[inverse]
    bounds = np.concatenate([np.nonzero(new)[0], [len(values)]])
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


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


def lab_live_gap(
    lab: pd.Series, live: pd.Series, metric: str, direction: str, settings: Analysis, at: str = "latest"
) -> Gap | None:
    """Lab vs live for one metric. `at="latest"`: the latest smoothed values of each. `at="first_live"`:
    the first live weeks against the lab values up to then — the cliff at go-live, before any decay."""
    lab, live = _clean(lab), _clean(live)
    if lab.empty or live.empty:
        return None
    if at == "first_live":
        live_part = live.iloc[: settings.first_live_weeks]
        lab_part = lab[lab.index <= live_part.index[-1]].iloc[-settings.smoothing_weeks :]
        if lab_part.empty:
            lab_part = lab.iloc[: settings.smoothing_weeks]
    else:
        live_part = live.iloc[-settings.smoothing_weeks :]
        lab_part = lab.iloc[-settings.smoothing_weeks :]
    lab_value, live_value = float(lab_part.mean()), float(live_part.mean())
    return Gap(
        metric=metric,
        direction=direction,
        lab=lab_value,
        live=live_value,
        absolute=live_value - lab_value,
        relative=relative_shortfall(lab_value, live_value, direction),
        lab_until=lab_part.index[-1].date(),
        live_from=live_part.index[0].date(),
        live_until=live_part.index[-1].date(),
        lab_values=len(lab_part),
        live_values=len(live_part),
    )


# -- decay --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decay:
    """The live metric now against its first live weeks (the reference).

    A level is reached only when both hold: the current level is worse than the reference by the
    level's share (within a tolerance of 1e-9), and the drop is at least `decay_noise_k` standard
    errors of the difference of the two means (the week-to-week noise judged robustly)."""

    metric: str
    direction: str
    latest: float  # mean of the last `smoothing_weeks` weeks
    latest_from: date
    latest_week: date
    reference: float  # mean of the first `decay_reference_weeks` live weeks
    reference_from: date
    reference_until: date
    reference_weeks: int
    current_weeks: int
    relative: float  # share worse than the reference (negative: better)
    noise: float  # weekly standard deviation, robust estimate
    standard_error: float  # of the difference between the two means
    beyond_noise: bool  # the drop is at least `decay_noise_k` standard errors
    level: str  # none | warning | critical
    weeks: int

    @property
    def drop_in_standard_errors(self) -> float | None:
        if self.standard_error <= 0:
            return None
        worse = (self.reference - self.latest) if self.direction == "up" else (self.latest - self.reference)
        return worse / self.standard_error


def decay_min_weeks(settings: Analysis) -> int:
    """Live weeks needed before decay is judged: the setting, and never fewer than the reference
    and current windows side by side (they must not overlap)."""
    return max(settings.decay_min_weeks, settings.decay_reference_weeks + settings.smoothing_weeks)


def decay_path(live: pd.Series, direction: str, settings: Analysis) -> pd.DataFrame:
    """Week by week, as it would have been judged that week: the current level (mean of the last
    `smoothing_weeks` weeks), the fixed reference, the share by which the current level is worse,
    and the alert level (none, warning, critical). Starts once the two windows no longer overlap."""
    live = _clean(live)
    values = live.to_numpy(dtype=float)
    first = settings.decay_reference_weeks + settings.smoothing_weeks
    rows = []
    for end in range(first, len(values) + 1):
        reference, current, share, _, _, _, level = _decay_at(values, end, direction, settings)
        rows.append((live.index[end - 1], current, reference, share, level))
    return pd.DataFrame(rows, columns=["week", "value", "reference", "shortfall", "level"])


def live_decay(live: pd.Series, metric: str, direction: str, settings: Analysis) -> Decay | None:
    """The live metric's latest level against its first live weeks. None with fewer live weeks
    than `decay_min_weeks` (or the two windows side by side). The same judgement as decay_path's
    last week."""
    live = _clean(live)
    if len(live) < decay_min_weeks(settings):
        return None
    values = live.to_numpy(dtype=float)
    reference, current, share, noise, error, beyond, level = _decay_at(values, len(values), direction, settings)
    n_ref, n_cur = settings.decay_reference_weeks, settings.smoothing_weeks
    return Decay(
        metric=metric,
        direction=direction,
        latest=current,
        latest_from=live.index[-n_cur].date(),
        latest_week=live.index[-1].date(),
        reference=reference,
        reference_from=live.index[0].date(),
        reference_until=live.index[n_ref - 1].date(),
        reference_weeks=n_ref,
        current_weeks=n_cur,
        relative=share,
        noise=noise,
        standard_error=error,
        beyond_noise=beyond,
        level=level,
        weeks=len(live),
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
    worse: bool | None  # the shift is in the bad direction (None when the direction is unknown)
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


def drift(
    series: pd.Series, metric: str, direction: str | None, settings: Analysis, environment: str = "live"
) -> Drift | None:
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
    return Drift(
        metric,
        environment,
        round(score, 3),
        shift,
        worse,
        _drift_level(score, settings),
        float(reference.mean()),
        sd,
        float(current.mean()),
        reference.index[0].date(),
        reference.index[-1].date(),
        current.index[0].date(),
        current.index[-1].date(),
        len(reference),
        len(current),
    )


def drift_path(series: pd.Series, settings: Analysis) -> pd.DataFrame:
    """The drift score each week, with the current window ending that week (week, score, level)."""
    series = series.dropna().sort_index()
    n_ref, n_cur = settings.drift_reference_weeks, settings.drift_current_weeks
    values = series.to_numpy(dtype=float)
    rows = []
    for end in range(n_ref + n_cur, len(values) + 1):
        score, _ = _drift_score(values[:n_ref], values[end - n_cur : end])
        rows.append((series.index[end - 1], score, _drift_level(score, settings)))
    return pd.DataFrame(rows, columns=["week", "score", "level"])


# -- significance -----------------------------------------------------------------------------------


def normal_two_sided_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


def chance_words(p: float | None) -> str:
    """A p-value in plain words: "would happen by chance less than 1 time in 100"."""
    if p is None:
        return "not tested"
    for limit, words in ((0.001, "1,000"), (0.01, "100"), (0.05, "20")):
        if p < limit:
            return f"would happen by chance less than 1 time in {words}"
    if p >= 0.5:
        return "could easily be chance: more often than not"
    return f"could easily be chance: about 1 time in {round(1 / p)}"


@dataclass(frozen=True)
class Trend:
    """A Mann–Kendall trend test of a series (turned so that up is better).

    S = Σ sign(x_j − x_i) over every pair i < j; its variance under no trend, corrected for ties, is
    [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18 (t: the size of each group of equal values); z = (S − 1)/√var
    for S > 0, (S + 1)/√var for S < 0 (continuity correction); p two-sided, from the normal curve."""

    n: int
    s: int
    variance: float
    tau: float  # S / (n(n−1)/2): −1 (always falling) … +1 (always rising)
    p: float
    direction: str  # up | down (significant at the level used) | none

    @property
    def significant(self) -> bool:
        return self.direction != "none"

    @property
    def chance(self) -> str:
        """The p-value in words ("would happen by chance less than 1 time in 100")."""
        return chance_words(self.p)

    def words(self) -> str:
        """ "a clear improvement" / "a clear worsening" / "no clear change" (the series is turned so
        that up is better), with the chance in words and the number of values."""
        what = {"up": "a clear improvement", "down": "a clear worsening"}.get(self.direction, "no clear change")
        return f"{what} ({chance_words(self.p)}, {self.n} values)"


def mann_kendall(values, significance: float) -> Trend:
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 3:
        return Trend(n, 0, 0.0, 0.0, 1.0, "none")
    s = int(np.triu(np.sign(x[None, :] - x[:, None]), 1).sum())
    _, ties = np.unique(x, return_counts=True)
    variance = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18
    if variance <= 0 or s == 0:
        p = 1.0
    else:
        p = normal_two_sided_p((s - np.sign(s)) / math.sqrt(variance))
    direction = "none" if p >= significance else ("up" if s > 0 else "down")
    return Trend(n, s, variance, s / (n * (n - 1) / 2), p, direction)


def _autocorrelation(centred: np.ndarray, total: float, lag: int) -> float:
    """Lag-`lag` autocorrelation of a centred series whose sum of squares is `total`."""
    return float(np.dot(centred[:-lag], centred[lag:])) / total if len(centred) > lag else 0.0


@dataclass(frozen=True)
class Association:
    """The strongest rank correlation of the period-over-period changes, the KPI following by 0 to
    `alignment_max_lag` periods, with its p-value corrected for the number of lags tried."""

    rho: float
    lag: int
    pairs: int  # pairs of changes at that lag
    p: float  # Bonferroni-corrected: the lag's own p-value × lags tried (at most 1)
    lags_tried: int
    significant: bool


def association(technical: np.ndarray, kpi: np.ndarray, max_lag: int, significance: float) -> Association | None:
    """Spearman ρ of the changes at each lag, tested by Fisher's z, z = atanh(ρ)·√((n − 3)/(1.06·f)),
    where f ≥ 1 widens the variance for changes that are themselves correlated week to week (Bartlett:
    f = 1 + 2 Σ r_x(k)·r_y(k), k = 1, 2 — differences of noise are, and would otherwise look related
    too often). None when fewer than 6 pairs of changes are left even at lag 0."""
    tech_changes, kpi_changes = np.diff(technical), np.diff(kpi)
    tried = []
    for lag in range(0, max_lag + 1):
        x, y = tech_changes[: len(tech_changes) - lag], kpi_changes[lag:]
        if len(x) < 6:
            break
        rx, ry = _ranks(x), _ranks(y)
        rx, ry = rx - rx.mean(), ry - ry.mean()
        sx, sy = float(np.dot(rx, rx)), float(np.dot(ry, ry))
        if sx == 0 or sy == 0:
            tried.append((1.0, 0.0, lag, len(x)))
            continue
        rho = float(np.dot(rx, ry)) / math.sqrt(sx * sy)
        widen = max(1.0, 1 + 2 * sum(_autocorrelation(rx, sx, k) * _autocorrelation(ry, sy, k) for k in (1, 2)))
        z = math.atanh(max(-0.999999, min(0.999999, rho))) * math.sqrt((len(x) - 3) / (1.06 * widen))
        tried.append((normal_two_sided_p(z), rho, lag, len(x)))
    if not tried:
        return None
    p, rho, lag, pairs = min(tried, key=lambda t: (t[0], t[2]))
    corrected = min(1.0, p * len(tried))
    return Association(round(rho, 3), lag, pairs, corrected, len(tried), corrected < significance)


# -- alignment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alignment:
    """Whether the technical metric and the KPI move together, as a tested claim.

    `rho` and `lag` are given only when the association of the changes is significant (so a number
    beside the label never contradicts it); `association` always holds the strongest lag's figures
    and its corrected p-value."""

    label: str  # aligned | decoupled | inverted | inconclusive | insufficient data
    periods: int
    period: str  # week | month
    rho: float | None  # rank correlation of the changes at the lag found, when significant
    lag: int | None  # periods by which the KPI follows the technical metric, when significant
    technical: Trend | None  # the technical metric's trend (turned so up is better)
    kpi: Trend | None  # the KPI's trend, judged at the lag (the KPI periods that follow the technical ones)
    association: Association | None
    significance: float
    why: str = ""  # one sentence: which evidence decided the label
    first_period: date | None = None
    last_period: date | None = None

    @property
    def technical_p(self) -> float | None:
        return self.technical.p if self.technical else None

    @property
    def kpi_p(self) -> float | None:
        return self.kpi.p if self.kpi else None

    @property
    def association_p(self) -> float | None:
        return self.association.p if self.association else None


def _density(series: pd.Series) -> str:
    days = np.diff(series.index.to_numpy()) / np.timedelta64(1, "D")
    return "week" if len(days) and np.median(days) <= 10 else "month"


def _resample(series: pd.Series, period: str) -> pd.Series:
    """Mean per week (starting Monday) or per month (starting the 1st)."""
    series = _clean(series)
    days = series.index.to_numpy().astype("datetime64[D]")
    if period == "week":
        starts = days - ((days.astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
    else:
        starts = days.astype("datetime64[M]").astype("datetime64[D]")
    starts = pd.DatetimeIndex(starts.astype("datetime64[ns]"))
    if starts.is_unique:  # already one value per period (weekly data by weeks): nothing to average
        return pd.Series(series.to_numpy(), index=starts)
    return series.groupby(starts).mean()


def _label(tech: Trend, kpi: Trend, link: Association | None) -> tuple[str, str]:
    same_way = tech.direction != "none" and tech.direction == kpi.direction
    opposite = tech.direction != "none" and kpi.direction != "none" and tech.direction != kpi.direction
    together = link is not None and link.significant and link.rho > 0
    against = link is not None and link.significant and link.rho < 0
    if (same_way and against) or (opposite and together):
        return "inconclusive", "their trends and their week-to-week changes point different ways"
    if opposite:
        return "inverted", "one clearly improves while the other clearly worsens"
    if against:
        return "inverted", "their changes clearly move against each other"
    if same_way:
        return "aligned", "both clearly improve" if tech.direction == "up" else "both clearly worsen together"
    if together:
        return "aligned", "their changes clearly move together"
    if tech.direction == "up":
        return "decoupled", "the model clearly improves, the KPI shows no clear change and does not follow it"
    if tech.direction == "down":
        return "inconclusive", "the model clearly worsens while the KPI shows no clear change"
    if kpi.direction != "none":
        return "inconclusive", "the KPI moves but the model shows no clear change"
    return "inconclusive", "neither shows a clear change"


def alignment(
    technical: pd.Series, kpi: pd.Series, technical_direction: str, kpi_direction: str, settings: Analysis
) -> Alignment:
    """Do the technical metric and the KPI move together? Both are put on common periods (weeks when
    both are at least weekly, else months) and turned so that up is better. Then, each at the
    `significance` level: the trend of each (Mann–Kendall), and the association of their
    period-over-period changes with the KPI following by 0 to `alignment_max_lag` periods (Spearman ρ,
    corrected for the lags tried). When the association is significant its lag is used: the KPI's
    trend is judged on the periods that follow the technical ones by that lag.

    - aligned: both clearly improve (or both clearly worsen together), or their changes clearly
      move together and their trends do not oppose;
    - decoupled: the technical metric clearly improves, the KPI shows no clear trend and no clear
      association;
    - inverted: clear opposite trends, or changes clearly moving against each other while the
      trends do not agree;
    - inconclusive: nothing clear (or the evidence conflicts); a constant series is always this;
    - insufficient data: fewer than `alignment_min_periods` common periods."""
    technical, kpi = _clean(technical), _clean(kpi)
    period = "week" if _density(technical) == "week" and _density(kpi) == "week" else "month"
    tech, business = _resample(technical, period), _resample(kpi, period)
    common, at_tech, at_kpi = np.intersect1d(
        tech.index.to_numpy(), business.index.to_numpy(), assume_unique=True, return_indices=True
    )
    first, last = (pd.Timestamp(common[0]).date(), pd.Timestamp(common[-1]).date()) if len(common) else (None, None)
    alpha = settings.significance
    if len(common) < settings.alignment_min_periods:
        return Alignment(
            "insufficient data",
            len(common),
            period,
            None,
            None,
            None,
            None,
            None,
            alpha,
            f"only {len(common)} common {period}ly periods ({settings.alignment_min_periods} needed)",
            first,
            last,
        )
    t = tech.to_numpy(dtype=float)[at_tech] * (1 if technical_direction == "up" else -1)
    k = business.to_numpy(dtype=float)[at_kpi] * (1 if kpi_direction == "up" else -1)
    if np.ptp(t) == 0 or np.ptp(k) == 0:
        which = "the technical metric" if np.ptp(t) == 0 else "the KPI"
        return Alignment(
            "inconclusive",
            len(common),
            period,
            None,
            None,
            mann_kendall(t, alpha),
            mann_kendall(k, alpha),
            None,
            alpha,
            f"{which} did not change at all",
            first,
            last,
        )
    link = association(t, k, settings.alignment_max_lag, alpha)
    lag = link.lag if link is not None and link.significant else 0
    tech_trend = mann_kendall(t[: len(t) - lag], alpha)
    kpi_trend = mann_kendall(k[lag:], alpha)
    label, why = _label(tech_trend, kpi_trend, link)
    shown = link if link is not None and link.significant else None
    return Alignment(
        label,
        len(common),
        period,
        shown.rho if shown else None,
        shown.lag if shown else None,
        tech_trend,
        kpi_trend,
        link,
        alpha,
        why,
        first,
        last,
    )


# -- KPI progress ---------------------------------------------------------------------------------

KPI_WINDOW_PERIODS = 6  # "latest" = a robust level over the KPI's last six periods (weeks, months, quarters)
OUTLIER_SDS = 3.5  # a value this many robust standard deviations from the robust line is flagged
# The robust level (Theil–Sen line or median) is less precise than a least-squares line or a mean on the
# same values: measured on normal noise (5 to 8 values in the window), its standard deviation is 1.10 to
# 1.15 times theirs. Its standard error is theirs × this factor.
ROBUST_LEVEL_FACTOR = 1.12


def kpi_cadence(kpi: pd.Series) -> tuple[str, float]:
    """The KPI's cadence from the median spacing of its observations: week (≤ 10 days), month
    (≤ 45 days) or quarter; and the cadence's length in days."""
    days = np.diff(kpi.index.to_numpy()) / np.timedelta64(1, "D")
    spacing = float(np.median(days)) if len(days) else 7.0
    if spacing <= 10:
        return "week", 7.0
    if spacing <= 45:
        return "month", 365.25 / 12
    return "quarter", 365.25 / 4


def theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope (median of the slopes between every pair of points) and intercept (median of
    y − slope·x) of the Theil–Sen line."""
    i, j = np.triu_indices(len(x), 1)
    keep = x[j] != x[i]
    slope = float(np.median((y[j] - y[i])[keep] / (x[j] - x[i])[keep])) if keep.any() else 0.0
    return slope, float(np.median(y - slope * x))


@dataclass(frozen=True)
class KpiProgress:
    latest: float  # the robust level at the latest observation (see `method`)
    latest_week: date  # the latest observation's date
    baseline: float
    target: float
    progress: float  # share of the way from baseline to target (can be negative, or above 1)
    time_elapsed: float | None  # share of the time from approval to the deadline gone (None without dates)
    behind: bool | None
    values: int  # observations in the window
    window_from: date | None = None  # the window's first observation
    cadence: str = "week"  # week | month | quarter
    method: str = "median"  # "trend line" (Theil–Sen, 5 or more values) | "median"
    outliers: tuple[tuple[date, float], ...] = ()  # values far from the robust line, left without weight
    last_value: float | None = None  # the latest single observation, as uploaded
    noise: float = 0.0  # the KPI's period-to-period noise (standard deviation of one value), robust estimate
    standard_error: float = 0.0  # of `latest`, in the KPI's unit
    beyond_noise: bool | None = None  # the shortfall against the plan is at least `kpi_noise_k` standard errors
    margin: float = 0.25  # the shortfall (share of the way) that is behind plan when beyond the noise

    @property
    def shortfall(self) -> float | None:
        """How far progress trails the time gone, as a share of the way from baseline to target
        (negative: ahead of plan). None without dates."""
        return None if self.time_elapsed is None else min(self.time_elapsed, 1.0) - self.progress

    @property
    def within_noise(self) -> bool:
        """Behind by the margin or more, but not beyond the KPI's own noise: shown, not counted."""
        shortfall = self.shortfall  # None without dates, when `behind` is None too
        return (
            self.behind is False
            and self.beyond_noise is False
            and shortfall is not None
            and shortfall >= self.margin - TOLERANCE
        )

    @property
    def shortfall_in_standard_errors(self) -> float | None:
        """The shortfall in the KPI's unit, in standard errors of its latest level (None without
        dates, or with no noise at all)."""
        if self.shortfall is None or self.standard_error <= 0:
            return None
        return self.shortfall * abs(self.target - self.baseline) / self.standard_error


def kpi_progress(
    kpi: pd.Series,
    baseline: float,
    target: float,
    approved_on: date | None,
    deadline: date | None,
    as_of: datetime,
    margin: float,
    settings: Analysis,
) -> KpiProgress | None:
    """(latest − baseline) / (target − baseline) against the share of time elapsed between approval
    and the KPI deadline. Latest = a robust level over the KPI's last `KPI_WINDOW_PERIODS` periods of
    its own cadence (six weeks for a weekly KPI, six months for a monthly one): with 5 or more values
    the Theil–Sen line through them at the latest date, else their median. Values more than
    `OUTLIER_SDS` robust standard deviations (1.4826 × the median absolute residual) from that line
    are flagged as outliers; one bad value moves neither the line nor the median much.

    Behind plan when both hold, as for decay: progress trails the time gone by `margin` or more
    (within a tolerance of 1e-9), and the shortfall, in the KPI's unit, is at least `kpi_noise_k`
    standard errors of the latest level. The noise is the KPI's own period-to-period noise over its
    whole history (`weekly_noise`, robust to a step, a slope or one bad value); the level's standard
    error is noise × √(1/n + x̄²/Σ(x − x̄)²) for the line read at the latest date (x in periods,
    0 = latest), noise / √n for a median, each × `ROBUST_LEVEL_FACTOR`. With no noise at all (a
    smooth KPI, or fewer than three values) the margin alone decides."""
    kpi = kpi.dropna().sort_index()
    if kpi.empty or target == baseline:
        return None
    cadence, length = kpi_cadence(kpi)
    latest_day = kpi.index[-1]
    window = kpi[kpi.index > latest_day - pd.Timedelta(days=(KPI_WINDOW_PERIODS - 0.5) * length)]
    y = window.to_numpy(dtype=float)
    x = ((window.index - latest_day) / pd.Timedelta(days=1)).to_numpy(dtype=float) / length  # in periods, 0 = latest
    if len(y) >= 5:
        slope, intercept = theil_sen(x, y)
        latest, method, fitted = intercept, "trend line", intercept + slope * x
    else:
        latest = float(np.median(y))
        method, fitted = "median", np.full(len(y), latest)
    residuals = y - fitted
    spread = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    floor = 1e-9 * max(1.0, abs(latest))
    far = (
        np.abs(residuals) > (OUTLIER_SDS * spread if spread > floor else floor)
        if len(y) >= 3
        else np.zeros(len(y), bool)
    )
    outliers = tuple((day.date(), float(value)) for day, value, out in zip(window.index, y, far) if out)
    progress = (latest - baseline) / (target - baseline)
    noise = weekly_noise(kpi.to_numpy(dtype=float))
    if method == "trend line":
        spread_x = float(((x - x.mean()) ** 2).sum())
        error = noise * math.sqrt(1 / len(y) + (x.mean() ** 2 / spread_x if spread_x > 0 else 0.0))
    else:
        error = noise / math.sqrt(len(y))
    error *= ROBUST_LEVEL_FACTOR
    elapsed = behind = beyond = None
    if approved_on and deadline and deadline > approved_on:
        elapsed = max(0.0, (as_of.date() - approved_on).days / (deadline - approved_on).days)
        gap = min(elapsed, 1.0) - progress
        beyond = gap * abs(target - baseline) >= settings.kpi_noise_k * error - TOLERANCE * max(
            abs(target - baseline), 1.0
        )
        behind = gap >= margin - TOLERANCE and beyond
    return KpiProgress(
        latest,
        latest_day.date(),
        baseline,
        target,
        progress,
        elapsed,
        behind,
        len(y),
        window.index[0].date(),
        cadence,
        method,
        outliers,
        float(y[-1]),
        noise,
        error,
        beyond,
        margin,
    )
