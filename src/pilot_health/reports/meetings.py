"""Steering meetings and the decisions they take about pilots (no Streamlit here).

A meeting is a day, a title and the moment whose numbers it reviewed (its pinned view). For a
pilot, the meeting records a decision — continue, fix and review, scale, pause or stop — with the
conditions to meet, an owner and a due date. A condition may be tied to a warning sign of the
signal catalogue ("live decay back under 10%"): it is then met while that sign is clear, not met
while it fires, and unknown while the evidence is missing — computed by the risk engine, never
typed in. Decisions are never edited: a later decision about the same pilot replaces the earlier.

Editors record meetings and decisions (a limited editor only for their business units' pilots);
every write is a line of the audit trail, in the same transaction. A pinned view at moment T
shows only the meetings and decisions recorded at or before T.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from pilot_health.access import Person, as_person
from pilot_health.errors import NotFoundError, PilotHealthError
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now

DECISIONS = ("continue", "fix and review", "scale", "pause", "stop")
DECISION_LABELS = {
    "continue": "Continue",
    "fix and review": "Fix and review",
    "scale": "Scale",
    "pause": "Pause",
    "stop": "Stop",
}
DUE_SOON_DAYS = 7  # a decision whose due date is this close (or closer) reads "due"
STATUSES = ("overdue", "due", "open", "replaced")  # most urgent first
STATUS_LABELS = {
    "overdue": "Overdue",
    "due": "Due within 7 days",
    "open": "Open",
    "replaced": "Replaced by a later decision",
}
CONDITION_LABELS = {"met": "Met", "not met": "Not met", "unknown": "Not known yet"}


class DecisionError(PilotHealthError):
    """A meeting or decision that cannot be stored as given; the sentence names the field."""


@dataclass(frozen=True)
class Meeting:
    meeting_id: int
    held_on: date
    title: str
    pinned_at: datetime  # the moment the meeting reviewed: its pinned view
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Decision:
    decision_id: int
    meeting_id: int
    meeting_title: str
    held_on: date  # the meeting's day
    pinned_at: datetime  # the meeting's moment: the evidence the decision was taken on
    pilot_id: str
    decision: str  # one of DECISIONS
    conditions: str | None
    owner: str
    due_on: date
    signal_key: str | None  # a warning sign the condition is tied to, or None
    signal_value: float | None  # the threshold it is checked at; None: the catalogue's in force
    recorded_by: str
    recorded_at: datetime
    status: str  # overdue | due | open | replaced (see `status_of`)
    days_left: int  # due_on minus the day the status is for (negative: days overdue)

    @property
    def decision_label(self) -> str:
        return DECISION_LABELS.get(self.decision, self.decision)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def status_words(self) -> str:
        """The status with its days, as pages and packs print it: “Overdue (7 days late)”."""
        if self.status == "replaced":
            return self.status_label
        if self.days_left < 0:
            return f"{self.status_label} ({-self.days_left} day{'s' if self.days_left != -1 else ''} late)"
        return f"{self.status_label} ({self.days_left} day{'s' if self.days_left != 1 else ''} left)"


def _day(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def _moment(value) -> datetime:
    return value if isinstance(value, datetime) else pd.Timestamp(value).to_pydatetime()


def status_of(due_on: date, on: date, replaced: bool = False) -> tuple[str, int]:
    """A decision's status on a day: replaced (a later decision about the pilot exists), overdue
    (its due day has passed), due (due within DUE_SOON_DAYS days), else open; and the days left."""
    days_left = (due_on - on).days
    if replaced:
        return "replaced", days_left
    if days_left < 0:
        return "overdue", days_left
    if days_left <= DUE_SOON_DAYS:
        return "due", days_left
    return "open", days_left


# -- writing ---------------------------------------------------------------------------------------


def record_meeting(
    store: Store, held_on, title: str, pinned_at: datetime | None = None, by: Person | str = "local user"
) -> Meeting:
    """Store a meeting. `pinned_at` is the moment it reviewed (default: the end of its day)."""
    person = as_person(by)
    person.require("record_decisions", "record a meeting")
    title = (title or "").strip()
    if not title:
        raise DecisionError("Title: give the meeting a title, such as “March steering committee”.")
    if len(title) > 200:
        raise DecisionError("Title: keep the meeting's title under 200 characters.")
    try:
        day = _day(held_on)
    except (ValueError, TypeError):
        raise DecisionError(f"Date: “{held_on}” is not a date; write it as 2026-03-31.") from None
    moment = (
        _moment(pinned_at)
        if pinned_at is not None
        else datetime.combine(day, datetime.max.time()).replace(microsecond=0)
    )
    now = utc_now()
    if moment > now + timedelta(days=1):
        raise DecisionError("Reviewed moment: a meeting can only review numbers up to now, not a moment in the future.")
    with store.write() as con:
        meeting_id = queries.insert_meeting(con, day, title, moment, person.name, now)
        queries.record_audit(
            con,
            now,
            person.name,
            "meeting_add",
            str(meeting_id),
            f"{title}, held on {day.isoformat()}, reviewing the numbers as of {moment:%Y-%m-%d %H:%M}",
        )
    return Meeting(meeting_id, day, title, moment, person.name, now)


def record_decision(
    store: Store,
    pilot_id: str,
    meeting_id: int,
    decision: str,
    owner: str,
    due_on,
    conditions: str | None = None,
    signal_key: str | None = None,
    signal_value: float | None = None,
    by: Person | str = "local user",
) -> Decision:
    """Store a meeting's decision about a pilot, after checking it: a pilot the person may work
    with, a known meeting, an allowed decision, an owner, a due date not before the meeting and,
    when given, a warning sign the catalogue knows."""
    from pilot_health.rules.thresholds import catalogue_for

    person = as_person(by)
    pilot_id = (pilot_id or "").strip().upper()
    person.require("record_decisions", f"record a decision about the pilot {pilot_id}")
    word = (decision or "").strip().lower()
    if word not in DECISIONS:
        raise DecisionError(f"Decision: “{decision}” is not one of {', '.join(DECISIONS)}.")
    owner = (owner or "").strip()
    if not owner:
        raise DecisionError("Owner: name the person who sees that the conditions are met.")
    try:
        due = _day(due_on)
    except (ValueError, TypeError):
        raise DecisionError(f"Due date: “{due_on}” is not a date; write it as 2026-04-30.") from None
    conditions = (conditions or "").strip() or None
    signal_key = (signal_key or "").strip() or None
    if signal_key is not None:
        catalogue = catalogue_for(store)
        try:
            signal = catalogue.signal(signal_key)
        except KeyError:
            raise DecisionError(
                f"Warning sign: “{signal_key}” is not a warning sign of the signal catalogue."
            ) from None
        if signal_value is not None and signal.threshold is None:
            raise DecisionError("Threshold: this warning sign has no threshold to set; leave it empty.")
    elif signal_value is not None:
        raise DecisionError("Threshold: choose the warning sign the threshold is for, or leave the threshold empty.")
    now = utc_now()
    with store.write() as con:
        record = queries.fetch_pilot(con, pilot_id)
        if record is None or not person.sees(record["business_unit"]):
            raise NotFoundError(f"Pilot: there is no pilot {pilot_id} in the register.")
        meeting = next((m for m in queries.fetch_meetings(con) if m["meeting_id"] == meeting_id), None)
        if meeting is None:
            raise NotFoundError(f"Meeting: there is no meeting number {meeting_id}; record the meeting first.")
        if due < meeting["held_on"]:
            raise DecisionError(
                f"Due date: {due.isoformat()} is before the meeting ({meeting['held_on'].isoformat()}); "
                "choose a day on or after it."
            )
        threshold = None if signal_value is None else float(signal_value)
        values = {
            "meeting_id": meeting_id,
            "pilot_id": pilot_id,
            "decision": word,
            "conditions": conditions,
            "owner": owner,
            "due_on": due,
            "signal_key": signal_key,
            "signal_value": threshold,
            "recorded_by": person.name,
            "recorded_at": now,
        }
        decision_id = queries.insert_decision(con, values)
        tied = (
            f"; tied to the warning sign {signal_key}" + (f" at {signal_value:g}" if signal_value is not None else "")
            if signal_key
            else ""
        )
        queries.record_audit(
            con,
            now,
            person.name,
            "decision_record",
            pilot_id,
            f"{DECISION_LABELS[word]} (meeting {meeting_id}: {meeting['title']}); owner {owner}, due {due.isoformat()}{tied}",
        )
    status, days_left = status_of(due, now.date())
    return Decision(
        decision_id,
        meeting_id,
        meeting["title"],
        meeting["held_on"],
        meeting["pinned_at"],
        pilot_id,
        word,
        conditions,
        owner,
        due,
        signal_key,
        threshold,
        person.name,
        now,
        status,
        days_left,
    )


# -- reading ---------------------------------------------------------------------------------------


def meetings(store: Store, as_of: datetime | None = None) -> list[Meeting]:
    """Meetings, newest first; with `as_of` (a pinned view) only those recorded by then."""
    with store.read() as con:
        rows = queries.fetch_meetings(con, as_of)
    return [
        Meeting(
            r["meeting_id"],
            _day(r["held_on"]),
            r["title"],
            _moment(r["pinned_at"]),
            r["created_by"],
            _moment(r["created_at"]),
        )
        for r in rows
    ]


def decisions(store: Store, as_of: datetime | None = None, pilot_ids: Sequence[str] | None = None) -> list[Decision]:
    """Decisions the store's person may see (their business units' pilots), newest meeting first,
    each with its status on the day of `as_of` (default: today). With `as_of`, only the decisions
    recorded by then, as a view pinned at that moment shows them."""
    with store.read() as con:
        rows = queries.fetch_decisions(con, as_of, pilot_ids)
    day = (as_of or utc_now()).date()
    newest: dict[str, tuple] = {}
    for r in rows:
        order = (_day(r["held_on"]), _moment(r["recorded_at"]), r["decision_id"])
        if r["pilot_id"] not in newest or order > newest[r["pilot_id"]]:
            newest[r["pilot_id"]] = order
    found = []
    for r in rows:
        order = (_day(r["held_on"]), _moment(r["recorded_at"]), r["decision_id"])
        status, days_left = status_of(_day(r["due_on"]), day, replaced=order != newest[r["pilot_id"]])
        value = r["signal_value"]
        found.append(
            Decision(
                r["decision_id"],
                r["meeting_id"],
                r["meeting_title"],
                _day(r["held_on"]),
                _moment(r["pinned_at"]),
                r["pilot_id"],
                r["decision"],
                r["conditions"],
                r["owner"],
                _day(r["due_on"]),
                r["signal_key"],
                None if value is None or pd.isna(value) else float(value),
                r["recorded_by"],
                _moment(r["recorded_at"]),
                status,
                days_left,
            )
        )
    return found


def last_meeting(found: Sequence[Meeting], until: datetime) -> Meeting | None:
    """The meeting whose reviewed moment is the latest before `until`: the "last meeting" a view at
    `until` compares with (None when no meeting reviewed an earlier moment)."""
    earlier = [m for m in found if m.pinned_at < until]
    return max(earlier, key=lambda m: (m.pinned_at, m.held_on, m.meeting_id), default=None)


def due_or_overdue(found: Sequence[Decision]) -> list[Decision]:
    """The decisions a meeting must look at again: overdue first, then due, soonest first."""
    urgent = [d for d in found if d.status in ("overdue", "due")]
    return sorted(urgent, key=lambda d: (STATUSES.index(d.status), d.due_on, d.pilot_id))


# -- conditions tied to a warning sign ---------------------------------------------------------------


def condition_met(decision: Decision, risk) -> str | None:
    """For a condition tied to a warning sign: "met" while the sign is clear in `risk` (a
    `risk.PilotRisk` of the decision's pilot), "not met" while it fires, "unknown" while the
    evidence is missing (or the sign is no longer in the catalogue). None for a condition in words only.
    When the decision sets its own threshold, `risk` must be computed at it (`condition_risk`)."""
    if decision.signal_key is None:
        return None
    if risk is None:
        return "unknown"
    for pattern in risk.patterns.values():
        for signal in pattern.signals:
            if signal.key == decision.signal_key:
                return {"clear": "met", "fired": "not met"}.get(signal.state, "unknown")
    return "unknown"


def condition_evidence(decision: Decision, risk) -> str | None:
    """The risk engine's one-line evidence for the warning sign a condition is tied to."""
    if decision.signal_key is None or risk is None:
        return None
    for pattern in risk.patterns.values():
        for signal in pattern.signals:
            if signal.key == decision.signal_key:
                return signal.evidence
    return None


def condition_risk(store: Store, decision: Decision, as_of: datetime | None = None, risk=None):
    """The pilot's risk result to check a tied condition against: `risk` (the view's own result)
    when the decision keeps the catalogue's threshold, else the pilot assessed at the decision's
    threshold (the same engine, that one threshold changed)."""
    if decision.signal_key is None:
        return None
    if decision.signal_value is None and risk is not None:
        return risk
    from pilot_health.analytics import risk as risk_engine
    from pilot_health.reports.results import now_moment
    from pilot_health.rules.thresholds import catalogue_for, with_overrides

    catalogue = catalogue_for(store, as_of)
    if decision.signal_value is not None:
        catalogue = with_overrides(catalogue, {f"signals.{decision.signal_key}": decision.signal_value})
    found = risk_engine.assess(store, as_of or now_moment(), [decision.pilot_id], catalogue=catalogue, records_at=as_of)
    return found[0] if found else None
