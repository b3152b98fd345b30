"""What changed between two moments: "since last meeting", without Streamlit.

The numbers at each moment are exactly those of a pinned link at that moment (the past) and of the
view at the other moment (now, or a later pinned moment): `results.KEEPER` computes risk,
alignment and the portfolio's register numbers for both, with the thresholds in force at each —
no score is computed a second way here. This module only compares the two and says, per pilot,
what moved: health, each pattern's status, warning signs that appeared or cleared (with their
evidence), the alignment label, decay, KPI progress against time gone, the stage, data uploads
and withdrawals between the two moments (from the uploads table), the spend, and pilots that
joined or left the register. The worst changes come first (`SEVERITY`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

import pandas as pd

from pilot_health.analytics.risk import FIRED, HEALTH_LABELS, HEALTH_RANK, STATUS_LABELS
from pilot_health.errors import PilotHealthError
from pilot_health.formatting import moment as moment_words
from pilot_health.formatting import money, percent, plural
from pilot_health.store import queries
from pilot_health.store.database import Store

WORSE, BETTER, NEUTRAL = "worse", "better", "neutral"
# Kinds of change, worst first: the order the view lists them in (a lower number comes first).
SEVERITY = {
    "health_worse": 0,
    "pattern_worse": 1,
    "sign_new": 2,
    "decay_worse": 3,
    "alignment_worse": 4,
    "kpi_worse": 5,
    "over_budget": 6,
    "removed": 7,
    "withdrawn": 8,
    "stage": 9,
    "new_pilot": 10,
    "spend": 11,
    "uploads": 12,
    "health_better": 13,
    "pattern_better": 14,
    "sign_cleared": 15,
    "decay_better": 16,
    "alignment_better": 17,
    "kpi_better": 18,
    "alignment_changed": 19,
    "health_changed": 20,
}
KIND_WORDS = {
    "health_worse": "Health worse",
    "pattern_worse": "Pattern worse",
    "sign_new": "New warning sign",
    "decay_worse": "Decay worse",
    "alignment_worse": "Alignment worse",
    "kpi_worse": "KPI behind more",
    "over_budget": "Over budget",
    "removed": "Left the register",
    "withdrawn": "Upload withdrawn",
    "stage": "Stage moved",
    "new_pilot": "New pilot",
    "spend": "Budget burned",
    "uploads": "New data",
    "health_better": "Health better",
    "pattern_better": "Pattern better",
    "sign_cleared": "Warning sign cleared",
    "decay_better": "Decay better",
    "alignment_better": "Alignment better",
    "kpi_better": "KPI ahead more",
    "alignment_changed": "Alignment changed",
    "health_changed": "Health changed",
}
# How bad a health or a pattern status is (higher is worse): the risk page's order, reversed.
HEALTH_BADNESS = {h: max(HEALTH_RANK.values()) - r for h, r in HEALTH_RANK.items()}
STATUS_BADNESS = {"low": 0, "insufficient": 1, "medium": 2, "high": 3}
DECAY_BADNESS = {"none": 0, "warning": 1, "critical": 2}
DECAY_WORDS = {"none": "none", "warning": "warning", "critical": "critical"}
KPI_STEP = 0.005  # KPI progress must move by half a percentage point (of the way to target) to count


@dataclass(frozen=True)
class Change:
    """One thing that changed for one pilot, in plain words."""

    pilot_id: str
    name: str
    business_unit: str
    kind: str  # a key of SEVERITY
    what: str  # what changed, in a sentence
    evidence: str = ""  # the evidence behind it (a warning sign's), as the risk view says it
    pattern: str | None = None  # the pattern's name, for a pattern or a warning sign

    @property
    def severity(self) -> int:
        return SEVERITY[self.kind]

    @property
    def direction(self) -> str:
        if self.kind.endswith("_worse") or self.kind in ("sign_new", "over_budget", "removed", "withdrawn"):
            return WORSE
        if self.kind.endswith("_better") or self.kind == "sign_cleared":
            return BETTER
        return NEUTRAL

    @property
    def label(self) -> str:
        return KIND_WORDS[self.kind]

    def as_json(self) -> dict:
        return {
            "pilot_id": self.pilot_id,
            "kind": self.kind,
            "direction": self.direction,
            "what": self.what,
            "evidence": self.evidence,
            "pattern": self.pattern,
        }


@dataclass(frozen=True)
class PilotChanges:
    """Everything that changed for one pilot, worst first."""

    pilot_id: str
    name: str
    business_unit: str
    health_before: str | None  # None: not in the register (or not yet approved) then
    health_after: str | None
    changes: tuple[Change, ...]

    @property
    def severity(self) -> int:
        return min((c.severity for c in self.changes), default=len(SEVERITY))

    @property
    def direction(self) -> str:
        """worse or better when its health moved; otherwise neutral."""
        if self.health_before is None or self.health_after is None:
            return NEUTRAL
        moved = HEALTH_BADNESS[self.health_after] - HEALTH_BADNESS[self.health_before]
        return WORSE if moved > 0 else BETTER if moved < 0 else NEUTRAL

    def as_json(self) -> dict:
        return {
            "pilot_id": self.pilot_id,
            "name": self.name,
            "business_unit": self.business_unit,
            "health_before": self.health_before,
            "health_after": self.health_after,
            "direction": self.direction,
            "changes": [c.as_json() for c in self.changes],
        }


@dataclass(frozen=True)
class PortfolioChanges:
    since: datetime
    until: datetime
    pilots: tuple[PilotChanges, ...]  # pilots with at least one change, the worst first
    uploads: int = 0  # data uploads made between the two moments (each counted once)
    withdrawn: int = 0  # data uploads withdrawn between them
    compared: int = 0  # pilots looked at (in the register at either moment)

    @property
    def changes(self) -> list[Change]:
        """Every change of every pilot, worst first (then by pilot)."""
        return sorted((c for p in self.pilots for c in p.changes), key=lambda c: (c.severity, c.pilot_id))

    @property
    def empty(self) -> bool:
        return not self.pilots

    @property
    def summary(self) -> str:
        return summary(self)

    def as_json(self) -> dict:
        return {
            "since": self.since.isoformat(timespec="seconds"),
            "until": self.until.isoformat(timespec="seconds"),
            "summary": self.summary,
            "pilots_compared": self.compared,
            "uploads": self.uploads,
            "withdrawn": self.withdrawn,
            "pilots": [p.as_json() for p in self.pilots],
        }


def summary(found: PortfolioChanges) -> str:
    """The one line on top: '3 pilots got worse, 1 improved, 2 new warning signs on Data Debt'."""
    if found.empty:
        return f"Nothing changed since {moment_words(found.since)}."
    worse = sum(p.direction == WORSE for p in found.pilots)
    better = sum(p.direction == BETTER for p in found.pilots)
    parts = []
    if worse:
        parts.append(f"{plural(worse, 'pilot')} got worse")
    if better:
        parts.append(f"{better:,} improved" if parts else f"{plural(better, 'pilot')} improved")
    for kind, words in (("pattern_worse", "worse"), ("pattern_better", "better")):
        count = sum(c.kind == kind for c in found.changes)
        if count:
            parts.append(f"{plural(count, 'pattern')} {words}")
    signs = Counter(c.pattern for c in found.changes if c.kind == "sign_new")
    for index, (pattern, count) in enumerate(sorted(signs.items(), key=lambda x: (-x[1], x[0]))[:2]):
        parts.append(f"{plural(count, 'new warning sign')} on {pattern}" if index == 0 else f"{count:,} on {pattern}")
    if len(signs) > 2:
        parts.append(f"{sum(signs.values()) - sum(sorted(signs.values(), reverse=True)[:2]):,} on other patterns")
    cleared = sum(c.kind == "sign_cleared" for c in found.changes)
    if cleared:
        parts.append(f"{plural(cleared, 'warning sign')} cleared")
    for kind, one in (("new_pilot", "new pilot"), ("removed", "pilot left the register"), ("stage", "stage move")):
        count = sum(c.kind == kind for c in found.changes)
        if count:
            parts.append(plural(count, one, {"pilot left the register": "pilots left the register"}.get(one)))
    if found.uploads:
        parts.append(f"{plural(found.uploads, 'new upload')}")
    if found.withdrawn:
        parts.append(f"{plural(found.withdrawn, 'upload')} withdrawn")
    if not parts:
        parts.append(f"{plural(len(found.pilots), 'pilot')} changed a little")
    text = ", ".join(parts)
    return text[0].upper() + text[1:] + "."


# -- comparing two moments ------------------------------------------------------------------------


def earliest(store: Store) -> datetime | None:
    """The first moment anything can be compared from: when the register first held a pilot."""
    with store.read() as con:
        return queries.first_record_at(con)


def since_moment(day: date, first: datetime | None, until: datetime) -> tuple[datetime | None, str]:
    """The moment a chosen day means — as the store stood at its end, like a pinned link's day —
    and, when that moment cannot be used as it is, why another was taken: the start of the day
    when its end is not before `until` (today), the register's first moment (`first`) when the day
    is before it. (None, why) when there is nothing to compare with."""
    if first is None:
        return None, "There is nothing to compare with yet: the register has no pilot."
    chosen, note = datetime.combine(day, time(23, 59, 59)), ""
    if chosen >= until:
        chosen, note = datetime.combine(day, time.min), f"Compared from the start of {day:%d %b %Y}, the day shown."
    if chosen < first:
        chosen, note = first, f"The register began on {moment_words(first)}: compared from then."
    if chosen >= until:
        return None, f"There is nothing to compare with before {moment_words(until)}: the register began then."
    return chosen, note


def changes_since(
    store: Store,
    since: datetime,
    until: datetime | None = None,
    pilot_ids: Sequence[str] | None = None,
    stale_after_days: int | None = None,
    version: str | None = None,
) -> PortfolioChanges:
    """What changed between the pinned view at `since` and now (or the pinned view at `until`), per
    pilot the store's person may see (`pilot_ids`: only these), the worst first. Refuses a `since`
    not before `until` and one before the register held any pilot. `version`: the store's version
    the caller read (a page view's, asked once), else it is read now."""
    from pilot_health.config import load_config
    from pilot_health.reports.results import KEEPER

    stale = stale_after_days if stale_after_days is not None else load_config().stale_upload_days
    until_moment = until if until is not None else KEEPER.moment(store, version=version)
    if since >= until_moment:
        raise PilotHealthError(f"Pick a moment before {moment_words(until_moment)} to compare with.")
    first = earliest(store)
    if first is None or since < first:
        raise PilotHealthError(
            "There is nothing to compare with before "
            + (
                f"{moment_words(first)}, when the register first held a pilot."
                if first
                else "any pilot is in the register."
            )
        )
    risk_then = {r.pilot_id: r for r in KEEPER.risk(store, version, pinned=since)}
    risk_now = {r.pilot_id: r for r in KEEPER.risk(store, version, pinned=until)}
    align_then = {r.pilot_id: r for r in KEEPER.alignment(store, version, pinned=since)}
    align_now = {r.pilot_id: r for r in KEEPER.alignment(store, version, pinned=until)}
    home_then = KEEPER.portfolio(store, version, since.date(), stale, since).set_index("pilot_id")
    home_now = KEEPER.portfolio(store, version, until_moment.date(), stale, until).set_index("pilot_id")
    with store.read() as con:
        uploads = queries.uploads_between(con, since, until_moment)
    ids = sorted(set(home_then.index) | set(home_now.index) | set(risk_then) | set(risk_now))
    if pilot_ids is not None:
        wanted = set(pilot_ids)
        ids = [p for p in ids if p in wanted]
        uploads = uploads[uploads["pilot_id"].isin(wanted)]
    found = []
    for pilot_id in ids:
        changes = _pilot_changes(
            pilot_id,
            home_then,
            home_now,
            risk_then.get(pilot_id),
            risk_now.get(pilot_id),
            align_then.get(pilot_id),
            align_now.get(pilot_id),
            uploads[uploads["pilot_id"] == pilot_id],
        )
        if changes.changes:
            found.append(changes)
    found.sort(key=lambda p: (p.severity, -sum(c.direction == WORSE for c in p.changes), p.pilot_id))
    return PortfolioChanges(
        since=since,
        until=until_moment,
        pilots=tuple(found),
        uploads=int(uploads.loc[uploads["made_between"], "upload_id"].nunique()),
        withdrawn=int(uploads.loc[uploads["withdrawn_between"], "upload_id"].nunique()),
        compared=len(ids),
    )


def _record(frame: pd.DataFrame, pilot_id: str) -> pd.Series | None:
    return frame.loc[pilot_id] if pilot_id in frame.index else None


def _pilot_changes(
    pilot_id: str,
    home_then: pd.DataFrame,
    home_now: pd.DataFrame,
    risk_then,
    risk_now,
    align_then,
    align_now,
    uploads: pd.DataFrame,
) -> PilotChanges:
    then, now = _record(home_then, pilot_id), _record(home_now, pilot_id)
    latest = now if now is not None else then
    name = str(latest["name"]) if latest is not None else (risk_now or risk_then).name
    unit = str(latest["business_unit"]) if latest is not None and pd.notna(latest["business_unit"]) else ""
    out: list[Change] = []

    def add(kind: str, what: str, evidence: str = "", pattern: str | None = None) -> None:
        out.append(Change(pilot_id, name, unit, kind, what, evidence, pattern))

    if then is None and now is not None:
        add("new_pilot", f"Joined the register ({_stage(now['stage'])}).")
    elif then is not None and now is None:
        add("removed", f"No longer in the register (was {_stage(then['stage'])}).")
    if then is not None and now is not None:
        if then["stage"] != now["stage"]:
            add("stage", f"Stage moved from {_stage(then['stage'])} to {_stage(now['stage'])}.")
        _spend(add, then, now)
    if risk_then is not None and risk_now is not None:
        _risk(add, risk_then, risk_now)
    if align_then is not None and align_now is not None:
        _alignment(add, align_then, align_now)
    made = uploads[uploads["made_between"]]
    if len(made):
        names = ", ".join(dict.fromkeys(made["file_name"]))
        add(
            "uploads",
            f"{plural(len(made), 'new upload')} ({plural(int(made['rows_stored'].sum()), 'row')}).",
            f"Files: {names}",
        )
    gone = uploads[uploads["withdrawn_between"]]
    if len(gone):
        add(
            "withdrawn",
            f"{plural(len(gone), 'upload')} withdrawn: its rows no longer count."
            if len(gone) == 1
            else f"{plural(len(gone), 'upload')} withdrawn: their rows no longer count.",
            "Files: " + ", ".join(dict.fromkeys(gone["file_name"])),
        )
    out.sort(key=lambda c: c.severity)
    return PilotChanges(
        pilot_id, name, unit, risk_then.health if risk_then else None, risk_now.health if risk_now else None, tuple(out)
    )


def _stage(stage: str) -> str:
    from pilot_health.models import STAGE_LABELS

    return STAGE_LABELS.get(stage, str(stage)).lower()


def _spend(add, then: pd.Series, now: pd.Series) -> None:
    before, after = then["spend_to_date"], now["spend_to_date"]
    if pd.isna(after) or (pd.notna(before) and float(before) == float(after)):
        return
    before = 0.0 if pd.isna(before) else float(before)
    burned = float(after) - before
    budget = now["budget"]
    of_budget = (
        f" ({percent(float(after) / float(budget))} of its {money(budget)} budget)"
        if pd.notna(budget) and budget > 0
        else ""
    )
    was_over = bool(then["over_budget"]) if pd.notna(then["over_budget"]) else False
    is_over = bool(now["over_budget"]) if pd.notna(now["over_budget"]) else False
    verb = f"Spent {money(burned)} more" if burned > 0 else f"Spend to date corrected by {money(burned)}"
    add("over_budget" if is_over and not was_over else "spend", f"{verb}: {money(before)} → {money(after)}{of_budget}.")


def _risk(add, then, now) -> None:
    if then.health != now.health:
        moved = HEALTH_BADNESS[now.health] - HEALTH_BADNESS[then.health]
        kind = "health_worse" if moved > 0 else "health_better" if moved < 0 else "health_changed"
        add(kind, f"Health {HEALTH_LABELS[then.health]} → {HEALTH_LABELS[now.health]}.", now.health_reason)
    for key, after in now.patterns.items():
        before = then.patterns.get(key)
        if before is None:
            continue
        if before.status != after.status:
            moved = STATUS_BADNESS[after.status] - STATUS_BADNESS[before.status]
            add(
                "pattern_worse" if moved > 0 else "pattern_better",
                f"{after.name}: {STATUS_LABELS[before.status]} → {STATUS_LABELS[after.status]}"
                f" (score {before.score_label} → {after.score_label}).",
                pattern=after.name,
            )
        states = {s.key: s for s in before.signals}
        for signal in after.signals:
            old = states.get(signal.key)
            was_fired = old is not None and old.state == FIRED
            if signal.state == FIRED and not was_fired:
                add("sign_new", f"New warning sign on {after.name}: {signal.question}", signal.evidence, after.name)
            elif was_fired and signal.state != FIRED:
                how = "cleared" if signal.state == "clear" else "no longer known"
                add(
                    "sign_cleared",
                    f"Warning sign {how} on {after.name}: {signal.question}",
                    signal.evidence,
                    after.name,
                )


def _worst_decay(row):
    """The decay the alignment view's reasons name: the metric that lost most."""
    return max(row.decays.values(), key=lambda d: d.relative, default=None)


def _alignment(add, then, now) -> None:
    from pilot_health.reports.alignment_report import CONCERN_POINTS, LABEL_SHORT

    if then.label != now.label:
        points = {label: CONCERN_POINTS.get(label, 0.0) for label in (then.label, now.label)}
        moved = points[now.label] - points[then.label]
        kind = "alignment_worse" if moved > 0 else "alignment_better" if moved < 0 else "alignment_changed"
        add(
            kind,
            f"Alignment {LABEL_SHORT.get(then.label, then.label)} → {LABEL_SHORT.get(now.label, now.label)}.",
            now.verdict,
        )
    before, after = _worst_decay(then), _worst_decay(now)
    level_before = before.level if before else "none"
    level_after = after.level if after else "none"
    if level_before != level_after:
        moved = DECAY_BADNESS[level_after] - DECAY_BADNESS[level_before]
        metric = now.names.get(after.metric, after.metric) if after else then.names.get(before.metric, before.metric)
        detail = (
            f"; {metric} is {abs(after.relative):.0%} {'worse' if after.relative > 0 else 'better'} than in its first live weeks"
            if after
            else ""
        )
        add(
            "decay_worse" if moved > 0 else "decay_better",
            f"Decay {DECAY_WORDS[level_before]} → {DECAY_WORDS[level_after]}{detail}.",
        )
    _kpi(add, then.kpi_progress, now.kpi_progress, now.kpi_name or "The KPI")


def _kpi(add, before, after, kpi_name: str) -> None:
    if before is None or after is None:
        return
    gained = after.progress - before.progress
    time_before, time_after = before.time_elapsed, after.time_elapsed
    timed = time_before is not None and time_after is not None
    lead_moved = gained - ((min(time_after, 1) - min(time_before, 1)) if timed else 0.0)
    behind_turned = bool(after.behind) != bool(before.behind)
    if abs(gained) < KPI_STEP and not behind_turned:  # time passing alone is no change to report
        return
    if behind_turned:
        worse = bool(after.behind)
    else:
        worse = lead_moved < 0
    time_words = (
        f", while time gone went {percent(min(time_before, 1))} → {percent(min(time_after, 1))}"
        if time_before is not None and time_after is not None
        else ""
    )
    verb = "gained" if gained >= 0 else "lost"
    status = (
        " It is now behind plan." if behind_turned and after.behind else " It is back on plan." if behind_turned else ""
    )
    add(
        "kpi_worse" if worse else "kpi_better",
        f"{kpi_name} {verb} {abs(gained) * 100:.0f} point{'' if round(abs(gained) * 100) == 1 else 's'} of the way to target ({percent(before.progress)} → "
        f"{percent(after.progress)}){time_words}.{status}",
    )
