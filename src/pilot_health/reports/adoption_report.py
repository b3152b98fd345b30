"""The Adoption page and the `adoption` command, without Streamlit: per pilot and survey wave, the
ADKAR profile of everyone and of each team (under the anonymity rule), barrier points, the change
from the previous wave, participation, usage against target and a plain-language verdict; the
portfolio worst first. Every number comes from `adoption.py`, which the risk engine uses too.

Anonymity is applied here, once, before anything leaves: a team below the minimum size never
appears under its own name or with its own numbers — not in the page's tables and charts, not in
downloads, not in the command's output (see `adoption.anonymous_groups`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from pilot_health.analytics.adoption import (
    ADKAR,
    ALL_RESPONDENTS,
    ELEMENT_LABELS,
    NEXT_STEP,
    OTHER_TEAMS,
    AdoptionRate,
    GroupProfile,
    Participation,
    UsageTrend,
    WaveChange,
    adoption_rate,
    anonymous_grouping,
    participation,
    profile_of,
    score_array,
    team_name,
    usage_trend,
    wave_change,
)
from pilot_health.analytics.evidence import PilotEvidence, load_evidence
from pilot_health.formatting import percent, plural
from pilot_health.models import parse_team_sizes
from pilot_health.rules.catalogue import Analysis, Catalogue
from pilot_health.rules.thresholds import catalogue_for
from pilot_health.store import queries
from pilot_health.store.database import Store

BARRIER_LABELS = {**ELEMENT_LABELS, "none": "Not stuck"}


@dataclass
class WaveView:
    """One survey wave of one pilot, as it may be shown."""

    wave: int
    respondents: int
    first_day: date | None
    last_day: date | None
    overall: GroupProfile | None  # None when the wave has fewer respondents than the minimum
    groups: list[GroupProfile]  # teams and "Other teams", each at or above the minimum
    pooled_teams: int  # teams counted under "Other teams"
    participation: Participation | None
    comments: tuple[tuple[str, str], ...]  # (group, comment): only for groups shown, ordered by group then text
    team_participation: dict[str, Participation] = field(
        default_factory=dict
    )  # group label -> against its team size(s)
    change: WaveChange | None = None  # against the previous wave, when both can be shown

    @property
    def shown(self) -> bool:
        return self.overall is not None

    def comments_frame(self, label: str = ALL_RESPONDENTS) -> pd.DataFrame:
        """The comments as a table (group, comment): everyone's, or one group's."""
        rows = [c for c in self.comments if label == ALL_RESPONDENTS or c[0] == label]
        return pd.DataFrame(rows, columns=["group", "comment"])

    def group(self, label: str) -> GroupProfile | None:
        if label == ALL_RESPONDENTS:
            return self.overall
        return next((g for g in self.groups if g.label == label), None)


@dataclass
class PilotAdoption:
    pilot_id: str
    name: str
    business_unit: str
    stage: str
    as_of: datetime
    target_users: int | None
    min_size: int
    waves: list[WaveView]
    active_users: pd.Series  # weekly, live
    rate: AdoptionRate | None
    trend: UsageTrend | None
    verdict: str = ""
    future_responses: int = 0  # uploaded, but dated after `as_of`: left out until their date
    future_first: datetime | None = None  # the earliest of them

    @property
    def latest(self) -> WaveView | None:
        return self.waves[-1] if self.waves else None

    def wave(self, number: int | None = None) -> WaveView | None:
        """A wave by number; the latest when no number is given."""
        if number is None:
            return self.latest
        return next((w for w in self.waves if w.wave == number), None)

    @property
    def weakest(self) -> float | None:
        """What orders the portfolio, worst first: the weaker of two shares — respondents of the
        latest wave not stuck at its main barrier, and the adoption rate (capped at 100%)."""
        shares = []
        latest = self.latest
        if latest and latest.overall is not None:  # the latest wave is shown
            b = latest.overall.barrier
            shares.append(1 - b.element_count / b.respondents)
        if self.rate:
            shares.append(min(self.rate.rate, 1.0))
        return min(shares) if shares else None

    def history(self, label: str) -> list[GroupProfile]:
        """A group's profile in every wave it could be shown in (a team pooled in a wave is absent there)."""
        found = [w.group(label) for w in self.waves]
        return [g for g in found if g is not None]


@dataclass(frozen=True)
class _Survey:
    """One pilot's responses as arrays (a pilot has hundreds of rows in a few waves; pandas per
    group would cost more than the numbers themselves)."""

    waves: np.ndarray
    scores: np.ndarray  # n × 5, blanks NaN
    teams: list[str]
    comments: np.ndarray  # object: text or None
    days: np.ndarray  # datetime64, NaT when not known

    @classmethod
    def of(cls, survey: pd.DataFrame) -> _Survey:
        comments = (
            survey["comment"].astype("object").to_numpy()
            if "comment" in survey.columns
            else np.full(len(survey), None, dtype=object)
        )
        days = (
            pd.to_datetime(survey["responded_at"]).to_numpy(dtype="datetime64[ns]")
            if "responded_at" in survey.columns
            else np.full(len(survey), np.datetime64("NaT"), dtype="datetime64[ns]")
        )
        return cls(
            survey["wave"].to_numpy(dtype=int),
            score_array(survey),
            [team_name(t) for t in survey["team"].astype("object")],
            comments,
            days,
        )


def _comments(
    survey: _Survey, rows: np.ndarray, groups: list[tuple[str, np.ndarray, int]]
) -> tuple[tuple[str, str], ...]:
    """(group, comment) pairs, ordered by group then text: no order that would point back to a person."""
    found = []
    for label, positions, _ in groups:
        for text in survey.comments[rows[positions]]:
            if isinstance(text, str) and text.strip():
                found.append((label, text.strip()))
    return tuple(sorted(found))


def _team_participation(
    survey: _Survey, rows: np.ndarray, groups: list[tuple[str, np.ndarray, int]], sizes: dict[str, int], a: Analysis
) -> dict[str, Participation]:
    """Each group shown against the register's size of its team(s); "Other teams" only when every
    team in it has a size (a partial sum would overstate participation)."""
    wanted = {name.casefold(): size for name, size in sizes.items()}
    found: dict[str, Participation] = {}
    for label, positions, _ in groups:
        teams = {survey.teams[i].casefold() for i in rows[positions]}
        if teams and all(t in wanted for t in teams):
            shown = participation(len(positions), sum(wanted[t] for t in teams), a, "team members")
            if shown is not None:  # always, as team sizes are above 0
                found[label] = shown
    return found


def _wave_view(
    wave: int, survey: _Survey, rows: np.ndarray, target_users: int | None, sizes: dict[str, int], a: Analysis
) -> WaveView:
    """One wave from the positions of its rows in the pilot's survey."""
    groups, pooled = anonymous_grouping([survey.teams[i] for i in rows], a.min_respondents)
    # Against the target users; without a target, against the register's team sizes added up.
    asked, of = (
        (target_users, "target users")
        if target_users
        else (sum(sizes.values()) if sizes else None, "people in its teams")
    )
    days = survey.days[rows]
    days = days[~np.isnat(days)]
    scores = survey.scores[rows]
    shown = len(rows) >= a.min_respondents
    return WaveView(
        wave=int(wave),
        respondents=len(rows),
        first_day=pd.Timestamp(days.min()).date() if len(days) else None,
        last_day=pd.Timestamp(days.max()).date() if len(days) else None,
        overall=profile_of(ALL_RESPONDENTS, wave, scores, len(groups)) if shown else None,
        groups=[profile_of(label, wave, scores[positions], teams) for label, positions, teams in groups],
        pooled_teams=pooled,
        participation=participation(len(rows), asked, a, of),
        comments=_comments(survey, rows, groups) if shown else (),
        team_participation=_team_participation(survey, rows, groups, sizes, a) if sizes else {},
    )


def team_sizes(text: str | None) -> dict[str, int]:
    """The register's team sizes (validated when stored, so a stored value always parses)."""
    try:
        return parse_team_sizes(text) if text else {}
    except ValueError:
        return {}


def assess_adoption(
    evidence: PilotEvidence, analysis: Analysis, as_of: datetime, future: tuple[int, datetime] | None = None
) -> PilotAdoption:
    """One pilot's adoption; `future` is (how many, earliest date) of its responses dated after `as_of`."""
    r = evidence.record
    target = r.get("target_users")
    target = int(target) if target is not None and not pd.isna(target) else None
    sizes = team_sizes(r.get("team_sizes"))
    waves = []
    if not evidence.survey.empty:
        survey = _Survey.of(evidence.survey)
        waves = [
            _wave_view(w, survey, np.flatnonzero(survey.waves == w), target, sizes, analysis)
            for w in np.unique(survey.waves)
        ]
    for before, after in zip(waves, waves[1:]):
        if before.overall is not None and after.overall is not None:  # both waves are shown
            after.change = wave_change(before.overall, after.overall, analysis.min_respondents)
    active = evidence.active_users
    pilot = PilotAdoption(
        pilot_id=r["pilot_id"],
        name=r.get("name") or "",
        business_unit=r.get("business_unit") or "",
        stage=r.get("stage") or "",
        as_of=as_of,
        target_users=target,
        min_size=analysis.min_respondents,
        waves=waves,
        active_users=active,
        rate=adoption_rate(active, target, analysis),
        trend=usage_trend(active, target, analysis),
        future_responses=future[0] if future else 0,
        future_first=future[1] if future else None,
    )
    pilot.verdict = verdict(pilot)
    return pilot


def portfolio_adoption(
    store: Store,
    as_of: datetime | None = None,
    pilot_ids: Sequence[str] | None = None,
    catalogue: Catalogue | None = None,
    records_at: datetime | None = None,
) -> list[PilotAdoption]:
    """Every pilot approved by `as_of`, worst first (see `PilotAdoption.weakest`); pilots with
    neither a survey wave that can be shown nor usage data come last."""
    catalogue = catalogue or catalogue_for(store, records_at)  # pinned: the thresholds in force then
    evidence = load_evidence(store, as_of, pilot_ids, records_at)
    with store.read() as con:
        future = queries.future_survey_responses(con, evidence.as_of, pilot_ids)
    rows = []
    for pilot_id in evidence.pilots["pilot_id"]:
        pilot = evidence.pilot(pilot_id)
        approved = pilot.record.get("approved_on")
        if approved is not None and pd.Timestamp(approved).date() > evidence.as_of.date():
            continue
        rows.append(assess_adoption(pilot, catalogue.analysis, evidence.as_of, future.get(pilot_id)))
    return worst_first(rows)


def worst_first(rows: Sequence[PilotAdoption]) -> list[PilotAdoption]:
    """The portfolio's order: weakest adoption first; pilots with nothing to show come last."""
    return sorted(rows, key=lambda p: (p.weakest is None, p.weakest if p.weakest is not None else 0.0, p.pilot_id))


# -- words ------------------------------------------------------------------------------------------


def barrier_sentence(wave: WaveView) -> str:
    """'Most of Finance is stuck at Knowledge: training is the next step.' The main barrier is the
    element where most of the wave's respondents are stuck; a team is named when most of its own
    respondents are stuck there (the team with the most such people)."""
    overall = wave.overall
    if overall is None:
        raise ValueError(f"wave {wave.wave} is not shown: it has no barrier to name")
    barrier = overall.barrier
    if barrier.element is None:
        return f"None of the {overall.respondents} respondents in wave {wave.wave} is stuck on the ADKAR path: keep reinforcing what works."
    element, label = barrier.element, ELEMENT_LABELS[barrier.element]
    teams = [
        g for g in wave.groups if g.label != OTHER_TEAMS and g.barrier.distribution.get(element, 0) * 2 > g.respondents
    ]
    if teams and len(wave.groups) > 1:
        team = max(teams, key=lambda g: (g.barrier.distribution[element], g.label))
        n = team.barrier.distribution[element]
        return (
            f"Most of {team.label} is stuck at {label} ({n} of {team.respondents} respondents in wave {wave.wave}): "
            f"{NEXT_STEP[element]}."
        )
    share = barrier.element_count / overall.respondents
    who = (
        "Most respondents are"
        if share > 0.5
        else f"{barrier.element_count} of {overall.respondents} respondents ({percent(share)}) are"
    )
    counted = (
        f" ({barrier.element_count} of {overall.respondents} in wave {wave.wave})"
        if share > 0.5
        else f" in wave {wave.wave}"
    )
    return f"{who} stuck at {label}{counted}: {NEXT_STEP[element]}."


def change_sentence(change: WaveChange) -> str:
    """The element that moved most since the previous wave, with the respondents on both sides."""
    moved = {e: c.change for e, c in change.elements.items() if c.change is not None}
    if not moved:
        return ""
    element = max(moved, key=lambda e: (abs(moved[e]), -ADKAR.index(e)))
    c, most = change.elements[element], moved[element]
    sides = f"{change.before_respondents} → {change.after_respondents} respondents"
    if abs(most) < 0.1:
        return f"Since wave {change.before_wave}, no element has moved by 0.1 or more ({sides})."
    return (
        f"Since wave {change.before_wave}, {ELEMENT_LABELS[element]} {'rose' if most > 0 else 'fell'} from "
        f"{c.before:.1f} to {c.after:.1f} ({sides})."
    )


def usage_sentence(pilot: PilotAdoption) -> str:
    rate, trend = pilot.rate, pilot.trend
    if pilot.active_users.dropna().empty:
        return "No usage data yet: upload a usage export (active users) to see whether people actually use the model."
    if rate is None:
        return "Usage data is there but the register has no target number of users to compare it with."
    text = f"Active users: {rate.active_users:.0f} of {rate.target_users} targeted ({percent(rate.rate)})"
    if trend:
        text += f", {trend.direction} over the last {trend.weeks} weeks"
    return text + "."


def future_sentence(pilot: PilotAdoption) -> str:
    """Responses dated after the moment shown are left out until their date: say so, with how many."""
    if not pilot.future_responses:
        return ""
    n = pilot.future_responses
    return (
        f"{plural(n, 'survey response')} {'is' if n == 1 else 'are'} dated after {pilot.as_of:%d %b %Y %H:%M} UTC "
        f"({'on' if n == 1 else 'from'} {pilot.future_first:%d %b %Y}) and {'is' if n == 1 else 'are'} left out until then."
    )


def verdict(pilot: PilotAdoption, wave: WaveView | None = None) -> str:
    """The pilot's adoption in plain words: where people are stuck and what to do, how it changed,
    whether enough people answered, and whether usage follows."""
    wave = wave or pilot.latest
    parts = []
    if wave is None:
        parts.append("No survey results yet: upload an ADKAR survey export to see where people are stuck.")
    elif not wave.shown:
        parts.append(
            f"Wave {wave.wave} has {plural(wave.respondents, 'respondent')}, fewer than {pilot.min_size}: "
            "too few to show without identifying people."
        )
    else:
        parts.append(barrier_sentence(wave))
        if wave.change:
            parts.append(change_sentence(wave.change))
        p = wave.participation
        if p and p.warning:
            parts.append(
                f"Only {percent(p.share)} of the {p.asked} {p.of} answered (under {percent(p.warning_below)}): "
                "the picture may not represent everyone."
            )
        low = [
            f"{label} ({percent(t.share)} of {t.asked})" for label, t in wave.team_participation.items() if t.warning
        ]
        if low:
            parts.append(f"Few answered in {', '.join(low)}.")
    parts.append(usage_sentence(pilot))
    parts.append(future_sentence(pilot))
    return " ".join(part for part in parts if part)


# -- tables -----------------------------------------------------------------------------------------


def shown_mean(profile: GroupProfile, element: str, min_size: int) -> float | None:
    """An element's mean, unless fewer than the minimum answered it (blanks make the group smaller)."""
    stats = profile.elements[element]
    return stats.mean if stats.answered >= min_size else None


def portfolio_table(rows: Sequence[PilotAdoption]) -> pd.DataFrame:
    """One row per pilot in the order given (worst first)."""
    records = []
    for p in rows:
        latest = p.latest
        overall = latest.overall if latest else None
        barrier = overall.barrier if overall else None
        change = latest.change if latest else None
        records.append(
            {
                "pilot_id": p.pilot_id,
                "name": p.name,
                "business_unit": p.business_unit,
                "stage": p.stage,
                "wave": latest.wave if latest else None,
                "respondents": latest.respondents if latest else None,
                "participation": latest.participation.share if latest and latest.participation else None,
                "main_barrier": (BARRIER_LABELS[barrier.element or "none"] if barrier else None),
                "stuck_there": barrier.element_count if barrier else None,
                "stuck_share": barrier.stuck_share if barrier else None,
                "stuck_change": (change.stuck_after - change.stuck_before) if change else None,
                "adoption_rate": p.rate.rate if p.rate else None,
                "active_users": p.rate.active_users if p.rate else None,
                "target_users": p.target_users,
                "usage_trend": p.trend.direction if p.trend else None,
                "future_responses": p.future_responses,
                "weakest": p.weakest,
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=[
            "pilot_id",
            "name",
            "business_unit",
            "stage",
            "wave",
            "respondents",
            "participation",
            "main_barrier",
            "stuck_there",
            "stuck_share",
            "stuck_change",
            "adoption_rate",
            "active_users",
            "target_users",
            "usage_trend",
            "future_responses",
            "weakest",
        ],
    )


TABLE_ROWS = 25  # the portfolio table shows the worst 25 unless "show all" is on
# What fits beside the sidebar at 1280 px with pilot names in full; the survey's counts (and
# participation, respondents ÷ target users) go in a second table.
MAIN_COLUMNS = ["pilot_id", "name", "weakest", "main_barrier", "adoption_rate", "usage_trend", "stuck_share"]
DETAIL_COLUMNS = [
    "pilot_id",
    "wave",
    "respondents",
    "participation",
    "stuck_there",
    "stuck_change",
    "active_users",
    "target_users",
    "stage",
]
SHARE_COLUMNS = ("weakest", "participation", "stuck_share", "stuck_change", "adoption_rate")


def screen_table(table: pd.DataFrame, limit: int | None = TABLE_ROWS, stage_labels: dict | None = None) -> pd.DataFrame:
    """The portfolio as people read it, worst first (the first `limit` rows; all with None): shares
    as whole per cents (numbers 0–100; the change in points), counts as whole numbers, a pilot
    without a survey saying so, not None. The order is the `weakest` column's, shown."""
    view = table.head(limit) if limit is not None else table
    out = view.copy()
    for column in SHARE_COLUMNS:
        out[column] = (pd.to_numeric(view[column], errors="coerce") * 100).round(0) + 0.0  # + 0.0: no "-0"
    for column in ("wave", "respondents", "stuck_there", "target_users"):
        out[column] = pd.to_numeric(view[column], errors="coerce").astype("Int64")
    out["active_users"] = pd.to_numeric(view["active_users"], errors="coerce").round(0).astype("Int64")
    out["main_barrier"] = [
        barrier if isinstance(barrier, str) else ("no survey" if pd.isna(wave) else "too few answers")
        for barrier, wave in zip(view["main_barrier"], view["wave"])
    ]
    out["usage_trend"] = view["usage_trend"].where(view["usage_trend"].notna(), "no usage data")
    if stage_labels:
        out["stage"] = view["stage"].map(lambda s: stage_labels.get(s, s))
    return out[list(dict.fromkeys(MAIN_COLUMNS + DETAIL_COLUMNS))].reset_index(drop=True)


def order_words(table: pd.DataFrame) -> str:
    """The caption that says which visible column orders the table."""
    neither = int(table["weakest"].isna().sum())
    return (
        f"{len(table)} pilots, worst first: lowest “Weakest share” first — the weaker of two shares, the latest wave's "
        "respondents not stuck at its main barrier and active users against target"
        + (f"; {neither} pilot{'s' if neither != 1 else ''} with neither come last." if neither else ".")
    )


@dataclass(frozen=True)
class AdoptionCounts:
    """The adoption page's headline for the pilots of a portfolio table (`portfolio_table`,
    filtered or not)."""

    pilots: int
    surveyed: int  # the latest wave can be shown (enough respondents)
    with_usage_and_target: int  # adoption is known: usage data and target users
    low_adoption: int  # active users below the catalogue's share of target users
    low_participation: int  # the latest wave answered by fewer than the warning share of target users
    top_barrier: str | None  # the main barrier (its label) of the most surveyed pilots; None when nobody is stuck
    top_barrier_pilots: int  # how many pilots have it as their main barrier


def adoption_counts(table: pd.DataFrame, catalogue: Catalogue) -> AdoptionCounts:
    """Pilots surveyed, with low adoption and low participation (the catalogue's thresholds), and
    the most common main barrier, in a `portfolio_table` frame."""
    surveyed = table["main_barrier"].notna()
    barriers = table.loc[surveyed & table["main_barrier"].ne(BARRIER_LABELS["none"]), "main_barrier"].value_counts()
    return AdoptionCounts(
        pilots=len(table),
        surveyed=int(surveyed.sum()),
        with_usage_and_target=int(table["adoption_rate"].notna().sum()),
        low_adoption=int(table["adoption_rate"].lt(catalogue.threshold("adoption_below_target")).sum()),
        low_participation=int(table["participation"].lt(catalogue.analysis.participation_warning).sum()),
        top_barrier=str(barriers.index[0]) if len(barriers) else None,
        top_barrier_pilots=int(barriers.iloc[0]) if len(barriers) else 0,
    )


def future_note(table: pd.DataFrame) -> str:
    """The portfolio's note on survey responses left out for being dated in the future ('' when none)."""
    if table.empty or "future_responses" not in table.columns:
        return ""
    counts = table["future_responses"].fillna(0).astype(int)
    pilots = int((counts > 0).sum())
    if not pilots:
        return ""
    total = int(counts.sum())
    return (
        f"{plural(total, 'survey response')} of {plural(pilots, 'pilot')} {'is' if total == 1 else 'are'} dated in the future "
        "and left out until their date; each pilot's view says how many."
    )


def team_table(pilot: PilotAdoption, wave: WaveView) -> pd.DataFrame:
    """Everyone and each group shown in one wave: respondents, the five means (blank where fewer
    than the minimum answered), the share stuck and the group's barrier."""
    records = []
    for profile in ([wave.overall] if wave.overall else []) + wave.groups:
        b = profile.barrier
        records.append(
            {
                "group": profile.label,
                "teams": profile.teams,
                "respondents": profile.respondents,
                **{e: shown_mean(profile, e, pilot.min_size) for e in ADKAR},
                "stuck_share": b.stuck_share,
                "barrier": BARRIER_LABELS[b.element or "none"],
                "stuck_there": b.element_count,
                "participation": p.share if (p := _participation_of(wave, profile)) else None,
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=["group", "teams", "respondents", *ADKAR, "stuck_share", "barrier", "stuck_there", "participation"],
    )


def team_screen_table(pilot: PilotAdoption, wave: WaveView) -> pd.DataFrame:
    """The team table as people read it: means to one decimal, shares as whole per cents; a mean
    from too few answers stays missing (the page shows a dash and says why)."""
    teams = team_table(pilot, wave)
    out = teams.copy()
    for e in ADKAR:
        out[e] = pd.to_numeric(teams[e], errors="coerce").round(1)
    for column in ("stuck_share", "participation"):
        out[column] = (pd.to_numeric(teams[column], errors="coerce") * 100).round(0) + 0.0
    return out


def _participation_of(wave: WaveView, profile: GroupProfile) -> Participation | None:
    return wave.participation if profile is wave.overall else wave.team_participation.get(profile.label)


# -- chart data -------------------------------------------------------------------------------------


def profile_frame(profile: GroupProfile, min_size: int, previous: GroupProfile | None = None) -> pd.DataFrame:
    """The five element means of a group (and of the same group a wave earlier), for the profile chart."""
    rows = []
    for p, which in ((profile, "this wave"), (previous, "previous wave")):
        if p is None:
            continue
        for i, e in enumerate(ADKAR):
            s = p.elements[e]
            rows.append(
                {
                    "element": ELEMENT_LABELS[e],
                    "order": i,
                    "wave": p.wave,
                    "which": which,
                    "mean": shown_mean(p, e, min_size),
                    "answered": s.answered,
                    "low_share": s.low_share,
                }
            )
    return pd.DataFrame(rows, columns=["element", "order", "wave", "which", "mean", "answered", "low_share"])


def barrier_frame(profile: GroupProfile) -> pd.DataFrame:
    d = profile.barrier.distribution
    return pd.DataFrame(
        [
            {
                "barrier": BARRIER_LABELS[k],
                "order": i,
                "respondents": d[k],
                "share": d[k] / profile.respondents if profile.respondents else 0.0,
            }
            for i, k in enumerate((*ADKAR, "none"))
        ]
    )


def heatmap_frame(pilot: PilotAdoption, wave: WaveView) -> pd.DataFrame:
    """Group × element means for one wave; a cell with fewer answers than the minimum is suppressed."""
    rows = []
    for order, profile in enumerate(([wave.overall] if wave.overall else []) + wave.groups):
        for i, e in enumerate(ADKAR):
            s = profile.elements[e]
            suppressed = s.answered < pilot.min_size
            rows.append(
                {
                    "group": f"{profile.label} ({profile.respondents})",
                    "group_order": order,
                    "element": ELEMENT_LABELS[e],
                    "element_order": i,
                    "mean": None if suppressed else s.mean,
                    "answered": s.answered,
                    "low_share": None if suppressed else s.low_share,
                    "suppressed": suppressed,
                    "cell": f"< {pilot.min_size} answers" if suppressed else f"{s.mean:.1f}",
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "group",
            "group_order",
            "element",
            "element_order",
            "mean",
            "answered",
            "low_share",
            "suppressed",
            "cell",
        ],
    )


def trend_frame(pilot: PilotAdoption, label: str = ALL_RESPONDENTS) -> pd.DataFrame:
    """A group's element means across the waves in which it could be shown."""
    days = {w.wave: w.last_day for w in pilot.waves}
    rows = [
        {
            "wave": p.wave,
            "day": days.get(p.wave),
            "element": ELEMENT_LABELS[e],
            "order": i,
            "mean": shown_mean(p, e, pilot.min_size),
            "answered": p.elements[e].answered,
            "respondents": p.respondents,
        }
        for p in pilot.history(label)
        for i, e in enumerate(ADKAR)
    ]
    return pd.DataFrame(rows, columns=["wave", "day", "element", "order", "mean", "answered", "respondents"])


@dataclass
class UsageChartData:
    usage: pd.DataFrame  # week, active_users, share (of target)
    target: int | None
    waves: pd.DataFrame  # wave, day, respondents, label: the survey waves on the same time axis
    span: tuple[date, date] | None = field(default=None)


def usage_chart_data(pilot: PilotAdoption) -> UsageChartData:
    series = pilot.active_users.dropna()
    usage = pd.DataFrame({"week": series.index, "active_users": series.to_numpy()})
    usage["share"] = usage["active_users"] / pilot.target_users if pilot.target_users else None
    waves = pd.DataFrame(
        [
            {
                "wave": w.wave,
                "day": pd.Timestamp(w.last_day),
                "respondents": w.respondents,
                "label": f"Wave {w.wave} ({w.respondents})",
            }
            for w in pilot.waves
            if w.last_day
        ],
        columns=["wave", "day", "respondents", "label"],
    )
    days = list(usage["week"]) + list(waves["day"])
    span = (min(days).date(), max(days).date()) if days else None
    return UsageChartData(usage, pilot.target_users, waves, span)


# -- the command line -------------------------------------------------------------------------------


def _profile_json(profile: GroupProfile, min_size: int) -> dict:
    b = profile.barrier
    return {
        "respondents": profile.respondents,
        "means": {e: shown_mean(profile, e, min_size) for e in ADKAR},
        "answered": {e: profile.elements[e].answered for e in ADKAR},
        "low_share": {e: profile.elements[e].low_share for e in ADKAR},
        "barrier_points": dict(b.distribution),
        "group_barrier": {
            "element": b.element,
            "respondents": b.element_count,
            "share": b.element_count / profile.respondents if profile.respondents else None,
        },
    }


def _participation_json(p: Participation | None) -> dict | None:
    return (
        {"respondents": p.respondents, "asked": p.asked, "of": p.of, "share": p.share, "warning": p.warning}
        if p
        else None
    )


def as_json(pilot: PilotAdoption, wave_number: int | None = None) -> dict:
    """The command line's block for one pilot (the latest wave unless one is named)."""
    wave = pilot.wave(wave_number)
    p = wave.participation if wave else None
    block: dict[str, Any] = {
        "pilot_id": pilot.pilot_id,
        "name": pilot.name,
        "wave": wave.wave if wave else wave_number,
        "waves": [w.wave for w in pilot.waves],
        "respondents": wave.respondents if wave else 0,
        "min_group_size": pilot.min_size,
        "shown": bool(wave and wave.shown),
        "means": None,
        "answered": None,
        "low_share": None,
        "barrier_points": None,
        "group_barrier": None,
        "participation": _participation_json(p),
        "adoption_rate": pilot.rate.rate if pilot.rate else None,
        "active_users": pilot.rate.active_users if pilot.rate else None,
        "usage_weeks": pilot.rate.weeks if pilot.rate else 0,
        "usage_trend": (
            {"direction": pilot.trend.direction, "per_week": pilot.trend.per_week, "weeks": pilot.trend.weeks}
            if pilot.trend
            else None
        ),
        "teams": [],
        "teams_pooled": wave.pooled_teams if wave else 0,
        "future_responses": pilot.future_responses,
        "change": None,
        "verdict": (
            verdict(pilot, wave)
            if wave or wave_number is None
            else f"There is no survey wave {wave_number} for this pilot"
            + (f" (its waves: {', '.join(str(w.wave) for w in pilot.waves)})." if pilot.waves else " (no survey yet).")
        ),
    }
    if wave and wave.overall is not None:  # the wave is shown
        block.update(_profile_json(wave.overall, pilot.min_size))
        block["teams"] = [
            {
                "team": g.label,
                "teams": g.teams,
                **_profile_json(g, pilot.min_size),
                "participation": _participation_json(wave.team_participation.get(g.label)),
            }
            for g in wave.groups
        ]
        if wave.change:
            c = wave.change
            block["change"] = {
                "from_wave": c.before_wave,
                "respondents": [c.before_respondents, c.after_respondents],
                "means": {e: x.change for e, x in c.elements.items()},
                "stuck_share": [c.stuck_before, c.stuck_after],
            }
    return block
