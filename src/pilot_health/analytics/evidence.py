"""Everything the risk engine reads about pilots, as of one moment, in two queries.

"As of" means: pilot records as they are now (their history arrives with pinned links), and only
data rows uploaded by that moment, not withdrawn by then, and observed by then — so scores for a
past month are what a steering committee could have known at that time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
import pandas as pd

from pilot_health.analytics.adoption import ADKAR
from pilot_health.models import says_none
from pilot_health.rules.metric_dictionary import (
    MetricDictionary,
    dictionary_with_answers,
    load_metric_dictionary,
    metric_key,
)
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now

SeriesKey = tuple[str, str, str]  # metric, kind, environment
_NO_WEEKS = pd.DatetimeIndex([], name="week")


@dataclass
class PilotEvidence:
    """One pilot's record and data, with the choices every signal shares (which metric is the
    primary technical one, which series is the KPI).

    `weekly` is sorted by metric, kind, environment and week, and `spans` says where each series
    lies in it, so a series is a slice rather than a search (the engine reads a dozen series per
    pilot, for hundreds of pilots)."""

    record: dict
    weekly: pd.DataFrame  # metric, kind, environment, week, value, n
    survey: pd.DataFrame  # every wave: wave, respondent_id, team, role, responded_at, the five scores, comment
    spans: dict[SeriesKey, tuple[int, int]] = field(default_factory=dict)
    dictionary: MetricDictionary = field(default_factory=load_metric_dictionary)

    def __post_init__(self) -> None:
        if not self.spans and not self.weekly.empty:
            self.spans = _spans(self.weekly[["metric", "kind", "environment"]])
        self._weeks = self.weekly["week"].to_numpy() if not self.weekly.empty else None
        self._values = self.weekly["value"].to_numpy(dtype=float) if not self.weekly.empty else None

    def series(self, metric: str, environment: str | None = None, kind: str | None = None) -> pd.Series:
        """Weekly values of one metric (all environments or kinds averaged when not named), by week."""
        found = [
            span
            for (m, k, env), span in self.spans.items()
            if m == metric and (environment is None or env == environment) and (kind is None or k == kind)
        ]
        if not found:
            return pd.Series([], index=_NO_WEEKS, dtype=float, name="value")
        if len(found) == 1:
            start, stop = found[0]
            return pd.Series(
                self._values[start:stop], index=pd.DatetimeIndex(self._weeks[start:stop], name="week"), name="value"
            )
        parts = [pd.Series(self._values[a:b], index=pd.DatetimeIndex(self._weeks[a:b], name="week")) for a, b in found]
        return pd.concat(parts).groupby(level=0).mean().sort_index().rename("value")

    def weeks(self, kind: str, environment: str) -> pd.DatetimeIndex:
        """Every week with a value of some metric of this kind and environment."""
        found = [span for (_, k, env), span in self.spans.items() if k == kind and env == environment]
        if not found:
            return _NO_WEEKS
        return pd.DatetimeIndex(np.unique(np.concatenate([self._weeks[a:b] for a, b in found])), name="week")

    def direction(self, metric: str | None) -> str | None:
        """Which way is better for a technical metric ('up', 'down'; None when not even a guess can say)."""
        return self.dictionary.direction(metric) if metric else None

    def metrics(self, kind: str) -> list[str]:
        return sorted({m for (m, k, _) in self.spans if k == kind})

    @cached_property
    def technical_metrics(self) -> list[str]:
        return self.metrics("technical")

    @cached_property
    def primary_metric(self) -> str | None:
        """The technical metric with the most live weeks (then lab weeks); one whose direction is
        known comes first. This is the metric decay and alignment are judged on."""
        if not self.technical_metrics:
            return None
        weeks = {(m, env): b - a for (m, k, env), (a, b) in self.spans.items() if k == "technical"}
        return max(
            self.technical_metrics,
            key=lambda m: (self.direction(m) is not None, weeks.get((m, "live"), 0), weeks.get((m, "lab"), 0), m),
        )

    @cached_property
    def kpi_metric(self) -> str | None:
        """The business series that is the pilot's KPI: named like `kpi_name`, or the only business series."""
        business = self.metrics("business")
        name = self.record.get("kpi_name")
        if name:
            wanted = metric_key(name)
            for metric in business:
                if metric_key(metric) == wanted:
                    return metric
        return business[0] if len(business) == 1 and name and not says_none(name) else None

    @cached_property
    def responses(self) -> pd.DataFrame:
        """The latest survey wave's responses (what the risk engine judges the ADKAR barrier on)."""
        if self.survey.empty:
            return self.survey
        return self.survey[self.survey["wave"] == self.survey["wave"].max()]

    @cached_property
    def active_users(self) -> pd.Series:
        return self.series("active_users", "live", "adoption")


def _spans(keys: pd.DataFrame) -> dict[tuple, tuple[int, int]]:
    """Where each run of equal keys starts and stops, for a frame sorted by those keys."""
    changed = (keys != keys.shift()).any(axis=1).to_numpy()
    starts = np.flatnonzero(changed)
    stops = np.append(starts[1:], len(keys))
    labels = keys.iloc[starts].itertuples(index=False, name=None)
    return {label: (int(a), int(b)) for label, a, b in zip(labels, starts, stops)}


@dataclass
class Evidence:
    as_of: datetime
    pilots: pd.DataFrame
    weekly: pd.DataFrame  # sorted by pilot_id, metric, kind, environment, week (as queries.weekly_series gives it)
    responses: pd.DataFrame  # every wave, sorted by pilot_id, wave, respondent_id
    dictionary: MetricDictionary = field(default_factory=load_metric_dictionary)
    _records: dict = field(default_factory=dict, repr=False)
    _pilot_spans: dict = field(default_factory=dict, repr=False)
    _responses_by_pilot: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for record in self.pilots.to_dict("records"):
            self._records[record["pilot_id"]] = {
                k: (None if not isinstance(v, (list, tuple)) and pd.isna(v) else v) for k, v in record.items()
            }
        self._series_spans: dict[str, dict[SeriesKey, tuple[int, int]]] = {}
        if not self.weekly.empty:
            for (pilot_id, *key), (a, b) in _spans(self.weekly[["pilot_id", "metric", "kind", "environment"]]).items():
                self._series_spans.setdefault(pilot_id, {})[tuple(key)] = (a, b)
            for pilot_id, spans in self._series_spans.items():
                self._pilot_spans[pilot_id] = (min(a for a, _ in spans.values()), max(b for _, b in spans.values()))
        self._responses_by_pilot = (
            {p: g for p, g in self.responses.groupby("pilot_id")} if not self.responses.empty else {}
        )

    def pilot(self, pilot_id: str) -> PilotEvidence:
        start, stop = self._pilot_spans.get(pilot_id, (0, 0))
        spans = {key: (a - start, b - start) for key, (a, b) in self._series_spans.get(pilot_id, {}).items()}
        responses = self._responses_by_pilot.get(pilot_id, self.responses.iloc[0:0])
        return PilotEvidence(
            dict(self._records[pilot_id]), self.weekly.iloc[start:stop], responses, spans, self.dictionary
        )


def load_evidence(
    store: Store,
    as_of: datetime | None = None,
    pilot_ids: Sequence[str] | None = None,
    records_at: datetime | None = None,
    surveys: bool = True,
) -> Evidence:
    return load_evidence_at(store, [as_of or utc_now()], pilot_ids, records_at, surveys)[0]


def load_evidence_at(
    store: Store,
    moments: Sequence[datetime],
    pilot_ids: Sequence[str] | None = None,
    records_at: datetime | None = None,
    surveys: bool = True,
) -> list[Evidence]:
    """The evidence as of each moment, read over one connection (a pilot's monthly trend needs twelve).
    Pilot records are as they are now, or as they stood at `records_at` (a pinned link's moment).
    `surveys=False` leaves the survey responses out (no rows, same columns) for a view that never
    reads them, such as alignment: every pilot's responses cost seconds on PostgreSQL."""
    found = []
    with store.read() as con:
        pilots = queries.fetch_pilots(con, records_at)
        if pilot_ids is not None:
            pilots = pilots[pilots["pilot_id"].isin(list(pilot_ids))]
        pilots = pilots.reset_index(drop=True)
        dictionary = dictionary_with_answers(con)
        for as_of in moments:
            weekly = queries.weekly_series(con, as_of, pilot_ids)
            responses = queries.survey_responses_as_of(con, as_of, pilot_ids if surveys else [])
            scores = [c for c in ADKAR if c in responses.columns]
            responses[scores] = responses[scores].astype("float64")  # blank stays NaN: never a score of 0
            found.append(Evidence(as_of, pilots, weekly, responses, dictionary))
    return found
