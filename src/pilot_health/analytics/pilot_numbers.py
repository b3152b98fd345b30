"""One pilot's technical-vs-business numbers, computed once and shared by the risk engine, the
Alignment page and the command line — so a number never differs between two places.

The choices live here too: the primary technical metric (the one decay and alignment are judged
on), the KPI series, and which way is better for each metric (the metric dictionary; the KPI's
direction from the pilot register).
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cached_property

import pandas as pd

from pilot_health.analytics.alignment import (
    Alignment,
    Decay,
    Drift,
    Gap,
    KpiProgress,
    Trend,
    alignment,
    drift,
    kpi_progress,
    lab_live_gap,
    live_decay,
    mann_kendall,
)
from pilot_health.analytics.evidence import PilotEvidence
from pilot_health.rules.catalogue import Analysis


def _day(value) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


class PilotNumbers:
    def __init__(self, evidence: PilotEvidence, analysis: Analysis, as_of: datetime, kpi_margin: float) -> None:
        self.evidence = evidence
        self.record = evidence.record
        self.analysis = analysis
        self.as_of = as_of
        self.kpi_margin = kpi_margin  # progress trailing time by this much is "behind plan"

    # -- choices ---------------------------------------------------------------------------------

    @property
    def primary_metric(self) -> str | None:
        return self.evidence.primary_metric

    @property
    def kpi_metric(self) -> str | None:
        return self.evidence.kpi_metric

    @property
    def kpi_direction(self) -> str | None:
        return self.record.get("kpi_direction")

    def direction(self, metric: str | None) -> str | None:
        return self.evidence.direction(metric)

    def technical_series(self, metric: str | None = None) -> tuple[pd.Series, str]:
        """A technical metric's live series, or its lab series when it has no live data (and which)."""
        metric = metric or self.primary_metric
        if not metric:
            return pd.Series(dtype=float), "live"
        live = self.evidence.series(metric, "live", "technical")
        if not live.empty:
            return live, "live"
        return self.evidence.series(metric, "lab", "technical"), "lab"

    @cached_property
    def kpi(self) -> pd.Series:
        metric = self.kpi_metric
        if not metric:
            return pd.Series(dtype=float)
        return self.evidence.series(metric, kind="business")

    # -- lab to live -----------------------------------------------------------------------------

    @cached_property
    def first_live_gap(self) -> Gap | None:
        """The cliff at go-live: first live weeks against the lab values up to then, on the primary
        metric, else the first technical metric with both lab and live data."""
        candidates = [self.primary_metric] + [m for m in self.evidence.technical_metrics if m != self.primary_metric]
        for metric in candidates:
            gap = self._gap(metric, "first_live")
            if gap is not None:
                return gap
        return None

    @cached_property
    def latest_gaps(self) -> dict[str, Gap]:
        """Per technical metric with lab and live data and a known direction: latest lab vs latest live."""
        found = {}
        for metric in self.evidence.technical_metrics:
            gap = self._gap(metric, "latest")
            if gap is not None:
                found[metric] = gap
        return found

    def _gap(self, metric: str | None, at: str) -> Gap | None:
        direction = self.direction(metric)
        if not metric or not direction:
            return None
        lab, live = self.evidence.series(metric, "lab", "technical"), self.evidence.series(metric, "live", "technical")
        if lab.empty or live.empty:
            return None
        return lab_live_gap(lab, live, metric, direction, self.analysis, at=at)

    # -- decay and drift -------------------------------------------------------------------------

    @cached_property
    def decay(self) -> Decay | None:
        """Decay of the primary metric (what the risk engine judges)."""
        return self.decay_of(self.primary_metric)

    def decay_of(self, metric: str | None) -> Decay | None:
        direction = self.direction(metric)
        if not metric or not direction:
            return None
        return live_decay(self.evidence.series(metric, "live", "technical"), metric, direction, self.analysis)

    @cached_property
    def decays(self) -> dict[str, Decay]:
        found = {}
        for metric in self.evidence.technical_metrics:
            decay = self.decay_of(metric)
            if decay is not None:
                found[metric] = decay
        return found

    @cached_property
    def drifts(self) -> dict[str, Drift]:
        """Drift of every live technical series, and of the KPI (keyed by its metric name)."""
        found = {}
        for metric in self.evidence.technical_metrics:
            result = drift(
                self.evidence.series(metric, "live", "technical"), metric, self.direction(metric), self.analysis
            )
            if result is not None:
                found[metric] = result
        if self.kpi_metric and not self.kpi.empty:
            result = drift(self.kpi, self.kpi_metric, self.kpi_direction, self.analysis)
            if result is not None:
                found[self.kpi_metric] = result
        return found

    # -- alignment and KPI progress --------------------------------------------------------------

    def alignment_of(self, metric: str | None = None) -> Alignment | None:
        """The technical metric (default: the primary one; live, else lab) against the KPI. None
        when either is missing or a direction is unknown."""
        metric = metric or self.primary_metric
        direction = self.direction(metric)
        if not metric or not direction or not self.kpi_direction or self.kpi.empty:
            return None
        technical, _ = self.technical_series(metric)
        if technical.empty:
            return None
        return alignment(technical, self.kpi, direction, self.kpi_direction, self.analysis)

    @cached_property
    def alignment(self) -> Alignment | None:
        return self.alignment_of(self.primary_metric)

    @cached_property
    def technical_trend(self) -> Trend | None:
        """The primary metric's trend (live, else lab; turned so up is better), by the same
        Mann–Kendall test as alignment: `direction` "up" only for a significant improvement. None
        with fewer than `alignment_min_periods` weeks."""
        metric = self.primary_metric
        direction = self.direction(metric)
        if not direction:
            return None
        series = self.evidence.series(metric, "live", "technical")
        if len(series) < self.analysis.alignment_min_periods:
            series = self.evidence.series(metric, "lab", "technical")
        if len(series) < self.analysis.alignment_min_periods:
            return None
        values = series.to_numpy(dtype=float) if direction == "up" else -series.to_numpy(dtype=float)
        return mann_kendall(values, self.analysis.significance)

    @property
    def has_kpi_plan(self) -> bool:
        r = self.record
        return bool(r.get("kpi_name")) and r.get("kpi_baseline") is not None and r.get("kpi_target") is not None

    @cached_property
    def kpi_progress(self) -> KpiProgress | None:
        if not self.has_kpi_plan or self.kpi.empty:
            return None
        return kpi_progress(
            self.kpi,
            self.record["kpi_baseline"],
            self.record["kpi_target"],
            _day(self.record.get("approved_on")),
            _day(self.record.get("kpi_deadline")),
            self.as_of,
            self.kpi_margin,
            self.analysis,
        )

    def expected_kpi(self, day: date) -> float | None:
        """Where the KPI should be on `day` if it moved from baseline to target in a straight line
        between approval and the deadline ("where it should be by now")."""
        approved, deadline = _day(self.record.get("approved_on")), _day(self.record.get("kpi_deadline"))
        if not self.has_kpi_plan or not approved or not deadline or deadline <= approved:
            return None
        share = min(max((day - approved).days / (deadline - approved).days, 0.0), 1.0)
        return self.record["kpi_baseline"] + share * (self.record["kpi_target"] - self.record["kpi_baseline"])
