"""Adoption numbers, one implementation each: ADKAR barrier points, a group's barrier, and the
adoption rate (active users against the pilot's target users)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping, Optional

import numpy as np
import pandas as pd

from .catalogue import Analysis

ADKAR = ("awareness", "desire", "knowledge", "ability", "reinforcement")
ELEMENT_LABELS = {e: e.capitalize() for e in ADKAR}
STUCK_AT_OR_BELOW = 3


def barrier_point(scores: Mapping[str, Optional[float]]) -> Optional[str]:
    """The first ADKAR element, in order, scored 3 or lower; blanks are skipped, never counted as low.
    None when every answered element is above 3."""
    for element in ADKAR:
        value = scores.get(element)
        if value is not None and not pd.isna(value) and value <= STUCK_AT_OR_BELOW:
            return element
    return None


def barrier_points(responses: pd.DataFrame) -> pd.Series:
    """Each respondent's barrier point ('none' when there is none), for a frame with the five scores.
    The same rule as `barrier_point`, for a whole frame at once."""
    scores = responses[list(ADKAR)].to_numpy(dtype=float, na_value=np.nan)
    stuck = scores <= STUCK_AT_OR_BELOW  # a blank (NaN) is never stuck
    points = np.where(stuck.any(axis=1), np.array(ADKAR, dtype=object)[stuck.argmax(axis=1)], "none")
    return pd.Series(points, index=responses.index, dtype="object")


@dataclass(frozen=True)
class GroupBarrier:
    respondents: int
    stuck: int  # respondents with a barrier point
    element: Optional[str]  # where most respondents are stuck
    element_count: int
    distribution: dict[str, int]  # element (and "none") -> respondents

    @property
    def stuck_share(self) -> float:
        return self.stuck / self.respondents if self.respondents else 0.0


def group_barrier(responses: pd.DataFrame) -> GroupBarrier:
    points = barrier_points(responses).to_numpy()
    distribution = {e: int((points == e).sum()) for e in (*ADKAR, "none")}
    stuck = {e: n for e, n in distribution.items() if e != "none" and n > 0}
    element = max(stuck, key=lambda e: (stuck[e], -ADKAR.index(e))) if stuck else None
    return GroupBarrier(len(responses), sum(stuck.values()), element, stuck.get(element, 0) if element else 0, distribution)


@dataclass(frozen=True)
class AdoptionRate:
    active_users: float  # average over the last `smoothing_weeks` weeks
    target_users: int
    rate: float
    latest_week: date
    weeks: int  # weeks of usage data in all


def adoption_rate(active_users: pd.Series, target_users: Optional[int], settings: Analysis) -> Optional[AdoptionRate]:
    """Active users against the target, on the last weeks of usage data; None without a target or data."""
    series = active_users.dropna().sort_index()
    if series.empty or not target_users:
        return None
    recent = series.iloc[-settings.smoothing_weeks:]
    active = float(recent.mean())
    return AdoptionRate(active, int(target_users), active / target_users, recent.index[-1].date(), len(series))
