"""Alerts and escalation: who is told when a pilot slips (no Streamlit here).

People subscribe — themselves, or an administrator for someone else, a team's address or a
webhook — to one pilot, one business unit or everything they may see, for kinds of events:

* `health_red`      the pilot's health turns red;
* `pattern_high`    a failure pattern turns high;
* `decay_critical`  live decay or drift of a metric reaches critical;
* `decision_due`    a committee decision falls due (within `meetings.DUE_SOON_DAYS` days) or overdue;
* `stale_data`      no new data for PILOT_HEALTH_STALE_UPLOAD_DAYS days (the home page's “stale”).

`run_alerts` — the `alerts` command, run after the nightly load — looks at the store at one moment
with the same computation as a link pinned to that moment (`results.KEEPER`), compares it with the
previous run's moment, and stores each new event once under its key (so nothing is ever sent twice).
Each recipient gets one digest per run: what happened, the evidence in one line, and the view
pinned to the moment it fired. A pilot red for PILOT_HEALTH_ESCALATION_DAYS days with no committee
decision in that time is escalated to its executive sponsor; when no address is known for the
sponsor the escalation is kept as undeliverable and reported, never dropped.

A digest is stored before it is sent, tried a few times, and one not delivered stays pending for
the next run (given up after MAX_RUNS runs, and then reported as failed); an escalation without an
address is looked for again at each run (the register or the settings may have it by then). Every
write is audited.
A subscriber limited to some business units never receives another unit's pilot.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from pilot_health.access import Person, as_person
from pilot_health.errors import AccessDenied, NotFoundError, PilotHealthError
from pilot_health.formatting import moment as moment_words
from pilot_health.formatting import plural
from pilot_health.reports.notify import AlertSettings, check_webhook_address, deliver, load_alert_settings
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now

EVENT_KINDS = {
    "health_red": "Health turns red",
    "pattern_high": "A failure pattern turns high",
    "decay_critical": "Decay or drift reaches critical",
    "decision_due": "A committee decision falls due or overdue",
    "stale_data": "No new data for a while",
}
# Events found, and the subscription kind each belongs to (an escalation goes to the sponsor only).
EVENT_SUBSCRIPTION = {
    "health_red": "health_red",
    "pattern_high": "pattern_high",
    "decay_critical": "decay_critical",
    "drift_critical": "decay_critical",
    "decision_due": "decision_due",
    "decision_overdue": "decision_due",
    "stale_data": "stale_data",
    "escalation": None,
}
SEVERITY = (
    "escalation",
    "health_red",
    "pattern_high",
    "decay_critical",
    "drift_critical",
    "decision_overdue",
    "decision_due",
    "stale_data",
)
MAX_RUNS = 5  # runs that try a digest before it is given up (and reported as failed)
QUIET_STAGES = ("paused", "cancelled")  # no data is expected: no “no new data” event
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


class AlertError(PilotHealthError):
    """A subscription that cannot be stored as given; the sentence names the field."""


# -- subscriptions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    subscription_id: int
    address: str
    channel: str  # email | webhook
    pilot_id: str | None
    business_unit: str | None
    events: tuple[str, ...]
    limited_to: tuple[str, ...] | None  # the subscriber's business units; None: every unit
    created_by: str
    created_at: datetime

    @property
    def covers(self) -> str:
        """What it is about, in words."""
        if self.pilot_id:
            return f"the pilot {self.pilot_id}"
        if self.business_unit:
            return f"every pilot of {self.business_unit}"
        return "every pilot" + (f" of {', '.join(self.limited_to)}" if self.limited_to is not None else "")

    @property
    def events_text(self) -> str:
        return ", ".join(EVENT_KINDS[e].lower() for e in self.events if e in EVENT_KINDS)

    @property
    def shown_address(self) -> str:
        return masked(self.address) if self.channel == "webhook" else self.address


def masked(address: str) -> str:
    """A webhook's address without its secret part (the path is the key to post to the channel)."""
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    return f"webhook at {parts.hostname or 'an unknown host'}" + (f":{parts.port}" if parts.port else "")


def channel_of(address: str) -> str:
    address = (address or "").strip()
    if address.lower().startswith(("http://", "https://")):
        problem = check_webhook_address(address)
        if problem:
            raise AlertError(f"Address: {problem}")
        return "webhook"
    if EMAIL.match(address):
        return "email"
    raise AlertError(f"Address: “{address}” is neither an e-mail address nor a webhook's address (https://…).")


def _subscription(row: dict) -> Subscription:
    limited = row["limited_to"]
    return Subscription(
        row["subscription_id"],
        row["address"],
        row["channel"],
        row["pilot_id"],
        row["business_unit"],
        tuple(row["events"]),
        tuple(limited) if limited is not None else None,
        row["created_by"],
        row["created_at"],
    )


def _own(person: Person, address: str) -> bool:
    return person.name.strip().lower() == address.strip().lower()


def subscribe(
    store: Store,
    address: str,
    events: Sequence[str],
    pilot_id: str | None = None,
    business_unit: str | None = None,
    by: Person | str = "local user",
    limited_to: Sequence[str] | None = None,
) -> Subscription:
    """Subscribe `address` (an e-mail address, or a webhook's https address) to one pilot, one
    business unit, or everything the subscriber may see, for these kinds of events. A person may
    subscribe their own address; anyone else's, a team's or a webhook needs the administrator role.
    The subscriber's business units: the person's own, or for someone else the access file's entry
    for that address, else `limited_to` (None: every unit)."""
    person = as_person(by)
    address = (address or "").strip()
    channel = channel_of(address)
    if channel == "email":
        address = address.lower()
    if not _own(person, address):
        person.require("manage_alerts", "subscribe someone else, a team or a webhook to alerts")
    wanted = tuple(dict.fromkeys(e.strip() for e in events if e and e.strip()))
    unknown = [e for e in wanted if e not in EVENT_KINDS]
    if unknown:
        raise AlertError(f"Events: “{unknown[0]}” is not one of {', '.join(EVENT_KINDS)}.")
    if not wanted:
        raise AlertError("Events: choose at least one kind of event to be told about.")
    if pilot_id and business_unit:
        raise AlertError("Subscribe to one pilot or to one business unit, not both.")
    if _own(person, address):
        units = person.business_units
    else:
        listed = access_units(address)
        units = (
            listed[1]
            if listed[0]
            else (tuple(u.strip() for u in limited_to if u.strip()) if limited_to is not None else None)
        )
    pilot_id = (pilot_id or "").strip().upper() or None
    business_unit = (business_unit or "").strip() or None
    now = utc_now()
    with store.unscoped().write() as con:
        if pilot_id:
            record = queries.fetch_pilot(con, pilot_id)
            if record is None or not person.sees(record["business_unit"]):
                raise NotFoundError(f"Pilot: there is no pilot {pilot_id} in the register.")
            if units is not None and record["business_unit"] not in units:
                raise AccessDenied(
                    f"{address} may see only {', '.join(units)}; the pilot {pilot_id} belongs to {record['business_unit']}."
                )
        if business_unit:
            known = set(queries.pilot_business_units(con).values())
            if business_unit not in known or not person.sees(business_unit):
                raise NotFoundError(f"Business unit: no pilot of the register belongs to “{business_unit}”.")
            if units is not None and business_unit not in units:
                raise AccessDenied(f"{address} may see only {', '.join(units)}, not {business_unit}.")
        for row in queries.fetch_subscriptions(con, address):
            same = (row["pilot_id"], row["business_unit"], tuple(sorted(row["events"]))) == (
                pilot_id,
                business_unit,
                tuple(sorted(wanted)),
            )
            if same:
                raise AlertError(
                    f"{masked(address) if channel == 'webhook' else address} is already subscribed to exactly this "
                    f"(subscription {row['subscription_id']})."
                )
        values = {
            "address": address,
            "channel": channel,
            "pilot_id": pilot_id,
            "business_unit": business_unit,
            "events": list(wanted),
            "limited_to": list(units) if units is not None else None,
            "created_by": person.name,
            "created_at": now,
        }
        subscription_id = queries.insert_subscription(con, values)
        made = _subscription({"subscription_id": subscription_id, **values})
        queries.record_audit(
            con,
            now,
            person.name,
            "alert_subscribe",
            made.shown_address,
            f"Subscription {subscription_id}: {made.covers}, for {made.events_text}"
            + (f"; limited to {', '.join(units)}" if units is not None else ""),
        )
    return made


def unsubscribe(store: Store, subscription_id: int, by: Person | str = "local user") -> Subscription:
    """Remove a subscription: one's own, or any with the administrator role."""
    person = as_person(by)
    now = utc_now()
    with store.unscoped().write() as con:
        found = next(
            (s for s in map(_subscription, queries.fetch_subscriptions(con)) if s.subscription_id == subscription_id),
            None,
        )
        if found is None or not (_own(person, found.address) or person.can("manage_alerts")):
            raise NotFoundError(f"Subscription: there is no subscription number {subscription_id} of yours.")
        queries.remove_subscription(con, subscription_id, person.name, now)
        queries.record_audit(
            con,
            now,
            person.name,
            "alert_unsubscribe",
            found.shown_address,
            f"Subscription {subscription_id} removed: {found.covers}, for {found.events_text}",
        )
    return found


def subscriptions(store: Store, by: Person | str = "local user") -> list[Subscription]:
    """Subscriptions in force: every one for an administrator, else the person's own."""
    person = as_person(by)
    with store.unscoped().read() as con:
        rows = queries.fetch_subscriptions(con, None if person.can("manage_alerts") else person.name.strip().lower())
    return [_subscription(r) for r in rows]


def access_units(address: str) -> tuple[bool, tuple[str, ...] | None]:
    """(whether the access file lists this e-mail address, and then its business units or None for
    every unit). An access file that cannot be read lists nobody."""
    from pilot_health.access import load_access
    from pilot_health.config import load_config

    path = load_config().access_path
    if not path.exists():
        return False, None
    try:
        access = load_access(path)
    except PilotHealthError:
        return False, None
    for entry in access.people:
        if entry.email == address.strip().lower():
            return True, tuple(entry.business_units) if entry.business_units is not None else None
    return False, None


def units_in_force(subscription: Subscription) -> tuple[str, ...] | None:
    """The units a subscription's digests may tell of: those it was made with, and for a person the
    access file lists, no more than their units there now."""
    units = subscription.limited_to
    if subscription.channel == "email":
        listed, now = access_units(subscription.address)
        if listed and now is not None:
            units = tuple(u for u in (units if units is not None else now) if u in now)
    return units


# -- events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    key: str  # what makes it this occurrence: stored once, never sent twice
    kind: str
    pilot_id: str
    name: str
    business_unit: str | None
    fired_at: datetime
    what: str
    evidence: str
    link: str
    sponsor: str | None = None  # an escalation's executive sponsor, as the register writes it

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "pilot_id": self.pilot_id,
            "pilot": self.name,
            "business_unit": self.business_unit,
            "fired_at": self.fired_at.isoformat(timespec="seconds"),
            "what": self.what,
            "evidence": self.evidence,
            "link": self.link,
        }


def view_link(base_url: str, page: str, pilot_id: str, at: datetime) -> str:
    """The view of one pilot pinned to a moment: the address a pinned link of the dashboard has
    (`base/Risk?pilot=SC-01&as_of=2026-12-05T06:30:00`, like the steering pack's live links)."""
    return f"{base_url.rstrip('/')}/{page}?" + urlencode(
        [("pilot", pilot_id), ("as_of", at.replace(microsecond=0).isoformat())]
    )


EVIDENCE_CHARACTERS = 240  # the evidence is one line: longer is cut (the link has all of it)


def _one_line(text: str) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= EVIDENCE_CHARACTERS else line[: EVIDENCE_CHARACTERS - 1].rsplit(" ", 1)[0] + " …"


def _stamp(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat()


def detect_events(
    store: Store, at: datetime, previous: datetime | None, base_url: str, stale_days: int, escalation_days: int
) -> list[Event]:
    """Everything alert-worthy at `at` that was not so at `previous` (the last run; None: the first
    run, when everything standing counts), for every pilot, worst first. Computed exactly as the
    views pinned to those moments compute them (`results.KEEPER`)."""
    from pilot_health.analytics.risk import HEALTH_LABELS
    from pilot_health.reports import meetings
    from pilot_health.reports.results import KEEPER

    store = store.unscoped()
    first = _first_record(store)
    if first is None or at < first:
        return []
    if previous is not None and previous < first:
        previous = None
    risk_now = {r.pilot_id: r for r in KEEPER.risk(store, pinned=at)}
    risk_then = {r.pilot_id: r for r in KEEPER.risk(store, pinned=previous)} if previous is not None else {}
    align_now = {r.pilot_id: r for r in KEEPER.alignment(store, pinned=at)}
    align_then = {r.pilot_id: r for r in KEEPER.alignment(store, pinned=previous)} if previous is not None else {}
    stamp = _stamp(at)
    found: list[Event] = []

    def add(kind: str, key: str, pilot, what: str, evidence: str, page: str, sponsor: str | None = None) -> None:
        found.append(
            Event(
                key,
                kind,
                pilot.pilot_id,
                pilot.name,
                pilot.business_unit,
                at,
                what,
                _one_line(evidence) or "—",
                view_link(base_url, page, pilot.pilot_id, at),
                sponsor,
            )
        )

    for pilot_id, now in risk_now.items():
        then = risk_then.get(pilot_id)
        if now.health == "red" and (then is None or then.health != "red"):
            was = f" (was {HEALTH_LABELS[then.health]})" if then is not None else ""
            add(
                "health_red",
                f"health_red:{pilot_id}:{stamp}",
                now,
                f"Health turned Red{was}.",
                now.health_reason,
                "Risk",
            )
        for key, pattern in now.patterns.items():
            before = then.patterns.get(key) if then is not None else None
            if pattern.status == "high" and (before is None or before.status != "high"):
                fired = [s.evidence for s in pattern.signals if s.state == "fired"]
                add(
                    "pattern_high",
                    f"pattern_high:{pilot_id}:{key}:{stamp}",
                    now,
                    f"{pattern.name} turned High (score {pattern.score_label}).",
                    " ".join(fired[:2]),
                    "Risk",
                )
    for pilot_id, now in align_now.items():
        then = align_then.get(pilot_id)
        for metric, decay in now.decays.items():
            before = then.decays.get(metric) if then is not None else None
            if decay.level == "critical" and (before is None or before.level != "critical"):
                name = now.names.get(metric, metric)
                add(
                    "decay_critical",
                    f"decay_critical:{pilot_id}:{metric}:{stamp}",
                    now,
                    f"Live decay of {name} reached critical.",
                    f"{name} is {abs(decay.relative):.0%} worse than in its first live weeks ({decay.reference:.3g} → {decay.latest:.3g}, "
                    f"week of {decay.latest_week:%d %b %Y}).",
                    "Alignment",
                )
        for metric, drift in now.drifts.items():
            before = then.drifts.get(metric) if then is not None else None
            if (
                drift.level == "critical"
                and drift.worse is not False
                and (before is None or before.level != "critical")
            ):
                name = now.names.get(metric, metric)
                add(
                    "drift_critical",
                    f"drift_critical:{pilot_id}:{metric}:{drift.environment}:{stamp}",
                    now,
                    f"Drift of {name} ({drift.environment}) reached critical.",
                    f"{name} moved {drift.score:.1f} standard deviations from its first weeks ({drift.reference_mean:.3g} → "
                    f"{drift.current_mean:.3g}, {drift.current_from:%d %b} – {drift.current_until:%d %b %Y}).",
                    "Alignment",
                )
    # Decisions: the status each has on the run's day, as the pilot's risk view shows it.
    for d in meetings.decisions(store, as_of=at):
        pilot = risk_now.get(d.pilot_id)
        if pilot is None or d.status not in ("due", "overdue"):
            continue
        when = (
            f"is overdue since {d.due_on:%d %b %Y} ({plural(-d.days_left, 'day')})"
            if d.status == "overdue"
            else f"is due on {d.due_on:%d %b %Y}"
            + (" (today)" if d.days_left == 0 else f" (in {plural(d.days_left, 'day')})")
        )
        add(
            f"decision_{d.status}",
            f"decision_{d.status}:{d.pilot_id}:{d.decision_id}",
            pilot,
            f"The committee's decision “{d.decision_label}” of {d.held_on:%d %b %Y} {when}.",
            f"Owner {d.owner}; conditions: {(d.conditions or 'none written').rstrip(' .;')}; taken at the meeting {d.meeting_title}.",
            "Risk",
        )
    # Data that has not arrived: the home page's “stale” for the same day and moment.
    frame = KEEPER.portfolio(store, None, at.date(), stale_days, at)
    for row in frame[(frame["freshness"] == "stale") & ~frame["stage"].isin(QUIET_STAGES)].itertuples():
        pilot = risk_now.get(row.pilot_id)
        if pilot is None:
            continue
        last = row.last_upload_at
        add(
            "stale_data",
            f"stale_data:{row.pilot_id}:{_stamp(last.to_pydatetime() if hasattr(last, 'to_pydatetime') else last)}",
            pilot,
            f"No new data for {plural(int(row.days_since_upload), 'day')} (more than {stale_days}).",
            f"Newest data upload on {last:%d %b %Y}; {plural(int(row.data_uploads), 'upload')} with {plural(int(row.data_rows), 'row')} in force.",
            "Pilot_register",
        )
    found += _escalations(store, at, risk_now, base_url, escalation_days, first)
    found.sort(key=lambda e: (SEVERITY.index(e.kind), e.pilot_id, e.key))
    return found


def _escalations(store: Store, at: datetime, risk_now: dict, base_url: str, days: int, first: datetime) -> list[Event]:
    """A pilot red now and red `days` days ago that the committee has not acted on: no decision
    recorded in those days, and none still in time that was taken on the pilot as red (at a meeting
    whose view showed it red). An overdue decision does not hold an escalation back."""
    from pilot_health.reports import meetings
    from pilot_health.reports.results import KEEPER

    red = [p for p, r in risk_now.items() if r.health == "red"]
    back = at - timedelta(days=days)
    if not red or back < first:
        return []
    red_then = {r.pilot_id for r in KEEPER.risk(store, pinned=back) if r.health == "red"}
    with store.read() as con:
        sponsors = queries.pilot_sponsors(con)
    newest: dict[str, meetings.Decision] = {}
    for d in meetings.decisions(store, as_of=at):
        if d.pilot_id not in newest or d.recorded_at > newest[d.pilot_id].recorded_at:
            newest[d.pilot_id] = d
    red_at: dict[datetime, set[str]] = {}  # the red pilots of each decision's meeting view

    def decided_while_red(d: meetings.Decision) -> bool:
        if d.pinned_at not in red_at:
            red_at[d.pinned_at] = {r.pilot_id for r in KEEPER.risk(store, pinned=d.pinned_at) if r.health == "red"}
        return d.pilot_id in red_at[d.pinned_at]

    found = []
    for pilot_id in red:
        last = newest.get(pilot_id)
        if pilot_id not in red_then:
            continue
        # The committee has acted on it: a decision recorded in those days, or one still in time that
        # its meeting took on the pilot as red (an overdue one no longer holds the escalation back).
        if last is not None and (last.recorded_at > back or (last.status != "overdue" and decided_while_red(last))):
            continue
        pilot = risk_now[pilot_id]
        since = (
            f"The committee's last decision was “{last.decision_label}” at {last.meeting_title} on {last.held_on:%d %b %Y}"
            if last
            else "The committee has recorded no decision about it"
        )
        found.append(
            Event(
                f"escalation:{pilot_id}:{last.decision_id if last else 0}",
                "escalation",
                pilot_id,
                pilot.name,
                pilot.business_unit,
                at,
                f"Escalated to you as its executive sponsor: red for at least {plural(days, 'day')}, and no committee decision about it "
                "that is still in time.",
                _one_line(f"{since}. {pilot.health_reason}"),
                view_link(base_url, "Risk", pilot_id, at),
                sponsors.get(pilot_id),
            )
        )
    return found


def _first_record(store: Store) -> datetime | None:
    with store.read() as con:
        return queries.first_record_at(con)


# -- digests ---------------------------------------------------------------------------------------------


@dataclass
class Digest:
    channel: str  # email | webhook | none
    address: str
    recipient: str
    events: list[Event]
    subject: str
    body: str
    payload: str | None  # the webhook's JSON
    delivery_id: int | None = None
    status: str = "pending"
    attempts: int = 0
    error: str | None = None
    retry: bool = False  # written by an earlier run, tried again
    runs_tried: int = 0

    def as_json(self) -> dict:
        return {
            "delivery_id": self.delivery_id,
            "channel": self.channel,
            "address": masked(self.address) if self.channel == "webhook" else self.address,
            "recipient": self.recipient,
            "subject": self.subject,
            "events": [e.key for e in self.events],
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "retry": self.retry,
            "body": self.body,
        }


def digest_text(
    events: Sequence[Event], since: datetime | None, at: datetime, base_url: str, escalation: bool = False
) -> tuple[str, str]:
    """(subject, body) of one digest: per pilot, each event's what, evidence and pinned link."""
    pilots = list(dict.fromkeys(e.pilot_id for e in events))
    if escalation:
        subject = (
            f"Pilot Health: escalation — {events[0].pilot_id} {events[0].name} is red with no committee decision"
            if len(pilots) == 1
            else f"Pilot Health: escalation — {plural(len(pilots), 'pilot')} you sponsor are red with no committee decision"
        )
        lines = [f"Pilot Health — escalation to the executive sponsor (numbers as of {moment_words(at)}).", ""]
    else:
        subject = f"Pilot Health: {plural(len(events), 'new alert')} on {plural(len(pilots), 'pilot')}"
        lines = [
            f"Pilot Health — {plural(len(events), 'new alert')}"
            + (f" since {moment_words(since)}" if since else "")
            + f" (numbers as of {moment_words(at)}).",
            "",
        ]
    for pilot_id in pilots:
        mine = [e for e in events if e.pilot_id == pilot_id]
        first = mine[0]
        lines.append(f"{pilot_id} · {first.name}" + (f" ({first.business_unit})" if first.business_unit else ""))
        for e in mine:
            lines += [f"  • {e.what}", f"    Evidence: {e.evidence}", f"    View: {e.link}"]
        lines.append("")
    lines.append(
        "Each link opens the view pinned to the moment the alert fired."
        if not escalation
        else "Each link opens the pilot's risk view pinned to the moment of this escalation."
    )
    lines.append(f"Change what you are told about on the Alerts page: {base_url.rstrip('/')}/Alerts")
    return subject, "\n".join(lines)


def webhook_payload(subject: str, body: str) -> str:
    """JSON that Slack's and Microsoft Teams' incoming webhooks both accept: a top-level "text"
    (with &, < and > written as entities, so no uploaded name is read as markup), plus the fields
    of a Teams message card."""
    text = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return json.dumps(
        {
            "text": text,
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": subject,
            "title": subject,
            "themeColor": "C62828",
        },
        ensure_ascii=False,
    )


def sponsor_address(sponsor: str | None, settings: AlertSettings) -> tuple[str | None, str]:
    """Where an escalation for this sponsor goes, and the reason when nowhere: the register's
    executive sponsor written as an e-mail address, else the [alerts.sponsors] entry for the name."""
    name = (sponsor or "").strip()
    if not name:
        return None, "The pilot has no executive sponsor in the register; name one (ideally by e-mail address)."
    if EMAIL.match(name):
        return name.lower(), ""
    mapped = settings.sponsors.get(name.lower())
    if mapped:
        try:
            channel_of(mapped)
            return mapped, ""
        except AlertError as error:
            return None, f"The address the alerts' settings give for the sponsor “{name}” cannot be used: {error}"
    return None, (
        f"No address is known for the sponsor “{name}”: write the executive sponsor as an e-mail address in the register, "
        "or add the sponsor's address to the alerts' settings (their list of sponsors)."
    )


# -- the run ------------------------------------------------------------------------------------------------


@dataclass
class AlertReport:
    moment: datetime
    compared_with: datetime | None
    dry_run: bool
    events: list[Event] = field(default_factory=list)  # new events found
    digests: list[Digest] = field(default_factory=list)  # new digests and escalations, then earlier ones retried
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def sent(self) -> list[Digest]:
        return [d for d in self.digests if d.status == "sent"]

    @property
    def not_sent(self) -> list[Digest]:
        return [d for d in self.digests if d.status != "sent"]

    @property
    def ok(self) -> bool:
        return self.dry_run or not self.not_sent

    @property
    def summary(self) -> str:
        if self.dry_run:
            new = [d for d in self.digests if not d.retry]
            nowhere = [d for d in new if d.status == "undeliverable"]
            retries = [d for d in self.digests if d.retry]
            head = (
                f"Dry run: nothing was sent or recorded. {plural(len(self.events), 'new event')}; "
                f"{plural(len(new) - len(nowhere), 'digest')} would be sent"
                + (f", {plural(len(nowhere), 'escalation')} could not be (no address known)" if nowhere else "")
                + (f", {plural(len(retries), 'earlier digest')} would be tried again" if retries else "")
                + "."
            )
        else:
            head = (
                f"{plural(len(self.events), 'new event')}; {plural(len(self.sent), 'digest')} sent"
                + (f", {plural(len(self.not_sent), 'digest')} not sent" if self.not_sent else "")
                + "."
            )
        return head

    def as_json(self) -> dict:
        return {
            "moment": self.moment.isoformat(timespec="seconds"),
            "compared_with": self.compared_with.isoformat(timespec="seconds") if self.compared_with else None,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "summary": self.summary,
            "events": [e.as_json() for e in self.events],
            "digests": [d.as_json() for d in self.digests],
            "sent": len(self.sent),
            "not_sent": len(self.not_sent),
            "notes": self.notes,
        }


def _covered(subscription: Subscription, units: tuple[str, ...] | None, event: Event) -> bool:
    kind = EVENT_SUBSCRIPTION.get(event.kind)
    if kind is None or kind not in subscription.events:
        return False
    if units is not None and event.business_unit not in units:
        return False
    if subscription.pilot_id and event.pilot_id != subscription.pilot_id:
        return False
    if subscription.business_unit and event.business_unit != subscription.business_unit:
        return False
    return True


def build_digests(
    events: Sequence[Event],
    subs: Sequence[Subscription],
    since: datetime | None,
    at: datetime,
    base_url: str,
    settings: AlertSettings,
) -> list[Digest]:
    """One digest per address for its subscriptions' events (each event once), and one per escalation."""
    per_address: dict[tuple[str, str], list[Event]] = {}
    for sub in subs:
        units = units_in_force(sub)
        for event in events:
            if _covered(sub, units, event):
                mine = per_address.setdefault((sub.channel, sub.address), [])
                if event not in mine:
                    mine.append(event)
    digests = []
    for (channel, address), mine in per_address.items():
        mine.sort(key=lambda e: (e.pilot_id, SEVERITY.index(e.kind), e.key))
        subject, body = digest_text(mine, since, at, base_url)
        digests.append(
            Digest(
                channel,
                address,
                address if channel == "email" else masked(address),
                mine,
                subject,
                body,
                webhook_payload(subject, body) if channel == "webhook" else None,
            )
        )
    # Escalations: one message per sponsor (all their red pilots), kept apart from the subscribers' digests.
    per_sponsor: dict[tuple[str, str], list[Event]] = {}
    nowhere: dict[str, tuple[list[Event], str]] = {}
    for event in events:
        if event.kind != "escalation":
            continue
        to, reason = sponsor_address(event.sponsor, settings)
        if to is None:
            nowhere.setdefault((event.sponsor or "").strip() or f"none named for {event.pilot_id}", ([], reason))[
                0
            ].append(event)
        else:
            per_sponsor.setdefault((channel_of(to), to), []).append(event)
    for (channel, address), mine in per_sponsor.items():
        subject, body = digest_text(mine, since, at, base_url, escalation=True)
        who = f"sponsor of {', '.join(e.pilot_id for e in mine)} ({mine[0].sponsor})"
        digests.append(
            Digest(
                channel,
                address,
                who,
                mine,
                subject,
                body,
                webhook_payload(subject, body) if channel == "webhook" else None,
            )
        )
    for mine, reason in nowhere.values():
        subject, body = digest_text(mine, since, at, base_url, escalation=True)
        who = f"sponsor of {', '.join(e.pilot_id for e in mine)} ({mine[0].sponsor or 'none named'})"
        digests.append(Digest("none", "", who, mine, subject, body, None, status="undeliverable", error=reason))
    return digests


def _pending(store: Store) -> list[Digest]:
    """Digests earlier runs did not deliver: those still to try, and escalations still without an address."""
    with store.read() as con:
        rows = queries.fetch_deliveries(con, status=("pending", "undeliverable"))
        events = {
            e["event_key"]: e
            for e in queries.fetch_alert_events(con, sorted({k for r in rows for k in r["event_keys"]}))
        }
    found = []
    for r in sorted(rows, key=lambda r: r["delivery_id"]):
        evs = [
            Event(
                k,
                events[k]["kind"],
                events[k]["pilot_id"],
                "",
                events[k]["business_unit"],
                events[k]["fired_at"],
                events[k]["what"],
                events[k]["evidence"],
                events[k]["link"],
            )
            for k in r["event_keys"]
            if k in events
        ]
        digest = Digest(
            r["channel"],
            r["address"],
            r["recipient"],
            evs,
            r["subject"],
            r["body"],
            r["payload"],
            delivery_id=r["delivery_id"],
            status=r["status"],
            attempts=r["attempts"],
            error=r["last_error"],
            retry=True,
            runs_tried=r["runs_tried"],
        )
        found.append(digest)
    return found


def run_alerts(
    store: Store,
    now: datetime | None = None,
    dry_run: bool = False,
    settings: AlertSettings | None = None,
    by: Person | str = "",
    base_url: str | None = None,
    stale_days: int | None = None,
    escalation_days: int | None = None,
    sleep: Callable[[float], None] | None = None,
) -> AlertReport:
    """Find what is new since the last run, send each recipient one digest, try again what earlier
    runs could not deliver, and keep it all. `dry_run`: work out and return the same digests, but
    send nothing and write nothing."""
    import time

    from pilot_health.config import load_config

    person = as_person(by or f"{getpass.getuser()} (command line)")
    person.require("manage_alerts", "run the alerts")
    config = load_config()
    settings = settings if settings is not None else load_alert_settings(config.secrets_path)
    base_url = (base_url or config.public_url).rstrip("/")
    stale_days = stale_days if stale_days is not None else config.stale_upload_days
    escalation_days = escalation_days if escalation_days is not None else config.escalation_days
    store = store.unscoped()
    at = now or utc_now()
    if at.microsecond:  # to the second, never before what was just written (a decision recorded a moment ago counts)
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    with store.read() as con:
        last = queries.last_alert_run(con)
    previous = last["moment"] if last else None
    if previous is not None and previous >= at:
        raise PilotHealthError(
            f"The last alerts run looked at {moment_words(previous)}; a new run must look at a later moment."
        )
    events = detect_events(store, at, previous, base_url, stale_days, escalation_days)
    with store.read() as con:
        known = queries.known_event_keys(con, [e.key for e in events])
    events = [e for e in events if e.key not in known]
    subs = subscriptions(store, person)
    report = AlertReport(at, previous, dry_run, events)
    report.digests = build_digests(events, subs, previous, at, base_url, settings)
    retries = _pending(store)
    if dry_run:
        report.digests += retries
        return report
    with store.write() as con:
        report.run_id = queries.insert_alert_run(con, at, previous, person.name)
        queries.insert_alert_events(
            con,
            report.run_id,
            [
                {
                    "event_key": e.key,
                    "kind": e.kind,
                    "pilot_id": e.pilot_id,
                    "business_unit": e.business_unit,
                    "fired_at": e.fired_at,
                    "what": e.what,
                    "evidence": e.evidence,
                    "link": e.link,
                }
                for e in events
            ],
        )
        for d in report.digests:
            d.delivery_id = queries.insert_delivery(
                con,
                {
                    "run_id": report.run_id,
                    "channel": d.channel,
                    "address": d.address,
                    "recipient": d.recipient,
                    "event_keys": [e.key for e in d.events],
                    "subject": d.subject,
                    "body": d.body,
                    "payload": d.payload,
                    "status": d.status,
                    "attempts": 0,
                    "runs_tried": 0,
                    "last_error": d.error,
                    "created_at": at,
                },
            )
        queries.record_audit(
            con,
            utc_now(),
            person.name,
            "alert_run",
            f"run {report.run_id}",
            f"Looked at {moment_words(at)}"
            + (f", compared with {moment_words(previous)}" if previous else " (first run)")
            + f": {plural(len(events), 'new event')}, {plural(len(report.digests), 'digest')} to send"
            + (f", {plural(len(retries), 'earlier digest')} to try again" if retries else ""),
        )
    report.digests += retries
    wait = sleep or time.sleep
    sponsors = None
    for d in report.digests:
        delivery_id = d.delivery_id
        if delivery_id is None:  # never: each digest was stored above, or read back from the store
            raise ValueError(f"The digest to {d.recipient} was not stored, so it is not sent.")
        if d.channel == "none" and d.retry:  # an escalation without an address: look for one again (register, settings)
            if sponsors is None:
                with store.read() as con:
                    sponsors = queries.pilot_sponsors(con)
            address, reason = sponsor_address(sponsors.get(d.events[0].pilot_id) if d.events else None, settings)
            if address is not None:
                d.channel, d.address, d.status = channel_of(address), address, "pending"
                d.payload = webhook_payload(d.subject, d.body) if d.channel == "webhook" else None
                with store.write() as con:
                    queries.readdress_delivery(con, delivery_id, d.channel, d.address, d.payload)
            else:
                d.error = reason
        tried_at = utc_now()
        d.runs_tried += 1
        if d.channel == "none":
            d.status = "failed" if d.runs_tried >= MAX_RUNS else "undeliverable"
            with store.write() as con:
                queries.update_delivery(con, delivery_id, d.status, d.attempts, d.runs_tried, d.error, tried_at, None)
            continue
        outcome = deliver(settings, d.channel, d.address, d.subject, d.body, d.payload, sleep=wait)
        d.attempts += outcome.attempts
        if outcome.delivered:
            d.status, d.error = "sent", None
        else:
            d.status, d.error = ("failed" if d.runs_tried >= MAX_RUNS else "pending"), outcome.error
        with store.write() as con:
            queries.update_delivery(
                con,
                delivery_id,
                d.status,
                d.attempts,
                d.runs_tried,
                d.error,
                tried_at,
                tried_at if outcome.delivered else None,
            )
    not_sent = report.not_sent
    with store.write() as con:
        queries.finish_alert_run(con, report.run_id, len(events), len(report.sent), len(not_sent))
        queries.record_audit(
            con,
            utc_now(),
            person.name,
            "alert_run",
            f"run {report.run_id}",
            f"{plural(len(report.sent), 'digest')} delivered"
            + "".join(f"; not delivered to {d.recipient}: {d.error}" for d in not_sent),
        )
    return report


# -- what was sent ---------------------------------------------------------------------------------------------

STATUS_WORDS = {
    "sent": "Sent",
    "pending": "Not delivered yet — tried again at the next run",
    "failed": "Failed — given up",
    "undeliverable": "No address yet — looked for again at the next run",
}


def sent_log(store: Store, by: Person | str = "local user", status: str | None = None, limit: int = 500) -> list[dict]:
    """What the alerts sent and tried to send, newest first (administrators only)."""
    person = as_person(by)
    person.require("manage_alerts", "see what the alerts sent")
    with store.unscoped().read() as con:
        rows = queries.fetch_deliveries(con, status=status, limit=limit)
    for r in rows:
        r["shown_address"] = masked(r["address"]) if r["channel"] == "webhook" else (r["address"] or "—")
        r["status_words"] = STATUS_WORDS.get(r["status"], r["status"])
    return rows


def report_lines(report: AlertReport) -> list[str]:
    """The command's human summary: one line per digest, with the reason for each not sent."""
    lines = [report.summary]
    if report.compared_with is None and not report.dry_run:
        lines.append("This was the first run: every event standing now counted as new.")
    for d in report.digests:
        state = (
            {
                "sent": "sent",
                "pending": "NOT SENT (kept; the next run tries again)",
                "failed": "FAILED (given up)",
                "undeliverable": "NOT SENT (no address)",
            }.get(d.status, d.status)
            if not report.dry_run
            else "would be sent"
        )
        if report.dry_run and d.status == "undeliverable":
            state = "cannot be sent (no address)"
        lines.append(
            f"  {d.recipient}: {plural(len(d.events), 'alert')}{' (retry)' if d.retry else ''} — {state}"
            + (f": {d.error}" if d.error and d.status != "sent" else "")
        )
    return lines
