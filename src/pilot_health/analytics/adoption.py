"""Adoption numbers, one implementation each, shared by the risk engine, the Adoption page and the
`adoption` command: ADKAR element means and low shares, barrier points, a group's barrier, the
anonymity rule for teams, wave-over-wave change, participation, and the adoption rate and usage
trend (active users against the pilot's target users)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pilot_health.rules.catalogue import Analysis

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


def barrier_point(scores: Mapping[str, float | None]) -> str | None:
    """The first ADKAR element, in order, scored 3 or lower; blanks are skipped, never counted as low.
    None when every answered element is above 3."""
    for element in ADKAR:
        value = scores.get(element)
        if value is not None and not pd.isna(value) and value <= STUCK_AT_OR_BELOW:
            return element
    return None


def score_array(responses: pd.DataFrame) -> np.ndarray:
    """The five scores as a float array, one row per respondent; a blank is NaN (never 0)."""
    return responses[list(ADKAR)].to_numpy(dtype=float, na_value=np.nan)


def _barrier_index(scores: np.ndarray) -> np.ndarray:
    """Each row's barrier point as an index into ADKAR, or 5 (len(ADKAR)) for none."""
    stuck = scores <= STUCK_AT_OR_BELOW  # a blank (NaN) is never stuck
    return np.where(stuck.any(axis=1), stuck.argmax(axis=1), len(ADKAR))


def barrier_points(responses: pd.DataFrame) -> pd.Series:
    """Each respondent's barrier point ('none' when there is none), for a frame with the five scores.
    The same rule as `barrier_point`, for a whole frame at once."""
    labels = np.array([*ADKAR, "none"], dtype=object)
    return pd.Series(labels[_barrier_index(score_array(responses))], index=responses.index, dtype="object")


@dataclass(frozen=True)
class GroupBarrier:
    respondents: int
    stuck: int  # respondents with a barrier point
    element: str | None  # where most respondents are stuck
    element_count: int
    distribution: dict[str, int]  # element (and "none") -> respondents

    @property
    def stuck_share(self) -> float:
        return self.stuck / self.respondents if self.respondents else 0.0


def barrier_of(scores: np.ndarray) -> GroupBarrier:
    """The group's barrier from its score array: most respondents stuck there, the earlier element on a tie."""
    counts = np.bincount(_barrier_index(scores), minlength=len(ADKAR) + 1)
    distribution = {e: int(n) for e, n in zip((*ADKAR, "none"), counts)}
    stuck = counts[: len(ADKAR)]
    element = ADKAR[int(stuck.argmax())] if stuck.any() else None  # argmax takes the first of equal counts
    return GroupBarrier(len(scores), int(stuck.sum()), element, int(stuck.max()) if element else 0, distribution)


def group_barrier(responses: pd.DataFrame) -> GroupBarrier:
    return barrier_of(score_array(responses))


@dataclass(frozen=True)
class AdoptionRate:
    active_users: float  # average over the last `smoothing_weeks` weeks
    target_users: int
    rate: float
    latest_week: date
    weeks: int  # weeks of usage data in all


def adoption_rate(active_users: pd.Series, target_users: int | None, settings: Analysis) -> AdoptionRate | None:
    """Active users against the target, on the last weeks of usage data; None without a target or data."""
    series = active_users.dropna().sort_index()
    if series.empty or not target_users:
        return None
    recent = series.iloc[-settings.smoothing_weeks :]
    active = float(recent.mean())
    return AdoptionRate(active, int(target_users), active / target_users, recent.index[-1].date(), len(series))


# -- a group's profile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementStats:
    answered: int  # respondents who gave this element a score (blanks are not answers)
    mean: float | None  # None when nobody answered
    low: int  # answers of 3 or below

    @property
    def low_share(self) -> float | None:
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
    def means(self) -> dict[str, float | None]:
        return {e: s.mean for e, s in self.elements.items()}


def stats_of(scores: np.ndarray) -> dict[str, ElementStats]:
    """Each element's answers, mean and low answers, from a score array (blanks are NaN and skipped)."""
    answered = ~np.isnan(scores)
    counts = answered.sum(axis=0)
    sums = np.where(answered, scores, 0.0).sum(axis=0)
    lows = (scores <= STUCK_AT_OR_BELOW).sum(axis=0)
    return {
        e: ElementStats(int(counts[i]), float(sums[i] / counts[i]) if counts[i] else None, int(lows[i]))
        for i, e in enumerate(ADKAR)
    }


def element_stats(responses: pd.DataFrame) -> dict[str, ElementStats]:
    return stats_of(score_array(responses))


def profile_of(label: str, wave: int, scores: np.ndarray, teams: int = 1) -> GroupProfile:
    return GroupProfile(label, int(wave), len(scores), stats_of(scores), barrier_of(scores), teams)


# -- anonymity -------------------------------------------------------------------------------------


def team_name(team: object) -> str:
    """A respondent's team as shown; a blank team is named NO_TEAM (it is a group like any other)."""
    return team.strip() if isinstance(team, str) and team.strip() else NO_TEAM


def team_names(responses: pd.DataFrame) -> pd.Series:
    return pd.Series([team_name(t) for t in responses["team"].astype("object")], index=responses.index, dtype="object")


def anonymous_grouping(teams: Sequence[str], min_size: int) -> tuple[list[tuple[str, np.ndarray, int]], int]:
    """The teams of one wave, regrouped so that no group shown has fewer than `min_size` respondents.

    Teams below the minimum are pooled into "Other teams". When that pool is itself below the
    minimum, the smallest team that could be shown joins it, so the groups shown always add up to
    the whole wave and no small team's answers can be worked out by subtracting the others from the
    total. When the whole wave is below the minimum, nothing is shown by team. Returns the groups
    (label, the positions of their respondents, how many teams), largest first, and how many teams
    were pooled."""
    if len(teams) < min_size:
        return [], 0
    names = np.asarray(teams, dtype=object)
    unique, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
    sizes = dict(zip(unique.tolist(), counts.tolist()))
    small = sorted(t for t, n in sizes.items() if n < min_size)
    large = sorted((t for t, n in sizes.items() if n >= min_size), key=lambda t: (sizes[t], t))
    pooled = list(small)
    if small and sum(sizes[t] for t in small) < min_size:
        pooled.append(large.pop(0))  # the wave has at least min_size respondents, so a team can join
    position = {t: i for i, t in enumerate(unique.tolist())}
    groups = [(team, np.flatnonzero(inverse == position[team]), 1) for team in large]
    if pooled:
        groups.append((OTHER_TEAMS, np.flatnonzero(np.isin(inverse, [position[t] for t in pooled])), len(pooled)))
    groups.sort(key=lambda g: (g[0] == OTHER_TEAMS, -len(g[1]), g[0]))
    return groups, len(pooled)


def anonymous_groups(responses: pd.DataFrame, min_size: int) -> tuple[list[tuple[str, pd.DataFrame, int]], int]:
    """`anonymous_grouping` for a frame of responses: the groups' rows instead of their positions."""
    groups, pooled = anonymous_grouping(team_names(responses).tolist(), min_size)
    return [(label, responses.iloc[rows], teams) for label, rows, teams in groups], pooled


# -- change between waves --------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementChange:
    before: float | None
    after: float | None
    before_answered: int
    after_answered: int
    low_share_before: float | None
    low_share_after: float | None

    @property
    def change(self) -> float | None:
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

    def side(profile: GroupProfile, element: str) -> tuple[float | None, float | None]:
        s = profile.elements[element]
        return (s.mean, s.low_share) if s.answered >= min_answers else (None, None)

    elements = {}
    for e in ADKAR:
        (mean_before, low_before), (mean_after, low_after) = side(before, e), side(after, e)
        elements[e] = ElementChange(
            mean_before, mean_after, before.elements[e].answered, after.elements[e].answered, low_before, low_after
        )
    return WaveChange(
        before.wave,
        after.wave,
        before.respondents,
        after.respondents,
        elements,
        before.barrier.stuck_share,
        after.barrier.stuck_share,
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


def participation(
    respondents: int, target_users: int | None, settings: Analysis, of: str = "target users"
) -> Participation | None:
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


def usage_trend(active_users: pd.Series, target_users: int | None, settings: Analysis) -> UsageTrend | None:
    """Whether active users are rising, flat or falling over the last weeks: the least-squares line
    through the last `usage_trend_weeks` weekly values; a fitted change within 5% of the target
    (or of the mean, without a target) is flat. None with fewer than 4 weeks."""
    series = active_users.dropna().sort_index().iloc[-settings.usage_trend_weeks :]
    if len(series) < 4:
        return None
    days = (series.index - series.index[0]).days.to_numpy(dtype=float) / 7
    slope = float(np.polyfit(days, series.to_numpy(dtype=float), 1)[0])
    change = slope * days[-1]
    scale = float(target_users) if target_users and not pd.isna(target_users) else abs(float(series.mean())) or 1.0
    relative = change / scale
    direction = "flat" if abs(relative) < UsageTrend.FLAT_WITHIN else ("rising" if relative > 0 else "falling")
    return UsageTrend(len(series), series.index[0].date(), series.index[-1].date(), slope, change, relative, direction)
