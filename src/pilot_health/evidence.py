"""Everything the risk engine reads about pilots, as of one moment, in two queries.

"As of" means: pilot records as they are now (their history arrives with pinned links), and only
data rows uploaded by that moment, not withdrawn by then, and observed by then — so scores for a
past month are what a steering committee could have known at that time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Optional, Sequence

import pandas as pd

from . import queries
from .metric_names import metric_key, technical_direction
from .store import Store, utc_now


@dataclass
class PilotEvidence:
    """One pilot's record and data, with the choices every signal shares (which metric is the
    primary technical one, which series is the KPI)."""

    record: dict
    weekly: pd.DataFrame  # metric, kind, environment, week, value, n
    responses: pd.DataFrame  # latest wave: respondent_id, team, wave, the five scores

    def series(self, metric: str, environment: str, kind: Optional[str] = None) -> pd.Series:
        rows = self.weekly[(self.weekly["metric"] == metric) & (self.weekly["environment"] == environment)]
        if kind:
            rows = rows[rows["kind"] == kind]
        return rows.groupby("week")["value"].mean().sort_index()

    @cached_property
    def technical_metrics(self) -> list[str]:
        return sorted(self.weekly.loc[self.weekly["kind"] == "technical", "metric"].unique())

    @cached_property
    def primary_metric(self) -> Optional[str]:
        """The technical metric with the most live weeks (then lab weeks); one whose direction is
        known comes first. This is the metric decay and alignment are judged on."""
        technical = self.weekly[self.weekly["kind"] == "technical"]
        if technical.empty:
            return None
        weeks = technical.groupby(["metric", "environment"])["week"].nunique().unstack(fill_value=0)
        for column in ("lab", "live"):
            if column not in weeks:
                weeks[column] = 0
        ranked = sorted(
            weeks.index,
            key=lambda m: (technical_direction(m) is not None, weeks.loc[m, "live"], weeks.loc[m, "lab"], m),
            reverse=True,
        )
        return ranked[0]

    @cached_property
    def kpi_metric(self) -> Optional[str]:
        """The business series that is the pilot's KPI: named like `kpi_name`, or the only business series."""
        business = sorted(self.weekly.loc[self.weekly["kind"] == "business", "metric"].unique())
        name = self.record.get("kpi_name")
        if name:
            wanted = metric_key(name)
            for metric in business:
                if metric_key(metric) == wanted:
                    return metric
        return business[0] if len(business) == 1 and name else None

    @cached_property
    def active_users(self) -> pd.Series:
        return self.series("active_users", "live", "adoption")

    def months_since(self, day: Optional[date], as_of: datetime) -> Optional[float]:
        if day is None or pd.isna(day):
            return None
        day = pd.Timestamp(day).date()
        return (as_of.date() - day).days / (365.25 / 12)


@dataclass
class Evidence:
    as_of: datetime
    pilots: pd.DataFrame
    weekly: pd.DataFrame
    responses: pd.DataFrame
    _weekly_by_pilot: dict = field(default_factory=dict, repr=False)
    _responses_by_pilot: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._weekly_by_pilot = {p: g for p, g in self.weekly.groupby("pilot_id")} if not self.weekly.empty else {}
        self._responses_by_pilot = {p: g for p, g in self.responses.groupby("pilot_id")} if not self.responses.empty else {}

    def pilot(self, pilot_id: str) -> PilotEvidence:
        record = self.pilots.set_index("pilot_id").loc[pilot_id].to_dict()
        record = {k: (None if not isinstance(v, (list, tuple)) and pd.isna(v) else v) for k, v in record.items()}
        record["pilot_id"] = pilot_id
        empty_weekly = self.weekly.iloc[0:0]
        empty_responses = self.responses.iloc[0:0]
        return PilotEvidence(record, self._weekly_by_pilot.get(pilot_id, empty_weekly), self._responses_by_pilot.get(pilot_id, empty_responses))


def load_evidence(store: Store, as_of: Optional[datetime] = None, pilot_ids: Optional[Sequence[str]] = None) -> Evidence:
    as_of = as_of or utc_now()
    with store.read() as con:
        pilots = queries.fetch_pilots(con)
        weekly = queries.weekly_series(con, as_of, pilot_ids)
        responses = queries.latest_wave_responses(con, as_of, pilot_ids)
    if pilot_ids is not None:
        pilots = pilots[pilots["pilot_id"].isin(list(pilot_ids))]
    return Evidence(as_of, pilots.reset_index(drop=True), weekly, responses)
