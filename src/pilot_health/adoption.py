"""Adoption numbers, one implementation each, shared by the risk engine, the Adoption page and the
`adoption` command: ADKAR element means and low shares, barrier points, a group's barrier, the
anonymity rule for teams, wave-over-wave change, participation, and the adoption rate and usage
trend (active users against the pilot's target users)."""
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
OTHER_TEAMS = "Other teams"
NO_TEAM = "No team given"
ALL_RESPONDENTS = "All respondents"

# What to do about each element (Prosci's ADKAR model): the next step in a few words, and more.
NEXT_STEP = {
    "awareness": "explaining why the change is needed is the next step",
    "desire": "winning people over is the next step",
    "knowledge": "training is the next step",
    "ability": "coaching and practice time are the next step",
    "reinforcement": "making the new way stick is the next step",
}
GUIDANCE = {
    "awareness": "Awareness: people do not yet see why the change is needed. Have the sponsor and their direct managers explain "
                 "the business reason, what the model does and what happens if nothing changes.",
    "desire": "Desire: people know about the change but do not want it. Involve them and their managers, answer what is in it "
              "for them, take their concerns seriously and let the sponsor visibly back the change.",
    "knowledge": "Knowledge: people want to use the model but do not know how. Train them, hands-on and per role, on how it "
                 "fits their daily work, before they have to use it.",
    "ability": "Ability: people know how but cannot yet do it in their daily work. Give them time to practise, coaching on "
               "the job, job aids and quick help when something goes wrong.",
    "reinforcement": "Reinforcement: people use the model but may slip back. Recognise and share successes, set usage "
                     "targets, give feedback and retire the old way of working.",
}


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


# -- a group's profile -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ElementStats:
    answered: int  # respondents who gave this element a score (blanks are not answers)
    mean: Optional[float]  # None when nobody answered
    low: int  # answers of 3 or below

    @property
    def low_share(self) -> Optional[float]:
        return self.low / self.answered if self.answered else None


@dataclass(frozen=True)
class GroupProfile:
    """One group of respondents in one wave: a team, "Other teams" or everyone."""

    label: str
    wave: int
    respondents: int
    elements: dict[str, ElementStats]
    barrier: GroupBarrier
    teams: int = 1  # how many teams the group holds

    @property
    def means(self) -> dict[str, Optional[float]]:
        return {e: s.mean for e, s in self.elements.items()}


def element_stats(responses: pd.DataFrame) -> dict[str, ElementStats]:
    scores = responses[list(ADKAR)].to_numpy(dtype=float, na_value=np.nan)
    stats = {}
    for i, element in enumerate(ADKAR):
        column = scores[:, i]
        answered = column[~np.isnan(column)]
        stats[element] = ElementStats(int(answered.size), float(answered.mean()) if answered.size else None,
                                      int((answered <= STUCK_AT_OR_BELOW).sum()))
    return stats


def group_profile(label: str, wave: int, responses: pd.DataFrame, teams: int = 1) -> GroupProfile:
    return GroupProfile(label, int(wave), len(responses), element_stats(responses), group_barrier(responses), teams)


# -- anonymity -------------------------------------------------------------------------------------

def team_names(responses: pd.DataFrame) -> pd.Series:
    """Each respondent's team, with a blank team named NO_TEAM (it is a group like any other)."""
    teams = responses["team"].astype("object").where(responses["team"].notna(), NO_TEAM)
    return teams.map(lambda t: t.strip() if isinstance(t, str) and t.strip() else NO_TEAM)


def anonymous_groups(responses: pd.DataFrame, min_size: int) -> tuple[list[tuple[str, pd.DataFrame, int]], int]:
    """The teams of one wave, regrouped so that no group shown has fewer than `min_size` respondents.

    Teams below the minimum are pooled into "Other teams". When that pool is itself below the
    minimum, the smallest team that could be shown joins it, so the groups shown always add up to
    the whole wave and no small team's answers can be worked out by subtracting the others from the
    total. When the whole wave is below the minimum, nothing is shown by team. Returns the groups
    (label, rows, how many teams), largest first, and how many teams were pooled."""
    if len(responses) < min_size:
        return [], 0
    names = team_names(responses)
    sizes = names.value_counts()
    small = sorted(sizes[sizes < min_size].index)
    large = sorted(sizes[sizes >= min_size].index, key=lambda t: (sizes[t], t))
    pooled = list(small)
    if small and int(sizes[small].sum()) < min_size:
        pooled.append(large.pop(0))  # the wave has at least min_size respondents, so a team can join
    groups = [(team, responses[names == team], 1) for team in large]
    if pooled:
        groups.append((OTHER_TEAMS, responses[names.isin(pooled)], len(pooled)))
    groups.sort(key=lambda g: (g[0] == OTHER_TEAMS, -len(g[1]), g[0]))
    return groups, len(pooled)


# -- change between waves --------------------------------------------------------------------------

@dataclass(frozen=True)
class ElementChange:
    before: Optional[float]
    after: Optional[float]
    before_answered: int
    after_answered: int
    low_share_before: Optional[float]
    low_share_after: Optional[float]

    @property
    def change(self) -> Optional[float]:
        return None if self.before is None or self.after is None else self.after - self.before


@dataclass(frozen=True)
class WaveChange:
    before_wave: int
    after_wave: int
    before_respondents: int
    after_respondents: int
    elements: dict[str, ElementChange]
    stuck_before: float  # share of respondents with a barrier point
    stuck_after: float


def wave_change(before: GroupProfile, after: GroupProfile, min_answers: int = 1) -> WaveChange:
    """Each element's mean and low share in two waves; a side with fewer than `min_answers`
    answers to an element has no value there (the anonymity rule)."""
    def side(profile: GroupProfile, element: str) -> tuple[Optional[float], Optional[float]]:
        s = profile.elements[element]
        return (s.mean, s.low_share) if s.answered >= min_answers else (None, None)

    elements = {}
    for e in ADKAR:
        (mean_before, low_before), (mean_after, low_after) = side(before, e), side(after, e)
        elements[e] = ElementChange(mean_before, mean_after, before.elements[e].answered, after.elements[e].answered, low_before, low_after)
    return WaveChange(
        before.wave, after.wave, before.respondents, after.respondents, elements,
        before.barrier.stuck_share, after.barrier.stuck_share,
    )


# -- participation ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Participation:
    respondents: int
    asked: int  # the pilot's target users, or a team's size from the register
    warning_below: float
    of: str = "target users"  # what `asked` counts, in words

    @property
    def share(self) -> float:
        return self.respondents / self.asked

    @property
    def warning(self) -> bool:
        return self.share < self.warning_below


def participation(respondents: int, target_users: Optional[int], settings: Analysis, of: str = "target users") -> Optional[Participation]:
    """Respondents against the people who should use the model; None without a target."""
    if not target_users or pd.isna(target_users) or target_users <= 0:
        return None
    return Participation(int(respondents), int(target_users), settings.participation_warning, of)


# -- usage -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UsageTrend:
    weeks: int  # weeks in the window
    first_week: date
    last_week: date
    per_week: float  # least-squares slope, active users per week
    change: float  # the fitted change over the window
    relative: float  # that change against the target (or the window's mean when there is no target)
    direction: str  # rising | flat | falling

    FLAT_WITHIN = 0.05


def usage_trend(active_users: pd.Series, target_users: Optional[int], settings: Analysis) -> Optional[UsageTrend]:
    """Whether active users are rising, flat or falling over the last weeks: the least-squares line
    through the last `usage_trend_weeks` weekly values; a fitted change within 5% of the target
    (or of the mean, without a target) is flat. None with fewer than 4 weeks."""
    series = active_users.dropna().sort_index().iloc[-settings.usage_trend_weeks:]
    if len(series) < 4:
        return None
    days = (series.index - series.index[0]).days.to_numpy(dtype=float) / 7
    slope = float(np.polyfit(days, series.to_numpy(dtype=float), 1)[0])
    change = slope * days[-1]
    scale = float(target_users) if target_users and not pd.isna(target_users) else abs(float(series.mean())) or 1.0
    relative = change / scale
    direction = "flat" if abs(relative) < UsageTrend.FLAT_WITHIN else ("rising" if relative > 0 else "falling")
    return UsageTrend(len(series), series.index[0].date(), series.index[-1].date(), slope, change, relative, direction)
